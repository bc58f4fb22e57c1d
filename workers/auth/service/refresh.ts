import { recordAudit } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import { newId } from '../../../shared/kernel/ids';
import * as repo from '../auth.repo';
import type { Session } from '../auth.schemas';
import { decideRotation, type RefreshTokenStatus, hashRefreshToken, isRefreshTokenShape, newRefreshToken } from '../tokens/refresh-token';
import type { AuthDeps } from './deps';
import { revokeTokens, sessionSubject } from './authenticate';
import { toUser } from './mappers';
import { enforce, RATE_LIMITS } from './rate-limits';
import { accessTokenFor } from './sessions';

const refused = () =>
  new AppError('UNAUTHENTICATED', 'The refresh token is not valid; sign in again', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });

type Outcome =
  | { kind: 'issued'; user: repo.UserRow; familyId: string; token: string; expiresAt: Date }
  | { kind: 'refused'; reason: string; endedSession?: string };

/**
 * Rotates a refresh token: the presented one becomes `rotated`, a new one is issued in the
 * same family, with a fresh access token carrying the user's current roles. A rotated token
 * presented again means a copy is in someone else's hands: the whole family is revoked, and the
 * access tokens minted for it are refused from then on (the revocation list, per session).
 */
export async function refresh(presented: string, meta: RequestMeta, deps: AuthDeps): Promise<Session> {
  if (!isRefreshTokenShape(presented)) {
    deps.log.refreshFailure = 'malformed';
    throw refused();
  }
  const hash = hashRefreshToken(presented);
  const peek = await repo.refreshTokenByHash(deps.readDb(), hash);
  await enforce(deps, [
    [RATE_LIMITS.refreshIp, meta.ip],
    [RATE_LIMITS.refreshSession, peek?.familyId],
  ]);

  const now = deps.clock.now();
  const outcome = await deps.writeDb().transaction(async (tx): Promise<Outcome> => {
    const row = await repo.refreshTokenForUpdate(tx, hash);
    const decision = decideRotation(row ? { ...row, status: row.status as RefreshTokenStatus } : null, { now, policy: deps.tokens.refresh });
    switch (decision.outcome) {
      case 'not-found':
      case 'expired':
      case 'revoked':
        return { kind: 'refused', reason: decision.outcome };
      case 'reuse-detected': {
        const revoked = await repo.revokeFamily(tx, decision.familyId, row!.userId, 'reuse_detected', now);
        const user = { kind: 'user', id: row!.userId };
        await recordAudit(
          tx,
          { action: 'auth.refresh_token.reuse_detected', outcome: 'failure', actor: { kind: 'anonymous', id: null }, target: user, data: { sessionId: decision.familyId, revoked } },
          meta,
          now,
        );
        return { kind: 'refused', reason: 'reuse_detected', endedSession: decision.familyId };
      }
      case 'issue-next': {
        const user = await repo.userById(tx, row!.userId);
        if (!user || user.status !== 'active') {
          await repo.revokeFamily(tx, decision.familyId, row!.userId, 'account_inactive', now);
          return { kind: 'refused', reason: 'account_inactive' };
        }
        if (!(await repo.markRotated(tx, row!.id, now))) return { kind: 'refused', reason: 'raced' };
        const next = newRefreshToken();
        await repo.insertRefreshToken(tx, {
          id: newId('refreshToken', now.getTime()),
          tokenHash: next.hash,
          familyId: decision.familyId,
          userId: user.id,
          status: 'active',
          expiresAt: decision.next.expiresAt,
          familyExpiresAt: decision.next.familyExpiresAt,
          createdAt: now,
          userAgent: meta.userAgent ?? row!.userAgent,
        });
        return { kind: 'issued', user, familyId: decision.familyId, token: next.token, expiresAt: decision.next.expiresAt };
      }
    }
  });

  if (outcome.kind === 'refused') {
    deps.log.refreshFailure = outcome.reason;
    // After the commit: the access tokens minted for the family (the thief's too) stop working as well.
    if (outcome.endedSession) await revokeTokens(deps, sessionSubject(outcome.endedSession), now, deps.tokens.accessTokenTtlSeconds + 60);
    throw refused();
  }
  const access = await accessTokenFor(outcome.user, outcome.familyId, deps);
  return {
    accessToken: access.token,
    tokenType: 'Bearer',
    expiresIn: access.expiresIn,
    refreshToken: outcome.token,
    refreshTokenExpiresAt: outcome.expiresAt.toISOString(),
    user: await toUser(outcome.user, deps),
  };
}
