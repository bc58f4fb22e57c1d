import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readConfig } from '../../shared/env';
import { parseEnvelope } from '../../shared/events';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { call, json } from '../../test/support/http';
import { eventually, stockedProduct } from '../../test/support/orders';
import { OUTBOX_RELAY_DELAY_MS } from '../auth/service/outbox';
import worker from './index';
import { buildServices } from './services';

/**
 * The first real use of the event bus: identity publishes user.erased after an erasure commits.
 * The envelope is written to the Postgres outbox (`event_outbox`) in the erasure's transaction,
 * so an event the queue refuses is published again by the cron (docs/security.md, "Personal data").
 */
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const erase = (token: string, password: string) =>
  call('/v1/me', {
    method: 'DELETE',
    headers: { ...bearer(token), 'content-type': 'application/json', 'x-request-id': `req-erase-${crypto.randomUUID()}` },
    body: JSON.stringify({ password }),
  });

type Body = { id?: string; type?: string; data?: { userId?: string } };
/** The user.erased envelopes about `userId` that reached sendBatch (accepted or refused). */
const erasuresOf = (sent: { mock: { calls: unknown[][] } }, userId: string) =>
  sent.mock.calls
    .flatMap((call) => [...(call[0] as Iterable<{ body: Body }>)])
    .map((m) => m.body)
    .filter((b) => b?.type === 'user.erased' && b.data?.userId === userId);

type OutboxRow = { event_id: string; type: string; attempts: number; sent: boolean; last_error: string | null };
const outboxOf = (userId: string) =>
  rows<OutboxRow>(
    sql`select event_id, type, attempts::int as attempts, sent_at is not null as sent, last_error from event_outbox where type = 'user.erased' and envelope->'data'->>'userId' = ${userId}`,
  );

/** The Worker's cron, as Cloudflare runs it; `at` (ms) fakes the time its steps see. */
async function runCron(at?: number) {
  if (at !== undefined) vi.useFakeTimers({ toFake: ['Date'], now: at });
  try {
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
  } finally {
    vi.useRealTimers();
  }
}

/**
 * sendBatch refuses the batches that carry this user's user.erased while `down` is true (the other
 * events, the Durable Objects' among them, go through); every call is recorded.
 */
function queueFor(userId: string) {
  const send = env.EVENTS.sendBatch.bind(env.EVENTS);
  const state = { down: true };
  const spy = vi.spyOn(env.EVENTS, 'sendBatch').mockImplementation(async (messages, options) => {
    const list = [...messages];
    if (state.down && list.some((m) => (m.body as Body)?.type === 'user.erased' && (m.body as Body).data?.userId === userId)) throw new Error('queue down');
    return send(list, options);
  });
  return { spy, state };
}

describe('DELETE /v1/me publishes user.erased', () => {
  it('sends one valid user.erased@1 envelope carrying the request id', async () => {
    const s = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    const res = await erase(s.accessToken, s.password);
    expect(res.status).toBe(204);
    expect(sent).toHaveBeenCalledTimes(1);
    const [message] = [...sent.mock.calls[0]![0]];
    expect(message!.contentType).toBe('json');
    const parsed = parseEnvelope(message!.body);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.event).toMatchObject({ type: 'user.erased', version: 1, source: 'auth', subject: s.user.id, data: { userId: s.user.id } });
    expect(parsed.event.correlationId).toBe(res.headers.get('x-request-id'));
  });

  it('still erases (204) when the queue refuses, keeps the event unsent in the outbox, and publishes nothing for a wrong password', async () => {
    const s = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    expect((await erase(s.accessToken, 'not my password at all')).status).toBe(403);
    expect(sent).not.toHaveBeenCalled();
    expect(await outboxOf(s.user.id)).toEqual([]);
    sent.mockRejectedValue(new Error('queue down'));
    expect((await erase(s.accessToken, s.password)).status).toBe(204);
    expect(sent).toHaveBeenCalledTimes(1);
    const [refused] = erasuresOf(sent, s.user.id);
    expect(await outboxOf(s.user.id)).toEqual([{ event_id: refused!.id, type: 'user.erased', attempts: 1, sent: false, last_error: 'queue down' }]);
  });

  it('a user.erased the queue refused is published by the cron later, with the same event id: the cart and the wishlist are erased', async () => {
    const p = await stockedProduct(3, 900);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    expect((await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h))).res.status).toBe(201);
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, h))).body.id as string;
    expect((await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, h))).res.status).toBe(201);
    const carts = buildServices(env, readConfig(env), () => undefined).cart;
    const wishlistRows = () => rows(sql`select 1 as one from wishlist_items where user_id = ${c.user.id}`);

    const queue = queueFor(c.user.id);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    const [refused] = erasuresOf(queue.spy, c.user.id);
    expect(refused?.id).toMatch(/^evt_/);
    // Lost: no consumer has it, so the cart and the wishlist are still there.
    expect(await wishlistRows()).toHaveLength(1);
    expect((await carts.activeCartOf(c.user.id))?.id).toBe(cartId);

    // The queue is back. The cron leaves an event alone for a short while (the request that wrote
    // it is publishing it), then publishes it again under the same id.
    queue.state.down = false;
    queue.spy.mockClear();
    await runCron(Date.now() + OUTBOX_RELAY_DELAY_MS + 5_000);
    expect(erasuresOf(queue.spy, c.user.id).map((b) => b.id)).toEqual([refused!.id]);
    expect(await eventually(wishlistRows, (r) => r.length === 0)).toEqual([]);
    expect(await eventually(() => carts.activeCartOf(c.user.id), (x) => x === null)).toBeNull();
    expect(await outboxOf(c.user.id)).toEqual([{ event_id: refused!.id, type: 'user.erased', attempts: 2, sent: true, last_error: null }]);

    // Sent: even once due again, the cron does not publish it a second time.
    await rows(sql`update event_outbox set next_attempt_at = now() - interval '1 hour' where event_id = ${refused!.id}`);
    queue.spy.mockClear();
    await runCron();
    expect(erasuresOf(queue.spy, c.user.id)).toEqual([]);
  });

  it('an erasure the queue took is marked sent at once and the cron never publishes it again', async () => {
    const c = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    const [published] = erasuresOf(sent, c.user.id);
    expect(await outboxOf(c.user.id)).toEqual([{ event_id: published!.id, type: 'user.erased', attempts: 1, sent: true, last_error: null }]);
    await rows(sql`update event_outbox set next_attempt_at = now() - interval '1 hour' where event_id = ${published!.id}`);
    sent.mockClear();
    await runCron();
    expect(erasuresOf(sent, c.user.id)).toEqual([]);
  });
});
