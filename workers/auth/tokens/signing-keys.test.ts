import { describe, expect, it } from 'vitest';
import { SigningKeysError, formatSigningKeysSecret, parseSigningKeysSecret } from './signing-keys';

/** Shape-valid key material (parsing only; importing it is tested inside workerd). */
const X = 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU';
const Y = 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0';
const D = 'jpsQnnGQ0L-Ya9Ir8BNbXi2zfd1ESAzIIG4B_2ZNWC0';
const key = (kid: string, withD = true) => ({ kty: 'EC', crv: 'P-256', kid, x: X, y: Y, ...(withD ? { d: D } : {}) });

function problemOf(secret: string | undefined): string {
  try {
    parseSigningKeysSecret(secret);
  } catch (e) {
    expect(e).toBeInstanceOf(SigningKeysError);
    return (e as Error).message;
  }
  throw new Error('expected a SigningKeysError');
}

describe('parseSigningKeysSecret', () => {
  it('reads the active kid and every key, keeping verification-only keys without d', () => {
    const parsed = parseSigningKeysSecret(JSON.stringify({ active: 'k2', keys: [key('k2'), key('k1', false)] }));
    expect(parsed.active).toBe('k2');
    expect(parsed.keys.map((k) => [k.kid, k.d !== undefined])).toEqual([
      ['k2', true],
      ['k1', false],
    ]);
  });

  it('accepts alg ES256 / use sig on a key and drops members it does not use', () => {
    const parsed = parseSigningKeysSecret(JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), alg: 'ES256', use: 'sig', key_ops: ['sign'], ext: true }] }));
    expect(Object.keys(parsed.keys[0]!).sort()).toEqual(['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it.each([
    ['unset', undefined, 'AUTH_SIGNING_KEYS is not set'],
    ['blank', '  ', 'AUTH_SIGNING_KEYS is not set'],
    ['not JSON', '{"active":', 'is not valid JSON'],
    ['a bare JWK', JSON.stringify(key('k1')), 'active'],
    ['no keys', JSON.stringify({ active: 'k1', keys: [] }), 'keys: list at least the active key'],
    ['an active kid that is not listed', JSON.stringify({ active: 'k9', keys: [key('k1')] }), 'active: no key has kid "k9"'],
    ['an active key without d', JSON.stringify({ active: 'k1', keys: [key('k1', false)] }), 'has no private part'],
    ['a repeated kid', JSON.stringify({ active: 'k1', keys: [key('k1'), key('k1')] }), 'keys.1.kid: kid "k1" is listed twice'],
    ['a key without kid', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), kid: undefined }] }), 'keys.0.kid'],
    ['a kid with a space', JSON.stringify({ active: 'k 1', keys: [key('k 1')] }), 'kid must be'],
    ['an RSA key', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), kty: 'RSA' }] }), 'kty must be "EC"'],
    ['a P-384 key', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), crv: 'P-384' }] }), 'crv must be "P-256"'],
    ['alg HS256', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), alg: 'HS256' }] }), 'alg, when present, must be "ES256"'],
    ['use enc', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), use: 'enc' }] }), 'use, when present, must be "sig"'],
    ['a short coordinate', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), x: X.slice(1) }] }), 'keys.0.x: must be 32 bytes'],
    ['padded base64', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), y: `${Y}=` }] }), 'keys.0.y: must be 32 bytes'],
    ['standard (not url) base64', JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), y: Y.replace('_', '/') }] }), 'keys.0.y'],
    ['too many keys', JSON.stringify({ active: 'k0', keys: Array.from({ length: 11 }, (_, i) => key(`k${i}`)) }), 'keys'],
  ])('refuses %s with a clear message', (_why, secret, message) => {
    expect(problemOf(secret)).toContain(message);
  });

  it('never puts the private scalar into an error message, even for broken JSON', () => {
    const broken = JSON.stringify({ active: 'k1', keys: [key('k1')] }).replace(`"d":"${D}"`, `"d":${D}`);
    expect(problemOf(broken)).not.toContain(D.slice(0, 8));
    const wrongD = JSON.stringify({ active: 'k1', keys: [{ ...key('k1'), d: `${D}xyz` }] });
    expect(problemOf(wrongD)).toContain('keys.0.d');
    expect(problemOf(wrongD)).not.toContain(D.slice(0, 8));
  });
});

describe('formatSigningKeysSecret', () => {
  it('writes a value parseSigningKeysSecret reads back, and refuses an invalid one', () => {
    const secret = formatSigningKeysSecret({ active: 'k1', keys: [key('k1') as never] });
    expect(parseSigningKeysSecret(secret).active).toBe('k1');
    expect(() => formatSigningKeysSecret({ active: 'k2', keys: [key('k1') as never] })).toThrow(SigningKeysError);
  });
});
