import { SignJWT, base64url, errors, jwtVerify, type JWTHeaderParameters } from 'jose';
import type { Actor } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import {
  AccessClaimsSchema,
  AccessTokenPayloadSchema,
  claimsToPayload,
  payloadToClaims,
  type AccessClaimsInput,
  type TokenKind,
} from './claims';
import { SIGNING_ALG, type SigningKeySet } from './signing-keys';

/**
 * Access tokens: ES256 JWTs in the RFC 9068 profile (`typ: at+jwt`), about 15 minutes long,
 * signed with the active key of AUTH_SIGNING_KEYS and verified against every listed key by
 * `kid`. Format, claims and the reasoning: README.md in this folder.
 */
export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 900;
export const MIN_ACCESS_TOKEN_TTL_SECONDS = 60;
/** Also the oldest `iat` a verifier accepts, whatever `exp` says; the wait before a retired key may be removed. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 3600;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
/** Longer strings are refused before any parsing. Tokens we sign stay far below (claims are bounded). */
export const MAX_ACCESS_TOKEN_LENGTH = 16_384;

/** The only header parameters our tokens carry; anything else (jwk, jku, x5u, crit, ...) is refused. */
const HEADER_PARAMS = new Set(['alg', 'kid', 'typ']);
/** The message a client sees for every rejection; the reason stays on `cause` for the logs. */
const GENERIC_MESSAGE = 'The access token is missing, expired or not valid';

export interface IssueAccessTokenOptions {
  keys: SigningKeySet;
  issuer: string;
  audience: string;
  ttlSeconds?: number;
  now?: Date;
}

export interface IssuedAccessToken {
  token: string;
  /** `exp`, as a Date. */
  expiresAt: Date;
  /** Seconds until `exp`: OAuth's `expires_in`. */
  expiresIn: number;
  /** The token's `jti`. */
  tokenId: string;
}

export interface VerifyAccessTokenOptions {
  keys: SigningKeySet;
  issuer: string;
  audience: string;
  now?: Date;
  clockToleranceSeconds?: number;
}

/** The caller a valid token speaks for: shared/http/context.ts's `Actor`, plus the token's own facts. */
export interface VerifiedAccessToken extends Actor {
  kind: TokenKind;
  /** `jti`. */
  tokenId: string;
  issuedAt: Date;
  expiresAt: Date;
}

export type RejectionReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'unexpected_header'
  | 'missing_kid'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_claims'
  | 'internal';

/** Why a token was refused: the `cause` of the UNAUTHENTICATED AppError, for logs only. */
export class AccessTokenRejected extends Error {
  override name = 'AccessTokenRejected';
  readonly reason: RejectionReason;

  constructor(reason: RejectionReason, opts: { cause?: unknown; detail?: string } = {}) {
    const message = opts.detail ? `access token rejected: ${reason} (${opts.detail})` : `access token rejected: ${reason}`;
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = reason;
  }
}

/** Signs an access token for `claims` with the active key. Invalid claims are a programming error (TypeError). */
export async function issueAccessToken(claims: AccessClaimsInput, opts: IssueAccessTokenOptions): Promise<IssuedAccessToken> {
  const { keys, issuer, audience, ttlSeconds = DEFAULT_ACCESS_TOKEN_TTL_SECONDS, now = new Date() } = opts;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_ACCESS_TOKEN_TTL_SECONDS || ttlSeconds > MAX_ACCESS_TOKEN_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer from ${MIN_ACCESS_TOKEN_TTL_SECONDS} to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`);
  }
  assertAudienceAndIssuer(issuer, audience);
  const parsed = AccessClaimsSchema.safeParse(claims);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TypeError(`Refusing to sign invalid access token claims: ${problems}`);
  }
  const iatMs = now.getTime();
  const iat = Math.floor(iatMs / 1000);
  const exp = iat + ttlSeconds;
  const tokenId = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
  const token = await new SignJWT({ ...claimsToPayload(parsed.data), iat_ms: iatMs })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.active.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(parsed.data.sub)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(tokenId)
    .sign(keys.active.privateKey);
  return { token, expiresAt: new Date(exp * 1000), expiresIn: ttlSeconds, tokenId };
}

/**
 * Verifies an access token: ES256 only, `kid` present and listed, `typ` at+jwt, exact
 * issuer and audience, exp/nbf/iat within the tolerance, `iat` at most an hour old, and
 * claims that pass the role rules. Any failure throws AppError UNAUTHENTICATED with one
 * generic message and `WWW-Authenticate: Bearer error="invalid_token"`; the reason is an
 * AccessTokenRejected on `cause`.
 */
export async function verifyAccessToken(token: string, opts: VerifyAccessTokenOptions): Promise<VerifiedAccessToken> {
  const { keys, issuer, audience, now, clockToleranceSeconds = DEFAULT_CLOCK_TOLERANCE_SECONDS } = opts;
  assertAudienceAndIssuer(issuer, audience);
  try {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_ACCESS_TOKEN_LENGTH) {
      throw new AccessTokenRejected('malformed', { detail: 'empty or too long' });
    }
    const { payload } = await jwtVerify(token, (header) => keyFor(keys, header), {
      algorithms: [SIGNING_ALG],
      typ: ACCESS_TOKEN_TYPE,
      issuer,
      audience,
      clockTolerance: clockToleranceSeconds,
      maxTokenAge: MAX_ACCESS_TOKEN_TTL_SECONDS,
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      ...(now ? { currentDate: now } : {}),
    });
    const shape = AccessTokenPayloadSchema.safeParse(payload);
    if (!shape.success) throw new AccessTokenRejected('invalid_claims', { cause: shape.error });
    const p = shape.data;
    if (p.exp <= p.iat || p.exp - p.iat > MAX_ACCESS_TOKEN_TTL_SECONDS) {
      throw new AccessTokenRejected('invalid_claims', { detail: 'lifetime out of bounds' });
    }
    if (p.iat_ms !== undefined && Math.floor(p.iat_ms / 1000) !== p.iat) {
      throw new AccessTokenRejected('invalid_claims', { detail: 'iat_ms is not within iat' });
    }
    const claims = AccessClaimsSchema.safeParse(payloadToClaims(p));
    if (!claims.success) throw new AccessTokenRejected('invalid_claims', { cause: claims.error });
    const c = claims.data;
    return {
      kind: c.kind,
      id: c.sub,
      roles: c.roles,
      scopes: c.scopes,
      warehouseIds: c.warehouseIds,
      storeId: c.storeId ?? null,
      sessionId: c.sessionId ?? null,
      tokenId: p.jti,
      issuedAt: new Date(p.iat_ms ?? p.iat * 1000),
      expiresAt: new Date(p.exp * 1000),
    };
  } catch (e) {
    throw new AppError('UNAUTHENTICATED', GENERIC_MESSAGE, {
      cause: toRejection(e),
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
  }
}

/** The reason an UNAUTHENTICATED error from verifyAccessToken carries, for logs and tests. */
export function rejectionReason(e: unknown): RejectionReason | undefined {
  const cause = e instanceof Error ? e.cause : undefined;
  return cause instanceof AccessTokenRejected ? cause.reason : undefined;
}

/** jose has already refused any alg other than ES256 before it asks for a key. */
function keyFor(keys: SigningKeySet, header: JWTHeaderParameters): CryptoKey {
  for (const name of Object.keys(header)) {
    if (!HEADER_PARAMS.has(name)) throw new AccessTokenRejected('unexpected_header', { detail: name.slice(0, 16) });
  }
  if (typeof header.kid !== 'string' || header.kid === '') throw new AccessTokenRejected('missing_kid');
  const key = keys.verificationKeys.get(header.kid);
  if (!key) throw new AccessTokenRejected('unknown_kid');
  return key;
}

/** jose's JWTClaimValidationFailed names the claim (or header) it refused. */
const CLAIM_REASONS: Partial<Record<string, RejectionReason>> = {
  iss: 'wrong_issuer',
  aud: 'wrong_audience',
  typ: 'wrong_type',
  nbf: 'not_yet_valid',
  iat: 'not_yet_valid',
};

function toRejection(e: unknown): AccessTokenRejected {
  if (e instanceof AccessTokenRejected) return e;
  if (e instanceof errors.JOSEAlgNotAllowed) return new AccessTokenRejected('alg_not_allowed', { cause: e });
  if (e instanceof errors.JWSSignatureVerificationFailed) return new AccessTokenRejected('bad_signature', { cause: e });
  if (e instanceof errors.JWTExpired) return new AccessTokenRejected('expired', { cause: e });
  if (e instanceof errors.JWTClaimValidationFailed) {
    return new AccessTokenRejected(CLAIM_REASONS[e.claim] ?? 'invalid_claims', { cause: e });
  }
  if (e instanceof errors.JOSEError) return new AccessTokenRejected('malformed', { cause: e });
  return new AccessTokenRejected('internal', { cause: e });
}

function assertAudienceAndIssuer(issuer: string, audience: string): void {
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('issuer must be a non-empty string');
  if (typeof audience !== 'string' || audience === '') throw new TypeError('audience must be a non-empty string');
}
