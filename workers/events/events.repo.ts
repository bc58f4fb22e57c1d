import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { deadLetters } from '../../shared/db/schema/events';
import type { DeadLetterStatus } from './events.schemas';

export type DeadLetterRow = typeof deadLetters.$inferSelect;

/**
 * One row per (queue, event id): a second failure of the same event updates it, and one that
 * was redriven and failed again is open again. Discarded stays discarded.
 */
export async function upsertDeadLetter(db: AnyDb, row: typeof deadLetters.$inferInsert): Promise<{ id: string; inserted: boolean }> {
  const [r] = await db
    .insert(deadLetters)
    .values(row)
    .onConflictDoUpdate({
      target: [deadLetters.queue, deadLetters.eventId],
      set: {
        error: sql`excluded.error`,
        attempts: sql`excluded.attempts`,
        lastFailedAt: sql`excluded.last_failed_at`,
        status: sql`case when ${deadLetters.status} = 'redriven' then 'open' else ${deadLetters.status} end`,
      },
    })
    .returning({ id: deadLetters.id, inserted: sql<boolean>`(xmax = 0)` });
  return { id: r!.id, inserted: Boolean(r!.inserted) };
}

/** Newest first, keyset-paginated on the (time-sortable) id. */
export async function findDeadLetters(
  db: AnyDb,
  f: { status?: DeadLetterStatus | undefined; type?: string | undefined },
  limit: number,
  afterId?: string,
): Promise<DeadLetterRow[]> {
  const where: SQL[] = [];
  if (f.status) where.push(eq(deadLetters.status, f.status));
  if (f.type) where.push(eq(deadLetters.type, f.type));
  if (afterId) where.push(lt(deadLetters.id, afterId));
  return db
    .select()
    .from(deadLetters)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(deadLetters.id))
    .limit(limit + 1);
}

export async function getDeadLetter(db: AnyDb, id: string): Promise<DeadLetterRow | undefined> {
  const [row] = await db.select().from(deadLetters).where(eq(deadLetters.id, id)).limit(1);
  return row;
}

/** Moves a row from `from` to `to` (row-locked by the update); undefined when it was not in `from`. */
export async function transition(
  db: AnyDb,
  id: string,
  from: DeadLetterStatus,
  to: { status: DeadLetterStatus; redrivenAt?: Date },
): Promise<DeadLetterRow | undefined> {
  const [row] = await db
    .update(deadLetters)
    .set(to)
    .where(and(eq(deadLetters.id, id), eq(deadLetters.status, from)))
    .returning();
  return row;
}
