import { sql } from 'drizzle-orm';
import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The append-only audit trail of security and admin events. A trigger (migration 0003)
 * refuses UPDATE and DELETE; rows are written in the same transaction as the change they record.
 * No plaintext PII here: targets are ids, emails appear only as a blind index.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull().defaultNow(),
    /** e.g. `auth.login.succeeded`, `user.roles.changed`, `client.created`. */
    action: text('action').notNull(),
    /** success | failure */
    outcome: text('outcome').notNull(),
    /** user | client | system | anonymous */
    actorKind: text('actor_kind').notNull(),
    actorId: text('actor_id'),
    targetKind: text('target_kind'),
    targetId: text('target_id'),
    requestId: text('request_id'),
    ip: text('ip'),
    data: jsonb('data').notNull().default(sql`'{}'::jsonb`),
  },
  (t) => [
    index('audit_log_time_idx').on(t.occurredAt, t.id),
    index('audit_log_actor_idx').on(t.actorId, t.occurredAt),
    index('audit_log_target_idx').on(t.targetId, t.occurredAt),
    index('audit_log_action_idx').on(t.action, t.occurredAt),
  ],
);
