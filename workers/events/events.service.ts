import { recordAudit } from '../../shared/audit/audit';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { parseEnvelope, withoutNul, type EventEnvelope } from '../../shared/events';
import type { RequestMeta } from '../../shared/http/context';
import { AppError, notFound } from '../../shared/kernel/app-error';
import type { Clock } from '../../shared/kernel/clock';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { newId } from '../../shared/kernel/ids';
import type { EventPublisher } from '../../shared/ports/event-publisher';
import * as repo from './events.repo';
import type { DeadLetter, DeadLetterInput, DeadLetterPage, DeadLetterQuery } from './events.schemas';

export interface EventsDeps {
  readDb: () => AnyDb | HttpDb;
  writeDb: () => AnyDb;
  /** Where redriven envelopes go, by the queue they failed on (a dead letter's `queue`). */
  publishers: Readonly<Record<string, EventPublisher>>;
  clock: Clock;
}

function toDeadLetter(r: repo.DeadLetterRow): DeadLetter {
  return {
    id: r.id,
    queue: r.queue,
    eventId: r.eventId,
    type: r.type,
    status: r.status as DeadLetter['status'],
    error: r.error,
    attempts: r.attempts,
    firstFailedAt: r.firstFailedAt.toISOString(),
    lastFailedAt: r.lastFailedAt.toISOString(),
    redrivenAt: r.redrivenAt?.toISOString() ?? null,
    body: r.body,
  };
}

/** The event bus's failure desk: recording dead letters, and letting an admin redrive or discard them. */
export function makeEventsService(deps: EventsDeps) {
  async function load(id: string): Promise<repo.DeadLetterRow> {
    const row = await repo.getDeadLetter(deps.writeDb(), id);
    if (!row) throw notFound('Dead letter', id);
    return row;
  }

  return {
    /** Records a message that could not be processed (idempotent by queue + event id). */
    async record(input: DeadLetterInput): Promise<{ id: string; inserted: boolean }> {
      // Postgres text and jsonb cannot hold U+0000: such a body (malformed by definition) is kept readable.
      const body = withoutNul(input.body);
      const b = (body ?? {}) as { id?: unknown; type?: unknown };
      const eventId = typeof b.id === 'string' && b.id.length > 0 && b.id.length <= 128 ? b.id : `msg:${input.messageId}`;
      const type = typeof b.type === 'string' ? b.type.slice(0, 64) : null;
      const now = deps.clock.now();
      return repo.upsertDeadLetter(deps.writeDb(), {
        id: newId('deadLetter', now.getTime()),
        queue: input.queue,
        eventId,
        type,
        body: body === undefined ? null : body,
        error: (withoutNul(input.error) as string).slice(0, 2000),
        attempts: input.attempts,
        firstFailedAt: now,
        lastFailedAt: now,
        status: 'open',
      });
    },

    async list(q: DeadLetterQuery): Promise<DeadLetterPage> {
      const { limit, cursor, ...filters } = q;
      const fp = fingerprint(filters);
      const after = cursor ? decodeCursor<{ id: string }>(cursor, fp, { id: 'string' }) : undefined;
      const rows = await repo.findDeadLetters(deps.readDb() as AnyDb, filters, limit, after?.id);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toDeadLetter), nextCursor: rows.length > limit && last ? encodeCursor({ id: last.id }, fp) : null };
    },

    /**
     * Republishes the stored envelope (same event id, so consumers that already handled it skip)
     * and marks the row redriven, in one transaction: a failed publish leaves it open, a
     * concurrent or repeated redrive of the same row publishes nothing more.
     */
    async redrive(id: string, meta: RequestMeta): Promise<DeadLetter> {
      const row = await load(id);
      if (row.status === 'redriven') return toDeadLetter(row);
      if (row.status === 'discarded') throw new AppError('CONFLICT', `Dead letter '${id}' was discarded; it cannot be redriven`);
      const publisher = Object.hasOwn(deps.publishers, row.queue) ? deps.publishers[row.queue] : undefined;
      if (!publisher) throw new AppError('UNPROCESSABLE', `Dead letter '${id}' failed on queue '${row.queue}', which this Worker does not publish to`);
      const parsed = parseEnvelope(row.body);
      if (!parsed.ok) {
        throw new AppError('UNPROCESSABLE', `The stored message cannot be redriven: ${parsed.message}; it would be dead-lettered again`);
      }
      const now = deps.clock.now();
      const updated = await deps.writeDb().transaction(async (tx) => {
        const moved = await repo.transition(tx, id, 'open', { status: 'redriven', redrivenAt: now });
        if (!moved) return undefined;
        await recordAudit(
          tx,
          { action: 'events.dead_letter.redriven', outcome: 'success', target: { kind: 'dead_letter', id }, data: { eventId: row.eventId, type: row.type } },
          meta,
          now,
        );
        try {
          await publisher.publish([row.body as EventEnvelope]);
        } catch (e) {
          throw new AppError('DEPENDENCY_UNAVAILABLE', 'The event queue did not accept the message; try again', { cause: e });
        }
        return moved;
      });
      if (updated) return toDeadLetter(updated);
      // Someone else changed it in between: answer with its state now (redriven is idempotent).
      const now2 = await load(id);
      if (now2.status === 'redriven') return toDeadLetter(now2);
      throw new AppError('CONFLICT', `Dead letter '${id}' is ${now2.status}; it cannot be redriven`);
    },

    /** Marks an open dead letter as not worth redriving (idempotent). */
    async discard(id: string, meta: RequestMeta): Promise<DeadLetter> {
      const row = await load(id);
      if (row.status === 'discarded') return toDeadLetter(row);
      if (row.status === 'redriven') throw new AppError('CONFLICT', `Dead letter '${id}' was already redriven`);
      const now = deps.clock.now();
      const updated = await deps.writeDb().transaction(async (tx) => {
        const moved = await repo.transition(tx, id, 'open', { status: 'discarded' });
        if (moved) {
          await recordAudit(
            tx,
            { action: 'events.dead_letter.discarded', outcome: 'success', target: { kind: 'dead_letter', id }, data: { eventId: row.eventId, type: row.type } },
            meta,
            now,
          );
        }
        return moved;
      });
      if (updated) return toDeadLetter(updated);
      const now2 = await load(id);
      if (now2.status === 'discarded') return toDeadLetter(now2);
      throw new AppError('CONFLICT', `Dead letter '${id}' is ${now2.status}; it cannot be discarded`);
    },
  };
}

export type EventsService = ReturnType<typeof makeEventsService>;
