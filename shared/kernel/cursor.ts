import { AppError } from './app-error';
import { fromBase64Url, toBase64Url } from './base64';

/**
 * Opaque pagination cursors: base64url JSON carrying the position plus a fingerprint of
 * the query it belongs to, so a cursor cannot be replayed against a different query.
 */
export function encodeCursor(position: Record<string, unknown>, fingerprint: string): string {
  const json = JSON.stringify({ p: position, f: fingerprint });
  return toBase64Url(new TextEncoder().encode(json));
}

export function decodeCursor<T extends Record<string, unknown>>(cursor: string, fingerprint: string): T {
  const invalid = () =>
    new AppError('INVALID_CURSOR', 'The cursor is malformed or belongs to a different query', {
      errors: [{ path: 'query.cursor', message: 'not a cursor issued for this query' }],
    });
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    const bytes = fromBase64Url(cursor);
    if (!bytes) throw invalid();
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalid();
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    (parsed as { f?: unknown }).f !== fingerprint ||
    typeof (parsed as { p?: unknown }).p !== 'object' ||
    (parsed as { p?: unknown }).p === null
  ) {
    throw invalid();
  }
  return (parsed as { p: T }).p;
}

/** A short, stable fingerprint of a query's identity (FNV-1a, not a security primitive). */
export function fingerprint(value: unknown): string {
  const s = JSON.stringify(value);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
