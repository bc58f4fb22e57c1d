import { recordAudit } from '../../../shared/audit/audit';
import { selfUserId } from '../../../shared/http/authorize';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError, validationFailed } from '../../../shared/kernel/app-error';
import * as repo from '../auth.repo';
import type { UpdateMeInput, User } from '../auth.schemas';
import { hashPassword, verifyPassword } from '../password/password-hash';
import { checkPassword } from '../password/password-policy';
import type { AuthDeps } from './deps';
import { revokeTokens, sessionSubject } from './authenticate';
import { accountKey } from './login';
import { phoneAad, toUser } from './mappers';
import { RATE_LIMITS, refuseIfSpent, spend } from './rate-limits';

/** The signed-in user's row; a token that outlived its account (erased, disabled) gets 401. */
export async function activeSelf(db: Parameters<typeof repo.userById>[0], meta: RequestMeta, opts: { forUpdate?: boolean } = {}): Promise<repo.UserRow> {
  const id = selfUserId(meta);
  const user = await repo.userById(db, id, opts);
  if (!user || user.status !== 'active') {
    throw new AppError('UNAUTHENTICATED', 'This account is no longer active', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
  }
  return user;
}

export async function getMe(meta: RequestMeta, deps: AuthDeps): Promise<User> {
  return toUser(await activeSelf(deps.readDb(), meta), deps);
}

/**
 * Profile changes. Only the fields in UpdateMeBodySchema exist here: roles, places, status and
 * email are not the user's to set (the schema is strict, so sending them is a 400).
 * A password change needs the current password and signs out every other session.
 */
export async function updateMe(input: UpdateMeInput, meta: RequestMeta, deps: AuthDeps): Promise<User> {
  const now = deps.clock.now();
  const cipher = deps.cipher();
  const user = await activeSelf(deps.readDb(), meta);
  let passwordHash: string | undefined;
  if (input.newPassword !== undefined) {
    const key = await accountKey(user.email, deps);
    await refuseIfSpent(deps, RATE_LIMITS.loginAccountFailures, key);
    const verdict = await verifyPassword(input.currentPassword ?? '', user.passwordHash);
    if (!verdict.ok) {
      await spend(deps, RATE_LIMITS.loginAccountFailures, key);
      await recordAudit(deps.writeDb(), { action: 'auth.password.changed', outcome: 'failure', target: { kind: 'user', id: user.id }, data: { reason: 'wrong_current_password' } }, meta, now);
      throw new AppError('FORBIDDEN', 'The current password is not right', {
        errors: [{ path: 'body.currentPassword', message: 'The current password is not right', code: 'wrong_password' }],
      });
    }
    const problems = checkPassword(input.newPassword, { email: user.email ?? undefined, name: input.name ?? user.name ?? undefined, path: 'body.newPassword' });
    if (problems.length) throw validationFailed(problems, 'The new password does not meet the policy');
    passwordHash = await hashPassword(input.newPassword);
  }
  const patch: Partial<repo.NewUserRow> = { updatedAt: now };
  const changed: string[] = [];
  if (input.name !== undefined) {
    patch.name = input.name;
    changed.push('name');
  }
  if (input.marketingOptIn !== undefined) {
    patch.marketingOptIn = input.marketingOptIn;
    changed.push('marketingOptIn');
  }
  if (input.phone !== undefined) {
    patch.phoneEnc = input.phone === null ? null : await cipher.encrypt(input.phone, phoneAad(user.id));
    changed.push('phone');
  }
  if (passwordHash) {
    patch.passwordHash = passwordHash;
    patch.passwordChangedAt = now;
  }

  let ended: string[] = [];
  const updated = await deps.writeDb().transaction(async (tx) => {
    const locked = await activeSelf(tx, meta, { forUpdate: true });
    await repo.updateUser(tx, locked.id, patch);
    const audits = [];
    if (changed.length) audits.push({ action: 'user.updated' as const, outcome: 'success' as const, target: { kind: 'user', id: locked.id }, data: { fields: changed } });
    if (passwordHash) {
      const r = await repo.revokeUserSessionsListed(tx, locked.id, 'password_changed', now, meta.actor?.sessionId);
      ended = r.sessions;
      audits.push({ action: 'auth.password.changed' as const, outcome: 'success' as const, target: { kind: 'user', id: locked.id }, data: { otherSessionsRevoked: r.revoked } });
    }
    await recordAudit(tx, audits, meta, now);
    return { ...locked, ...patch } as repo.UserRow;
  });
  // After the commit: the other sessions' access tokens stop working too (this one's stays).
  for (const sid of ended) await revokeTokens(deps, sessionSubject(sid), now, deps.tokens.accessTokenTtlSeconds + 60);
  return toUser(updated, deps);
}
