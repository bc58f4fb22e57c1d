/**
 * Base64 (URL-safe and standard) on btoa/atob (present in workerd and Node). Decoders are strict
 * and return null rather than throw: only the canonical spelling of some bytes decodes, so an
 * envelope or key has exactly one accepted text form.
 */
const B64URL = /^[A-Za-z0-9_-]*$/;
const B64_ANY = /^[A-Za-z0-9+/_-]*={0,2}$/;
const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** URL-safe alphabet, no padding (RFC 4648 section 5). */
export function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** Canonical unpadded base64url only (no stray characters, no padding, no non-zero spare bits). */
export function fromBase64Url(text: string): Uint8Array | null {
  const rem = text.length % 4;
  if (rem === 1 || !B64URL.test(text)) return null;
  // The last character of a partial group carries spare bits (4 after 2 characters, 2 after 3):
  // atob ignores them, so they must be zero for the spelling to be the only one.
  if (rem !== 0 && (URL_ALPHABET.indexOf(text.at(-1) as string) & (rem === 2 ? 0x0f : 0x03)) !== 0) return null;
  const bin = atob(text.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - rem) % 4));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/**
 * Key material as people paste it: the standard or URL-safe alphabet, padded or not (what
 * `openssl rand -base64 32` and Node's `toString('base64')` print). Still canonical: padding,
 * when present, must be complete, and spare bits must be zero.
 */
export function fromBase64Lenient(text: string): Uint8Array | null {
  if (!B64_ANY.test(text)) return null;
  const body = text.replace(/=+$/, '');
  if (body.length !== text.length && text.length % 4 !== 0) return null;
  return fromBase64Url(body.replaceAll('+', '-').replaceAll('/', '_'));
}
