/**
 * The PHC string format (github.com/P-H-C/phc-string-format): `$<id>$<k>=<v>,...$<salt>$<hash>`,
 * with salt and hash in standard base64 without padding. Self-describing, so a stored hash keeps
 * working after the current parameters change. The optional version field (`$v=19$`, as
 * argon2 writes it) is kept in `version`.
 */
export interface PhcHash {
  id: string;
  version?: number;
  params: Record<string, number>;
  salt: Uint8Array;
  hash: Uint8Array;
}

const ID = /^[a-z0-9-]{1,32}$/;
const PARAM = /^([a-z0-9-]{1,32})=(0|[1-9][0-9]{0,8})$/;
const B64 = /^[A-Za-z0-9+/]+$/;

export function formatPhc({ id, version, params, salt, hash }: PhcHash): string {
  const p = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const v = version === undefined ? '' : `$v=${version}`;
  return `$${id}${v}$${p}$${toB64(salt)}$${toB64(hash)}`;
}

const VERSION = /^v=(0|[1-9][0-9]{0,8})$/;

/** The parsed string, or null when it is not a well-formed PHC string with integer params. */
export function parsePhc(encoded: string): PhcHash | null {
  const parts = encoded.split('$');
  if ((parts.length !== 5 && parts.length !== 6) || parts[0] !== '') return null;
  let version: number | undefined;
  if (parts.length === 6) {
    const m = VERSION.exec(parts[2]!);
    if (!m) return null;
    version = Number(m[1]);
    parts.splice(2, 1);
  }
  const [, id, rawParams, rawSalt, rawHash] = parts as [string, string, string, string, string];
  if (!ID.test(id)) return null;
  const params: Record<string, number> = {};
  for (const kv of rawParams.split(',')) {
    const m = PARAM.exec(kv);
    if (!m || Object.hasOwn(params, m[1]!)) return null;
    params[m[1]!] = Number(m[2]);
  }
  const salt = fromB64(rawSalt);
  const hash = fromB64(rawHash);
  if (!salt || !hash) return null;
  return version === undefined ? { id, params, salt, hash } : { id, version, params, salt, hash };
}

function toB64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/=+$/, '');
}

/** Strict: only canonical unpadded base64 decodes (no stray characters, no non-zero spare bits). */
function fromB64(s: string): Uint8Array | null {
  if (!B64.test(s) || s.length % 4 === 1) return null;
  const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return toB64(bytes) === s ? bytes : null;
}
