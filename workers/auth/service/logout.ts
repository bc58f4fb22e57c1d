import { recordAudit } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError, validationFailed } from '../../../shared/kernel/app-error';
import * as repo from '../auth.repo';
import { hashRefreshToken, isRefreshTokenShape } from '../tokens/refresh-token';
import { revokeTokens, sessionSubject } from './authenticate';
import type { AuthDeps } from './deps';

/**
 * Ends a session: the one the refresh token belongs to, the one the access token was minted
 * for, or (with `allSessions` and an access token) every session of the user. Idempotent: an
 * unknown or already revoked refresh token still answers 204, so logout never reveals
 * whether a token was valid. The access tokens of the ended sessions are refused from then on
 * (the revocation list: at once here, within about a minute everywhere).
 */
export async function logout(input: { refreshToken?: string; allSessions?: boolean }, meta: RequestMeta, deps: AuthDeps): Promise<void> {
  const actor = meta.actor;
  if (actor && actor.kind !== 'user') throw new AppError('FORBIDDEN', 'Machine clients have no session to end');
  if (input.allSessions && !actor) {
    throw new AppError('UNAUTHENTICATED', 'Ending every session needs an access token', { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
  if (!actor && input.refreshToken === undefined) {
    throw validationFailed([{ path: 'body.refreshToken', message: 'Send the refresh token, or an access token in Authorization' }]);
  }
  const now = deps.clock.now();
  const ended = await deps.writeDb().transaction(async (tx) => {
    let userId = actor?.id ?? null;
    let revoked = 0;
    const sessions: string[] = [];
    if (input.refreshToken !== undefined && isRefreshTokenShape(input.refreshToken)) {
      const row = await repo.refreshTokenByHash(tx, hashRefreshToken(input.refreshToken));
      // With an access token, only the caller's own sessions can be ended this way.
      if (row && (!actor || row.userId === actor.id)) {
        userId = row.userId;
        revoked += await repo.revokeFamily(tx, row.familyId, row.userId, 'logout', now);
        sessions.push(row.familyId);
      }
    }
    if (actor && input.allSessions) {
      revoked += await repo.revokeUserSessions(tx, actor.id, 'logout_all', now);
    } else if (actor?.sessionId && input.refreshToken === undefined) {
      revoked += await repo.revokeFamily(tx, actor.sessionId, actor.id, 'logout', now);
      sessions.push(actor.sessionId);
    }
    if (userId) {
      await recordAudit(
        tx,
        { action: 'auth.logout', outcome: 'success', actor: { kind: 'user', id: userId }, target: { kind: 'user', id: userId }, data: { sessions, all: input.allSessions === true, revoked } },
        meta,
        now,
      );
    }
    return sessions;
  });
  // After the commit: the access tokens of what ended stop working too (docs/security.md).
  const forSeconds = deps.tokens.accessTokenTtlSeconds + 60;
  if (actor && input.allSessions) await revokeTokens(deps, actor.id, now, forSeconds);
  for (const sid of ended) await revokeTokens(deps, sessionSubject(sid), now, forSeconds);
}
