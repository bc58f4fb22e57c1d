import { z } from 'zod';

/**
 * The access-token signing keys, from one secret (README.md, "Signing keys and rotation"):
 *
 *   AUTH_SIGNING_KEYS = {"active":"<kid>","keys":[<EC P-256 JWK with kid>, ...]}
 *
 * `active` signs new tokens; every listed key verifies and is published at
 * /.well-known/jwks.json. A key other than the active one may be listed without `d`
 * (verification only, e.g. a retired key whose private part has already been destroyed).
 */
export const SIGNING_KEYS_SECRET_NAME = 'AUTH_SIGNING_KEYS';
export const SIGNING_ALG = 'ES256';
export const MAX_SIGNING_KEYS = 10;

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const Kid = z.string().regex(KID, 'kid must be 1 to 64 letters, digits or . _ -');
/** A P-256 coordinate or private scalar: 32 bytes, base64url without padding. */
const Coordinate = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, 'must be 32 bytes in base64url without padding');

const EcJwkSchema = z.object({
  kty: z.literal('EC', 'kty must be "EC"'),
  crv: z.literal('P-256', 'crv must be "P-256" (ES256)'),
  kid: Kid,
  x: Coordinate,
  y: Coordinate,
  d: Coordinate.optional(),
  alg: z.literal(SIGNING_ALG, 'alg, when present, must be "ES256"').optional(),
  use: z.literal('sig', 'use, when present, must be "sig"').optional(),
});

export const SigningKeysSecretSchema = z
  .object({
    active: Kid,
    keys: z.array(EcJwkSchema).min(1, 'list at least the active key').max(MAX_SIGNING_KEYS),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.keys.forEach((k, i) => {
      if (seen.has(k.kid)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'kid'], message: `kid "${k.kid}" is listed twice` });
      seen.add(k.kid);
    });
    const active = s.keys.find((k) => k.kid === s.active);
    if (!active) ctx.addIssue({ code: 'custom', path: ['active'], message: `no key has kid "${s.active}"` });
    else if (active.d === undefined) ctx.addIssue({ code: 'custom', path: ['active'], message: `the active key "${s.active}" has no private part (d)` });
  });

export type SigningKeysSecret = z.infer<typeof SigningKeysSecretSchema>;
export type PrivateSigningJwk = z.infer<typeof EcJwkSchema> & { d: string };

/** What /.well-known/jwks.json publishes for one key. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'sig';
  alg: typeof SIGNING_ALG;
}

export interface SigningKeySet {
  /** The key new tokens are signed with. */
  readonly active: { readonly kid: string; readonly privateKey: CryptoKey };
  /** Every listed key's public half, by kid: a token verifies only against one of these. */
  readonly verificationKeys: ReadonlyMap<string, CryptoKey>;
  /** The public JWK Set, active key first. */
  readonly jwks: { readonly keys: readonly PublicJwk[] };
}

/** A misconfigured AUTH_SIGNING_KEYS. The message never contains key material. */
export class SigningKeysError extends Error {
  override name = 'SigningKeysError';
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * Validates the secret's shape. JSON.parse's own message is not passed on: V8 quotes part of
 * the input in it, which would put private key material into logs.
 */
export function parseSigningKeysSecret(secret: string | undefined): SigningKeysSecret {
  if (secret === undefined || secret.trim() === '') throw new SigningKeysError(`${SIGNING_KEYS_SECRET_NAME} is not set`);
  let json: unknown;
  try {
    json = JSON.parse(secret);
  } catch {
    throw new SigningKeysError(`${SIGNING_KEYS_SECRET_NAME} is not valid JSON (expected {"active":"<kid>","keys":[<EC P-256 JWK>, ...]})`);
  }
  const parsed = SigningKeysSecretSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SigningKeysError(`${SIGNING_KEYS_SECRET_NAME} is not valid: ${problems}`);
  }
  return parsed.data;
}

/** The public JWK Set for /.well-known/jwks.json: public coordinates only, never `d`. */
export function publicJwks(set: SigningKeySet): { keys: PublicJwk[] } {
  return { keys: set.jwks.keys.map((k) => ({ ...k })) };
}

/** Imported key sets, per secret value: a key set is imported once per isolate. */
const cache = new Map<string, Promise<SigningKeySet>>();
const CACHE_LIMIT = 4;

/**
 * Parses and imports AUTH_SIGNING_KEYS, once per isolate and secret value (a new secret
 * value comes with a new deployment, so the map stays at one entry in production).
 * Throws SigningKeysError when the secret is malformed or a key is unusable.
 */
export function loadSigningKeys(secret: string | undefined): Promise<SigningKeySet> {
  const key = secret ?? '';
  const hit = cache.get(key);
  if (hit) return hit;
  const loading = (async () => importSigningKeys(parseSigningKeysSecret(secret)))();
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, loading);
  loading.catch(() => cache.delete(key));
  return loading;
}

async function importSigningKeys(secret: SigningKeysSecret): Promise<SigningKeySet> {
  const verificationKeys = new Map<string, CryptoKey>();
  const published: PublicJwk[] = [];
  let privateKey: CryptoKey | undefined;
  for (const jwk of secret.keys) {
    const pub: PublicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: jwk.kid, use: 'sig', alg: SIGNING_ALG };
    const publicKey = await importOrExplain(jwk.kid, 'public', () =>
      crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, ECDSA_P256, false, ['verify']),
    );
    if (jwk.d !== undefined) {
      const priv = await importOrExplain(jwk.kid, 'private', () =>
        crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, ECDSA_P256, false, ['sign']),
      );
      if (jwk.kid === secret.active) privateKey = priv;
    }
    verificationKeys.set(jwk.kid, publicKey);
    if (jwk.kid === secret.active) published.unshift(pub);
    else published.push(pub);
  }
  // The schema guarantees the active key exists and has `d`.
  if (!privateKey) throw new SigningKeysError(`${SIGNING_KEYS_SECRET_NAME}: the active key has no private part`);
  return Object.freeze({
    active: Object.freeze({ kid: secret.active, privateKey }),
    verificationKeys,
    jwks: Object.freeze({ keys: Object.freeze(published.map((k) => Object.freeze(k))) }),
  });
}

async function importOrExplain(kid: string, part: string, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  try {
    return await load();
  } catch {
    // The runtime's message is dropped on purpose: it is not needed and might describe key bytes.
    // BoringSSL (workerd) and Node both refuse a point off the curve and a `d` that does not
    // belong to x/y here, so a mismatched pair never gets to sign (tokens.worker.test.ts).
    throw new SigningKeysError(
      `${SIGNING_KEYS_SECRET_NAME}: key "${kid}" cannot be imported as a ${part} P-256 key (x/y not on the curve, or d does not match x/y)`,
    );
  }
}

/**
 * A fresh P-256 private JWK (for seeding `.dev.vars`, for tests, and for `wrangler secret put`
 * through a one-off script). Keep the output secret: it contains `d`.
 */
export async function generateSigningKey(kid: string): Promise<PrivateSigningJwk> {
  if (!KID.test(kid)) throw new TypeError('kid must be 1 to 64 letters, digits or . _ -');
  const pair = (await crypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
  const { x, y, d } = jwk;
  if (!x || !y || !d) throw new Error('the runtime exported an incomplete EC JWK');
  return { kty: 'EC', crv: 'P-256', kid, x, y, d, alg: SIGNING_ALG, use: 'sig' };
}

/** The AUTH_SIGNING_KEYS value for these keys (validated), e.g. for `.dev.vars`. */
export function formatSigningKeysSecret(value: { active: string; keys: readonly z.input<typeof EcJwkSchema>[] }): string {
  const secret = JSON.stringify({ active: value.active, keys: value.keys });
  parseSigningKeysSecret(secret);
  return secret;
}
