import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Idempotent consumers (docs/events.md): one row per (consumer, event id) it has processed,
 * written in the same transaction as the consumer's work (`consumeOnce`).
 */
export const processedEvents = pgTable(
  'processed_events',
  {
    consumer: text('consumer').notNull(),
    eventId: text('event_id').notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.eventId] }), index('processed_events_time_idx').on(t.processedAt)],
);

/**
 * Messages that could not be processed: malformed envelopes (recorded by the consumer at once)
 * and messages that exhausted their retries (recorded by the DLQ's consumer). One row per
 * (queue, event id); an admin redrives (republishes) or discards it.
 */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: text('id').primaryKey(),
    /** The queue the message failed on (`agora-events`), not the DLQ. */
    queue: text('queue').notNull(),
    /** The envelope's id, or `msg:<queue message id>` when the body has none. */
    eventId: text('event_id').notNull(),
    /** The envelope's type when it has one. */
    type: text('type'),
    body: jsonb('body'),
    error: text('error').notNull(),
    attempts: integer('attempts').notNull(),
    firstFailedAt: timestamp('first_failed_at', { withTimezone: true }).notNull().defaultNow(),
    lastFailedAt: timestamp('last_failed_at', { withTimezone: true }).notNull().defaultNow(),
    /** open | redriven | discarded */
    status: text('status').notNull().default('open'),
    redrivenAt: timestamp('redriven_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('dead_letters_queue_event_uq').on(t.queue, t.eventId),
    index('dead_letters_status_idx').on(t.status, t.id),
    index('dead_letters_type_idx').on(t.type, t.id),
    check('dead_letters_status_ck', sql`${t.status} in ('open', 'redriven', 'discarded')`),
  ],
);
