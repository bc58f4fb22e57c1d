/**
 * GDPR across the contexts (docs/security.md, "Personal data"): the export holds the cart, the
 * wishlist and the orders (shipping addresses included), and an erasure makes the orders forget
 * their shipping address once they no longer need it, also an order projected after the erasure.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { call, json } from '../../test/support/http';
import { admin, deliverWebhooks, emulator, eventually, paymentIntentOf, stockedProduct } from '../../test/support/orders';
import worker from './index';
import { ORDER_EVENTS_QUEUE } from './queues';
import { rows } from '../../test/support/db';

afterEach(() => vi.restoreAllMocks());

const ADDRESS = { name: 'Asha Rao', line1: '12 MG Road', city: 'Bengaluru', postalCode: '560001', country: 'IN', phone: '+919876543210' };

const place = (body: unknown, token: string) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));

const erase = (token: string, password: string) =>
  call('/v1/me', { method: 'DELETE', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify({ password }) });

/** The order as an admin sees it (the customer's tokens end with the erasure). */
async function asAdmin(orderId: string) {
  return (await json(`/v1/orders/${orderId}`, { headers: await admin() })).body as { status: string; shippingAddress: Record<string, string> | null };
}

/** Until the customer's own listing (the Postgres projection) shows these orders. */
async function projected(token: string, ids: string[]) {
  await eventually(
    async () => (await json('/v1/orders?limit=50', { headers: bearer(token) })).body.items.map((o: { orderId: string }) => o.orderId) as string[],
    (listed) => ids.every((id) => listed.includes(id)),
  );
}

describe('GET /v1/me/export: the other contexts', () => {
  it('holds my active cart, my wishlist and my orders with their shipping address', async () => {
    const p = await stockedProduct(5, 1800);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    expect((await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h))).res.status).toBe(201);
    const order = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD', shippingAddress: ADDRESS }, c.accessToken);
    expect(order.res.status, JSON.stringify(order.body)).toBe(201);
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, h))).body.id as string;
    expect((await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, h))).res.status).toBe(201);
    await projected(c.accessToken, [order.body.orderId]);

    const { res, body } = await json('/v1/me/export', { headers: h });
    expect(res.status).toBe(200);
    expect(body.cart).toMatchObject({ id: cartId, lines: [{ productId: p.productId, quantity: 2 }] });
    expect(body.wishlist.map((w: { productId: string }) => w.productId)).toEqual([p.productId]);
    expect(body.orders).toHaveLength(1);
    expect(body.orders[0]).toMatchObject({ orderId: order.body.orderId, status: 'PENDING', shippingAddress: ADDRESS });
  });

  it('has an empty cart, wishlist and order list for a new account, and opens no cart', async () => {
    const c = await newCustomer();
    const { body } = await json('/v1/me/export', { headers: bearer(c.accessToken) });
    expect({ cart: body.cart, wishlist: body.wishlist, orders: body.orders }).toEqual({ cart: null, wishlist: [], orders: [] });
    expect((await json('/v1/me/export', { headers: bearer(c.accessToken) })).body.cart).toBeNull();
  });
});

describe('DELETE /v1/me: orders forget the shipping address', () => {
  it('at once for an order that is done, and when it is done for one that still ships', async () => {
    const p = await stockedProduct(5, 2100);
    const c = await newCustomer();
    const cancelled = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD', shippingAddress: ADDRESS }, c.accessToken);
    expect((await json(`/v1/orders/${cancelled.body.orderId}/cancel`, jsonInit('POST', {}, bearer(c.accessToken)))).body.status).toBe('CANCELLED');
    const paid = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD', shippingAddress: ADDRESS }, c.accessToken);
    const pi = paymentIntentOf(paid.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);
    expect((await asAdmin(paid.body.orderId)).status).toBe('PAID');
    await projected(c.accessToken, [cancelled.body.orderId, paid.body.orderId]);

    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    // The user.erased consumer runs from the queue.
    await eventually(() => asAdmin(cancelled.body.orderId), (o) => JSON.stringify(o.shippingAddress) === JSON.stringify({ country: 'IN' }));
    // The paid order has yet to ship: it keeps the address until it no longer needs it.
    expect((await asAdmin(paid.body.orderId)).shippingAddress).toEqual(ADDRESS);
    const cancelledByAdmin = await json(`/v1/orders/${paid.body.orderId}/cancel`, jsonInit('POST', { reason: 'customer left' }, await admin()));
    expect(cancelledByAdmin.body.status, JSON.stringify(cancelledByAdmin.body)).toBe('CANCELLED');
    expect(cancelledByAdmin.body.shippingAddress).toEqual({ country: 'IN' });
  });

  it('an order the projection had not seen when the erasure ran forgets it when it is projected', async () => {
    const p = await stockedProduct(5, 2300);
    const c = await newCustomer();
    // Hold the order's events back from the queue (the object thinks they are sent).
    const held: unknown[] = [];
    const send = vi.spyOn(env.ORDER_EVENTS, 'sendBatch').mockImplementation(async (messages) => {
      for (const m of messages) held.push(m.body);
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } } as unknown as QueueSendBatchResponse;
    });
    const order = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD', shippingAddress: ADDRESS }, c.accessToken);
    expect((await json(`/v1/orders/${order.body.orderId}/cancel`, jsonInit('POST', {}, bearer(c.accessToken)))).body.status).toBe('CANCELLED');
    await eventually(async () => held.length, (n) => n >= 2);
    send.mockRestore();

    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    // The user.erased consumer runs from the queue: it remembers the customer and finds no projected order.
    await eventually(() => rows(sql`select 1 as one from erased_customers where user_id = ${c.user.id}`), (r) => r.length === 1);
    expect((await asAdmin(order.body.orderId)).shippingAddress).toEqual(ADDRESS);

    // Now the held events reach the projection: its first row for the order finds the customer erased.
    const batch = createMessageBatch(ORDER_EVENTS_QUEUE, held.map((body, i) => ({ id: `held-${i}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts: 1, body })));
    const ctx = createExecutionContext();
    await worker.queue!(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(held.length);
    expect((await asAdmin(order.body.orderId)).shippingAddress).toEqual({ country: 'IN' });
  });
});
