import { z } from 'zod';
import { AppError } from '../kernel/app-error';
import { fromBase64Lenient, fromBase64Url, toBase64Url } from '../kernel/base64';

/**
 * Field-level encryption of PII at rest (phone numbers, addresses): AES-256-GCM from WebCrypto
 * under a versioned key ring read from secrets, plus HMAC-SHA-256 blind indexes for equality
 * lookups. Formats, secrets, key generation, rotation and AAD conventions: README.md here.
 *
 *   envelope  pii:v<key version>:<base64url IV, 12 bytes>:<base64url ciphertext ‖ 16-byte tag>
 *   AAD       UTF-8 of `pii:v<key version>:<caller's AAD>`, e.g. `pii:v2:users:usr_123:phone`
 */
export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const MAX_AAD_LENGTH = 1024;

const VERSION = /^[1-9][0-9]{0,8}$/;
const ENVELOPE = /^pii:v([1-9][0-9]{0,8}):([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22,})$/;
const PURPOSE = /^[a-z][a-z0-9_.:-]{0,63}$/;
const AAD_PART = /^[A-Za-z0-9_.-]{1,128}$/;
const GENERATE = 'generate one with `openssl rand -base64 32`';
const RING_EXAMPLE = '{"active":"1","keys":{"1":"<base64 of 32 random bytes>"}}';

/** The secrets the cipher is built from (a subset of the Worker's env or of the parsed config). */
export interface PiiSecrets {
  /** JSON key ring: `{"active":"2","keys":{"1":"<base64 32 bytes>","2":"<base64 32 bytes>"}}`. */
  PII_ENCRYPTION_KEYS?: string | undefined;
  /** Base64 of 32 random bytes, the HMAC key of blind indexes; not one of the ring's keys. */
  PII_INDEX_KEY?: string | undefined;
}

/** A misconfigured key ring or index key. The message names every problem and never a key. */
export class KeyRingError extends Error {
  override name = 'KeyRingError';
}

export type FieldCipherFailure =
  | 'malformed_envelope'
  | 'unknown_key_version'
  | 'authentication_failed'
  | 'invalid_json'
  | 'schema_mismatch';

/**
 * A stored field that cannot be decrypted: a server-side integrity problem, so a 500 INTERNAL for
 * the client with a generic detail. What went wrong (reason, key version, AAD; never plaintext or
 * keys) is in `cause`, for the logs.
 */
export class FieldCipherError extends AppError {
  readonly reason: FieldCipherFailure;

  constructor(reason: FieldCipherFailure, explanation: string, aad: string | undefined, original?: unknown) {
    const where = aad === undefined ? '' : ` (aad ${aad})`;
    const cause = new Error(`${reason}: ${explanation}${where}`, original === undefined ? undefined : { cause: original });
    super('INTERNAL', 'Stored data could not be read; quote the requestId when reporting it', { cause });
    this.name = 'FieldCipherError';
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// Secrets: parsing and validation

interface Problem {
  path: string[];
  message: string;
}

interface ParsedRing {
  active: string;
  keys: ReadonlyMap<string, Uint8Array>;
}

const RingShape = z.strictObject(
  {
    active: z
      .union([z.string(), z.number()], { error: 'must name the version of the key that encrypts, e.g. "2"' })
      .transform(String),
    keys: z.record(z.string(), z.string({ error: `must be base64 of ${KEY_BYTES} random bytes (${GENERATE})` }), {
      error: 'must be an object mapping each version to its base64 key',
    }),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? `must be a JSON object like ${RING_EXAMPLE}` : undefined) },
);

function readKey(text: string, what: string): { bytes: Uint8Array } | { problem: string } {
  const bytes = fromBase64Lenient(text);
  if (!bytes) return { problem: `is not base64 (${GENERATE})` };
  if (bytes.length !== KEY_BYTES) return { problem: `decodes to ${bytes.length} bytes; ${what} needs exactly ${KEY_BYTES} (${GENERATE})` };
  return { bytes };
}

function readRing(secret: unknown): { ring: ParsedRing | null; problems: Problem[] } {
  const fail = (...problems: Problem[]) => ({ ring: null, problems });
  if (typeof secret !== 'string' || secret.trim() === '') {
    return fail({ path: [], message: 'is not set (`wrangler secret put PII_ENCRYPTION_KEYS`; locally in .dev.vars)' });
  }
  let json: unknown;
  try {
    json = JSON.parse(secret);
  } catch {
    // The SyntaxError's own message quotes the input, which holds keys: not repeated here.
    return fail({ path: [], message: `is not valid JSON; expected ${RING_EXAMPLE}` });
  }
  const shape = RingShape.safeParse(json);
  if (!shape.success) return fail(...shape.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })));

  const problems: Problem[] = [];
  const keys = new Map<string, Uint8Array>();
  const entries = Object.entries(shape.data.keys);
  if (entries.length === 0) problems.push({ path: ['keys'], message: 'holds no key; at least the active one is needed' });
  for (const [version, text] of entries) {
    if (!VERSION.test(version)) {
      problems.push({ path: ['keys', version], message: 'key versions are positive integers without leading zeros: "1", "2", ...' });
      continue;
    }
    const key = readKey(text, 'AES-256-GCM');
    if ('problem' in key) problems.push({ path: ['keys', version], message: key.problem });
    else keys.set(version, key.bytes);
  }
  const seen = [...keys];
  for (let i = 0; i < seen.length; i++) {
    for (let j = i + 1; j < seen.length; j++) {
      const [a, ka] = seen[i] as [string, Uint8Array];
      const [b, kb] = seen[j] as [string, Uint8Array];
      if (sameBytes(ka, kb)) problems.push({ path: ['keys', b], message: `is the same key as version ${a}; every version needs its own random key` });
    }
  }
  const active = shape.data.active;
  if (!VERSION.test(active)) {
    problems.push({ path: ['active'], message: 'must be a key version: a positive integer such as "2"' });
  } else if (!Object.hasOwn(shape.data.keys, active)) {
    const present = Object.keys(shape.data.keys).join(', ') || 'none';
    problems.push({ path: ['active'], message: `version "${active}" is not in keys (present: ${present}); add its key before making it active` });
  }
  return problems.length ? fail(...problems) : { ring: { active, keys }, problems };
}

function readIndexKey(secret: unknown): { key: Uint8Array | null; problems: Problem[] } {
  if (typeof secret !== 'string' || secret.trim() === '') {
    return { key: null, problems: [{ path: [], message: 'is not set (`wrangler secret put PII_INDEX_KEY`; locally in .dev.vars)' }] };
  }
  const key = readKey(secret, 'HMAC-SHA-256 blind indexing');
  return 'problem' in key ? { key: null, problems: [{ path: [], message: key.problem }] } : { key: key.bytes, problems: [] };
}

const describeProblems = (name: string, problems: Problem[]) =>
  problems.map((p) => `${[name, ...p.path].join('.')}: ${p.message}`);

/**
 * Zod schemas for shared/env.ts, so a bad ring or index key is reported with the rest of the
 * configuration when the Worker starts. The value stays the secret string; FieldCipher.from
 * parses it (and checks that the index key is not one of the ring's keys).
 */
export const PiiEncryptionKeysSecret = z.string().superRefine((value, ctx) => {
  for (const p of readRing(value).problems) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
});

export const PiiIndexKeySecret = z.string().superRefine((value, ctx) => {
  for (const p of readIndexKey(value).problems) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
});

// ---------------------------------------------------------------------------------------------
// Envelopes

interface Envelope {
  version: string;
  iv: Uint8Array;
  data: Uint8Array;
}

function parseEnvelope(envelope: unknown): Envelope | null {
  if (typeof envelope !== 'string') return null;
  const m = ENVELOPE.exec(envelope);
  if (!m) return null;
  // The pattern's lengths fix the sizes: 16 characters are 12 bytes (the IV), 22 or more at least 16 (the tag).
  const iv = fromBase64Url(m[2] as string);
  const data = fromBase64Url(m[3] as string);
  if (!iv || !data) return null;
  return { version: m[1] as string, iv, data };
}

/** Whether a value has the envelope's shape (no key needed): for backfills of plaintext columns. */
export const isPiiEnvelope = (value: unknown): boolean => parseEnvelope(value) !== null;

/**
 * The conventional AAD `<table>:<row id>:<column>`, or a longer path for rows owned by another
 * (`users:usr_1:addresses:adr_9:address`). Parts are ids and names: letters, digits, `_.-`.
 */
export function piiAad(...parts: [string, string, string, ...string[]]): string {
  parts.forEach((part, i) => {
    if (!AAD_PART.test(part)) throw new RangeError(`piiAad: part ${i + 1} must be 1-128 of [A-Za-z0-9_.-]`);
  });
  return parts.join(':');
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (s: string) => encoder.encode(s);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

function checkAad(aad: unknown): asserts aad is string {
  if (typeof aad !== 'string' || aad.length === 0 || aad.length > MAX_AAD_LENGTH) {
    throw new RangeError(`PII AAD must be a non-empty string of at most ${MAX_AAD_LENGTH} characters, e.g. piiAad('users', id, 'phone')`);
  }
}

// ---------------------------------------------------------------------------------------------
// The cipher

/** Ciphers by secret strings: keys are parsed and imported once per isolate. */
const CACHE_LIMIT = 8;
const cache = new Map<string, FieldCipher>();

export class FieldCipher {
  /** The key version new envelopes are written under. */
  readonly activeVersion: string;
  /** Every version this cipher can decrypt, ascending. */
  readonly versions: readonly string[];
  readonly #raw: ReadonlyMap<string, Uint8Array>;
  readonly #indexRaw: Uint8Array;
  readonly #aesKeys = new Map<string, Promise<CryptoKey>>();
  #indexKey: Promise<CryptoKey> | undefined;

  private constructor(ring: ParsedRing, indexKey: Uint8Array) {
    this.activeVersion = ring.active;
    this.versions = Object.freeze([...ring.keys.keys()].sort((a, b) => Number(a) - Number(b)));
    this.#raw = ring.keys;
    this.#indexRaw = indexKey;
  }

  /**
   * The cipher for these secrets, memoised by their strings (one parse and one import of each key
   * per isolate). Throws KeyRingError listing every problem of the configuration.
   */
  static from(secrets: PiiSecrets): FieldCipher {
    const id = JSON.stringify([secrets.PII_ENCRYPTION_KEYS ?? null, secrets.PII_INDEX_KEY ?? null]);
    const hit = cache.get(id);
    if (hit) return hit;
    const ring = readRing(secrets.PII_ENCRYPTION_KEYS);
    const index = readIndexKey(secrets.PII_INDEX_KEY);
    const problems = [...describeProblems('PII_ENCRYPTION_KEYS', ring.problems), ...describeProblems('PII_INDEX_KEY', index.problems)];
    if (ring.ring && index.key) {
      const clash = [...ring.ring.keys].find(([, k]) => sameBytes(k, index.key as Uint8Array));
      if (clash) problems.push(`PII_INDEX_KEY: is the same key as PII_ENCRYPTION_KEYS version ${clash[0]}; use a separate random key`);
    }
    if (problems.length || !ring.ring || !index.key) throw new KeyRingError(`Invalid PII key configuration: ${problems.join('; ')}`);
    const cipher = new FieldCipher(ring.ring, index.key);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(id, cipher);
    return cipher;
  }

  /** Encrypts under the active key with a fresh random IV; the envelope is bound to `aad`. */
  async encrypt(plaintext: string, aad: string): Promise<string> {
    if (typeof plaintext !== 'string') throw new TypeError('encrypt takes a string; use encryptJson for other values');
    checkAad(aad);
    const version = this.activeVersion;
    const key = await (this.#aesKey(version) as Promise<CryptoKey>);
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealed = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(`pii:v${version}:${aad}`), tagLength: TAG_BYTES * 8 },
      key,
      utf8(plaintext),
    );
    return `pii:v${version}:${toBase64Url(iv)}:${toBase64Url(new Uint8Array(sealed))}`;
  }

  /** The plaintext of an envelope written with the same `aad`, under any key still in the ring. */
  async decrypt(envelope: string, aad: string): Promise<string> {
    checkAad(aad);
    const parsed = parseEnvelope(envelope);
    if (!parsed) throw new FieldCipherError('malformed_envelope', 'not a pii:v<n>:<iv>:<ciphertext> envelope', aad);
    const { version, iv, data } = parsed;
    const pending = this.#aesKey(version);
    if (!pending) {
      throw new FieldCipherError('unknown_key_version', `key version ${version} is not in PII_ENCRYPTION_KEYS (has ${this.versions.join(', ')})`, aad);
    }
    const key = await pending;
    let plain: ArrayBuffer;
    try {
      plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: utf8(`pii:v${version}:${aad}`), tagLength: TAG_BYTES * 8 }, key, data);
    } catch (e) {
      throw new FieldCipherError(
        'authentication_failed',
        `AES-GCM authentication failed under key version ${version}: other AAD (copied from another row or field) or modified data`,
        aad,
        e,
      );
    }
    return decoder.decode(plain);
  }

  /** `encrypt(JSON.stringify(value), aad)`. */
  async encryptJson(value: unknown, aad: string): Promise<string> {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('encryptJson: the value has no JSON form (undefined, a function or a symbol)');
    return this.encrypt(text, aad);
  }

  /** The decrypted JSON value; with a schema, parsed by it (a mismatch is a FieldCipherError too). */
  decryptJson(envelope: string, aad: string): Promise<unknown>;
  decryptJson<T>(envelope: string, aad: string, schema: z.ZodType<T>): Promise<T>;
  async decryptJson(envelope: string, aad: string, schema?: z.ZodType): Promise<unknown> {
    const text = await this.decrypt(envelope, aad);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new FieldCipherError('invalid_json', 'the plaintext is not JSON (written with encrypt, not encryptJson?)', aad);
    }
    if (!schema) return value;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    // Paths and codes only: zod messages may describe the stored (secret) value.
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.code}`).join(', ');
    throw new FieldCipherError('schema_mismatch', `the decrypted JSON does not match the schema: ${where}`, aad);
  }

  /** The key version an envelope was written under (throws FieldCipherError when malformed). */
  keyVersionOf(envelope: string): string {
    const parsed = parseEnvelope(envelope);
    if (!parsed) throw new FieldCipherError('malformed_envelope', 'not a pii:v<n>:<iv>:<ciphertext> envelope', undefined);
    return parsed.version;
  }

  /** Whether the envelope is under another key than the active one (no decryption). */
  needsReencrypt(envelope: string): boolean {
    return this.keyVersionOf(envelope) !== this.activeVersion;
  }

  /**
   * The same plaintext under the active key with a new IV. An envelope already under the active
   * key comes back unchanged, without crypto work (and unverified); compare to skip the write.
   */
  async reencrypt(envelope: string, aad: string): Promise<string> {
    if (!this.needsReencrypt(envelope)) return envelope;
    return this.encrypt(await this.decrypt(envelope, aad), aad);
  }

  /**
   * A deterministic keyed hash for equality lookups on an encrypted field: base64url of
   * HMAC-SHA-256(PII_INDEX_KEY, purpose ‖ 0x00 ‖ value), 43 characters. Normalise `value` first
   * (E.164 phone, normalised email), the same way when writing and when looking up. `purpose`
   * (e.g. `users.phone`) keeps indexes of different fields unrelated.
   */
  async blindIndex(value: string, purpose: string): Promise<string> {
    if (typeof value !== 'string') throw new TypeError('blindIndex takes a string');
    if (!PURPOSE.test(purpose)) throw new RangeError('blindIndex purpose must be 1-64 of [a-z0-9_.:-] starting with a letter, e.g. "users.phone"');
    this.#indexKey ??= crypto.subtle.importKey('raw', this.#indexRaw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = await crypto.subtle.sign('HMAC', await this.#indexKey, utf8(`${purpose}\u0000${value}`));
    return toBase64Url(new Uint8Array(mac));
  }

  /** The imported key of a version (imported on first use, once), or null if the ring lacks it. */
  #aesKey(version: string): Promise<CryptoKey> | null {
    const hit = this.#aesKeys.get(version);
    if (hit) return hit;
    const raw = this.#raw.get(version);
    if (!raw) return null;
    const pending = crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    this.#aesKeys.set(version, pending);
    return pending;
  }
}
