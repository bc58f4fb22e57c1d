import type { Actor, Authenticator } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import { rejectionReason, verifyAccessToken } from '../tokens/access-token';
import type { AuthDeps } from './deps';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Tokens this isolate has verified, by their exact bytes, until they expire. A hit answers what
 * verifying the same bytes again would (we never look tokens up per request: see
 * docs/security.md), without the ES256 verification, which was about 15% of the Worker's CPU in
 * the flash-sale bench. An entry is only used with the same key set, issuer and audience it was
 * verified under, so removing a key from AUTH_SIGNING_KEYS still rejects its tokens at once.
 */
const VERIFIED_LIMIT = 5000;
const verified = new Map<string, { actor: Actor; expiresAtMs: number; keys: unknown; issuer: string; audience: string }>();

/** A request without credentials (no Authorization header, or an empty one): an anonymous caller. */
export function hasNoCredentials(header: string | undefined): header is undefined | '' {
  return header === undefined || header === '';
}

/**
 * Bearer token → actor: the only way a request becomes authenticated. No header → null
 * (the route decides whether it needs a caller); any other scheme, or a token that fails
 * verification → 401 with one generic message, the reason logged as `authRejection`.
 */
export function makeAuthenticator(deps: Pick<AuthDeps, 'signingKeys' | 'tokens' | 'clock' | 'log'>): Authenticator {
  return async (header) => {
    if (hasNoCredentials(header)) return null;
    const m = BEARER.exec(header);
    if (!m) {
      deps.log.authRejection = 'not_bearer';
      throw new AppError('UNAUTHENTICATED', 'Send the access token as Authorization: Bearer <token>', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' },
      });
    }
    try {
      const raw = m[1]!;
      const keys = await deps.signingKeys();
      const now = deps.clock.now();
      const hit = verified.get(raw);
      if (hit && hit.keys === keys && hit.issuer === deps.tokens.issuer && hit.audience === deps.tokens.audience && now.getTime() < hit.expiresAtMs) {
        return { ...hit.actor };
      }
      const token = await verifyAccessToken(raw, { keys, issuer: deps.tokens.issuer, audience: deps.tokens.audience, now });
      const { tokenId: _tokenId, issuedAt: _issuedAt, expiresAt, ...actor } = token;
      if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value as string);
      verified.set(raw, { actor: { ...actor }, expiresAtMs: expiresAt.getTime(), keys, issuer: deps.tokens.issuer, audience: deps.tokens.audience });
      return actor satisfies Actor;
    } catch (e) {
      deps.log.authRejection = rejectionReason(e) ?? 'unknown';
      throw e;
    }
  };
}
