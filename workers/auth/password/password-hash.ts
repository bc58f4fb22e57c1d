import { scrypt, timingSafeEqual } from 'node:crypto';
import { formatPhc, parsePhc } from './phc';

/**
 * Password hashing with scrypt from node:crypto (BoringSSL inside workerd, under nodejs_compat).
 * Why scrypt and these parameters, with the measurements: README.md in this folder.
 *
 * Stored form (PHC string): `$scrypt$ln=15,r=8,p=3$<salt>$<hash>`, N = 2^ln. Passwords are
 * NFKC-normalised (NIST SP 800-63B) and hashed as UTF-8.
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism (workerd runs the lanes one after another, reusing the same memory). */
  p: number;
}

/**
 * OWASP's scrypt option "N=2^15, r=8, p=3" (32 MiB): about 165 ms per hash in workerd here.
 * N=2^17, r=8, p=1 (128 MiB) took 230 to 490 ms and sits exactly on workerd's cost cap.
 */
export const CURRENT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ln: 15, r: 8, p: 3 });
export const SALT_BYTES = 16;
export const HASH_BYTES = 32;

/**
 * workerd refuses scrypt when N*r*p exceeds 2^20 ("Scrypt failed: cost exceeds maximum"); that
 * also bounds the scratch memory, 128*r*N bytes, to 128 MiB.
 */
const MAX_COST = 2 ** 20;
/** Bounds on parameters read back from storage, so a corrupted row cannot ask for absurd work. */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 16], salt: [8, 64], hash: [16, 64] } as const;
const within = (v: number, [lo, hi]: readonly [number, number]) => Number.isInteger(v) && v >= lo && v <= hi;
const withinLimits = ({ ln, r, p }: ScryptParams) =>
  within(ln, LIMITS.ln) && within(r, LIMITS.r) && within(p, LIMITS.p) && 2 ** ln * r * p <= MAX_COST;

const DUMMY_SALT = new Uint8Array(SALT_BYTES).fill(0x5a);
const DUMMY_HASH = new Uint8Array(HASH_BYTES);

export interface VerifyResult {
  ok: boolean;
  /** The password is right and the stored hash is weaker than the current policy: store hashPassword(password). */
  needsRehash: boolean;
}

interface StoredScrypt extends ScryptParams {
  salt: Uint8Array;
  hash: Uint8Array;
}

/** A new PHC string for `password` (other params only for tests and migrations; they must be readable back). */
export async function hashPassword(password: string, params: ScryptParams = CURRENT_SCRYPT_PARAMS): Promise<string> {
  if (!withinLimits(params)) throw new RangeError(`scrypt parameters out of bounds: ${JSON.stringify(params)}`);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, params, HASH_BYTES);
  return formatPhc({ id: 'scrypt', params: { ln: params.ln, r: params.r, p: params.p }, salt, hash });
}

/**
 * Checks `password` against a stored hash. With no stored hash (unknown email) or one that
 * cannot be read, it does the same work as a real check against a current-policy hash and
 * answers not-ok, so the caller can answer both cases the same way in about the same time.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<VerifyResult> {
  const parsed = stored ? parseStored(stored) : null;
  if (!parsed) return dummyVerify(password);
  const actual = await derive(password, parsed.salt, parsed, parsed.hash.length);
  const ok = timingSafeEqual(actual, parsed.hash);
  return { ok, needsRehash: ok && isWeaker(parsed) };
}

/** The cost of verifying against a current-policy hash, with a not-ok answer: for unknown emails. */
export async function dummyVerify(password: string): Promise<VerifyResult> {
  const actual = await derive(password, DUMMY_SALT, CURRENT_SCRYPT_PARAMS, HASH_BYTES);
  timingSafeEqual(actual, DUMMY_HASH);
  return { ok: false, needsRehash: false };
}

/** Whether a stored hash is unreadable or weaker than the current policy (without the password). */
export function needsRehash(stored: string): boolean {
  const parsed = parseStored(stored);
  return parsed === null || isWeaker(parsed);
}

function isWeaker(s: StoredScrypt): boolean {
  const c = CURRENT_SCRYPT_PARAMS;
  const memory = (x: ScryptParams) => 2 ** x.ln * x.r;
  const work = (x: ScryptParams) => memory(x) * x.p;
  return memory(s) < memory(c) || work(s) < work(c) || s.salt.length < SALT_BYTES || s.hash.length < HASH_BYTES;
}

function parseStored(stored: string): StoredScrypt | null {
  const phc = parsePhc(stored);
  if (!phc || phc.id !== 'scrypt') return null;
  const keys = Object.keys(phc.params);
  const { ln, r, p } = phc.params;
  if (keys.length !== 3 || ln === undefined || r === undefined || p === undefined) return null;
  const parsed = { ln, r, p, salt: phc.salt, hash: phc.hash };
  return withinLimits(parsed) && within(phc.salt.length, LIMITS.salt) && within(phc.hash.length, LIMITS.hash) ? parsed : null;
}

function derive(password: string, salt: Uint8Array, { ln, r, p }: ScryptParams, keylen: number): Promise<Uint8Array> {
  const N = 2 ** ln;
  // Scratch space: BoringSSL (workerd) needs 128*r*(N+p+1) bytes, OpenSSL (Node) 128*r*(N+p+2);
  // maxmem defaults to 32 MiB, too little for the current parameters.
  const options = { N, r, p, maxmem: 128 * r * (N + p + 2) };
  const secret = new TextEncoder().encode(password.normalize('NFKC'));
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength))));
  });
}
