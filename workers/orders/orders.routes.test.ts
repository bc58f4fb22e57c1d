/**
 * The checkout saga through the real Worker: order objects, inventory objects, the payments
 * strategies (stripe SDK) against the Stripe emulator, its signed webhooks, the order-events
 * queue and the Postgres projection.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);

const place = (body: unknown, token: string, key: string = crypto.randomUUID()) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key }));

/** A customer's CARD order of `quantity` units of a fresh product, paid at the emulator and its webhooks delivered. */
async function paidCardOrder(quantity: number, unitPrice: number) {
  const p = await stockedProduct(quantity, unitPrice);
  const customer = await newCustomer();
  const placed = await place({ items: [{ productId: p.productId, quantity }], paymentMethod: 'CARD' }, customer.accessToken);
  const pi = paymentIntentOf(placed.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  return { placed, customer };
}

describe('orders: placing', () => {
  it("takes the original design's body, reserves stock and answers PENDING with Stripe's client secret", async () => {
    const p = await stockedProduct(5);
    const customer = await newCustomer();
    const r = await place({ userId: customer.user.id, items: [{ productId: p.productId, qty: 2 }], paymentMethod: 'CARD' }, customer.accessToken);
    expect(r.res.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ status: 'PENDING', total: { amount: 2 * p.price }, payment: { method: 'CARD', status: 'requires_action' } });
    expect(r.body.orderId).toMatch(/^ord_[0-9a-z]{26}$/);
    expect(r.body.payment.clientAction.type).toBe('stripe_client_secret');
    expect(await available(p.sku)).toBe(3);
    const got = await json(`/v1/orders/${r.body.orderId}`, { headers: bearer(customer.accessToken) });
    expect(got.body.status).toBe('PENDING');
  });

  it('answers the same order for the same Idempotency-Key and body, and 422 for another body', async () => {
    const p = await stockedProduct(5);
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' };
    const first = await place(body, c.accessToken, key);
    const again = await place(body, c.accessToken, key);
    expect(first.res.status).toBe(201);
    expect(first.res.headers.get('idempotent-replayed')).toBeNull();
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.orderId).toBe(first.body.orderId);
    expect(await available(p.sku)).toBe(4);
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { ...body, items: [{ productId: p.productId, quantity: 2 }] }, { ...bearer(c.accessToken), 'idempotency-key': key }));
    expect(await available(p.sku)).toBe(4);
  });

  it('the same Idempotency-Key and body sent three times at once place one order, reserve once, ask one payment', async () => {
    const p = await stockedProduct(5);
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'CARD' };
    const answers = await Promise.all([0, 1, 2].map(() => place(body, c.accessToken, key)));
    const statuses = answers.map((a) => a.res.status);
    expect(statuses.every((st) => st === 201 || st === 409), JSON.stringify(answers.map((a) => [a.res.status, a.body]))).toBe(true);
    const placed = answers.filter((a) => a.res.status < 300);
    // One answer placed the order; any other 201 is a replay of it, marked as such.
    const replayed = placed.map((a) => a.res.headers.get('idempotent-replayed'));
    expect(replayed.filter((v) => v === null), JSON.stringify(answers.map((a) => [a.res.status, a.body]))).toHaveLength(1);
    expect(replayed.filter((v) => v === 'true')).toHaveLength(placed.length - 1);
    expect(new Set(placed.map((a) => a.body.orderId)).size).toBe(1);
    expect(new Set(placed.map((a) => paymentIntentOf(a.body))).size).toBe(1);
    expect(await available(p.sku)).toBe(3);
  });

  it('refuses what cannot be sold with a clear 4xx, holding nothing', async () => {
    const p = await stockedProduct(2);
    const c = await newCustomer();
    const other = await newCustomer();
    await problem('/v1/orders', 409, 'OUT_OF_STOCK', jsonInit('POST', { items: [{ productId: p.productId, quantity: 3 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    expect(await available(p.sku)).toBe(2);
    await problem('/v1/orders', 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', { items: [{ productId: 'prd_nope', quantity: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    await problem('/v1/orders', 422, 'VARIANT_NOT_FOUND', jsonInit('POST', { items: [{ productId: p.productId, variantId: 'var_nope', quantity: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    await problem('/v1/orders', 403, 'FORBIDDEN', jsonInit('POST', { userId: other.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    await problem('/v1/orders', 422, 'PAYMENT_METHOD_NOT_ALLOWED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'POS_CASH' }, bearer(c.accessToken)));
    await problem('/v1/orders', 400, 'VALIDATION_FAILED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1, qty: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    await problem('/v1/orders', 400, 'VALIDATION_FAILED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'BITCOIN' }, bearer(c.accessToken)));
    await problem('/v1/orders', 400, 'VALIDATION_FAILED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1, price: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)));
    await problem('/v1/orders', 401, 'UNAUTHENTICATED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }));
    expect(await available(p.sku)).toBe(2);
  });
});

describe('orders: paying', () => {
  it('a successful card payment (webhook) makes it PAID once, commits the stock, and the projection follows', async () => {
    const p = await stockedProduct(4);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'CARD' }, c.accessToken);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    const types = await deliverWebhooks(pi, 2); // delivered twice: one effect
    expect(types).toContain('payment_intent.succeeded');
    const paid = await json(`/v1/orders/${placed.body.orderId}`, { headers: bearer(c.accessToken) });
    expect(paid.body).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: 2 * p.price }, clientAction: null } });
    const inv = (await json(`/v1/inventory/${p.sku}`)).body;
    expect(inv.available).toBe(2);
    const listed = await eventually(
      () => json('/v1/orders', { headers: bearer(c.accessToken) }),
      (r) => r.body.items?.[0]?.status === 'PAID',
    );
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({ orderId: placed.body.orderId, status: 'PAID' });
  });

  it('a declined card: PAYMENT_FAILED and the stock comes back', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 3 }], paymentMethod: 'CARD' }, c.accessToken);
    expect(await available(p.sku)).toBe(0);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
    await deliverWebhooks(pi);
    const failed = await json(`/v1/orders/${placed.body.orderId}`, { headers: bearer(c.accessToken) });
    expect(failed.body.status).toBe('PAYMENT_FAILED');
    expect(await available(p.sku)).toBe(3);
  });
});

describe('orders: cancel, refund, fulfil, track', () => {
  it('cancelling an unpaid order releases its stock; a paid one is refunded in full', async () => {
    const p = await stockedProduct(4);
    const c = await newCustomer();
    const unpaid = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, c.accessToken);
    const cancelled = await json(`/v1/orders/${unpaid.body.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(c.accessToken)));
    expect(cancelled.res.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'changed my mind' });
    expect(await available(p.sku)).toBe(4);

    const paid = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'CARD' }, c.accessToken);
    const pi = paymentIntentOf(paid.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);
    expect(await available(p.sku)).toBe(2);
    const back = await json(`/v1/orders/${paid.body.orderId}/cancel`, jsonInit('POST', {}, bearer(c.accessToken)));
    expect(back.body.status).toBe('CANCELLED');
    expect(back.body.refunds).toHaveLength(1);
    expect(back.body.refunds[0]).toMatchObject({ amount: { amount: 2 * p.price } });
    expect(back.body.allocations).toEqual([{ sku: p.sku, warehouseId: p.warehouseId, quantity: 2 }]);
    expect(['pending', 'succeeded']).toContain(back.body.refunds[0].status);
    expect(await available(p.sku)).toBe(4);
    // Nobody else may cancel it, and a cancelled order stays cancelled.
    const stranger = await newCustomer();
    await problem(`/v1/orders/${paid.body.orderId}/cancel`, 404, 'NOT_FOUND', jsonInit('POST', {}, bearer(stranger.accessToken)));
  });

  it('admins refund partially, then the rest; never more than was captured; each is audited', async () => {
    const { placed, customer: c } = await paidCardOrder(2, 1000);
    const h = await admin();
    const url = `/v1/admin/orders/${placed.body.orderId}/refunds`;
    const key = crypto.randomUUID();
    const part = await json(url, jsonInit('POST', { amount: 500, reason: 'scratched' }, { ...h, 'idempotency-key': key }));
    expect(part.res.status, JSON.stringify(part.body)).toBe(201);
    expect(part.res.headers.get('idempotent-replayed')).toBeNull();
    const replay = await json(url, jsonInit('POST', { amount: 500, reason: 'scratched' }, { ...h, 'idempotency-key': key }));
    expect(replay.res.status).toBe(201);
    expect(replay.res.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.refunds).toHaveLength(1);
    await problem(url, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 1501, reason: 'too much' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    await problem(url, 403, 'FORBIDDEN', jsonInit('POST', { amount: 1, reason: 'me' }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
    const rest = await json(url, jsonInit('POST', { amount: 1500, reason: 'returned' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(rest.res.status).toBe(201);
    const final = await eventually(
      () => json(`/v1/orders/${placed.body.orderId}`, { headers: h }),
      (r) => r.body.status === 'REFUNDED',
    );
    expect(final.body.status).toBe('REFUNDED');
    const audit = await eventually(
      () => json(`/v1/admin/audit-log?targetId=${placed.body.orderId}&limit=50`, { headers: h }),
      (r) => (r.body.items ?? []).filter((e: { action: string }) => e.action === 'order.refund.requested').length === 2,
    );
    const actions = audit.body.items.map((e: { action: string }) => e.action);
    expect(actions).toContain('order.payment.captured');
    expect(actions.filter((a: string) => a === 'order.refund.requested')).toHaveLength(2);
  });

  it('two refunds at once (two keys) never add up to more than was captured', async () => {
    const { placed } = await paidCardOrder(2, 1000);
    const h = await admin();
    const url = `/v1/admin/orders/${placed.body.orderId}/refunds`;
    const send = () => json(url, jsonInit('POST', { amount: 1200, reason: 'double click' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    const [a, b] = await Promise.all([send(), send()]);
    expect([a.res.status, b.res.status].sort(), JSON.stringify([a.body, b.body])).toEqual([201, 422]);
    expect((a.res.status === 422 ? a : b).body.code).toBe('REFUND_EXCEEDS_CAPTURED');
    const order = await json(`/v1/orders/${placed.body.orderId}`, { headers: h });
    expect(order.body.refunds).toHaveLength(1);
  });

  it('staff ship from their warehouse (split shipments), a carrier update is tracked, delivery completes it', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 3 }], paymentMethod: 'CARD' }, c.accessToken);
    const orderId = placed.body.orderId as string;
    const { token, warehouseId } = await staffSession();
    const ship = (items: unknown, key = crypto.randomUUID(), tn = `TRK-${crypto.randomUUID().slice(0, 8)}`) =>
      json(`/v1/orders/${orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: tn, items }, { ...bearer(token), 'idempotency-key': key }));
    await problem(`/v1/orders/${orderId}/fulfillments`, 409, 'ORDER_NOT_SHIPPABLE', jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: 'T1', items: [{ itemId: 'itm_1', quantity: 1 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);

    const first = await ship([{ itemId: 'itm_1', quantity: 1 }]);
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.status).toBe('PARTIALLY_SHIPPED');
    await problem(`/v1/orders/${orderId}/fulfillments`, 422, 'SHIPMENT_EXCEEDS_ORDER', jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: 'T2', items: [{ itemId: 'itm_1', quantity: 3 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    await problem(`/v1/orders/${orderId}/fulfillments`, 403, 'FORBIDDEN', jsonInit('POST', { warehouseId: 'wh_00000000000000000000000000', carrier: 'acme', trackingNumber: 'T2', items: [{ itemId: 'itm_1', quantity: 1 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    await problem(`/v1/orders/${orderId}/fulfillments`, 403, 'FORBIDDEN', jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: 'T2', items: [{ itemId: 'itm_1', quantity: 1 }] }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
    const tn = `TRK-${crypto.randomUUID().slice(0, 8)}`;
    const second = await ship([{ itemId: 'itm_1', quantity: 2 }], crypto.randomUUID(), tn);
    expect(second.body.status).toBe('SHIPPED');
    // Cancelling a shipped order is refused.
    await problem(`/v1/orders/${orderId}/cancel`, 409, 'ORDER_NOT_CANCELLABLE', jsonInit('POST', {}, bearer(c.accessToken)));

    // The carrier webhook finds parcels through the projection: wait until it has both shipments.
    const ah = await admin();
    await eventually(() => json(`/v1/admin/orders?userId=${c.user.id}`, { headers: ah }), (r) => r.body.items?.[0]?.status === 'SHIPPED');
    const carrierPost = async (update: Record<string, unknown>, secret = config.CARRIER_WEBHOOK_SECRET!) => {
      const raw = JSON.stringify(update);
      const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const sig = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(raw)))].map((b) => b.toString(16).padStart(2, '0')).join('');
      return call('/v1/shipping/webhooks/acme', { method: 'POST', headers: { 'content-type': 'application/json', 'x-carrier-signature': sig }, body: raw });
    };
    const bad = await carrierPost({ eventId: 'e0', trackingNumber: tn, status: 'delivered', occurredAt: new Date().toISOString() }, 'another-secret-0123456789');
    expect(bad.status).toBe(400);
    // Signed but carrying U+0000: refused before anything is recorded (the parcel is still in transit below).
    const nul = await carrierPost({ eventId: 'e-nul', trackingNumber: tn, status: 'delivered', description: 'left\u0000at the door', occurredAt: new Date().toISOString() });
    expect(nul.status).toBe(400);
    expect(((await nul.json()) as { errors: unknown }).errors).toEqual([{ path: 'body', message: 'must not contain the NUL character (U+0000)' }]);
    for (const sh of [first.body.shipments[0], second.body.shipments[1]]) {
      const res = await carrierPost({ eventId: `d-${sh.trackingNumber}`, trackingNumber: sh.trackingNumber, status: 'delivered', description: 'left at the door', location: 'Amsterdam', occurredAt: new Date().toISOString() });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    const tracking = await json(`/v1/orders/${orderId}/tracking`, { headers: bearer(c.accessToken) });
    expect(tracking.body.status).toBe('DELIVERED');
    expect(tracking.body.timeline.map((t: { status: string }) => t.status)).toEqual(expect.arrayContaining(['PENDING', 'PAID', 'PARTIALLY_SHIPPED', 'SHIPPED', 'delivered', 'DELIVERED']));
  });

  it("keeps orders private: another customer gets 404, the owner's list has only theirs", async () => {
    const p = await stockedProduct(1);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, c.accessToken);
    expect(placed.body).toMatchObject({ status: 'PENDING', payment: { status: 'due_on_delivery' }, paymentDueAt: null });
    const stranger = await newCustomer();
    await problem(`/v1/orders/${placed.body.orderId}`, 404, 'NOT_FOUND', { headers: bearer(stranger.accessToken) });
    await problem(`/v1/orders/${placed.body.orderId}/tracking`, 404, 'NOT_FOUND', { headers: bearer(stranger.accessToken) });
    expect((await json('/v1/orders', { headers: bearer(stranger.accessToken) })).body.items).toEqual([]);
    await problem('/v1/orders/not-an-order', 400, 'VALIDATION_FAILED', { headers: bearer(c.accessToken) });
    await problem('/v1/admin/orders', 403, 'FORBIDDEN', { headers: bearer(c.accessToken) });
    // A cancel may come without a body; a body with unknown fields is refused.
    await problem(`/v1/orders/${placed.body.orderId}/cancel`, 400, 'VALIDATION_FAILED', jsonInit('POST', { reason: 'x', refund: 99 }, bearer(c.accessToken)));
    const cancelled = await json(`/v1/orders/${placed.body.orderId}/cancel`, { method: 'POST', headers: bearer(c.accessToken) });
    expect(cancelled.res.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect(await available(p.sku)).toBe(1);
  });
});

describe('orders: from a cart, and at the till', () => {
  it("orders a cart's content at catalog prices, closes the cart, and a retry answers the same order", async () => {
    const p = await stockedProduct(5, 1234);
    const c = await newCustomer();
    const cart = await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)));
    expect(cart.res.status, JSON.stringify(cart.body)).toBeLessThan(300);
    const cartId = cart.body.id as string;
    const added = await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, bearer(c.accessToken)));
    expect(added.res.status, JSON.stringify(added.body)).toBe(201);
    const key = crypto.randomUUID();
    const placed = await place({ cartId, paymentMethod: 'CARD' }, c.accessToken, key);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.res.headers.get('idempotent-replayed')).toBeNull();
    expect(placed.body).toMatchObject({ status: 'PENDING', total: { amount: 2468 }, items: [{ sku: p.sku, quantity: 2 }] });
    expect(await available(p.sku)).toBe(3);
    const closed = await json(`/v1/carts/${cartId}`, { headers: bearer(c.accessToken) });
    expect(closed.body.status ?? closed.body.code).toMatch(/checked_out|CART_CHECKED_OUT/);
    await problem(`/v1/carts/${cartId}/items`, 409, 'CART_CHECKED_OUT', jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, bearer(c.accessToken)));
    const again = await place({ cartId, paymentMethod: 'CARD' }, c.accessToken, key);
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.orderId).toBe(placed.body.orderId);
    // Another customer cannot order this cart.
    const thief = await newCustomer();
    const stolen = await json('/v1/orders', jsonInit('POST', { cartId, paymentMethod: 'CARD' }, bearer(thief.accessToken)));
    expect([403, 404, 409]).toContain(stolen.res.status);
    expect(await available(p.sku)).toBe(3);
  });

  it('two orders of one cart at once (a double submit, two keys): one is placed, the other refused, holding no stock', async () => {
    const p = await stockedProduct(6, 1500);
    const c = await newCustomer();
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)))).body.id as string;
    const added = await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, bearer(c.accessToken)));
    expect(added.res.status, JSON.stringify(added.body)).toBe(201);
    const [a, b] = await Promise.all([place({ cartId, paymentMethod: 'CARD' }, c.accessToken), place({ cartId, paymentMethod: 'CARD' }, c.accessToken)]);
    const statuses = [a.res.status, b.res.status].sort();
    expect(statuses, JSON.stringify([a.body, b.body])).toEqual([201, 409]);
    const lost = a.res.status === 409 ? a : b;
    expect(lost.body.code).toMatch(/^CART_(CHECKED_OUT|VERSION_MISMATCH)$/);
    // Only the placed order holds units: the refused one's object gave its reservation back.
    expect(await available(p.sku)).toBe(4);
    const won = a.res.status === 201 ? a : b;
    expect((await json(`/v1/carts/${cartId}`, { headers: bearer(c.accessToken) })).body).toMatchObject({ status: 'checked_out', orderId: won.body.orderId });
  });

  it('a POS agent sells for a customer, paid at the till: PAID at once, stock committed', async () => {
    const p = await stockedProduct(2);
    const c = await newCustomer();
    const pos = await login('pos@agora.dev');
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, pos.accessToken);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PAID', channel: 'pos', payment: { status: 'captured', amountCaptured: { amount: p.price } } });
    expect(await available(p.sku)).toBe(1);
    const mine = await json(`/v1/orders/${placed.body.orderId}`, { headers: bearer(c.accessToken) });
    expect(mine.body.status).toBe('PAID');
  });
});

describe('orders: UPI through Razorpay', () => {
  it('answers the Razorpay order for Checkout; the signed webhooks make it PAID once', async () => {
    const RAZORPAY = readConfig(env).RAZORPAY_API_BASE!;
    const p = await stockedProduct(2);
    // UPI takes rupees only (the store's currency is USD: the API cannot price in INR, the database can).
    await rows(sql`update product_variants set currency = 'INR' where product_id = ${p.productId}`);
    await rows(sql`update products set currency = 'INR' where id = ${p.productId}`);
    const bump = await json(`/v1/admin/products/${p.productId}`, jsonInit('PATCH', { description: 'priced in rupees' }, await admin()));
    expect(bump.body.variants[0].price).toEqual({ amount: p.price, currency: 'INR' });
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'UPI' }, c.accessToken);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body.payment.clientAction).toMatchObject({ type: 'razorpay_order', keyId: expect.any(String) });
    const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
    const pay = await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, { method: 'POST', body: JSON.stringify({ method: 'upi', outcome: 'captured' }) });
    expect(pay.status).toBe(200);
    const { deliveries } = (await (await fetch(`${RAZORPAY}/_emulator/webhooks?match=${rzpOrder}`)).json()) as { deliveries: Array<{ type: string; headers: Record<string, string>; body: string }> };
    expect(deliveries.map((d) => d.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid']);
    for (const d of [...deliveries, ...deliveries]) {
      const res = await call('/v1/payments/webhooks/razorpay', { method: 'POST', headers: d.headers, body: d.body });
      expect(res.status).toBe(200);
    }
    const order = await json(`/v1/orders/${placed.body.orderId}`, { headers: bearer(c.accessToken) });
    expect(order.body).toMatchObject({ status: 'PAID', payment: { method: 'UPI', status: 'captured', amountCaptured: { amount: p.price } } });
    expect(order.body.version).toBe(2); // placed (1), paid (2): the duplicates changed nothing
    expect(await available(p.sku)).toBe(1);
  });
});
