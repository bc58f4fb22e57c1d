import type { AnyDb } from '../../../shared/db/client';
import type { RequestMeta } from '../../../shared/http/context';
import { newId } from '../../../shared/kernel/ids';
import type { Role } from '../../../shared/kernel/roles';
import * as repo from '../auth.repo';
import type { Session } from '../auth.schemas';
import { issueAccessToken } from '../tokens/access-token';
import type { AccessClaimsInput } from '../tokens/claims';
import { newRefreshToken, startFamily } from '../tokens/refresh-token';
import type { AuthDeps } from './deps';
import { toUser } from './mappers';

type Tx = Parameters<Parameters<AnyDb['transaction']>[0]>[0];

/** The access-token claims of a user row: places only for the roles that need them. */
export function userClaims(user: repo.UserRow, sessionId: string): AccessClaimsInput {
  const roles = user.roles as Role[];
  return {
    sub: user.id,
    kind: 'user',
    roles,
    warehouseIds: roles.includes('warehouse_staff') ? user.warehouseIds : [],
    storeId: roles.includes('pos_agent') ? (user.storeId ?? undefined) : undefined,
    sessionId,
  };
}

export async function accessTokenFor(user: repo.UserRow, sessionId: string, deps: AuthDeps) {
  return issueAccessToken(userClaims(user, sessionId), {
    keys: await deps.signingKeys(),
    issuer: deps.tokens.issuer,
    audience: deps.tokens.audience,
    ttlSeconds: deps.tokens.accessTokenTtlSeconds,
    now: deps.clock.now(),
  });
}

/**
 * Stores the first refresh token of a new login session (inside the caller's transaction)
 * and returns what to send: the session's tokens and the user.
 */
export async function openSession(tx: Tx, user: repo.UserRow, meta: RequestMeta, deps: AuthDeps): Promise<() => Promise<Session>> {
  const now = deps.clock.now();
  const familyId = newId('session', now.getTime());
  const { expiresAt, familyExpiresAt } = startFamily(now, deps.tokens.refresh);
  const refresh = newRefreshToken();
  await repo.insertRefreshToken(tx, {
    id: newId('refreshToken', now.getTime()),
    tokenHash: refresh.hash,
    familyId,
    userId: user.id,
    status: 'active',
    expiresAt,
    familyExpiresAt,
    createdAt: now,
    userAgent: meta.userAgent ?? null,
  });
  // Signing happens after the commit, so a rolled-back login never hands out a token.
  return async () => {
    const access = await accessTokenFor(user, familyId, deps);
    return {
      accessToken: access.token,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: expiresAt.toISOString(),
      user: await toUser(user, deps),
    };
  };
}
