import { AppError } from './app-error';
import { fromBase64Url, toBase64Url } from './base64';
import { isStorableInstant } from './clock';

/**
 * Opaque pagination cursors: base64url JSON carrying the position plus a fingerprint of
 * the query it belongs to, so a cursor cannot be replayed against a different query.
 */
export function encodeCursor(position: Record<string, unknown>, fingerprint: string): string {
  const json = JSON.stringify({ p: position, f: fingerprint });
  return toBase64Url(new TextEncoder().encode(json));
}

/** What each field of a cursor's position must be: a string, or a string that is a valid time. */
export type CursorShape = Record<string, 'string' | 'time'>;

/**
 * The position inside a cursor this service issued for the query with `fingerprint`. With
 * `shape`, each named field is checked too: a cursor decoded and edited by a client (its
 * fingerprint kept) is then a 400 INVALID_CURSOR, never a bad value reaching a query.
 */
export function decodeCursor<T extends Record<string, unknown>>(cursor: string, fingerprint: string, shape?: CursorShape): T {
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
  const position = (parsed as { p: Record<string, unknown> }).p;
  for (const [key, kind] of Object.entries(shape ?? {})) {
    const v = position[key];
    if (typeof v !== 'string' || v.length > 512 || (kind === 'time' && !isStorableInstant(v))) throw invalid();
  }
  return position as T;
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
