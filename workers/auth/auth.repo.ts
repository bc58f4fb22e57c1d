import { and, desc, eq, inArray, isNotNull, like, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { auditLog } from '../../shared/db/schema/audit';
import { oauthClients, refreshTokens, stores, userAddresses, users } from '../../shared/db/schema/identity';
import { warehouses } from '../../shared/db/schema/inventory';

/** Drizzle queries over identity's tables only. Every user-owned query takes the owner's id. */
export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type ClientRow = typeof oauthClients.$inferSelect;
export type AddressRow = typeof userAddresses.$inferSelect;
type Tx = Parameters<Parameters<AnyDb['transaction']>[0]>[0];
type Db = AnyDb | Tx;

// ---- users ----

export async function insertUser(db: Db, row: NewUserRow): Promise<void> {
  await db.insert(users).values(row);
}

export async function userByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  return row;
}

export async function userById(db: Db, id: string, opts: { forUpdate?: boolean } = {}): Promise<UserRow | undefined> {
  const q = db.select().from(users).where(eq(users.id, id)).limit(1);
  const [row] = opts.forUpdate ? await q.for('update') : await q;
  return row;
}

export async function updateUser(db: Db, id: string, patch: Partial<NewUserRow>): Promise<void> {
  await db.update(users).set(patch).where(eq(users.id, id));
}

/** Active admins other than `exceptId` (so the last admin cannot be demoted or disabled). */
export async function otherActiveAdmins(db: Db, exceptId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.status, 'active'), sql`'admin' = any(${users.roles})`, ne(users.id, exceptId)));
  return row?.n ?? 0;
}

export async function listUsers(
  db: Db,
  q: { role?: string; status?: string; emailPrefix?: string; limit: number; after?: { createdAt: Date; id: string } },
): Promise<UserRow[]> {
  const where: SQL[] = [];
  if (q.role) where.push(sql`${q.role} = any(${users.roles})`);
  if (q.status) where.push(eq(users.status, q.status));
  if (q.emailPrefix) where.push(like(users.email, `${q.emailPrefix.replace(/[\\%_]/g, '\\$&')}%`));
  if (q.after) {
    where.push(or(lt(users.createdAt, q.after.createdAt), and(eq(users.createdAt, q.after.createdAt), lt(users.id, q.after.id)))!);
  }
  return db
    .select()
    .from(users)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(users.createdAt), desc(users.id))
    .limit(q.limit + 1);
}

// ---- places an account can be bound to (read-only here) ----

export async function existingWarehouses(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.select({ id: warehouses.id }).from(warehouses).where(inArray(warehouses.id, [...ids]));
  return new Set(rows.map((r) => r.id));
}

export async function storeExists(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: stores.id }).from(stores).where(eq(stores.id, id)).limit(1);
  return row !== undefined;
}

// ---- refresh tokens ----

export async function insertRefreshToken(db: Db, row: typeof refreshTokens.$inferInsert): Promise<void> {
  await db.insert(refreshTokens).values(row);
}

/** The token row for a hash, locked for the rotation decision. */
export async function refreshTokenForUpdate(tx: Tx, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const [row] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1).for('update');
  return row;
}

export async function refreshTokenByHash(db: Db, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1);
  return row;
}

/**
 * Compare-and-set: active → rotated, keeping its successor sealed for a retried refresh (null: not
 * kept). False when another request rotated it first.
 */
export async function markRotated(db: Db, id: string, now: Date, successorSealed: string | null): Promise<boolean> {
  const rows = await db
    .update(refreshTokens)
    .set({ status: 'rotated', rotatedAt: now, successorSealed })
    .where(and(eq(refreshTokens.id, id), eq(refreshTokens.status, 'active')))
    .returning({ id: refreshTokens.id });
  return rows.length === 1;
}

/** Forgets the sealed successors of a family's other tokens (the one rotating now supersedes them). */
export async function forgetSuccessors(db: Db, familyId: string, exceptId: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ successorSealed: null })
    .where(and(eq(refreshTokens.familyId, familyId), ne(refreshTokens.id, exceptId), isNotNull(refreshTokens.successorSealed)));
}

/** Forgets every sealed successor older than the replay grace (the cron). */
export async function forgetStaleSuccessors(db: Db, rotatedBefore: Date): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ successorSealed: null })
    .where(and(isNotNull(refreshTokens.successorSealed), lt(refreshTokens.rotatedAt, rotatedBefore)))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

export async function revokeFamily(db: Db, familyId: string, userId: string, reason: string, now: Date): Promise<number> {
  const rows = await db
    .update(refreshTokens)
    .set({ status: 'revoked', revokedAt: now, revokedReason: reason, successorSealed: null })
    .where(and(eq(refreshTokens.familyId, familyId), eq(refreshTokens.userId, userId), ne(refreshTokens.status, 'revoked')))
    .returning({ id: refreshTokens.id });
  return rows.length;
}

/** Revokes every session of a user, optionally keeping one (the one changing the password). */
export async function revokeUserSessions(db: Db, userId: string, reason: string, now: Date, keepFamilyId?: string | null): Promise<number> {
  return (await revokeUserSessionsListed(db, userId, reason, now, keepFamilyId)).revoked;
}

/** `revokeUserSessions`, also naming the sessions (families) it ended. */
export async function revokeUserSessionsListed(db: Db, userId: string, reason: string, now: Date, keepFamilyId?: string | null): Promise<{ revoked: number; sessions: string[] }> {
  const where = [eq(refreshTokens.userId, userId), ne(refreshTokens.status, 'revoked')];
  if (keepFamilyId) where.push(ne(refreshTokens.familyId, keepFamilyId));
  const rows = await db
    .update(refreshTokens)
    .set({ status: 'revoked', revokedAt: now, revokedReason: reason, successorSealed: null })
    .where(and(...where))
    .returning({ id: refreshTokens.id, familyId: refreshTokens.familyId });
  return { revoked: rows.length, sessions: [...new Set(rows.map((r) => r.familyId))] };
}

/** One row per session (family): when it started, until when, whether it is still usable. */
export async function sessionsOf(db: Db, userId: string) {
  return db
    .select({
      id: refreshTokens.familyId,
      createdAt: sql<Date>`min(${refreshTokens.createdAt})`.mapWith(refreshTokens.createdAt),
      expiresAt: sql<Date>`max(${refreshTokens.familyExpiresAt})`.mapWith(refreshTokens.familyExpiresAt),
      active: sql<boolean>`bool_or(${refreshTokens.status} = 'active')`,
      userAgent: sql<string | null>`min(${refreshTokens.userAgent})`,
    })
    .from(refreshTokens)
    .where(eq(refreshTokens.userId, userId))
    .groupBy(refreshTokens.familyId)
    .orderBy(sql`min(${refreshTokens.createdAt})`);
}

export async function deleteUserSessions(db: Db, userId: string): Promise<void> {
  await db.delete(refreshTokens).where(eq(refreshTokens.userId, userId));
}

// ---- clients ----

export async function insertClient(db: Db, row: typeof oauthClients.$inferInsert): Promise<void> {
  await db.insert(oauthClients).values(row);
}

export async function clientById(db: Db, id: string): Promise<ClientRow | undefined> {
  const [row] = await db.select().from(oauthClients).where(eq(oauthClients.id, id)).limit(1);
  return row;
}

export async function listClients(db: Db): Promise<ClientRow[]> {
  return db.select().from(oauthClients).orderBy(desc(oauthClients.createdAt), desc(oauthClients.id)).limit(500);
}

export async function revokeClient(db: Db, id: string, now: Date): Promise<ClientRow | undefined> {
  const [row] = await db
    .update(oauthClients)
    .set({ revokedAt: sql`coalesce(${oauthClients.revokedAt}, ${now.toISOString()}::timestamptz)` })
    .where(eq(oauthClients.id, id))
    .returning();
  return row;
}

export async function touchClient(db: Db, id: string, now: Date): Promise<void> {
  await db.update(oauthClients).set({ lastUsedAt: now }).where(eq(oauthClients.id, id));
}

// ---- addresses (always by owner) ----

export async function addressesOf(db: Db, userId: string): Promise<AddressRow[]> {
  return db.select().from(userAddresses).where(eq(userAddresses.userId, userId)).orderBy(userAddresses.createdAt, userAddresses.id);
}

export async function addressOf(db: Db, userId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<AddressRow | undefined> {
  const q = db
    .select()
    .from(userAddresses)
    .where(and(eq(userAddresses.id, id), eq(userAddresses.userId, userId)))
    .limit(1);
  const [row] = opts.forUpdate ? await q.for('update') : await q;
  return row;
}

export async function countAddresses(db: Db, userId: string): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(userAddresses).where(eq(userAddresses.userId, userId));
  return row?.n ?? 0;
}

export async function clearDefaultAddress(db: Db, userId: string): Promise<void> {
  await db.update(userAddresses).set({ isDefault: false }).where(and(eq(userAddresses.userId, userId), eq(userAddresses.isDefault, true)));
}

export async function insertAddress(db: Db, row: typeof userAddresses.$inferInsert): Promise<void> {
  await db.insert(userAddresses).values(row);
}

export async function updateAddress(db: Db, userId: string, id: string, patch: Partial<typeof userAddresses.$inferInsert>): Promise<void> {
  await db
    .update(userAddresses)
    .set(patch)
    .where(and(eq(userAddresses.id, id), eq(userAddresses.userId, userId)));
}

export async function deleteAddress(db: Db, userId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(userAddresses)
    .where(and(eq(userAddresses.id, id), eq(userAddresses.userId, userId)))
    .returning({ id: userAddresses.id });
  return rows.length === 1;
}

export async function deleteAddressesOf(db: Db, userId: string): Promise<void> {
  await db.delete(userAddresses).where(eq(userAddresses.userId, userId));
}

// ---- the audit trail about a user (for their export) ----

export async function auditAbout(db: Db, userId: string) {
  return db
    .select({ action: auditLog.action, outcome: auditLog.outcome, occurredAt: auditLog.occurredAt, ip: auditLog.ip, requestId: auditLog.requestId })
    .from(auditLog)
    .where(or(eq(auditLog.actorId, userId), eq(auditLog.targetId, userId)))
    .orderBy(desc(auditLog.occurredAt))
    .limit(1000);
}
