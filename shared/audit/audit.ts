import type { AnyDb } from '../db/client';
import { auditLog } from '../db/schema/audit';
import type { RequestMeta } from '../http/context';
import { newId } from '../kernel/ids';

/**
 * The audit trail (append-only table `audit_log`): security and admin events, written in the
 * same transaction as the change they record. Never put plaintext PII in `data`.
 */
export type AuditAction =
  | 'auth.registered'
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.login.rate_limited'
  | 'auth.password.rehashed'
  | 'auth.password.changed'
  | 'auth.logout'
  | 'auth.refresh_token.reuse_detected'
  | 'auth.client.authenticated'
  | 'auth.client.failed'
  | 'client.created'
  | 'client.revoked'
  | 'user.updated'
  | 'user.roles.changed'
  | 'user.status.changed'
  | 'user.exported'
  | 'user.erased'
  | 'catalog.product.created'
  | 'catalog.product.updated'
  | 'catalog.product.archived'
  | 'inventory.stock.adjusted'
  | 'inventory.shards.configured'
  | 'inventory.transfer.dispatched'
  | 'inventory.transfer.received'
  | 'inventory.transfer.cancelled'
  | 'events.dead_letter.redriven'
  | 'events.dead_letter.discarded'
  | 'order.placed'
  | 'order.payment.captured'
  | 'order.payment.failed'
  | 'order.payment.dispute.opened'
  | 'order.payment.dispute.updated'
  | 'order.payment.dispute.closed'
  | 'order.cancelled'
  | 'order.refund.requested'
  | 'order.refund.succeeded'
  | 'order.refund.failed'
  | 'order.shipment.created';

export interface AuditEntry {
  action: AuditAction;
  outcome: 'success' | 'failure';
  /** Who did it; defaults to the request's actor (anonymous when there is none). */
  actor?: { kind: 'user' | 'client' | 'system' | 'anonymous'; id: string | null };
  target?: { kind: string; id: string };
  data?: Record<string, unknown>;
}

export type AuditRow = typeof auditLog.$inferInsert;

export function auditRow(entry: AuditEntry, meta: Pick<RequestMeta, 'requestId' | 'actor' | 'ip'>, now: Date = new Date()): AuditRow {
  const actor = entry.actor ?? (meta.actor ? { kind: meta.actor.kind, id: meta.actor.id } : { kind: 'anonymous' as const, id: null });
  return {
    id: newId('audit', now.getTime()),
    occurredAt: now,
    action: entry.action,
    outcome: entry.outcome,
    actorKind: actor.kind,
    actorId: actor.id,
    targetKind: entry.target?.kind ?? null,
    targetId: entry.target?.id ?? null,
    requestId: meta.requestId,
    ip: meta.ip ?? null,
    data: entry.data ?? {},
  };
}

/** Appends entries (inside the caller's transaction when `db` is one). */
export async function recordAudit(
  db: AnyDb,
  entries: AuditEntry | AuditEntry[],
  meta: Pick<RequestMeta, 'requestId' | 'actor' | 'ip'>,
  now: Date = new Date(),
): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  await db.insert(auditLog).values(list.map((e) => auditRow(e, meta, now)));
}
