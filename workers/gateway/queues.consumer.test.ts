import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { consumeOnce } from '../../shared/events/consume-once';
import { defineEvent, UserErased, type EventEnvelope } from '../../shared/events';
import worker from './index';
import { BATCH_CONCURRENCY, createQueueHandler, EVENTS_DLQ, EVENTS_MAX_RETRIES, EVENTS_QUEUE, inLanes, on, retryDelaySeconds } from './queues';
import { rows } from '../../test/support/db';

// A test-only event and a consumer whose effect we can count.
const Pinged = defineEvent('test.pinged', 1, z.object({ n: z.number().int() }));
const effects: number[] = [];
let failNext = 0;
const consumer = `test-consumer-${crypto.randomUUID()}`;
const handler = createQueueHandler([
  on(Pinged, consumer, async (event, ctx) => {
    await consumeOnce(ctx.db.pool(), consumer, event.id, async () => {
      if (failNext > 0) {
        failNext--;
        throw new Error('downstream unavailable');
      }
      effects.push(event.data.n);
    });
  }),
]);

let seq = 0;
function message<T>(body: T, attempts = 1): MessageBatchMessage<T> {
  return { id: `msg-${++seq}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts, body };
}

/**
 * Runs a batch through a queue handler. getQueueResult (vitest-plugin 1.5) reports which
 * messages were retried but drops `delaySeconds`, so the retry options are captured with a spy.
 */
async function run(queue: string, messages: MessageBatchMessage[], h: ExportedHandlerQueueHandler<Env> = handler) {
  const batch = createMessageBatch(queue, messages);
  const spies = batch.messages.map((m) => vi.spyOn(m, 'retry'));
  const ctx = createExecutionContext();
  await h(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  const delays = new Map(batch.messages.map((m, i) => [m.id, spies[i]!.mock.calls[0]?.[0]?.delaySeconds]));
  return { ...result, retryMessages: result.retryMessages.map((r) => ({ ...r, delaySeconds: delays.get(r.msgId) })) };
}

const ping = (n: number): EventEnvelope => Pinged.create({ n }, { correlationId: `req_${crypto.randomUUID()}`, source: 'test' });

describe('events queue consumer', () => {
  it('runs the handler for a valid message once and acks it', async () => {
    const e = ping(101);
    const m = message(e);
    const result = await run(EVENTS_QUEUE, [m]);
    expect(result.explicitAcks).toEqual([m.id]);
    expect(result.retryMessages).toEqual([]);
    expect(effects.filter((n) => n === 101)).toHaveLength(1);
    expect(await rows(sql`select consumer from processed_events where event_id = ${e.id}`)).toEqual([{ consumer }]);
  });

  it('applies the effect of the same event id once, in one batch or across deliveries', async () => {
    const e = ping(202);
    const first = await run(EVENTS_QUEUE, [message(e), message(e)]);
    const again = await run(EVENTS_QUEUE, [message(e, 2)]);
    expect(first.explicitAcks).toHaveLength(2);
    expect(again.explicitAcks).toHaveLength(1);
    expect(effects.filter((n) => n === 202)).toHaveLength(1);
  });

  it('retries a failing handler with exponential backoff and does not mark it processed', async () => {
    const e = ping(303);
    failNext = 1;
    const m = message(e, 3);
    const result = await run(EVENTS_QUEUE, [m]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(1);
    expect(result.retryMessages[0]!.msgId).toBe(m.id);
    // attempt 3 → 8 s ± 20 %
    expect(result.retryMessages[0]!.delaySeconds).toBeGreaterThanOrEqual(6);
    expect(result.retryMessages[0]!.delaySeconds).toBeLessThanOrEqual(10);
    expect(await rows(sql`select 1 from processed_events where event_id = ${e.id}`)).toEqual([]);
    // the next delivery succeeds and applies the effect once
    const retry = await run(EVENTS_QUEUE, [message(e, 4)]);
    expect(retry.explicitAcks).toHaveLength(1);
    expect(effects.filter((n) => n === 303)).toHaveLength(1);
  });

  it('works on several aggregates of a batch at once, and on the messages of one aggregate in delivery order', async () => {
    const Slow = defineEvent('test.slow', 1, z.object({ n: z.number().int() }));
    const seen: string[] = [];
    let inFlight = 0;
    let most = 0;
    const perSubject = new Map<string, number>();
    let mostPerSubject = 0;
    const slow = createQueueHandler([
      on(Slow, `test-slow-${crypto.randomUUID()}`, async (event) => {
        const subject = event.subject!;
        inFlight++;
        perSubject.set(subject, (perSubject.get(subject) ?? 0) + 1);
        most = Math.max(most, inFlight);
        mostPerSubject = Math.max(mostPerSubject, perSubject.get(subject)!);
        await new Promise((r) => setTimeout(r, 20));
        seen.push(`${subject}:${event.data.n}`);
        perSubject.set(subject, perSubject.get(subject)! - 1);
        inFlight--;
      }),
    ]);
    const subjects = ['ord_a', 'ord_b', 'ord_c', 'ord_d', 'ord_e', 'ord_f'];
    const batch = [1, 2, 3].flatMap((n) => subjects.map((subject) => message(Slow.create({ n }, { correlationId: `req_${crypto.randomUUID()}`, source: 'test', subject }))));
    const result = await run(EVENTS_QUEUE, batch, slow);
    expect(result.explicitAcks).toHaveLength(batch.length);
    expect(most).toBe(BATCH_CONCURRENCY);
    expect(mostPerSubject).toBe(1);
    for (const subject of subjects) expect(seen.filter((x) => x.startsWith(`${subject}:`))).toEqual([1, 2, 3].map((n) => `${subject}:${n}`));
  });

  it('deals a batch into lanes: one aggregate (or one event id) per lane, at most the lanes asked for', () => {
    const m = (id: string, body: unknown) => ({ id, body });
    const lanes = inLanes([m('1', { subject: 'a' }), m('2', { subject: 'b' }), m('3', { subject: 'a' }), m('4', { id: 'evt_x' }), m('5', { id: 'evt_x' }), m('6', 'not an envelope'), m('7', null)], 3);
    expect(lanes.map((l) => l.map((x) => x.id))).toEqual([['1', '3', '6'], ['2', '7'], ['4', '5']]);
    expect(inLanes([m('1', { subject: 'a' }), m('2', { subject: 'a' })], 4).map((l) => l.map((x) => x.id))).toEqual([['1', '2']]);
    expect(inLanes([], 4)).toEqual([[]]);
  });

  it('dead-letters a malformed message at once and acks it (through the Worker)', async () => {
    const body = { id: `evt_bogus_${crypto.randomUUID()}`, type: 'test.pinged', version: 1, data: { n: 1 } };
    const m = message(body);
    const result = await run(EVENTS_QUEUE, [m], worker.queue);
    expect(result.explicitAcks).toEqual([m.id]);
    expect(result.retryMessages).toEqual([]);
    const [row] = await rows<{ queue: string; type: string; status: string; error: string; attempts: number; body: unknown }>(
      sql`select queue, type, status, error, attempts, body from dead_letters where event_id = ${body.id}`,
    );
    expect(row).toMatchObject({ queue: EVENTS_QUEUE, type: 'test.pinged', status: 'open', attempts: 1, body });
    expect(row!.error).toMatch(/^invalid_envelope: .*occurredAt/);
  });

  it('dead-letters an unknown type and data that does not match its schema', async () => {
    const unknown = { ...ping(1), type: 'test.never_defined' };
    const badData = { ...ping(1), data: { n: 'one' } };
    const bodyless = message('not json at all');
    const result = await run(EVENTS_QUEUE, [message(unknown), message(badData), bodyless], worker.queue);
    expect(result.explicitAcks).toHaveLength(3);
    const found = await rows<{ event_id: string; error: string }>(
      sql`select event_id, error from dead_letters where event_id in (${unknown.id}, ${badData.id}, ${`msg:${bodyless.id}`}) order by error`,
    );
    expect(found.map((r) => r.error.split(':')[0])).toEqual(['invalid_data', 'invalid_envelope', 'unknown_type']);
  });

  it('acks a known event that has no consumer (user.erased) without dead-lettering it', async () => {
    const e = UserErased.create({ userId: 'usr_nobody' }, { correlationId: 'req_t', source: 'auth' });
    const m = message(e);
    const result = await run(EVENTS_QUEUE, [m], worker.queue);
    expect(result.explicitAcks).toEqual([m.id]);
    expect(await rows(sql`select 1 from dead_letters where event_id = ${e.id}`)).toEqual([]);
  });

  it('backs off exponentially with jitter, capped', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelaySeconds(a, () => 0.5))).toEqual([2, 4, 8, 16, 32]);
    expect(retryDelaySeconds(1, () => 0)).toBe(2); // 1.6 rounds to 2
    expect(retryDelaySeconds(3, () => 0.999)).toBe(10);
    expect(retryDelaySeconds(40, () => 0.999)).toBe(900);
    expect(retryDelaySeconds(0, () => 0.5)).toBe(2);
  });
});

describe('dead-letter queue consumer', () => {
  it('records each message into dead_letters, once per event id', async () => {
    const e = ping(404);
    const first = message(e);
    const result = await run(EVENTS_DLQ, [first], worker.queue);
    expect(result.explicitAcks).toEqual([first.id]);
    const again = await run(EVENTS_DLQ, [message(e)], worker.queue);
    expect(again.explicitAcks).toHaveLength(1);
    const found = await rows<{ queue: string; type: string; status: string; attempts: number; error: string }>(
      sql`select queue, type, status, attempts, error from dead_letters where event_id = ${e.id}`,
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ queue: EVENTS_QUEUE, type: 'test.pinged', status: 'open', attempts: EVENTS_MAX_RETRIES + 1 });
    expect(found[0]!.error).toMatch(new RegExp(`delivery failed ${EVENTS_MAX_RETRIES + 1} times`));
  });

  it('reopens an event that was redriven and failed again', async () => {
    const e = ping(505);
    await run(EVENTS_DLQ, [message(e)], worker.queue);
    await rows(sql`update dead_letters set status = 'redriven', redriven_at = now() where event_id = ${e.id}`);
    await run(EVENTS_DLQ, [message(e)], worker.queue);
    expect(await rows(sql`select status from dead_letters where event_id = ${e.id}`)).toEqual([{ status: 'open' }]);
  });

  it('retries the whole message when it cannot be recorded on an unknown queue', async () => {
    const m = message(ping(1));
    const result = await run('some-other-queue', [m], worker.queue);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((r) => r.msgId)).toEqual([m.id]);
  });
});
