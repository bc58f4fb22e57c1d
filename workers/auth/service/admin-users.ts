import { recordAudit, type AuditEntry } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError, notFound, type FieldError } from '../../../shared/kernel/app-error';
import { decodeCursor, encodeCursor, fingerprint } from '../../../shared/kernel/cursor';
import type { Role } from '../../../shared/kernel/roles';
import * as repo from '../auth.repo';
import type { AdminUpdateUserInput, AdminUser, AdminUserListQuery } from '../auth.schemas';
import { normaliseEmail } from '../password/email';
import type { AuthDeps } from './deps';
import { revokeTokens } from './authenticate';
import { toAdminUser } from './mappers';

export async function listUsers(q: AdminUserListQuery, deps: AuthDeps): Promise<{ items: AdminUser[]; nextCursor: string | null }> {
  const emailPrefix = q.email ? (normaliseEmail(q.email) ?? q.email.trim().toLowerCase()) : undefined;
  const filters = { role: q.role, status: q.status, emailPrefix };
  const fp = fingerprint(filters);
  const after = q.cursor ? decodeCursor<{ t: string; id: string }>(q.cursor, fp, { t: 'time', id: 'string' }) : undefined;
  const rows = await repo.listUsers(deps.readDb(), { ...filters, limit: q.limit, after: after ? { createdAt: new Date(after.t), id: after.id } : undefined });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: await Promise.all(page.map((r) => toAdminUser(r, deps))),
    nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt.toISOString(), id: last.id }, fp) : null,
  };
}

export async function getUser(id: string, deps: AuthDeps): Promise<AdminUser> {
  const row = await repo.userById(deps.readDb(), id);
  if (!row) throw notFound('User', id);
  return toAdminUser(row, deps);
}

/** An account's status (`active`, `disabled`, `erased`), or null when there is none: for other contexts acting for a user. */
export async function accountStatus(id: string, deps: AuthDeps): Promise<string | null> {
  return (await repo.userById(deps.readDb(), id))?.status ?? null;
}

/**
 * Role, place and status changes by an admin. The result must satisfy the token rules
 * (warehouse_staff ⇔ warehouses, pos_agent ⇔ store), places must exist, an erased account
 * cannot be changed, and the last active admin cannot be demoted or disabled. Removing a role
 * or disabling the account ends the user's sessions, so the change applies at once.
 */
export async function updateUser(id: string, input: AdminUpdateUserInput, meta: RequestMeta, deps: AuthDeps): Promise<AdminUser> {
  const now = deps.clock.now();
  const updated = await deps.writeDb().transaction(async (tx) => {
    const row = await repo.userById(tx, id, { forUpdate: true });
    if (!row) throw notFound('User', id);
    if (row.status === 'erased') throw new AppError('CONFLICT', 'This account has been erased');
    const roles = [...new Set(input.roles ?? (row.roles as Role[]))];
    const warehouseIds = [...new Set(input.warehouseIds ?? (roles.includes('warehouse_staff') ? row.warehouseIds : []))];
    const storeId = input.storeId !== undefined ? input.storeId : roles.includes('pos_agent') ? row.storeId : null;
    const status = input.status ?? row.status;

    const errors: FieldError[] = [];
    if (roles.includes('warehouse_staff') && warehouseIds.length === 0) errors.push({ path: 'body.warehouseIds', message: 'warehouse_staff needs at least one warehouse' });
    if (!roles.includes('warehouse_staff') && warehouseIds.length > 0) errors.push({ path: 'body.warehouseIds', message: 'Only warehouse_staff is bound to warehouses' });
    if (roles.includes('pos_agent') && !storeId) errors.push({ path: 'body.storeId', message: 'pos_agent needs a store' });
    if (!roles.includes('pos_agent') && storeId) errors.push({ path: 'body.storeId', message: 'Only pos_agent is bound to a store' });
    if (errors.length === 0) {
      const known = await repo.existingWarehouses(tx, warehouseIds);
      for (const w of warehouseIds) if (!known.has(w)) errors.push({ path: 'body.warehouseIds', message: `No warehouse '${w}'` });
      if (storeId && !(await repo.storeExists(tx, storeId))) errors.push({ path: 'body.storeId', message: `No store '${storeId}'` });
    }
    if (errors.length) throw new AppError('UNPROCESSABLE', 'The account cannot hold these roles and places', { errors });

    const before = row.roles as Role[];
    const losesAdmin = before.includes('admin') && row.status === 'active' && (!roles.includes('admin') || status !== 'active');
    if (losesAdmin && (await repo.otherActiveAdmins(tx, row.id)) === 0) {
      throw new AppError('CONFLICT', 'This is the last active admin; make someone else admin first');
    }

    await repo.updateUser(tx, row.id, { roles, warehouseIds, storeId, status, updatedAt: now });
    const target = { kind: 'user', id: row.id };
    const audits: AuditEntry[] = [];
    const rolesChanged = before.join() !== roles.join() || row.warehouseIds.join() !== warehouseIds.join() || row.storeId !== storeId;
    if (rolesChanged) {
      audits.push({
        action: 'user.roles.changed',
        outcome: 'success',
        target,
        data: { before: { roles: before, warehouseIds: row.warehouseIds, storeId: row.storeId }, after: { roles, warehouseIds, storeId } },
      });
    }
    if (status !== row.status) audits.push({ action: 'user.status.changed', outcome: 'success', target, data: { before: row.status, after: status } });
    const narrowed = before.some((r) => !roles.includes(r)) || row.warehouseIds.some((w) => !warehouseIds.includes(w)) || (row.storeId !== null && row.storeId !== storeId);
    if (narrowed || status !== 'active') await repo.revokeUserSessions(tx, row.id, status !== 'active' ? 'disabled' : 'roles_changed', now);
    await recordAudit(tx, audits, meta, now);
    return { ...row, roles, warehouseIds, storeId, status, updatedAt: now, endsTokens: narrowed || status !== 'active' };
  });
  // After the commit: access tokens already issued stop working too, not only the sessions.
  if (updated.endsTokens) await revokeTokens(deps, updated.id, now, deps.tokens.accessTokenTtlSeconds + 60);
  return toAdminUser(updated, deps);
}
