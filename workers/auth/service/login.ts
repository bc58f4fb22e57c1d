import { recordAudit } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import * as repo from '../auth.repo';
import type { LoginSession } from '../auth.schemas';
import { normaliseEmail } from '../password/email';
import { hashPassword, verifyPassword } from '../password/password-hash';
import type { AuthDeps } from './deps';
import { enforce, RATE_LIMITS, refuseIfSpent, spend } from './rate-limits';
import { openSession } from './sessions';

const INVALID = 'The email or password is not right';

/** The blind index that keys per-account limits and audit rows (never the plaintext email). */
export async function accountKey(email: string | null, deps: AuthDeps): Promise<string | null> {
  return email ? deps.cipher().blindIndex(email, 'users.email') : null;
}

/**
 * Email and password → a new session. Unknown email, disabled or erased account and wrong
 * password give the same 401 after the same KDF work (a dummy hash when there is no user);
 * the reason is in the audit trail and the log, not in the answer.
 */
export async function login(input: { email: string; password: string; cartId?: string | undefined }, meta: RequestMeta, deps: AuthDeps): Promise<LoginSession> {
  const email = normaliseEmail(input.email);
  const key = await accountKey(email, deps);
  // Per-IP refusals are only logged (auditing each would let a flood write the database);
  // a locked account is audited, bounded by the per-IP limit in front of it.
  await enforce(deps, [[RATE_LIMITS.loginIp, meta.ip]]);
  try {
    await refuseIfSpent(deps, RATE_LIMITS.loginAccountFailures, key);
  } catch (e) {
    await recordAudit(deps.writeDb(), { action: 'auth.login.rate_limited', outcome: 'failure', data: { account: key } }, meta, deps.clock.now());
    throw e;
  }
  const user = email ? await repo.userByEmail(deps.readDb(), email) : undefined;
  const usable = user?.status === 'active' ? user : undefined;
  const verdict = await verifyPassword(input.password, usable?.passwordHash);
  const now = deps.clock.now();

  if (!usable || !verdict.ok) {
    const reason = !user ? 'unknown_account' : !usable ? `account_${user.status}` : 'wrong_password';
    deps.log.loginFailure = reason;
    await spend(deps, RATE_LIMITS.loginAccountFailures, key);
    await recordAudit(
      deps.writeDb(),
      { action: 'auth.login.failed', outcome: 'failure', target: user ? { kind: 'user', id: user.id } : undefined, data: { reason, account: key } },
      meta,
      now,
    );
    throw new AppError('INVALID_CREDENTIALS', INVALID);
  }

  const rehash = verdict.needsRehash ? await hashPassword(input.password) : null;
  const session = await deps.writeDb().transaction(async (tx) => {
    await repo.updateUser(tx, usable.id, rehash ? { lastLoginAt: now, passwordHash: rehash } : { lastLoginAt: now });
    const actor = { kind: 'user' as const, id: usable.id };
    await recordAudit(
      tx,
      [
        { action: 'auth.login.succeeded', outcome: 'success', actor, target: actor },
        ...(rehash ? [{ action: 'auth.password.rehashed' as const, outcome: 'success' as const, actor, target: actor }] : []),
      ],
      meta,
      now,
    );
    return openSession(tx, { ...usable, lastLoginAt: now }, meta, deps);
  });
  const answer = await session();
  if (!input.cartId || !deps.carts) return answer;
  // The login stands whatever happens to the merge: its outcome is reported, a failure logged.
  try {
    const { cartId, merge } = await deps.carts.mergeGuestCart(input.cartId, usable.id);
    return { ...answer, cart: { id: cartId, merge } };
  } catch (e) {
    deps.log.cartMergeError = e instanceof Error ? e.message : String(e);
    return { ...answer, cart: { id: null, merge: { status: 'failed', reason: 'the cart could not be merged now; try again', lines: [] } } };
  }
}
