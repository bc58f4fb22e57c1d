import { describe, expect, it } from 'vitest';
import { formatPhc, parsePhc } from './phc';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('PHC strings', () => {
  it('formats params in order and salt/hash as unpadded base64, and parses back', () => {
    const value = { id: 'scrypt', params: { ln: 15, r: 8, p: 3 }, salt: bytes(0, 1, 2, 250), hash: bytes(255, 254, 253) };
    const encoded = formatPhc(value);
    expect(encoded).toBe('$scrypt$ln=15,r=8,p=3$AAEC+g$//79');
    expect(parsePhc(encoded)).toEqual(value);
  });

  it('keeps the version field argon2 writes', () => {
    const value = { id: 'argon2id', version: 19, params: { m: 19456, t: 2, p: 1 }, salt: bytes(1, 2, 3), hash: bytes(4, 5, 6) };
    const encoded = formatPhc(value);
    expect(encoded).toBe('$argon2id$v=19$m=19456,t=2,p=1$AQID$BAUG');
    expect(parsePhc(encoded)).toEqual(value);
  });

  it('round-trips every salt length', () => {
    for (let n = 1; n <= 40; n++) {
      const salt = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) % 256);
      expect(parsePhc(formatPhc({ id: 'x', params: { a: 1 }, salt, hash: salt }))?.salt).toEqual(salt);
    }
  });

  it.each([
    ['not a PHC string', 'scrypt'],
    ['too few fields', '$scrypt$ln=15$AAAA'],
    ['too many fields', '$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAA$AAAA'],
    ['a malformed version', '$argon2id$v=x$m=19456,t=2,p=1$AAAA$AAAA'],
    ['text before the first $', 'x$scrypt$ln=15$AAAA$AAAA'],
    ['upper-case id', '$SCRYPT$ln=15$AAAA$AAAA'],
    ['empty params', '$scrypt$$AAAA$AAAA'],
    ['a param without value', '$scrypt$ln$AAAA$AAAA'],
    ['a non-integer param', '$scrypt$ln=1.5$AAAA$AAAA'],
    ['a negative param', '$scrypt$ln=-1$AAAA$AAAA'],
    ['a param with leading zero', '$scrypt$ln=015$AAAA$AAAA'],
    ['a huge param', '$scrypt$ln=10000000000$AAAA$AAAA'],
    ['a repeated param', '$scrypt$ln=15,ln=16$AAAA$AAAA'],
    ['padding', '$scrypt$ln=15$AAA=$AAAA'],
    ['url-safe alphabet', '$scrypt$ln=15$AA-_$AAAA'],
    ['an impossible base64 length', '$scrypt$ln=15$AAAAA$AAAA'],
    ['non-zero spare bits', '$scrypt$ln=15$AB$AAAA'],
    ['an empty hash', '$scrypt$ln=15$AAAA$'],
  ])('rejects %s', (_why, encoded) => {
    expect(parsePhc(encoded)).toBeNull();
  });
});
