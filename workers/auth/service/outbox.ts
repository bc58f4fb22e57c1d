import type { AnyDb } from '../../../shared/db/client';
import type { EventEnvelope } from '../../../shared/events/envelope';
import * as repo from '../outbox.repo';
import type { AuthDeps } from './deps';

/**
 * The Postgres transactional outbox (`event_outbox`, docs/security.md "Personal data"). An event
 * published only after its transaction commits is lost when the queue refuses it or the Worker
 * stops in between: for `user.erased` that left the user's carts, wishlist and order addresses in
 * place for good, an erasure only half done. So the envelope is written in the transaction of
 * the change (`enqueue`), published right after the commit (`publishEnqueued`), and whatever the
 * queue has not taken is published again, under the same event id, by the cron (`relayOutbox`).
 * Consumers dedupe by event id, so the rare double publication (a relay after a lost "sent"
 * mark) does nothing twice.
 */

/** The relay leaves a fresh row alone this long: the request that wrote it is publishing it. */
export const OUTBOX_RELAY_DELAY_MS = 60_000;
/** Rows per cron run (one sendBatch: Cloudflare Queues take at most 100 messages per call). */
export const OUTBOX_BATCH = 100;
/** After each failed attempt the row waits base × 2^attempts, at most max (the cron runs every 5 minutes). */
export const OUTBOX_BACKOFF = { baseMs: 60_000, maxMs: 60 * 60_000 } as const;
/**
 * Sent rows are kept 7 days, to answer "was it published, when, after how many tries" while
 * someone looks into a report; then deleted. They hold nothing personal (a user id that is
 * already a pseudonym); the audit trail is the lasting record of the erasure.
 */
export const OUTBOX_KEEP_SENT_MS = 7 * 24 * 60 * 60_000;

type Tx = Parameters<Parameters<AnyDb['transaction']>[0]>[0];

/** Inside the transaction of the change: the envelopes are committed with it or not at all. */
export async function enqueue(tx: Tx, envelopes: readonly EventEnvelope[], now: Date): Promise<void> {
  await repo.insertOutbox(tx, envelopes, new Date(now.getTime() + OUTBOX_RELAY_DELAY_MS));
}

/**
 * After the commit: publishes the envelopes `enqueue` wrote and marks them sent. Never throws: a
 * refusal is logged and recorded on the rows, which the relay publishes later.
 */
export async function publishEnqueued(envelopes: readonly EventEnvelope[], deps: AuthDeps): Promise<void> {
  if (!deps.events || envelopes.length === 0) return;
  const ids = envelopes.map((e) => e.id);
  const db = deps.writeDb();
  try {
    await deps.events.publish(envelopes);
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    deps.log.eventPublishError = { type: envelopes.map((e) => e.type).join(','), eventId: ids.join(','), error, outbox: 'kept for the cron' };
    await repo.markFailed(db, ids, error, { countAttempt: true }).catch(() => undefined);
    return;
  }
  await repo.markSent(db, ids, deps.clock.now(), { countAttempt: true }).catch((e: unknown) => {
    // Published but not marked: the relay publishes it once more; consumers dedupe by id.
    deps.log.outboxMarkError = { eventId: ids.join(','), error: e instanceof Error ? e.message : String(e) };
  });
}

/**
 * The cron: deletes sent rows past OUTBOX_KEEP_SENT_MS, then publishes up to `limit` unsent rows
 * that are due, with their envelopes as written (the same event ids). A row the queue refuses
 * again waits out its backoff; rows are never given up on (an erasure must reach every context),
 * and each run's `failed` count is in the cron's log line.
 */
export async function relayOutbox(deps: AuthDeps, limit = OUTBOX_BATCH): Promise<{ published: number; failed: number; pruned: number }> {
  const now = deps.clock.now();
  const db = deps.writeDb();
  const pruned = await repo.pruneSent(db, new Date(now.getTime() - OUTBOX_KEEP_SENT_MS), 1000);
  if (!deps.events) return { published: 0, failed: 0, pruned };
  const claimed = await repo.claimDue(db, now, limit, OUTBOX_BACKOFF);
  if (claimed.length === 0) return { published: 0, failed: 0, pruned };
  const ids = claimed.map((r) => r.eventId);
  try {
    await deps.events.publish(claimed.map((r) => r.envelope));
  } catch (e) {
    await repo.markFailed(db, ids, e instanceof Error ? e.message : String(e), { countAttempt: false });
    return { published: 0, failed: ids.length, pruned };
  }
  await repo.markSent(db, ids, deps.clock.now(), { countAttempt: false });
  return { published: ids.length, failed: 0, pruned };
}
