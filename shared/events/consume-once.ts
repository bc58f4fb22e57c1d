import type { AnyDb } from '../db/client';
import { processedEvents } from '../db/schema/events';

export type ConsumeOnceResult<T> = { processed: true; value: T } | { processed: false };

/**
 * Runs `work` at most once per (consumer, event id): the processed_events row is inserted
 * first (`on conflict do nothing`) in the same transaction as the work, so a duplicate
 * delivery finds the row and skips, a concurrent duplicate waits on the row lock and then
 * skips, and a failed `work` rolls the row back so the retry runs it again.
 */
export async function consumeOnce<T>(
  db: AnyDb,
  consumer: string,
  eventId: string,
  work: (tx: AnyDb) => Promise<T>,
): Promise<ConsumeOnceResult<T>> {
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(processedEvents)
      .values({ consumer, eventId })
      .onConflictDoNothing({ target: [processedEvents.consumer, processedEvents.eventId] })
      .returning({ eventId: processedEvents.eventId });
    if (claimed.length === 0) return { processed: false as const };
    return { processed: true as const, value: await work(tx) };
  });
}
