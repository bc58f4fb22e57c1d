import { recordAudit } from '../../../shared/audit/audit';
import { piiAad } from '../../../shared/crypto/field-cipher';
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
 * Except within the replay grace (REFRESH_TOKEN_REPLAY_GRACE_SECONDS) while its successor is still
 * unused: that is a retry whose answer was lost (or a second tab), and it gets the same successor.
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
  const grace = (deps.tokens.refresh.replayGraceSeconds ?? 0) > 0;
  const outcome = await deps.writeDb().transaction(async (tx): Promise<Outcome> => {
    const row = await repo.refreshTokenForUpdate(tx, hash);
    const record = row ? { ...row, status: row.status as RefreshTokenStatus, hasSuccessor: row.successorSealed !== null } : null;
    const decision = decideRotation(record, { now, policy: deps.tokens.refresh });
    switch (decision.outcome) {
      case 'not-found':
      case 'expired':
      case 'revoked':
        return { kind: 'refused', reason: decision.outcome };
      case 'replay-successor': {
        // The same successor again, while it is still the family's live token (never used since).
        const opened = await openSuccessor(row!.id, row!.successorSealed!, deps);
        if (!opened) return { kind: 'refused', reason: 'replay_unavailable' };
        const successor = await repo.refreshTokenForUpdate(tx, hashRefreshToken(opened));
        if (successor?.status === 'active' && successor.familyId === decision.familyId && now < successor.expiresAt && now < successor.familyExpiresAt) {
          const user = await repo.userById(tx, row!.userId);
          if (!user || user.status !== 'active') return { kind: 'refused', reason: 'account_inactive' };
          deps.log.refreshReplayed = true;
          return { kind: 'issued', user, familyId: decision.familyId, token: opened, expiresAt: successor.expiresAt };
        }
        // Its successor has been used (or revoked) since: a copy of the old token is in other hands.
        return reuseDetected(tx, decision.familyId, row!.userId);
      }
      case 'reuse-detected':
        return reuseDetected(tx, decision.familyId, row!.userId);
      case 'issue-next': {
        const user = await repo.userById(tx, row!.userId);
        if (!user || user.status !== 'active') {
          await repo.revokeFamily(tx, decision.familyId, row!.userId, 'account_inactive', now);
          return { kind: 'refused', reason: 'account_inactive' };
        }
        const next = newRefreshToken();
        // Kept sealed on the rotated row for a retry within the grace window (README, "A retried refresh").
        const sealed = grace ? await deps.cipher().encrypt(next.token, successorAad(row!.id)) : null;
        if (!(await repo.markRotated(tx, row!.id, now, sealed))) return { kind: 'refused', reason: 'raced' };
        if (grace) await repo.forgetSuccessors(tx, decision.familyId, row!.id);
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

  async function reuseDetected(tx: Parameters<typeof repo.revokeFamily>[0], familyId: string, userId: string): Promise<Outcome> {
    const revoked = await repo.revokeFamily(tx, familyId, userId, 'reuse_detected', now);
    const user = { kind: 'user', id: userId };
    await recordAudit(
      tx,
      { action: 'auth.refresh_token.reuse_detected', outcome: 'failure', actor: { kind: 'anonymous', id: null }, target: user, data: { sessionId: familyId, revoked } },
      meta,
      now,
    );
    return { kind: 'refused', reason: 'reuse_detected', endedSession: familyId };
  }

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

/** Forgets the sealed successors whose replay grace has passed; the count forgotten. */
export async function forgetStaleSuccessors(deps: AuthDeps): Promise<number> {
  const graceMs = (deps.tokens.refresh.replayGraceSeconds ?? 0) * 1000;
  return repo.forgetStaleSuccessors(deps.writeDb(), new Date(deps.clock.now().getTime() - graceMs));
}

const successorAad = (rowId: string) => piiAad('refresh_tokens', rowId, 'successor');

/** The successor sealed on a rotated row; null when it cannot be opened (a key retired since). */
async function openSuccessor(rowId: string, sealed: string, deps: AuthDeps): Promise<string | null> {
  try {
    const token = await deps.cipher().decrypt(sealed, successorAad(rowId));
    return isRefreshTokenShape(token) ? token : null;
  } catch {
    return null;
  }
}
