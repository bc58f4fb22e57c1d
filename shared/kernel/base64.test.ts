import { describe, expect, it } from 'vitest';
import { fromBase64Lenient, fromBase64Url, toBase64Url } from './base64';

describe('base64url (envelopes)', () => {
  it('round-trips every length, unpadded, URL-safe alphabet', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 73 + n * 11) & 0xff);
      const text = toBase64Url(bytes);
      expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(text).toBe(Buffer.from(bytes).toString('base64url'));
      expect(fromBase64Url(text)).toEqual(bytes);
    }
  });

  it.each([
    ['padding', 'AAE='],
    ['the standard alphabet', 'A+/A'],
    ['an impossible length', 'AAAAA'],
    ['non-zero spare bits after 2 characters', 'AB'],
    ['non-zero spare bits after 3 characters', 'AAB'],
    ['whitespace', 'AA AA'],
  ])('rejects %s', (_why, text) => {
    expect(fromBase64Url(text)).toBeNull();
  });
});

describe('lenient base64 (keys as pasted)', () => {
  const bytes = Uint8Array.from({ length: 32 }, (_, i) => 250 - i * 3);
  const std = Buffer.from(bytes).toString('base64');

  it('accepts standard or URL-safe, padded or not', () => {
    expect(std).toMatch(/[+/].*=$/); // this key exercises both alphabets and padding
    for (const text of [std, std.replace(/=+$/, ''), Buffer.from(bytes).toString('base64url')]) {
      expect(fromBase64Lenient(text)).toEqual(bytes);
    }
  });

  it.each([
    ['incomplete padding', `${std.slice(0, -2)}=`],
    ['too much padding', `${std}=`],
    ['a newline', `${std}\n`],
    ['non-zero spare bits', `${std.slice(0, -2)}B=`],
    ['junk', 'not base64!'],
  ])('rejects %s', (_why, text) => {
    expect(fromBase64Lenient(text)).toBeNull();
  });
});
