import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fromBase64Url, toBase64Url } from '../kernel/base64';
import { cipherWith, fieldCipherCases, INDEX_KEY, ring, testKey } from './field-cipher.cases';

/** The shared cases on Node's WebCrypto, plus interoperability with an independent implementation. */
fieldCipherCases();

const AAD = 'users:usr_1:phone';
const key = (seed: number) => Buffer.from(testKey(seed), 'base64');

describe('the documented format, checked against node:crypto (OpenSSL)', () => {
  it('an envelope is AES-256-GCM with AAD "pii:v<version>:<aad>" and decrypts without this module', async () => {
    const envelope = await cipherWith(ring('3', [1, 3])).encrypt('12 MG Road', AAD);
    const [prefix, version, iv, data] = envelope.split(':') as [string, string, string, string];
    expect([prefix, version]).toEqual(['pii', 'v3']);
    const sealed = fromBase64Url(data)!;
    const decipher = createDecipheriv('aes-256-gcm', key(3), fromBase64Url(iv)!);
    decipher.setAAD(Buffer.from(`pii:v3:${AAD}`, 'utf8'));
    decipher.setAuthTag(sealed.subarray(-16));
    const plain = Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()]).toString('utf8');
    expect(plain).toBe('12 MG Road');
  });

  it('decrypts an envelope written by another implementation of the format', async () => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key(1), iv);
    cipher.setAAD(Buffer.from(`pii:v1:${AAD}`, 'utf8'));
    const body = Buffer.concat([cipher.update('Ünïcödé ✓', 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const envelope = `pii:v1:${toBase64Url(iv)}:${toBase64Url(body)}`;
    expect(await cipherWith(ring('1', [1])).decrypt(envelope, AAD)).toBe('Ünïcödé ✓');
  });

  it('a blind index is base64url(HMAC-SHA-256(PII_INDEX_KEY, purpose ‖ 0x00 ‖ value))', async () => {
    const expected = createHmac('sha256', Buffer.from(INDEX_KEY, 'base64')).update('users.phone\u0000+15551234567', 'utf8').digest('base64url');
    expect(await cipherWith(ring('1', [1])).blindIndex('+15551234567', 'users.phone')).toBe(expected);
  });
});

describe('key import', () => {
  afterEach(() => vi.restoreAllMocks());

  it('imports each key once per cipher (memoised per isolate), on first use', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    const c = cipherWith(ring('41', [40, 41])); // versions no other test uses: a cold cipher
    expect(importKey).not.toHaveBeenCalled();
    const envelopes = await Promise.all([c.encrypt('a', AAD), c.encrypt('b', AAD)]);
    await c.encrypt('c', AAD);
    for (const e of envelopes) await c.decrypt(e, AAD);
    expect(importKey).toHaveBeenCalledTimes(1);
    await cipherWith(ring('41', [40, 41])).blindIndex('x', 'users.phone');
    await c.blindIndex('y', 'users.phone');
    expect(importKey).toHaveBeenCalledTimes(2);
    const [format, , algorithm, extractable] = importKey.mock.calls[0]!;
    expect([format, algorithm, extractable]).toEqual(['raw', { name: 'AES-GCM' }, false]);
  });
});
