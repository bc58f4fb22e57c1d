import { CompactSign, SignJWT, base64url, createLocalJWKSet, decodeProtectedHeader, exportSPKI, jwtVerify, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/kernel/app-error';
import {
  MAX_ACCESS_TOKEN_TTL_SECONDS,
  issueAccessToken,
  rejectionReason,
  verifyAccessToken,
  type RejectionReason,
  type VerifyAccessTokenOptions,
} from './access-token';
import type { AccessClaimsInput } from './claims';
import {
  SigningKeysError,
  formatSigningKeysSecret,
  generateSigningKey,
  loadSigningKeys,
  publicJwks,
  type PrivateSigningJwk,
  type SigningKeySet,
} from './signing-keys';

/**
 * Runs inside workerd (the `workers` project): jose on workerd's WebCrypto, as in production.
 * Every attack below is built so that it would pass if the corresponding check were missing.
 */
const ISSUER = 'https://api.agora.test';
const AUDIENCE = 'agora-api';
const T0 = new Date('2026-11-20T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const CUSTOMER: AccessClaimsInput = { sub: 'usr_01jd4s7k2m8q9r0t1v2w3x4y5z', kind: 'user', roles: ['customer'] };

let k1: PrivateSigningJwk;
let k2: PrivateSigningJwk;
let stranger: PrivateSigningJwk;
let keys: SigningKeySet;

const publicOnly = ({ d: _d, ...pub }: PrivateSigningJwk) => pub;
const secretOf = (active: string, ...list: object[]) => JSON.stringify({ active, keys: list });
const privateKeyOf = (jwk: PrivateSigningJwk) =>
  crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const verifyOpts = (over: Partial<VerifyAccessTokenOptions> = {}): VerifyAccessTokenOptions => ({ keys, issuer: ISSUER, audience: AUDIENCE, now: at(60), ...over });

/** Registered claims as our issuer writes them, for hand-made tokens. */
const standardPayload = (over: JWTPayload = {}): JWTPayload => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: CUSTOMER.sub,
  iat: T0.getTime() / 1000,
  nbf: T0.getTime() / 1000,
  exp: T0.getTime() / 1000 + 900,
  jti: 'AAAAAAAAAAAAAAAAAAAAAA',
  kind: 'user',
  roles: ['customer'],
  ...over,
});
const json64 = (value: unknown) => base64url.encode(JSON.stringify(value));

async function expectRejected(promise: Promise<unknown>, reason: RejectionReason) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected a rejection (${reason})`).toBeInstanceOf(AppError);
  const appError = error as AppError;
  expect(appError.code).toBe('UNAUTHENTICATED');
  expect(appError.status).toBe(401);
  // The client-facing message is the same whatever failed; the reason is only on `cause`.
  expect(appError.message).toBe('The access token is missing, expired or not valid');
  expect(appError.headers).toEqual({ 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  expect(rejectionReason(appError)).toBe(reason);
}

beforeAll(async () => {
  [k1, k2, stranger] = await Promise.all([generateSigningKey('2026-11-a'), generateSigningKey('2026-12-a'), generateSigningKey('2026-11-a')]);
  keys = await loadSigningKeys(secretOf(k1.kid, k1));
});

describe('issue and verify', () => {
  it('round-trips a customer token with kid, typ at+jwt, iss, aud, iat/nbf/exp (15 min) and jti', async () => {
    const issued = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    expect(issued.expiresAt).toEqual(at(900));
    expect(issued.expiresIn).toBe(900);
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt' });
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(issued.token.split('.')[1]!))) as JWTPayload;
    expect(payload).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: CUSTOMER.sub,
      iat: T0.getTime() / 1000,
      nbf: T0.getTime() / 1000,
      exp: T0.getTime() / 1000 + 900,
      jti: issued.tokenId,
      iat_ms: T0.getTime(),
      kind: 'user',
      roles: ['customer'],
    });
    expect(issued.tokenId).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const verified = await verifyAccessToken(issued.token, verifyOpts());
    expect(verified).toEqual({
      kind: 'user',
      id: CUSTOMER.sub,
      roles: ['customer'],
      scopes: [],
      warehouseIds: [],
      storeId: null,
      sessionId: null,
      tokenId: issued.tokenId,
      issuedAt: T0,
      expiresAt: at(900),
    });
  });

  it.each<[string, AccessClaimsInput, object]>([
    ['warehouse staff', { sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'], warehouseIds: ['wh_1', 'wh_2'], sessionId: 'fam_1' }, { warehouseIds: ['wh_1', 'wh_2'], sessionId: 'fam_1' }],
    ['a POS device', { sub: 'cli_pos_1', kind: 'client', roles: ['pos_agent'], storeId: 'st_1', scopes: ['pos:sync'] }, { storeId: 'st_1', scopes: ['pos:sync'] }],
    ['an integration', { sub: 'cli_erp', kind: 'client', roles: ['integration'], scopes: ['orders:read', 'catalog:write'] }, { scopes: ['orders:read', 'catalog:write'] }],
  ])('round-trips %s with its bindings', async (_why, claims, expected) => {
    const { token } = await issueAccessToken(claims, { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    expect(await verifyAccessToken(token, verifyOpts())).toMatchObject({ id: claims.sub, kind: claims.kind, roles: claims.roles, ...expected });
  });

  it('uses the current time when no `now` is given', async () => {
    const { token, expiresAt } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 120 });
    expect(Math.abs(expiresAt.getTime() - Date.now() - 120_000)).toBeLessThan(5000);
    expect((await verifyAccessToken(token, { keys, issuer: ISSUER, audience: AUDIENCE })).id).toBe(CUSTOMER.sub);
  });

  it('refuses to sign claims that break the role rules, or a lifetime outside 1 to 60 minutes', async () => {
    const opts = { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 };
    await expect(issueAccessToken({ sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'] }, opts)).rejects.toThrow(/warehouseIds/);
    await expect(issueAccessToken({ sub: 'cli_1', kind: 'client', roles: ['admin'] }, opts)).rejects.toThrow(TypeError);
    await expect(issueAccessToken(CUSTOMER, { ...opts, ttlSeconds: 59 })).rejects.toThrow(RangeError);
    await expect(issueAccessToken(CUSTOMER, { ...opts, ttlSeconds: MAX_ACCESS_TOKEN_TTL_SECONDS + 1 })).rejects.toThrow(RangeError);
    await expect(issueAccessToken(CUSTOMER, { ...opts, issuer: '' })).rejects.toThrow(TypeError);
  });
});

describe('verifyAccessToken refuses', () => {
  it('an unsecured token (alg: none), with or without a kid', async () => {
    for (const header of [{ alg: 'none', typ: 'at+jwt', kid: k1.kid }, { alg: 'none' }]) {
      const token = `${json64(header)}.${json64(standardPayload())}.`;
      await expectRejected(verifyAccessToken(token, verifyOpts()), 'alg_not_allowed');
    }
    // Same header, different capitalisation: still not ES256.
    await expectRejected(verifyAccessToken(`${json64({ alg: 'None', kid: k1.kid, typ: 'at+jwt' })}.${json64(standardPayload())}.`, verifyOpts()), 'alg_not_allowed');
  });

  it('an HS256 token whose HMAC secret is our public key, as PEM and as JWK JSON (algorithm confusion)', async () => {
    const publicKey = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: k1.x, y: k1.y }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    const pem = await exportSPKI(publicKey);
    const jwksJson = JSON.stringify(publicJwks(keys).keys[0]);
    for (const secret of [pem, `${pem}\n`, jwksJson, JSON.stringify(publicJwks(keys))]) {
      const token = await new SignJWT(standardPayload())
        .setProtectedHeader({ alg: 'HS256', kid: k1.kid, typ: 'at+jwt' })
        .sign(new TextEncoder().encode(secret));
      await expectRejected(verifyAccessToken(token, verifyOpts()), 'alg_not_allowed');
    }
  });

  it('other asymmetric algorithms (ES384, EdDSA) even with a known kid', async () => {
    for (const alg of ['ES384', 'ES512', 'RS256', 'PS256', 'EdDSA']) {
      const token = `${json64({ alg, kid: k1.kid, typ: 'at+jwt' })}.${json64(standardPayload())}.${base64url.encode(new Uint8Array(64))}`;
      await expectRejected(verifyAccessToken(token, verifyOpts()), 'alg_not_allowed');
    }
  });

  it('an expired token beyond the 30 s tolerance (and accepts it within)', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    expect((await verifyAccessToken(token, verifyOpts({ now: at(900 + 29) }))).id).toBe(CUSTOMER.sub);
    await expectRejected(verifyAccessToken(token, verifyOpts({ now: at(900 + 31) })), 'expired');
    await expectRejected(verifyAccessToken(token, verifyOpts({ now: at(900 + 1), clockToleranceSeconds: 0 })), 'expired');
  });

  it('a token from the future (iat/nbf beyond the tolerance)', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, now: at(120) });
    expect((await verifyAccessToken(token, verifyOpts({ now: at(100) }))).id).toBe(CUSTOMER.sub);
    await expectRejected(verifyAccessToken(token, verifyOpts({ now: at(60) })), 'not_yet_valid');
  });

  it('a token with a wrong issuer', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: 'https://evil.test', audience: AUDIENCE, now: T0 });
    await expectRejected(verifyAccessToken(token, verifyOpts()), 'wrong_issuer');
    const { token: prefix } = await issueAccessToken(CUSTOMER, { keys, issuer: `${ISSUER}.evil.test`, audience: AUDIENCE, now: T0 });
    await expectRejected(verifyAccessToken(prefix, verifyOpts()), 'wrong_issuer');
  });

  it('a token with a wrong audience, also inside a list', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: 'agora-admin', now: T0 });
    await expectRejected(verifyAccessToken(token, verifyOpts()), 'wrong_audience');
    const signer = await privateKeyOf(k1);
    const listed = await new SignJWT(standardPayload({ aud: ['other-api', 'yet-another'] })).setProtectedHeader({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt' }).sign(signer);
    await expectRejected(verifyAccessToken(listed, verifyOpts()), 'wrong_audience');
  });

  it('a token whose kid is not in the key set', async () => {
    const other = await loadSigningKeys(secretOf(k2.kid, k2));
    const { token } = await issueAccessToken(CUSTOMER, { keys: other, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    await expectRejected(verifyAccessToken(token, verifyOpts()), 'unknown_kid');
    // Look-ups by kid are exact: no prototype keys, no case folding.
    for (const kid of ['__proto__', 'constructor', k1.kid.toUpperCase(), `${k1.kid} `]) {
      const forged = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(await privateKeyOf(k1));
      await expectRejected(verifyAccessToken(forged, verifyOpts()), 'unknown_kid');
    }
  });

  it('a token without kid, even when signed by the active key', async () => {
    const signer = await privateKeyOf(k1);
    const token = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(signer);
    await expectRejected(verifyAccessToken(token, verifyOpts()), 'missing_kid');
    const empty = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: '' }).sign(signer);
    await expectRejected(verifyAccessToken(empty, verifyOpts()), 'missing_kid');
  });

  it('a tampered payload (customer promoted to admin, signature kept)', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    const [header, body, signature] = token.split('.') as [string, string, string];
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(body))) as JWTPayload;
    for (const changed of [{ ...payload, roles: ['admin'] }, { ...payload, roles: ['customer', 'admin'] }, { ...payload, exp: (payload.exp ?? 0) + 3600 }, { ...payload, sub: 'usr_someone_else' }]) {
      await expectRejected(verifyAccessToken(`${header}.${json64(changed)}.${signature}`, verifyOpts()), 'bad_signature');
    }
  });

  it('a tampered header (kid switched to another listed key) and a forged signature under our kid', async () => {
    const both = await loadSigningKeys(secretOf(k1.kid, k1, k2));
    const { token } = await issueAccessToken(CUSTOMER, { keys: both, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    const [, body, signature] = token.split('.') as [string, string, string];
    const switched = `${json64({ alg: 'ES256', kid: k2.kid, typ: 'at+jwt' })}.${body}.${signature}`;
    await expectRejected(verifyAccessToken(switched, verifyOpts({ keys: both })), 'bad_signature');
    // An attacker's own key pair that happens to reuse our kid.
    const forged = await new SignJWT(standardPayload({ roles: ['admin'] })).setProtectedHeader({ alg: 'ES256', kid: stranger.kid, typ: 'at+jwt' }).sign(await privateKeyOf(stranger));
    expect(stranger.kid).toBe(k1.kid);
    await expectRejected(verifyAccessToken(forged, verifyOpts()), 'bad_signature');
  });

  it('a token that brings its own key (jwk / jku / x5u header) or a crit extension', async () => {
    const attacker = await privateKeyOf(stranger);
    const headers = [
      { alg: 'ES256', kid: k1.kid, typ: 'at+jwt', jwk: publicOnly(stranger) },
      { alg: 'ES256', kid: k1.kid, typ: 'at+jwt', jku: 'https://evil.test/jwks.json' },
      { alg: 'ES256', kid: k1.kid, typ: 'at+jwt', x5u: 'https://evil.test/cert.pem' },
    ];
    for (const header of headers) {
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(standardPayload()))).setProtectedHeader(header).sign(attacker);
      await expectRejected(verifyAccessToken(token, verifyOpts()), 'unexpected_header');
    }
    // jose's signer refuses unknown crit extensions, so this one is signed by hand.
    const input = `${json64({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt', crit: ['x-agora'], 'x-agora': 1 })}.${json64(standardPayload())}`;
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, await privateKeyOf(k1), new TextEncoder().encode(input));
    const withCrit = `${input}.${base64url.encode(new Uint8Array(signature))}`;
    await expectRejected(verifyAccessToken(withCrit, verifyOpts()), 'malformed');
    // The same hand-made construction without crit verifies, so the refusal above is about crit.
    const plainInput = `${json64({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt' })}.${json64(standardPayload())}`;
    const plainSig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, await privateKeyOf(k1), new TextEncoder().encode(plainInput));
    expect((await verifyAccessToken(`${plainInput}.${base64url.encode(new Uint8Array(plainSig))}`, verifyOpts())).id).toBe(CUSTOMER.sub);
  });

  it('a token of another type (typ JWT, an ID token) signed by our own key', async () => {
    const signer = await privateKeyOf(k1);
    for (const typ of ['JWT', 'application/jwt', 'id+jwt']) {
      const token = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', kid: k1.kid, typ }).sign(signer);
      await expectRejected(verifyAccessToken(token, verifyOpts()), 'wrong_type');
    }
    const untyped = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', kid: k1.kid }).sign(signer);
    await expectRejected(verifyAccessToken(untyped, verifyOpts()), 'wrong_type');
    // RFC 9068 allows the full media type.
    const full = await new SignJWT(standardPayload()).setProtectedHeader({ alg: 'ES256', kid: k1.kid, typ: 'application/at+jwt' }).sign(signer);
    expect((await verifyAccessToken(full, verifyOpts())).id).toBe(CUSTOMER.sub);
  });

  it('validly signed claims that break the schema or the role rules', async () => {
    const signer = await privateKeyOf(k1);
    const sign = (payload: JWTPayload) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt' }).sign(signer);
    const bad: [string, JWTPayload, RejectionReason][] = [
      ['a client holding admin', standardPayload({ kind: 'client', roles: ['admin'] }), 'invalid_claims'],
      ['an unknown role', standardPayload({ roles: ['superuser'] }), 'invalid_claims'],
      ['warehouse_staff without warehouses', standardPayload({ roles: ['warehouse_staff'] }), 'invalid_claims'],
      ['roles as a string', standardPayload({ roles: 'admin' }), 'invalid_claims'],
      ['no kind', standardPayload({ kind: undefined }), 'invalid_claims'],
      ['a 1-day lifetime', standardPayload({ exp: T0.getTime() / 1000 + 86_400 }), 'invalid_claims'],
      ['no jti', standardPayload({ jti: undefined }), 'invalid_claims'],
      ['a short jti', standardPayload({ jti: 'abc' }), 'invalid_claims'],
      ['no exp', standardPayload({ exp: undefined }), 'invalid_claims'],
      ['no sub', standardPayload({ sub: undefined }), 'invalid_claims'],
      ['an iat over an hour old, whatever exp says', standardPayload({ iat: T0.getTime() / 1000 - 7200, nbf: undefined }), 'expired'],
      ['an iat_ms outside the iat second', standardPayload({ iat_ms: T0.getTime() + 1000 }), 'invalid_claims'],
      ['an iat_ms before the iat second', standardPayload({ iat_ms: T0.getTime() - 1 }), 'invalid_claims'],
      ['an iat_ms that is not whole milliseconds', standardPayload({ iat_ms: T0.getTime() + 0.5 }), 'invalid_claims'],
    ];
    for (const [why, payload, reason] of bad) {
      const token = await sign(payload);
      await expectRejected(verifyAccessToken(token, verifyOpts()), reason).catch((e: Error) => {
        throw new Error(`${why}: ${e.message}`);
      });
    }
    // The same construction with good claims passes, so the cases above fail for their claims.
    expect((await verifyAccessToken(await sign(standardPayload()), verifyOpts())).roles).toEqual(['customer']);
    // The issue time to the millisecond when the token has it; from the start of its second when not (tokens before 0.3.12).
    expect((await verifyAccessToken(await sign(standardPayload({ iat_ms: T0.getTime() + 999 })), verifyOpts())).issuedAt).toEqual(new Date(T0.getTime() + 999));
    expect((await verifyAccessToken(await sign(standardPayload()), verifyOpts())).issuedAt).toEqual(T0);
  });

  it('strings that are not compact JWS', async () => {
    const { token } = await issueAccessToken(CUSTOMER, { keys, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    const [h, p] = token.split('.') as [string, string, string];
    for (const garbage of ['', 'abc', 'a.b.c', `${h}.${p}`, `${h}.${p}.`, `${token}.x`, `Bearer ${token}`, 'x'.repeat(20_000), `${h}.${p}.${'A'.repeat(86)}`]) {
      const error = await verifyAccessToken(garbage, verifyOpts()).catch((e: unknown) => e);
      expect(error, garbage.slice(0, 40)).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('UNAUTHENTICATED');
      expect(['malformed', 'bad_signature', 'alg_not_allowed']).toContain(rejectionReason(error));
    }
  });
});

describe('key rotation', () => {
  it('keeps tokens of the old key valid while it is still listed, and refuses them once it is removed', async () => {
    // Phase 0: k1 signs.
    const phase0 = await loadSigningKeys(secretOf(k1.kid, k1));
    const old = await issueAccessToken(CUSTOMER, { keys: phase0, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    // Phase 1: k2 published but not yet signing. Phase 2: k2 signs, k1 retired (public part only).
    const phase1 = await loadSigningKeys(secretOf(k1.kid, k1, k2));
    const phase2 = await loadSigningKeys(secretOf(k2.kid, k2, publicOnly(k1)));
    const fresh = await issueAccessToken(CUSTOMER, { keys: phase2, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    expect(decodeProtectedHeader(fresh.token).kid).toBe(k2.kid);
    expect(publicJwks(phase1).keys.map((k) => k.kid)).toEqual([k1.kid, k2.kid]);
    expect(publicJwks(phase2).keys.map((k) => k.kid)).toEqual([k2.kid, k1.kid]);

    // No one is logged out: isolates on either phase accept tokens of either key.
    for (const set of [phase1, phase2]) {
      expect((await verifyAccessToken(old.token, verifyOpts({ keys: set }))).id).toBe(CUSTOMER.sub);
      expect((await verifyAccessToken(fresh.token, verifyOpts({ keys: set }))).id).toBe(CUSTOMER.sub);
    }
    // Phase 3, after the longest access-token lifetime: k1 removed.
    const phase3 = await loadSigningKeys(secretOf(k2.kid, k2));
    await expectRejected(verifyAccessToken(old.token, verifyOpts({ keys: phase3 })), 'unknown_kid');
    expect((await verifyAccessToken(fresh.token, verifyOpts({ keys: phase3 }))).id).toBe(CUSTOMER.sub);
  });
});

describe('signing keys in workerd', () => {
  it('publishes public parts only, as ES256 signature keys, that a third party can verify with', async () => {
    const set = await loadSigningKeys(secretOf(k2.kid, k1, k2));
    const jwks = publicJwks(set);
    expect(jwks.keys).toEqual([
      { kty: 'EC', crv: 'P-256', x: k2.x, y: k2.y, kid: k2.kid, use: 'sig', alg: 'ES256' },
      { kty: 'EC', crv: 'P-256', x: k1.x, y: k1.y, kid: k1.kid, use: 'sig', alg: 'ES256' },
    ]);
    const text = JSON.stringify(jwks);
    expect(text).not.toContain('"d"');
    expect(text).not.toContain(k1.d);
    expect(text).not.toContain(k2.d);
    // The document is a copy: changing it does not change the key set.
    jwks.keys[0]!.kid = 'x';
    expect(publicJwks(set).keys[0]!.kid).toBe(k2.kid);

    const { token } = await issueAccessToken(CUSTOMER, { keys: set, issuer: ISSUER, audience: AUDIENCE, now: T0 });
    const { payload } = await jwtVerify(token, createLocalJWKSet(publicJwks(set)), { issuer: ISSUER, audience: AUDIENCE, currentDate: at(1) });
    expect(payload.sub).toBe(CUSTOMER.sub);
  });

  it('imports a key set once per secret value', async () => {
    const secret = secretOf(k1.kid, k1);
    expect(await loadSigningKeys(secret)).toBe(await loadSigningKeys(secret));
    expect(await loadSigningKeys(secretOf(k1.kid, k1, k2))).not.toBe(await loadSigningKeys(secret));
  });

  it('refuses a private part that does not match its public coordinates, and a point off the curve', async () => {
    const mismatched = secretOf(k1.kid, { ...k1, d: k2.d });
    const error = await loadSigningKeys(mismatched).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningKeysError);
    expect((error as Error).message).toContain('key "2026-11-a" cannot be imported as a private P-256 key');
    expect((error as Error).message).not.toContain(k2.d);

    const offCurve = secretOf(k1.kid, { ...k1, y: k2.y });
    const error2 = await loadSigningKeys(offCurve).catch((e: unknown) => e);
    expect(error2).toBeInstanceOf(SigningKeysError);
    expect((error2 as Error).message).toContain('cannot be imported');
    expect((error2 as Error).message).toContain('as a public P-256 key');
    // Failures are not cached: the next call tries again (and fails again, the same way).
    const first = loadSigningKeys(offCurve);
    await first.catch(() => undefined);
    const second = loadSigningKeys(offCurve);
    expect(second).not.toBe(first);
    await expect(second).rejects.toBeInstanceOf(SigningKeysError);
    await expect(loadSigningKeys(undefined)).rejects.toThrow('AUTH_SIGNING_KEYS is not set');
  });

  it('generates P-256 private JWKs that make a valid secret', async () => {
    expect(k1).toMatchObject({ kty: 'EC', crv: 'P-256', kid: '2026-11-a', alg: 'ES256', use: 'sig' });
    for (const part of [k1.x, k1.y, k1.d]) expect(part).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(k1.d).not.toBe(k2.d);
    const secret = formatSigningKeysSecret({ active: k1.kid, keys: [k1, publicOnly(k2)] });
    expect((await loadSigningKeys(secret)).active.kid).toBe(k1.kid);
    await expect(generateSigningKey('bad kid')).rejects.toThrow(TypeError);
  });
});
