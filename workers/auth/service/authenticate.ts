import type { Actor, Authenticator } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import { rejectionReason, verifyAccessToken } from '../tokens/access-token';
import type { AuthDeps } from './deps';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Bearer token → actor: the only way a request becomes authenticated. No header → null
 * (the route decides whether it needs a caller); any other scheme, or a token that fails
 * verification → 401 with one generic message, the reason logged as `authRejection`.
 */
export function makeAuthenticator(deps: Pick<AuthDeps, 'signingKeys' | 'tokens' | 'clock' | 'log'>): Authenticator {
  return async (header) => {
    if (header === undefined || header === '') return null;
    const m = BEARER.exec(header);
    if (!m) {
      deps.log.authRejection = 'not_bearer';
      throw new AppError('UNAUTHENTICATED', 'Send the access token as Authorization: Bearer <token>', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' },
      });
    }
    try {
      const token = await verifyAccessToken(m[1]!, {
        keys: await deps.signingKeys(),
        issuer: deps.tokens.issuer,
        audience: deps.tokens.audience,
        now: deps.clock.now(),
      });
      const { tokenId: _tokenId, issuedAt: _issuedAt, expiresAt: _expiresAt, ...actor } = token;
      return actor satisfies Actor;
    } catch (e) {
      deps.log.authRejection = rejectionReason(e) ?? 'unknown';
      throw e;
    }
  };
}
