import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The transactional outbox of events produced by Postgres-side writes (docs/events.md): the
 * envelope is inserted in the same transaction as the change it announces, published after the
 * commit, and published again by the cron while the queue has not taken it. Durable Objects keep
 * their own outboxes in their SQLite; this one is for the contexts whose state lives in Postgres.
 * Only identity's `user.erased` uses it today (docs/security.md, "Personal data").
 */
export const eventOutbox = pgTable(
  'event_outbox',
  {
    /** The envelope's id (`evt_…`): every publication of the row carries it, so consumers dedupe. */
    eventId: text('event_id').primaryKey(),
    /** The envelope's type, for reading the table (the relay does not look at it). */
    type: text('type').notNull(),
    /** The whole envelope, published as it is. */
    envelope: jsonb('envelope').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the relay may publish it (again): a short delay after the write, then the backoff. */
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull(),
    /** Publications tried (the writer's and the relay's). */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** Set once the queue has taken it; the row is deleted some days later. */
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (t) => [
    index('event_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.sentAt} is null`),
    index('event_outbox_sent_idx').on(t.sentAt).where(sql`${t.sentAt} is not null`),
    check('event_outbox_attempts_ck', sql`${t.attempts} >= 0`),
  ],
);
