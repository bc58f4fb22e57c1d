import { recordAudit } from '../../../shared/audit/audit';
import { isUniqueViolation } from '../../../shared/db/errors';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError, validationFailed } from '../../../shared/kernel/app-error';
import { newId } from '../../../shared/kernel/ids';
import * as repo from '../auth.repo';
import type { Session } from '../auth.schemas';
import type { RegisterBodySchema } from '../auth.schemas';
import { normaliseEmail } from '../password/email';
import { hashPassword } from '../password/password-hash';
import { checkPassword } from '../password/password-policy';
import type { z } from 'zod';
import type { AuthDeps } from './deps';
import { enforce, RATE_LIMITS } from './rate-limits';
import { openSession } from './sessions';

/** A new customer account, signed in. */
export async function register(input: z.infer<typeof RegisterBodySchema>, meta: RequestMeta, deps: AuthDeps): Promise<Session> {
  const email = normaliseEmail(input.email);
  if (!email) throw validationFailed([{ path: 'body.email', message: 'This is not an email address we can accept', code: 'invalid_email' }]);
  const problems = checkPassword(input.password, { email, name: input.name });
  if (problems.length) throw validationFailed(problems, 'The password does not meet the policy');
  await enforce(deps, [[RATE_LIMITS.registerIp, meta.ip]]);

  const passwordHash = await hashPassword(input.password);
  const now = deps.clock.now();
  const user: repo.UserRow = {
    id: newId('user', now.getTime()),
    email,
    passwordHash,
    name: input.name ?? null,
    phoneEnc: null,
    roles: ['customer'],
    warehouseIds: [],
    storeId: null,
    status: 'active',
    marketingOptIn: input.marketingOptIn ?? false,
    createdAt: now,
    updatedAt: now,
    passwordChangedAt: now,
    lastLoginAt: now,
    erasedAt: null,
  };
  try {
    const session = await deps.writeDb().transaction(async (tx) => {
      await repo.insertUser(tx, user);
      await recordAudit(tx, { action: 'auth.registered', outcome: 'success', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id } }, meta, now);
      return openSession(tx, user, meta, deps);
    });
    return await session();
  } catch (e) {
    if (isUniqueViolation(e)) throw new AppError('EMAIL_TAKEN', 'An account with this email already exists; sign in instead');
    throw e;
  }
}
