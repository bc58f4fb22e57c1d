import { and, asc, inArray, isNotNull, isNull, lt, lte, sql } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { eventOutbox } from '../../shared/db/schema/outbox';
import type { EventEnvelope } from '../../shared/events/envelope';

/**
 * Drizzle queries over the Postgres event outbox (`event_outbox`). Nothing here knows identity:
 * when a second Postgres-side producer needs the outbox, this file and service/outbox.ts move to
 * shared/events/ as they are.
 */
type Tx = Parameters<Parameters<AnyDb['transaction']>[0]>[0];
type Db = AnyDb | Tx;

/** Written inside the transaction of the change the envelopes announce; due for the relay at `dueAt`. */
export async function insertOutbox(db: Db, envelopes: readonly EventEnvelope[], dueAt: Date): Promise<void> {
  if (envelopes.length === 0) return;
  await db.insert(eventOutbox).values(envelopes.map((e) => ({ eventId: e.id, type: e.type, envelope: e, nextAttemptAt: dueAt })));
}

/** The queue has them: never published again. `countAttempt` when the caller had not claimed them. */
export async function markSent(db: Db, eventIds: readonly string[], now: Date, opts: { countAttempt: boolean }): Promise<void> {
  if (eventIds.length === 0) return;
  await db
    .update(eventOutbox)
    .set({ sentAt: now, lastError: null, ...(opts.countAttempt ? { attempts: sql`${eventOutbox.attempts} + 1` } : {}) })
    .where(and(inArray(eventOutbox.eventId, [...eventIds]), isNull(eventOutbox.sentAt)));
}

/** The queue refused them: they stay due for the relay. */
export async function markFailed(db: Db, eventIds: readonly string[], error: string, opts: { countAttempt: boolean }): Promise<void> {
  if (eventIds.length === 0) return;
  await db
    .update(eventOutbox)
    .set({ lastError: error.slice(0, 1000), ...(opts.countAttempt ? { attempts: sql`${eventOutbox.attempts} + 1` } : {}) })
    .where(and(inArray(eventOutbox.eventId, [...eventIds]), isNull(eventOutbox.sentAt)));
}

/**
 * Takes up to `limit` unsent envelopes due at `now`, oldest due first, and in the same statement
 * counts the attempt and moves their due time past the backoff (`baseMs` doubled per attempt
 * already made, at most `maxMs`). That is a lease: a second relay running at the same time skips
 * the locked rows and finds these not due, and if this one dies before it has published them,
 * they are due again after the backoff.
 */
export async function claimDue(
  db: Db,
  now: Date,
  limit: number,
  backoff: { baseMs: number; maxMs: number },
): Promise<{ eventId: string; envelope: EventEnvelope }[]> {
  const due = db
    .select({ eventId: eventOutbox.eventId })
    .from(eventOutbox)
    .where(and(isNull(eventOutbox.sentAt), lte(eventOutbox.nextAttemptAt, now)))
    .orderBy(asc(eventOutbox.nextAttemptAt), asc(eventOutbox.eventId))
    .limit(limit)
    .for('update', { skipLocked: true });
  const rows = await db
    .update(eventOutbox)
    .set({
      attempts: sql`${eventOutbox.attempts} + 1`,
      // The right-hand side sees the row before the update: `attempts` is the number already made.
      nextAttemptAt: sql`${now.toISOString()}::timestamptz + least(${backoff.maxMs}::float8, ${backoff.baseMs}::float8 * power(2, least(${eventOutbox.attempts}, 30))) * interval '1 millisecond'`,
    })
    .where(inArray(eventOutbox.eventId, due))
    .returning({ eventId: eventOutbox.eventId, envelope: eventOutbox.envelope });
  return rows.map((r) => ({ eventId: r.eventId, envelope: r.envelope as EventEnvelope }));
}

/** Deletes up to `limit` rows sent before `before`; returns how many. */
export async function pruneSent(db: Db, before: Date, limit: number): Promise<number> {
  const old = db
    .select({ eventId: eventOutbox.eventId })
    .from(eventOutbox)
    .where(and(isNotNull(eventOutbox.sentAt), lt(eventOutbox.sentAt, before)))
    .limit(limit);
  const rows = await db.delete(eventOutbox).where(inArray(eventOutbox.eventId, old)).returning({ eventId: eventOutbox.eventId });
  return rows.length;
}
