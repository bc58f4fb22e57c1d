import { recordAudit } from '../../../shared/audit/audit';
import { UserErased } from '../../../shared/events';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import * as repo from '../auth.repo';
import type { PersonalDataExport } from '../auth.schemas';
import { verifyPassword } from '../password/password-hash';
import type { AuthDeps } from './deps';
import { accountKey } from './login';
import { activeSelf } from './me';
import { enqueue, publishEnqueued } from './outbox';
import { revokeTokens } from './authenticate';
import { toAddress, toUser } from './mappers';
import { RATE_LIMITS, refuseIfSpent, spend } from './rate-limits';

/**
 * GDPR Art. 15/20: everything identity stores about the caller, decrypted, as JSON, with the
 * other contexts' part (cart, wishlist, orders) from `deps.exportParts`, which the gateway wires.
 */
export async function exportMe(meta: RequestMeta, deps: AuthDeps): Promise<PersonalDataExport> {
  const db = deps.readDb();
  const user = await activeSelf(db, meta);
  const [addresses, sessions, audit, parts] = await Promise.all([
    repo.addressesOf(db, user.id),
    repo.sessionsOf(db, user.id),
    repo.auditAbout(db, user.id),
    deps.exportParts ? deps.exportParts(user.id) : Promise.resolve({ cart: null, wishlist: [], orders: [] }),
  ]);
  const now = deps.clock.now();
  await recordAudit(deps.writeDb(), { action: 'user.exported', outcome: 'success', target: { kind: 'user', id: user.id } }, meta, now);
  return {
    exportedAt: now.toISOString(),
    user: {
      ...(await toUser(user, deps)),
      status: user.status,
      lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
      passwordChangedAt: user.passwordChangedAt?.toISOString() ?? null,
    },
    addresses: await Promise.all(addresses.map((a) => toAddress(a, deps))),
    sessions: sessions.map((s) => ({
      id: s.id,
      createdAt: new Date(s.createdAt).toISOString(),
      expiresAt: new Date(s.expiresAt).toISOString(),
      status: s.active ? 'active' : 'ended',
      userAgent: s.userAgent,
    })),
    auditTrail: audit.map((a) => ({ action: a.action, outcome: a.outcome, occurredAt: a.occurredAt.toISOString(), ip: a.ip, requestId: a.requestId })),
    cart: (parts.cart ?? null) as Record<string, unknown> | null,
    wishlist: parts.wishlist as Record<string, unknown>[],
    orders: parts.orders as Record<string, unknown>[],
  };
}

/**
 * GDPR Art. 17: erases the caller's personal data and ends every session. The user row stays
 * as a pseudonym (its id, roles, timestamps) so records that must be kept (orders, the audit
 * trail) still point somewhere; email, password hash, name, phone and addresses are gone, and
 * the email can register again. Needs the password, so a stolen access token cannot do it.
 */
export async function eraseMe(password: string, meta: RequestMeta, deps: AuthDeps): Promise<void> {
  const user = await activeSelf(deps.readDb(), meta);
  const key = await accountKey(user.email, deps);
  await refuseIfSpent(deps, RATE_LIMITS.loginAccountFailures, key);
  const verdict = await verifyPassword(password, user.passwordHash);
  const now = deps.clock.now();
  if (!verdict.ok) {
    await spend(deps, RATE_LIMITS.loginAccountFailures, key);
    await recordAudit(deps.writeDb(), { action: 'user.erased', outcome: 'failure', target: { kind: 'user', id: user.id }, data: { reason: 'wrong_password' } }, meta, now);
    throw new AppError('FORBIDDEN', 'The password is not right', {
      errors: [{ path: 'body.password', message: 'The password is not right', code: 'wrong_password' }],
    });
  }
  // Built before the transaction so its id is fixed: the outbox row, the publication right after
  // the commit and any later one by the cron all carry the same event id (consumers dedupe by it).
  const event = UserErased.create(
    { userId: user.id },
    { correlationId: meta.requestId, traceparent: meta.traceparent || undefined, source: 'auth', subject: user.id, occurredAt: now },
  );
  await deps.writeDb().transaction(async (tx) => {
    const locked = await activeSelf(tx, meta, { forUpdate: true });
    // As for a demotion (admin-users.ts): the shop must keep an admin who can sign in (0.3.14:
    // the last one could erase themselves and leave nobody to manage it).
    if ((locked.roles as string[]).includes('admin') && (await repo.otherActiveAdmins(tx, locked.id)) === 0) {
      throw new AppError('CONFLICT', 'This is the last active admin; make someone else admin before erasing this account');
    }
    await repo.deleteAddressesOf(tx, locked.id);
    await repo.deleteUserSessions(tx, locked.id);
    await repo.updateUser(tx, locked.id, {
      email: null,
      passwordHash: null,
      name: null,
      phoneEnc: null,
      marketingOptIn: false,
      status: 'erased',
      erasedAt: now,
      updatedAt: now,
    });
    await recordAudit(tx, { action: 'user.erased', outcome: 'success', target: { kind: 'user', id: locked.id } }, meta, now);
    // In the erasure's transaction (the outbox, service/outbox.ts): the carts, wishlist and order
    // addresses are erased by the other contexts when they get this event, so it must not be lost
    // when the queue refuses it after the commit (before 0.3.15 nothing sent it again).
    await enqueue(tx, [event], now);
  });
  try {
    // After the commit: the access token that asked (and any other) stops working at once.
    await revokeTokens(deps, user.id, now, deps.tokens.accessTokenTtlSeconds + 60);
  } finally {
    // The erasure stands (204) even if the queue refuses: the failure is logged and the cron
    // publishes the outbox row again. Published even when the revocation failed (that answers 5xx).
    await publishEnqueued([event], deps);
  }
}
