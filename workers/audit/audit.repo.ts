import { and, desc, eq, gte, like, lt, lte, or, type SQL } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { auditLog } from '../../shared/db/schema/audit';

export type AuditRowRead = typeof auditLog.$inferSelect;

export interface AuditFilter {
  action?: string;
  outcome?: string;
  actorId?: string;
  targetId?: string;
  requestId?: string;
  from?: Date;
  to?: Date;
}

/** Newest first, keyset-paginated on (occurred_at, id). */
export async function findAudit(db: AnyDb, f: AuditFilter, limit: number, after?: { at: Date; id: string }): Promise<AuditRowRead[]> {
  const where: SQL[] = [];
  if (f.action) where.push(f.action.endsWith('*') ? like(auditLog.action, `${f.action.slice(0, -1).replace(/_/g, '\\_')}%`) : eq(auditLog.action, f.action));
  if (f.outcome) where.push(eq(auditLog.outcome, f.outcome));
  if (f.actorId) where.push(eq(auditLog.actorId, f.actorId));
  if (f.targetId) where.push(eq(auditLog.targetId, f.targetId));
  if (f.requestId) where.push(eq(auditLog.requestId, f.requestId));
  if (f.from) where.push(gte(auditLog.occurredAt, f.from));
  if (f.to) where.push(lte(auditLog.occurredAt, f.to));
  if (after) where.push(or(lt(auditLog.occurredAt, after.at), and(eq(auditLog.occurredAt, after.at), lt(auditLog.id, after.id)))!);
  return db
    .select()
    .from(auditLog)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(auditLog.occurredAt), desc(auditLog.id))
    .limit(limit + 1);
}
