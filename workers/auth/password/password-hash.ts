import { scrypt, timingSafeEqual } from 'node:crypto';
import { argon2idHasher } from './argon2';
import { CURRENT_ARGON2ID_PARAMS, type Argon2idParams } from './argon2-params';
import { formatPhc, parsePhc } from './phc';

/**
 * Password hashing. New hashes are **argon2id, m=19 MiB, t=2, p=1** (OWASP's first choice)
 * through a WASM core imported as a Worker module; hashes made with **scrypt** (node:crypto,
 * BoringSSL in workerd) before the switch still verify and are upgraded at the next login.
 * Why, with the measurements: README.md in this folder.
 *
 * Stored form (PHC strings, salt 16 bytes, hash 32 bytes, unpadded base64):
 *   `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`
 *   `$scrypt$ln=15,r=8,p=3$<salt>$<hash>` (N = 2^ln; read only)
 * Passwords are NFKC-normalised (NIST SP 800-63B) and hashed as UTF-8.
 */
export { CURRENT_ARGON2ID_PARAMS, type Argon2idParams };

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism (workerd runs the lanes one after another, reusing the same memory). */
  p: number;
}

/** The scrypt parameters used before argon2id (OWASP's "N=2^15, r=8, p=3"); still accepted for old hashes. */
export const LEGACY_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ln: 15, r: 8, p: 3 });
export const ARGON2_VERSION = 0x13;
export const SALT_BYTES = 16;
/** The shortest password the argon2id core accepts, in UTF-8 bytes. */
const MIN_ARGON2_PASSWORD_BYTES = 8;
export const HASH_BYTES = 32;

/**
 * workerd refuses scrypt when N*r*p exceeds 2^20 ("Scrypt failed: cost exceeds maximum"); that
 * also bounds the scratch memory, 128*r*N bytes, to 128 MiB.
 */
const MAX_COST = 2 ** 20;
/** Bounds on parameters read back from storage, so a corrupted row cannot ask for absurd work. */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 16], salt: [8, 64], hash: [16, 64] } as const;
/** argon2id: at most 64 MiB and 10 passes (the Worker's memory is 128 MiB), 1 to 4 lanes. */
const ARGON2_LIMITS = { m: [1024, 64 * 1024], t: [1, 10], p: [1, 4] } as const;
const within = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
const withinLimits = ({ ln, r, p }: ScryptParams) =>
  within(ln, LIMITS.ln) && within(r, LIMITS.r) && within(p, LIMITS.p) && 2 ** ln * r * p <= MAX_COST;
const withinArgon2Limits = ({ m, t, p }: Argon2idParams) =>
  within(m, ARGON2_LIMITS.m) && within(t, ARGON2_LIMITS.t) && within(p, ARGON2_LIMITS.p) && m >= 8 * p;

const DUMMY_SALT = new Uint8Array(SALT_BYTES).fill(0x5a);
const DUMMY_HASH = new Uint8Array(HASH_BYTES);

export interface VerifyResult {
  ok: boolean;
  /** The password is right and the stored hash is not current-policy argon2id: store hashPassword(password). */
  needsRehash: boolean;
}

type Stored =
  | ({ alg: 'argon2id'; salt: Uint8Array; hash: Uint8Array } & Argon2idParams)
  | ({ alg: 'scrypt'; salt: Uint8Array; hash: Uint8Array } & ScryptParams);

/** A new PHC string for `password` (other params only for tests and migrations; they must be readable back). */
export async function hashPassword(password: string, params: Argon2idParams = CURRENT_ARGON2ID_PARAMS): Promise<string> {
  if (!withinArgon2Limits(params)) throw new RangeError(`argon2id parameters out of bounds: ${JSON.stringify(params)}`);
  if (encode(password).length < MIN_ARGON2_PASSWORD_BYTES) throw new RangeError('passwords are at least 8 bytes (the policy asks for 15 characters)');
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await deriveArgon2id(password, salt, params, HASH_BYTES);
  return formatPhc({ id: 'argon2id', version: ARGON2_VERSION, params: { m: params.m, t: params.t, p: params.p }, salt, hash });
}

/** A scrypt PHC string: only for tests and for importing hashes from older systems. */
export async function hashPasswordScrypt(password: string, params: ScryptParams = LEGACY_SCRYPT_PARAMS): Promise<string> {
  if (!withinLimits(params)) throw new RangeError(`scrypt parameters out of bounds: ${JSON.stringify(params)}`);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await deriveScrypt(password, salt, params, HASH_BYTES);
  return formatPhc({ id: 'scrypt', params: { ln: params.ln, r: params.r, p: params.p }, salt, hash });
}

/**
 * Checks `password` against a stored hash. With no stored hash (unknown email) or one that
 * cannot be read, it does the same work as a real check against a current-policy hash and
 * answers not-ok, so the caller can answer both cases the same way in about the same time.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<VerifyResult> {
  const parsed = stored ? parseStored(stored) : null;
  // The argon2id core takes passwords of 8 bytes or more; no password we set is shorter (the
  // policy asks for 15 characters), so a shorter one is wrong after the same amount of work.
  if (!parsed || (parsed.alg === 'argon2id' && encode(password).length < MIN_ARGON2_PASSWORD_BYTES)) return dummyVerify(password);
  const actual =
    parsed.alg === 'argon2id'
      ? await deriveArgon2id(password, parsed.salt, parsed, parsed.hash.length)
      : await deriveScrypt(password, parsed.salt, parsed, parsed.hash.length);
  const ok = timingSafeEqual(actual, parsed.hash);
  return { ok, needsRehash: ok && isWeaker(parsed) };
}

/** The cost of verifying against a current-policy hash, with a not-ok answer: for unknown emails. */
export async function dummyVerify(password: string): Promise<VerifyResult> {
  const actual = await deriveArgon2id(password.padEnd(MIN_ARGON2_PASSWORD_BYTES, '\0'), DUMMY_SALT, CURRENT_ARGON2ID_PARAMS, HASH_BYTES);
  timingSafeEqual(actual, DUMMY_HASH);
  return { ok: false, needsRehash: false };
}

/** Whether a stored hash is unreadable or weaker than the current policy (without the password). */
export function needsRehash(stored: string): boolean {
  const parsed = parseStored(stored);
  return parsed === null || isWeaker(parsed);
}

/** Every scrypt hash is upgraded; an argon2id hash when it has less memory or fewer passes than the policy. */
function isWeaker(s: Stored): boolean {
  if (s.alg === 'scrypt') return true;
  const c = CURRENT_ARGON2ID_PARAMS;
  return s.m < c.m || s.t < c.t || s.salt.length < SALT_BYTES || s.hash.length < HASH_BYTES;
}

function parseStored(stored: string): Stored | null {
  const phc = parsePhc(stored);
  if (!phc) return null;
  const keys = Object.keys(phc.params).sort().join(',');
  const saltOk = within(phc.salt.length, LIMITS.salt) && within(phc.hash.length, LIMITS.hash);
  if (!saltOk) return null;
  if (phc.id === 'argon2id') {
    const { m, t, p } = phc.params;
    if (phc.version !== ARGON2_VERSION || keys !== 'm,p,t' || m === undefined || t === undefined || p === undefined) return null;
    const params = { m, t, p };
    return withinArgon2Limits(params) ? { alg: 'argon2id', ...params, salt: phc.salt, hash: phc.hash } : null;
  }
  if (phc.id === 'scrypt') {
    const { ln, r, p } = phc.params;
    if (phc.version !== undefined || keys !== 'ln,p,r' || ln === undefined || r === undefined || p === undefined) return null;
    const params = { ln, r, p };
    return withinLimits(params) ? { alg: 'scrypt', ...params, salt: phc.salt, hash: phc.hash } : null;
  }
  return null;
}

const encode = (password: string) => new TextEncoder().encode(password.normalize('NFKC'));

async function deriveArgon2id(password: string, salt: Uint8Array, { m, t, p }: Argon2idParams, tagLength: number): Promise<Uint8Array> {
  const argon2id = await argon2idHasher();
  return argon2id({ password: encode(password), salt, memorySize: m, passes: t, parallelism: p, tagLength });
}

function deriveScrypt(password: string, salt: Uint8Array, { ln, r, p }: ScryptParams, keylen: number): Promise<Uint8Array> {
  const N = 2 ** ln;
  // Scratch space: BoringSSL (workerd) needs 128*r*(N+p+1) bytes, OpenSSL (Node) 128*r*(N+p+2);
  // maxmem defaults to 32 MiB, too little for the legacy parameters.
  const options = { N, r, p, maxmem: 128 * r * (N + p + 2) };
  const secret = encode(password);
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength))));
  });
}
