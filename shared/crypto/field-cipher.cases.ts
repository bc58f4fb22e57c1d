import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../kernel/app-error';
import { fromBase64Url, toBase64Url } from '../kernel/base64';
import {
  FieldCipher,
  FieldCipherError,
  type FieldCipherFailure,
  isPiiEnvelope,
  KeyRingError,
  PiiEncryptionKeysSecret,
  PiiIndexKeySecret,
  piiAad,
} from './field-cipher';

/**
 * The behaviour of the field cipher, registered by both field-cipher.test.ts (Node's WebCrypto)
 * and field-cipher.worker.test.ts (workerd's, BoringSSL), so the two runtimes are held to the same
 * cases. Keys here are fixed test bytes, never real ones.
 */

/** Standard padded base64 of 32 (or `length`) deterministic test bytes, as openssl prints keys. */
export function testKey(seed: number, length = 32): string {
  const bytes = Uint8Array.from({ length }, (_, i) => (seed * 31 + i * 7) & 0xff);
  return btoa(String.fromCharCode(...bytes));
}

export const INDEX_KEY = testKey(99);

export function ring(active: string | number, versions: number[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ active, keys: Object.fromEntries(versions.map((v) => [String(v), testKey(v)])), ...extra });
}

export const cipherWith = (keys: string, indexKey = INDEX_KEY) => FieldCipher.from({ PII_ENCRYPTION_KEYS: keys, PII_INDEX_KEY: indexKey });

export const ENVELOPE_SHAPE = /^pii:v[1-9][0-9]*:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22,}$/;
const AAD = 'users:usr_01jc5x3k2m9q8r7t6v5w4x3y2z:phone';
const PHONE = '+919876543210';

/** Rejects with a FieldCipherError of this reason, mapped to INTERNAL/500, saying nothing about `secret`. */
export async function expectFailure(p: Promise<unknown>, reason: FieldCipherFailure, secret = PHONE): Promise<FieldCipherError> {
  const err = await p.then(
    () => expect.unreachable('expected a FieldCipherError'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FieldCipherError);
  expect(err).toBeInstanceOf(AppError);
  const e = err as FieldCipherError;
  expect(e.reason).toBe(reason);
  expect(e.code).toBe('INTERNAL');
  expect(e.status).toBe(500);
  expect(e.cause).toBeInstanceOf(Error);
  const text = `${e.message} ${(e.cause as Error).message}`;
  expect(text).toContain(reason);
  expect(text).not.toContain(secret);
  expect(e.message).not.toContain(reason); // the client-facing detail stays generic
  return e;
}

/** The envelope with one bit flipped in byte `index` of its IV (part 2) or ciphertext (part 3). */
function flip(envelope: string, part: 2 | 3, index: number): string {
  const parts = envelope.split(':');
  const bytes = fromBase64Url(parts[part]!)!;
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = bytes[at]! ^ 0x01;
  parts[part] = toBase64Url(bytes);
  return parts.join(':');
}

const ADDRESS = {
  name: 'Aditi Rao',
  line1: 'Flat 4B, Lakshmi Residency',
  line2: 'Indiranagar',
  city: 'Bengaluru',
  region: 'KA',
  postcode: '560038',
  country: 'IN',
  phone: '+919876543210',
};
/** A typical address as JSON, padded to exactly 200 bytes by the delivery note. */
export const ADDRESS_JSON_200 = JSON.stringify({ ...ADDRESS, note: 'x'.repeat(200 - JSON.stringify({ ...ADDRESS, note: '' }).length) });

export function fieldCipherCases(): void {
  const v1 = () => cipherWith(ring('1', [1]));

  describe('encrypt / decrypt', () => {
    it.each([
      ['a phone number', PHONE],
      ['the empty string', ''],
      ['unicode (combining marks, CJK, emoji, RTL)', 'Café n\u0303 東京都港区 👩‍👩‍👧 שלום'],
      ['a 200-byte address as JSON', ADDRESS_JSON_200],
    ])('round-trips %s', async (_what, plaintext) => {
      const c = v1();
      const envelope = await c.encrypt(plaintext, AAD);
      expect(envelope).toMatch(ENVELOPE_SHAPE);
      expect(envelope.startsWith('pii:v1:')).toBe(true);
      expect(envelope).not.toContain(plaintext || '\u0000');
      const [, , iv, data] = envelope.split(':');
      expect(fromBase64Url(iv!)!.length).toBe(12);
      expect(fromBase64Url(data!)!.length).toBe(new TextEncoder().encode(plaintext).length + 16);
      expect(await c.decrypt(envelope, AAD)).toBe(plaintext);
    });

    it('uses a fresh IV each time, so the same plaintext never gives the same envelope', async () => {
      const c = v1();
      const envelopes = await Promise.all(Array.from({ length: 200 }, () => c.encrypt(PHONE, AAD)));
      expect(new Set(envelopes).size).toBe(200);
      expect(new Set(envelopes.map((e) => e.split(':')[2])).size).toBe(200);
      for (const e of envelopes.slice(0, 5)) expect(await c.decrypt(e, AAD)).toBe(PHONE);
    });

    it('fails with another AAD: a ciphertext copied to another row or column does not decrypt', async () => {
      const c = v1();
      const envelope = await c.encrypt(PHONE, piiAad('users', 'usr_a', 'phone'));
      await expectFailure(c.decrypt(envelope, piiAad('users', 'usr_b', 'phone')), 'authentication_failed');
      await expectFailure(c.decrypt(envelope, piiAad('users', 'usr_a', 'backup_phone')), 'authentication_failed');
      await expectFailure(c.decrypt(envelope, piiAad('addresses', 'usr_a', 'phone')), 'authentication_failed');
      expect(await c.decrypt(envelope, piiAad('users', 'usr_a', 'phone'))).toBe(PHONE);
    });

    it('fails when the IV, the ciphertext or the tag was modified, or the tag cut short', async () => {
      const c = v1();
      const envelope = await c.encrypt(PHONE, AAD);
      const [prefix, version, iv, data] = envelope.split(':') as [string, string, string, string];
      const short = toBase64Url(fromBase64Url(data)!.slice(0, -1));
      const tampered = {
        iv: flip(envelope, 2, 0),
        'last IV byte': flip(envelope, 2, -1),
        'first ciphertext byte': flip(envelope, 3, 0),
        'first tag byte': flip(envelope, 3, -16),
        'last tag byte': flip(envelope, 3, -1),
        'a truncated tag': [prefix, version, iv, short].join(':'),
        'another IV': [prefix, version, toBase64Url(new Uint8Array(12)), data].join(':'),
      };
      for (const [what, bad] of Object.entries(tampered)) {
        expect(bad, what).not.toBe(envelope);
        await expectFailure(c.decrypt(bad, AAD), 'authentication_failed');
      }
      expect(await c.decrypt(envelope, AAD)).toBe(PHONE);
    });

    it('fails when the envelope is relabelled with another key version of the ring', async () => {
      const c = cipherWith(ring('1', [1, 2]));
      const envelope = await c.encrypt(PHONE, AAD);
      await expectFailure(c.decrypt(envelope.replace('pii:v1:', 'pii:v2:'), AAD), 'authentication_failed');
    });

    it('fails with unknown_key_version for a version the ring does not hold', async () => {
      const c = v1();
      const envelope = await c.encrypt(PHONE, AAD);
      const e = await expectFailure(c.decrypt(envelope.replace('pii:v1:', 'pii:v7:'), AAD), 'unknown_key_version');
      expect((e.cause as Error).message).toContain('key version 7');
    });

    it('fails with malformed_envelope for anything that is not an envelope', async () => {
      const c = v1();
      const good = await c.encrypt(PHONE, AAD);
      const [, , iv, data] = good.split(':') as [string, string, string, string];
      const bad = [
        '',
        PHONE,
        'pii:v1:',
        `pii:v1:${iv}`,
        `pii:v0:${iv}:${data}`,
        `pii:v01:${iv}:${data}`,
        `pii:1:${iv}:${data}`,
        `PII:v1:${iv}:${data}`,
        `pii:v1:${iv}:${data}:x`,
        `pii:v1:${iv}:${data}=`,
        `pii:v1:${iv}AA:${data}`, // 13-byte IV
        `pii:v1:${iv}:${toBase64Url(new Uint8Array(15))}`, // shorter than a tag
        `pii:v1:${iv}:${data.replace(/.$/, (ch) => (ch === '_' ? '+' : '/'))}`, // standard alphabet
        ` ${good}`,
        `${good}\n`,
      ];
      for (const b of bad) await expectFailure(c.decrypt(b, AAD), 'malformed_envelope');
      await expectFailure(c.decrypt(null as unknown as string, AAD), 'malformed_envelope');
    });

    it('rejects non-canonical base64url (spare bits set), so an envelope has one spelling', async () => {
      const c = v1();
      const good = await c.encrypt('', AAD); // 16-byte tag: 22 characters, 4 spare bits
      const last = good.at(-1)!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sibling = alphabet[alphabet.indexOf(last) ^ 1]!; // same top 2 bits, other spare bits
      await expectFailure(c.decrypt(good.slice(0, -1) + sibling, AAD), 'malformed_envelope');
    });

    it('refuses an empty or oversized AAD: a programming error, not stored-data corruption', async () => {
      const c = v1();
      await expect(c.encrypt(PHONE, '')).rejects.toThrow(RangeError);
      await expect(c.encrypt(PHONE, 'x'.repeat(1025))).rejects.toThrow(RangeError);
      await expect(c.decrypt(await c.encrypt(PHONE, AAD), '')).rejects.toThrow(RangeError);
      await expect(c.encrypt(42 as unknown as string, AAD)).rejects.toThrow(TypeError);
    });
  });

  describe('encryptJson / decryptJson', () => {
    const Address = z.object({ line1: z.string(), postcode: z.string() });

    it('round-trips JSON values, and parses them with a schema when given one', async () => {
      const c = v1();
      const value = { line1: '12 MG Road', postcode: '560001', tags: ['home'], n: 1.5, ok: true, none: null };
      const envelope = await c.encryptJson(value, AAD);
      expect(await c.decryptJson(envelope, AAD)).toEqual(value);
      expect(await c.decryptJson(envelope, AAD, Address)).toEqual({ line1: '12 MG Road', postcode: '560001' });
      expect(await c.decryptJson(await c.encryptJson('just a string', AAD), AAD)).toBe('just a string');
      await expect(c.encryptJson(undefined, AAD)).rejects.toThrow(TypeError);
    });

    it('reports schema_mismatch with paths only, never the decrypted values', async () => {
      const c = v1();
      const envelope = await c.encryptJson({ line1: 'Secret Lane 7', postcode: 560001 }, AAD);
      const e = await expectFailure(c.decryptJson(envelope, AAD, Address), 'schema_mismatch', 'Secret Lane');
      expect((e.cause as Error).message).toContain('postcode invalid_type');
      expect((e.cause as Error).message).not.toContain('560001');
    });

    it('reports invalid_json for an envelope written with encrypt, and authentication failures as usual', async () => {
      const c = v1();
      await expectFailure(c.decryptJson(await c.encrypt('not json {', AAD), AAD), 'invalid_json', 'not json');
      await expectFailure(c.decryptJson(await c.encryptJson({ a: 1 }, AAD), 'users:usr_x:phone'), 'authentication_failed');
    });
  });

  describe('key rotation', () => {
    it('add a version, make it active, re-encrypt in the background, then remove the old one', async () => {
      // Step 0: only version 1.
      const before = cipherWith(ring('1', [1]));
      const old = await before.encrypt(PHONE, AAD);
      expect(before.needsReencrypt(old)).toBe(false);
      expect(await before.reencrypt(old, AAD)).toBe(old);

      // Step 1: version 2 deployed everywhere but not active yet: still writes version 1.
      const added = cipherWith(ring('1', [1, 2]));
      expect(added.keyVersionOf(await added.encrypt(PHONE, AAD))).toBe('1');

      // Step 2: version 2 active. Old envelopes still decrypt and are flagged.
      const rotated = cipherWith(ring('2', [1, 2]));
      expect(rotated.activeVersion).toBe('2');
      expect(rotated.versions).toEqual(['1', '2']);
      expect(await rotated.decrypt(old, AAD)).toBe(PHONE);
      expect(rotated.needsReencrypt(old)).toBe(true);
      const fresh = await rotated.encrypt(PHONE, AAD);
      expect(fresh.startsWith('pii:v2:')).toBe(true);
      expect(rotated.needsReencrypt(fresh)).toBe(false);

      // Step 3: background job re-encrypts; the result is version 2, same plaintext, same AAD.
      const moved = await rotated.reencrypt(old, AAD);
      expect(moved.startsWith('pii:v2:')).toBe(true);
      expect(rotated.needsReencrypt(moved)).toBe(false);
      expect(await rotated.decrypt(moved, AAD)).toBe(PHONE);
      expect(await rotated.reencrypt(moved, AAD)).toBe(moved);
      await expectFailure(rotated.reencrypt(old, 'users:usr_other:phone'), 'authentication_failed');

      // Step 4: version 1 removed. Re-encrypted data reads; anything missed fails loudly.
      const after = cipherWith(ring('2', [2]));
      expect(await after.decrypt(moved, AAD)).toBe(PHONE);
      expect(await after.decrypt(fresh, AAD)).toBe(PHONE);
      await expectFailure(after.decrypt(old, AAD), 'unknown_key_version');
      expect(after.needsReencrypt(old)).toBe(true);
      await expectFailure(after.reencrypt(old, AAD), 'unknown_key_version');
    });

    it('reads the key version of an envelope and refuses to guess for malformed ones', async () => {
      const c = cipherWith(ring('12', [3, 12]));
      expect(c.keyVersionOf(await c.encrypt(PHONE, AAD))).toBe('12');
      expect(() => c.needsReencrypt('pii:v1:nope')).toThrow(FieldCipherError);
      expect(() => c.keyVersionOf(PHONE)).toThrow(FieldCipherError);
    });

    it('keeps blind indexes stable across encryption key rotations (they use PII_INDEX_KEY only)', async () => {
      const a = await cipherWith(ring('1', [1])).blindIndex(PHONE, 'users.phone');
      const b = await cipherWith(ring('2', [2])).blindIndex(PHONE, 'users.phone');
      expect(b).toBe(a);
    });
  });

  describe('blindIndex', () => {
    it('is deterministic per purpose and value, 43 base64url characters', async () => {
      const c = v1();
      const a = await c.blindIndex(PHONE, 'users.phone');
      expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await c.blindIndex(PHONE, 'users.phone')).toBe(a);
      expect(a).not.toContain(PHONE);
    });

    it('differs across purposes, values and index keys', async () => {
      const c = v1();
      const a = await c.blindIndex(PHONE, 'users.phone');
      expect(await c.blindIndex(PHONE, 'addresses.phone')).not.toBe(a);
      expect(await c.blindIndex('+919876543211', 'users.phone')).not.toBe(a);
      expect(await c.blindIndex('', 'users.phone')).not.toBe(await c.blindIndex('', 'addresses.phone'));
      expect(await cipherWith(ring('1', [1]), testKey(98)).blindIndex(PHONE, 'users.phone')).not.toBe(a);
    });

    it('does not normalise: callers normalise first, the same way on write and lookup', async () => {
      const c = v1();
      expect(await c.blindIndex('+91 98765 43210', 'users.phone')).not.toBe(await c.blindIndex(PHONE, 'users.phone'));
    });

    it('refuses a missing or malformed purpose', async () => {
      const c = v1();
      for (const purpose of ['', 'Users.phone', '1users', 'users phone', 'a\u0000b', 'x'.repeat(65)]) {
        await expect(c.blindIndex(PHONE, purpose), purpose).rejects.toThrow(RangeError);
      }
    });
  });

  describe('key configuration', () => {
    const problemsOf = (keys: string | undefined, ...index: [string | undefined] | []): string => {
      try {
        FieldCipher.from({ PII_ENCRYPTION_KEYS: keys, PII_INDEX_KEY: index.length ? index[0] : INDEX_KEY });
      } catch (e) {
        expect(e).toBeInstanceOf(KeyRingError);
        expect(e).not.toBeInstanceOf(AppError); // a plain error: logged, and hidden from clients
        return (e as Error).message;
      }
      return expect.unreachable('expected a KeyRingError');
    };

    it('accepts numeric or string versions, padded or unpadded, standard or URL-safe base64', () => {
      const unpaddedUrl = testKey(2).replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
      const c = cipherWith(JSON.stringify({ active: 2, keys: { '1': testKey(1), '2': unpaddedUrl } }));
      expect(c.activeVersion).toBe('2');
      expect(c.versions).toEqual(['1', '2']);
    });

    it.each([
      ['a 16-byte key', ring('1', [1]).replace(testKey(1), testKey(1, 16)), 'PII_ENCRYPTION_KEYS.keys.1: decodes to 16 bytes; AES-256-GCM needs exactly 32'],
      ['a 33-byte key', ring('1', [1]).replace(testKey(1), testKey(1, 33)), 'PII_ENCRYPTION_KEYS.keys.1: decodes to 33 bytes'],
      ['an active version without a key', ring('3', [1, 2]), 'PII_ENCRYPTION_KEYS.active: version "3" is not in keys (present: 1, 2)'],
      ['no active version', JSON.stringify({ keys: { '1': testKey(1) } }), 'PII_ENCRYPTION_KEYS.active: must name the version'],
      ['no keys', JSON.stringify({ active: '1', keys: {} }), 'PII_ENCRYPTION_KEYS.keys: holds no key'],
      ['keys as a list', JSON.stringify({ active: '1', keys: [testKey(1)] }), 'PII_ENCRYPTION_KEYS.keys: must be an object'],
      ['a key that is not base64', JSON.stringify({ active: '1', keys: { '1': 'not base64!' } }), 'PII_ENCRYPTION_KEYS.keys.1: is not base64'],
      ['a key that is not a string', JSON.stringify({ active: '1', keys: { '1': 12345 } }), 'PII_ENCRYPTION_KEYS.keys.1: must be base64 of 32 random bytes'],
      ['a version with a leading zero', JSON.stringify({ active: '1', keys: { '1': testKey(1), '02': testKey(2) } }), 'PII_ENCRYPTION_KEYS.keys.02: key versions are positive integers'],
      ['version 0', ring('0', [0]), 'PII_ENCRYPTION_KEYS.keys.0: key versions are positive integers'],
      ['two versions with the same key', JSON.stringify({ active: '2', keys: { '1': testKey(1), '2': testKey(1) } }), 'PII_ENCRYPTION_KEYS.keys.2: is the same key as version 1'],
      ['an unknown field', ring('1', [1], { index: testKey(5) }), 'PII_ENCRYPTION_KEYS: Unrecognized key: "index"'],
      ['a JSON array', '[]', 'PII_ENCRYPTION_KEYS: must be a JSON object like'],
      ['a missing secret', undefined, 'PII_ENCRYPTION_KEYS: is not set'],
      ['an empty secret', '  ', 'PII_ENCRYPTION_KEYS: is not set'],
    ])('rejects %s with a clear message', (_what, keys, expected) => {
      const message = problemsOf(keys);
      expect(message).toContain('Invalid PII key configuration: ');
      expect(message).toContain(expected);
    });

    it('does not echo the secret when it is not JSON (the SyntaxError would quote it)', () => {
      // A bare key pasted instead of the ring: V8's message starts `Unexpected token 'A', "AAECAwQFBg"...`.
      for (const secret of [testKey(1), `{"active":"1","keys":{"1":"${testKey(1)}"`]) {
        const message = problemsOf(secret);
        expect(message).toContain('PII_ENCRYPTION_KEYS: is not valid JSON; expected {"active":"1"');
        expect(message).not.toContain(testKey(1).slice(0, 8));
      }
    });

    it('never puts key material in a message, and lists every problem at once', () => {
      const keys = JSON.stringify({ active: '9', keys: { '1': testKey(1, 16), '2': testKey(2) } });
      const message = problemsOf(keys, testKey(2));
      for (const k of [testKey(1, 16), testKey(2)]) expect(message).not.toContain(k.slice(0, 8));
      expect(message).toContain('PII_ENCRYPTION_KEYS.keys.1: decodes to 16 bytes');
      expect(message).toContain('PII_ENCRYPTION_KEYS.active: version "9" is not in keys');
    });

    it.each([
      ['missing', undefined, 'PII_INDEX_KEY: is not set'],
      ['short', testKey(99, 20), 'PII_INDEX_KEY: decodes to 20 bytes; HMAC-SHA-256 blind indexing needs exactly 32'],
      ['not base64', '%%%', 'PII_INDEX_KEY: is not base64'],
      ['one of the encryption keys', testKey(1), 'PII_INDEX_KEY: is the same key as PII_ENCRYPTION_KEYS version 1'],
    ])('rejects an index key that is %s', (_what, indexKey, expected) => {
      expect(problemsOf(ring('1', [1]), indexKey)).toContain(expected);
    });

    it('offers the same checks as zod schemas for shared/env.ts, keeping the secret string', () => {
      const good = ring('1', [1]);
      expect(PiiEncryptionKeysSecret.parse(good)).toBe(good);
      expect(PiiIndexKeySecret.parse(INDEX_KEY)).toBe(INDEX_KEY);
      const bad = PiiEncryptionKeysSecret.safeParse(ring('3', [1]));
      expect(bad.success).toBe(false);
      expect(bad.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['active', 'version "3" is not in keys (present: 1); add its key before making it active']]);
      const short = PiiIndexKeySecret.safeParse(testKey(1, 16));
      expect(short.error?.issues[0]?.message).toContain('decodes to 16 bytes');
    });

    it('memoises the cipher by the secret strings', () => {
      const keys = ring('1', [1]);
      expect(cipherWith(keys)).toBe(cipherWith(keys));
      expect(cipherWith(keys)).not.toBe(cipherWith(ring('1', [1, 2])));
      expect(cipherWith(keys)).not.toBe(cipherWith(keys, testKey(98)));
    });
  });

  describe('helpers', () => {
    it('piiAad joins table, row id and column (or a longer owner path) and refuses separators', () => {
      expect(piiAad('users', 'usr_123', 'phone')).toBe('users:usr_123:phone');
      expect(piiAad('users', 'usr_1', 'addresses', 'adr_9', 'address')).toBe('users:usr_1:addresses:adr_9:address');
      expect(() => piiAad('users', 'usr:1', 'phone')).toThrow(RangeError);
      expect(() => piiAad('users', '', 'phone')).toThrow(RangeError);
    });

    it('isPiiEnvelope tells envelopes from plaintext (for backfills of existing columns)', async () => {
      expect(isPiiEnvelope(await v1().encrypt(PHONE, AAD))).toBe(true);
      expect(isPiiEnvelope(PHONE)).toBe(false);
      expect(isPiiEnvelope('pii:v1:abc')).toBe(false);
      expect(isPiiEnvelope(null)).toBe(false);
    });
  });
}
