/**
 * Probe (issue 7): orders placed by POS agents (a person, and a till signed in with OAuth2 client
 * credentials) and by integrations (scopes orders:write / orders:read), for a customer; and the
 * payment methods other than card: paid at the till (POS_CASH, POS_CARD_PRESENT), cash on
 * delivery, UPI / NETBANKING through Razorpay, and the original design's body
 * `{ userId, items: [{ productId, qty }], paymentMethod }` (API.md) for each method.
 * Outcomes are read live (GET /v1/orders/{id}, GET /v1/inventory/{sku}, the SKU object's levels)
 * and through the projection (GET /v1/orders, GET /v1/admin/orders, the audit log).
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import type { OrderDurableObject } from '../../durable-objects/order/order.do';
import { orderFor } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { bearer, DEV_CLIENT, DEV_IDS, jsonInit, login, newCustomer } from '../../test/support/auth';
import { call, json, problem } from '../../test/support/http';
import { admin, available, emulator, eventually, paymentIntentOf, staffSession, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);
const RAZORPAY = config.RAZORPAY_API_BASE!;
const DEADLINE_MS = config.ORDER_PAYMENT_TIMEOUT_SECONDS * 1000;

type Headers = Record<string, string>;
type Clocked = { clock: { now: () => Date } };

const place = (body: unknown, h: Headers, key: string | null = crypto.randomUUID()) =>
  json('/v1/orders', jsonInit('POST', body, key ? { ...h, 'idempotency-key': key } : h));
const get = (orderId: string, h: Headers) => json(`/v1/orders/${orderId}`, { headers: h });
const cancel = (orderId: string, h: Headers, body: unknown = {}) => json(`/v1/orders/${orderId}/cancel`, jsonInit('POST', body, h));

/** On hand and reserved of a SKU over every warehouse, from its object (the truth). */
async function levels(sku: string): Promise<{ onHand: number; reserved: number; available: number }> {
  const { totals } = await inventoryFor(env, sku).levels();
  return { onHand: totals.onHand, reserved: totals.reserved, available: totals.available };
}

async function clientToken(id: string, secret: string): Promise<string> {
  const { res, body } = await json('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }).toString(),
  });
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token as string;
}

/** The seeded till of the AMS flagship store (role pos_agent, bound to DEV_IDS.store). */
let till: Headers | undefined;
async function posDevice(): Promise<Headers> {
  till ??= bearer(await clientToken(DEV_CLIENT.id, DEV_CLIENT.secret));
  return till;
}

let agent: { h: Headers; id: string } | undefined;
/** Pat, the seeded POS agent (a person) of the AMS flagship store. */
async function posAgent() {
  if (!agent) {
    const s = await login('pos@agora.dev');
    agent = { h: bearer(s.accessToken), id: s.user.id };
  }
  return agent;
}

/** A new OAuth client made by an admin: an integration with `scopes`, or a till of `storeId`. */
async function newClient(body: Record<string, unknown>): Promise<{ id: string; h: Headers }> {
  const created = await json('/v1/admin/clients', jsonInit('POST', { name: `probe ${crypto.randomUUID().slice(0, 6)}`, ...body }, await admin()));
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  return { id: created.body.id, h: bearer(await clientToken(created.body.id, created.body.clientSecret)) };
}

let otherTill: Headers | undefined;
/** A till of the other store (BLR MG Road). */
async function otherStoreDevice(): Promise<Headers> {
  otherTill ??= (await newClient({ role: 'pos_agent', storeId: DEV_IDS.store2 })).h;
  return otherTill;
}

const adminOrders = async (q: string) => (await json(`/v1/admin/orders?${q}`, { headers: await admin() })).body;

describe('POS agents sell for a customer, paid at the till', () => {
  it('P1 a POS agent (person), POS_CASH for a customer: PAID at once, stock committed once, the customer lists it, the store is recorded; a retry is the same sale', async () => {
    const p = await stockedProduct(3, 1800);
    const c = await newCustomer();
    const { h } = await posAgent();
    const key = crypto.randomUUID();
    const body = { userId: c.user.id, items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'POS_CASH' };
    const placed = await place(body, h, key);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.res.headers.get('idempotent-replayed')).toBeNull();
    expect(placed.body).toMatchObject({
      status: 'PAID',
      userId: c.user.id,
      channel: 'pos',
      total: { amount: 3600 },
      payment: { method: 'POS_CASH', status: 'captured', amountCaptured: { amount: 3600 }, clientAction: null },
      paymentDueAt: null,
    });
    const orderId = placed.body.orderId as string;
    expect((await orderFor(env, orderId).view())?.storeId).toBe(DEV_IDS.store);
    // Sold: on hand down by 2, nothing left held.
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    expect(await orderFor(env, orderId).pendingSteps()).toEqual([]);
    // The same key and body: the same sale, no second commit.
    const again = await place(body, h, key);
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toMatchObject({ orderId, status: 'PAID', version: placed.body.version });
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { ...body, paymentMethod: 'POS_CARD_PRESENT' }, { ...h, 'idempotency-key': key }));
    expect(await levels(p.sku)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    // The customer sees it, live and in their list.
    expect((await get(orderId, bearer(c.accessToken))).body).toMatchObject({ orderId, status: 'PAID', channel: 'pos' });
    const listed = await eventually(() => json('/v1/orders', { headers: bearer(c.accessToken) }), (r) => r.body.items?.[0]?.status === 'PAID');
    expect(listed.body.items).toEqual([expect.objectContaining({ orderId, status: 'PAID', paymentMethod: 'POS_CASH', itemCount: 2, total: { amount: 3600, currency: expect.any(String) } })]);
    // The store is recorded in the projection: the admins' search by store finds it, the other store's does not.
    const byStore = await eventually(() => adminOrders(`storeId=${DEV_IDS.store}&userId=${c.user.id}`), (b) => b.items?.length === 1);
    expect(byStore.items.map((i: { orderId: string }) => i.orderId)).toEqual([orderId]);
    expect((await adminOrders(`storeId=${DEV_IDS.store2}&userId=${c.user.id}`)).items).toEqual([]);
  });

  it('P2 a till (client credentials), POS_CARD_PRESENT for a customer: PAID; the till of another store can neither read, track nor cancel it; the own store\'s agent can read it', async () => {
    const p = await stockedProduct(2, 999);
    const c = await newCustomer();
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CARD_PRESENT' }, await posDevice());
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PAID', userId: c.user.id, channel: 'pos', payment: { method: 'POS_CARD_PRESENT', status: 'captured', amountCaptured: { amount: 999 } } });
    const orderId = placed.body.orderId as string;
    const s = await orderFor(env, orderId).view();
    expect(s).toMatchObject({ storeId: DEV_IDS.store, placedBy: { kind: 'client', id: DEV_CLIENT.id } });
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });

    const other = await otherStoreDevice();
    await problem(`/v1/orders/${orderId}`, 404, 'NOT_FOUND', { headers: other });
    await problem(`/v1/orders/${orderId}/tracking`, 404, 'NOT_FOUND', { headers: other });
    await problem(`/v1/orders/${orderId}/cancel`, 404, 'NOT_FOUND', jsonInit('POST', {}, other));
    expect((await get(orderId, (await posAgent()).h)).body).toMatchObject({ orderId, status: 'PAID' });
    expect((await get(orderId, bearer(c.accessToken))).body).toMatchObject({ orderId, status: 'PAID' });
    expect((await get(orderId, await admin())).body.status).toBe('PAID');
    expect(await levels(p.sku)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it('P3 the store\'s agent cancels a till sale before it ships: CANCELLED, the till refund succeeds, the units come back once', async () => {
    const p = await stockedProduct(4, 1500);
    const c = await newCustomer();
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, quantity: 3 }], paymentMethod: 'POS_CASH' }, await posDevice());
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const orderId = placed.body.orderId as string;
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 1, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    const cancelled = await cancel(orderId, (await posAgent()).h, { reason: 'customer returned it at the till' });
    expect(cancelled.res.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'customer returned it at the till' });
    const done = await eventually(() => get(orderId, bearer(c.accessToken)), (r) => r.body.refunds?.[0]?.status === 'succeeded', 5_000);
    expect(done.body.refunds).toEqual([expect.objectContaining({ amount: { amount: 4500, currency: expect.any(String) }, status: 'succeeded' })]);
    expect(done.body.payment.amountRefunded.amount).toBe(4500);
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 4, 5_000)).toEqual({ onHand: 4, reserved: 0, available: 4 });
    // Cancelling again changes nothing.
    expect((await cancel(orderId, await posDevice())).body.status).toBe('CANCELLED');
    expect(await levels(p.sku)).toEqual({ onHand: 4, reserved: 0, available: 4 });
    expect((await get(orderId, await admin())).body.refunds).toHaveLength(1);
  });

  it('P4 a POS agent may take other methods for a customer too (COD at the counter): PENDING, due on delivery, channel pos', async () => {
    const p = await stockedProduct(2, 700);
    const c = await newCustomer();
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, (await posAgent()).h);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PENDING', channel: 'pos', userId: c.user.id, payment: { method: 'COD', status: 'due_on_delivery' }, paymentDueAt: null });
    expect((await orderFor(env, placed.body.orderId).view())?.storeId).toBe(DEV_IDS.store);
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it('P6 the same till sale sent three times at once (one key): one order, one commit', async () => {
    const p = await stockedProduct(3, 600);
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const h = await posDevice();
    const body = { userId: c.user.id, items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'POS_CASH' };
    const answers = await Promise.all([0, 1, 2].map(() => place(body, h, key)));
    const statuses = answers.map((a) => a.res.status);
    expect(statuses, JSON.stringify(answers.map((a) => a.body))).toEqual([201, 201, 201]);
    // One of them placed the order; the other two are its replays.
    expect(answers.filter((a) => a.res.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(answers.filter((a) => a.res.headers.get('idempotent-replayed') === 'true')).toHaveLength(2);
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(1);
    expect(answers.every((a) => a.body.status === 'PAID')).toBe(true);
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it('P7 the customer cannot cancel a sale paid at the till from their app (no cash refunded "succeeded" without a till, no units restocked that left the shop)', async () => {
    const p = await stockedProduct(2, 1500);
    const c = await newCustomer();
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'POS_CASH' }, await posDevice());
    expect(placed.res.status).toBe(201);
    const orderId = placed.body.orderId as string;
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 1, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    const r = await cancel(orderId, bearer(c.accessToken));
    expect({ status: r.res.status, code: r.body.code }, JSON.stringify(r.body)).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await get(orderId, await admin())).body).toMatchObject({ status: 'PAID', refunds: [] });
    expect(await levels(p.sku)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it('P5 a POS agent cannot sell to a customer who does not exist: a clear 4xx, nothing reserved', async () => {
    const p = await stockedProduct(2);
    for (const [h, userId] of [
      [(await posAgent()).h, 'usr_00000000000000000000000000'],
      [await posDevice(), 'u123'],
    ] as const) {
      const r = await place({ userId, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, h);
      expect({ status: r.res.status, code: r.body.code }, JSON.stringify(r.body)).toEqual({ status: 422, code: 'CUSTOMER_NOT_FOUND' });
      expect(r.res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect(await levels(p.sku)).toEqual({ onHand: 2, reserved: 0, available: 2 });
  });
});

describe('integrations place orders for customers (scopes)', () => {
  it('I1 orders:write places a CARD order for a customer: PENDING for that customer, Stripe client secret; the customer pays it', async () => {
    const p = await stockedProduct(3, 2100);
    const c = await newCustomer();
    const erp = await newClient({ role: 'integration', scopes: ['orders:write'] });
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'CARD' }, erp.h);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PENDING', userId: c.user.id, channel: 'web', total: { amount: 4200 }, payment: { method: 'CARD', status: 'requires_action' } });
    const orderId = placed.body.orderId as string;
    expect(await orderFor(env, orderId).view()).toMatchObject({ storeId: null, placedBy: { kind: 'client', id: erp.id } });
    expect(await levels(p.sku)).toEqual({ onHand: 3, reserved: 2, available: 1 });
    // The customer sees it with what they need to pay.
    const mine = await get(orderId, bearer(c.accessToken));
    expect(mine.body.payment.clientAction).toMatchObject({ type: 'stripe_client_secret' });
    const pi = paymentIntentOf(mine.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    const { deliveries } = (await emulator(`/_emulator/webhooks?match=${pi}`)) as { deliveries: Array<{ headers: Record<string, string>; body: string }> };
    for (const d of deliveries) expect((await call('/v1/payments/webhooks/stripe', { method: 'POST', headers: d.headers, body: d.body })).status).toBe(200);
    expect((await get(orderId, bearer(c.accessToken))).body.status).toBe('PAID');
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    const listed = await eventually(() => json('/v1/orders', { headers: bearer(c.accessToken) }), (r) => r.body.items?.[0]?.status === 'PAID');
    expect(listed.body.items.map((i: { orderId: string }) => i.orderId)).toEqual([orderId]);
  });

  it('I2 without orders:write an integration is refused (403 problem+json); with orders:read only it reads but cannot place; nothing reserved', async () => {
    const p = await stockedProduct(2);
    const c = await newCustomer();
    const body = { userId: c.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' };
    const noScope = await newClient({ role: 'integration', scopes: ['catalog:write'] });
    await problem('/v1/orders', 403, 'FORBIDDEN', jsonInit('POST', body, { ...noScope.h, 'idempotency-key': crypto.randomUUID() }));
    const reader = await newClient({ role: 'integration', scopes: ['orders:read'] });
    await problem('/v1/orders', 403, 'FORBIDDEN', jsonInit('POST', body, { ...reader.h, 'idempotency-key': crypto.randomUUID() }));
    expect(await levels(p.sku)).toEqual({ onHand: 2, reserved: 0, available: 2 });
    // The customer's own order: the reader reads it (no client secret for it), but cannot cancel it.
    const own = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken));
    expect(own.res.status).toBe(201);
    const read = await get(own.body.orderId, reader.h);
    expect(read.res.status).toBe(200);
    expect(read.body).toMatchObject({ orderId: own.body.orderId, status: 'PENDING', payment: { clientAction: null } });
    await problem(`/v1/orders/${own.body.orderId}/cancel`, 403, 'FORBIDDEN', jsonInit('POST', {}, reader.h));
    expect((await get(own.body.orderId, bearer(c.accessToken))).body.status).toBe('PENDING');
  });

  it('I3 an integration must name the customer, cannot pay at the till, and a key reused for another customer is 422', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const c2 = await newCustomer();
    const erp = await newClient({ role: 'integration', scopes: ['orders:write'] });
    await problem('/v1/orders', 400, 'VALIDATION_FAILED', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, erp.h));
    for (const method of ['POS_CASH', 'POS_CARD_PRESENT']) {
      await problem('/v1/orders', 422, 'PAYMENT_METHOD_NOT_ALLOWED', jsonInit('POST', { userId: c.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: method }, erp.h));
    }
    const key = crypto.randomUUID();
    const first = await place({ userId: c.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, erp.h, key);
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { userId: c2.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, { ...erp.h, 'idempotency-key': key }));
    expect(await levels(p.sku)).toEqual({ onHand: 2, reserved: 0, available: 2 });
    // The key belongs to its caller: another integration with the same key places its own order.
    const erp2 = await newClient({ role: 'integration', scopes: ['orders:write'] });
    const theirs = await place({ userId: c2.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, erp2.h, key);
    expect(theirs.res.status).toBe(201);
    expect(theirs.body.orderId).not.toBe(first.body.orderId);
    expect(theirs.body.userId).toBe(c2.user.id);
  });

  it('I4 an integration cannot place for an account that does not exist: a clear 4xx, nothing reserved', async () => {
    const p = await stockedProduct(2);
    const erp = await newClient({ role: 'integration', scopes: ['orders:write'] });
    const r = await place({ userId: 'usr_0000000000nosuchcustomer00', items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, erp.h);
    expect({ status: r.res.status, code: r.body.code }, JSON.stringify(r.body)).toEqual({ status: 422, code: 'CUSTOMER_NOT_FOUND' });
    expect(r.res.headers.get('content-type')).toBe('application/problem+json');
    expect(await levels(p.sku)).toEqual({ onHand: 2, reserved: 0, available: 2 });
  });
});

describe('cash on delivery', () => {
  it('C1 COD: PENDING, due on delivery, no deadline; stock committed at placement; neither the deadline alarm nor reconciliation cancels it', async () => {
    const p = await stockedProduct(3, 1200);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'COD' }, bearer(c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PENDING', paymentDueAt: null, payment: { method: 'COD', status: 'due_on_delivery', clientAction: null, amountCaptured: { amount: 0 } } });
    const orderId = placed.body.orderId as string;
    const stub = orderFor(env, orderId);
    // docs/orders.md: "Cash on delivery: stock is committed at placement".
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    // Far past the payment deadline and the hold's TTL: the object's alarm and reconciliation.
    await runInDurableObject(stub, async (o: OrderDurableObject) => {
      (o as unknown as Clocked).clock = { now: () => new Date(Date.now() + DEADLINE_MS + 16 * 60_000) };
      await o.alarm();
      await o.reconcilePayment();
    });
    const after = await get(orderId, bearer(c.accessToken));
    expect(after.body).toMatchObject({ status: 'PENDING', payment: { status: 'due_on_delivery' }, cancelReason: null });
    expect(await stub.pendingSteps()).toEqual([]);
    expect(await levels(p.sku)).toEqual({ onHand: 1, reserved: 0, available: 1 });
  });

  it('C2 COD cancelled before it ships: CANCELLED, the committed units come back once, nothing to refund', async () => {
    const p = await stockedProduct(3, 1100);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'COD' }, bearer(c.accessToken));
    const orderId = placed.body.orderId as string;
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 1, 5_000)).toEqual({ onHand: 1, reserved: 0, available: 1 });
    const cancelled = await cancel(orderId, bearer(c.accessToken));
    expect(cancelled.res.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', refunds: [], payment: { amountCaptured: { amount: 0 } } });
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 3, 5_000)).toEqual({ onHand: 3, reserved: 0, available: 3 });
    expect((await cancel(orderId, bearer(c.accessToken))).body.status).toBe('CANCELLED');
    expect(await orderFor(env, orderId).pendingSteps()).toEqual([]);
    expect(await levels(p.sku)).toEqual({ onHand: 3, reserved: 0, available: 3 });
  });

  it('C2b a cancelled COD order no longer says its payment is due on delivery', async () => {
    const p = await stockedProduct(1, 900);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, bearer(c.accessToken));
    const cancelled = await cancel(placed.body.orderId, bearer(c.accessToken));
    expect(cancelled.body.status).toBe('CANCELLED');
    // An unpaid order's cancellation marks its payment cancelled (cancelUnpaid); cash on delivery must not stay "due".
    expect(cancelled.body.payment.status).toBe('cancelled');
  });

  /** A customer's COD order of 2 units, shipped from PENDING and delivered (signed carrier webhook). */
  async function deliveredCod(price: number) {
    const p = await stockedProduct(2, price);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'COD' }, bearer(c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const orderId = placed.body.orderId as string;
    const { token, warehouseId } = await staffSession();
    const tn = `COD-${crypto.randomUUID().slice(0, 8)}`;
    const shipped = await json(`/v1/orders/${orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: tn, items: [{ itemId: 'itm_1', quantity: 2 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    expect(shipped.res.status, JSON.stringify(shipped.body)).toBe(201);
    expect(shipped.body).toMatchObject({ status: 'SHIPPED', payment: { status: 'due_on_delivery' } });
    await problem(`/v1/orders/${orderId}/cancel`, 409, 'ORDER_NOT_CANCELLABLE', jsonInit('POST', {}, bearer(c.accessToken)));
    // The carrier webhook finds the parcel through the projection.
    await eventually(() => adminOrders(`userId=${c.user.id}`), (b) => b.items?.[0]?.status === 'SHIPPED');
    const raw = JSON.stringify({ eventId: `cod-${tn}`, trackingNumber: tn, status: 'delivered', description: 'cash collected', location: 'Amsterdam', occurredAt: new Date().toISOString() });
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.CARRIER_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const sig = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(raw)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const res = await call('/v1/shipping/webhooks/acme', { method: 'POST', headers: { 'content-type': 'application/json', 'x-carrier-signature': sig }, body: raw });
    expect(res.status, await res.clone().text()).toBe(200);
    const delivered = await get(orderId, bearer(c.accessToken));
    expect(delivered.body).toMatchObject({ status: 'DELIVERED', payment: { status: 'captured', amountCaptured: { amount: 2 * price } } });
    expect(await levels(p.sku)).toEqual({ onHand: 0, reserved: 0, available: 0 });
    return { orderId, c };
  }

  it('C3 a delivered COD order (shipped from PENDING, cancel refused, cash captured on the order) has its order.payment.captured audit row, once', async () => {
    const { orderId } = await deliveredCod(1300);
    const h = await admin();
    // docs/orders.md: the projection "writes the audit rows of money movements (payment captured …)".
    const audit = await eventually(
      () => json(`/v1/admin/audit-log?targetId=${orderId}&limit=50`, { headers: h }),
      (r) => (r.body.items ?? []).some((e: { action: string }) => e.action === 'order.payment.captured'),
      4_000,
    );
    const captured = audit.body.items.filter((e: { action: string }) => e.action === 'order.payment.captured');
    expect(captured, JSON.stringify(audit.body.items.map((e: { action: string }) => e.action))).toHaveLength(1);
  });

  it('C4 an admin refund of a delivered COD order records money staff paid back (workers/payments/README.md): succeeded, counted, PARTIALLY_REFUNDED', async () => {
    const { orderId, c } = await deliveredCod(1400);
    const refunded = await json(`/v1/admin/orders/${orderId}/refunds`, jsonInit('POST', { amount: 1000, reason: 'damaged' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(refunded.res.status, JSON.stringify(refunded.body)).toBe(201);
    const o = (await get(orderId, bearer(c.accessToken))).body;
    expect(o.refunds).toEqual([expect.objectContaining({ amount: { amount: 1000, currency: expect.any(String) }, status: 'succeeded' })]);
    expect(o.payment.amountRefunded.amount).toBe(1000);
    expect(o.status).toBe('PARTIALLY_REFUNDED');
  });
});

describe('UPI and NETBANKING through Razorpay', () => {
  const razorpayOrdersFor = async (receipt: string) => {
    const auth = `Basic ${btoa(`${config.RAZORPAY_KEY_ID}:${config.RAZORPAY_KEY_SECRET}`)}`;
    const r = await fetch(`${RAZORPAY}/v1/orders?receipt=${encodeURIComponent(receipt)}`, { headers: { authorization: auth } });
    expect(r.status).toBe(200);
    return ((await r.json()) as { items: Array<{ id: string; amount: number; currency: string }> }).items;
  };

  it('U1 UPI answers the Razorpay order (id, key); the same key and body → the same order and the same Razorpay order, held once; another body → 422', async () => {
    const p = await stockedProduct(4, 49900, { currency: 'INR' });
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'UPI' };
    const first = await place(body, bearer(c.accessToken), key);
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect(first.res.headers.get('idempotent-replayed')).toBeNull();
    expect(first.body).toMatchObject({ status: 'PENDING', total: { amount: 99800, currency: 'INR' }, payment: { method: 'UPI', status: 'requires_action' } });
    expect(first.body.payment.clientAction).toEqual({ type: 'razorpay_order', razorpayOrderId: expect.stringMatching(/^order_/), keyId: config.RAZORPAY_KEY_ID });
    expect(first.body.paymentDueAt).toEqual(expect.any(String));
    const again = await place(body, bearer(c.accessToken), key);
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.orderId).toBe(first.body.orderId);
    expect(again.body.payment.clientAction).toEqual(first.body.payment.clientAction);
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { ...body, paymentMethod: 'NETBANKING' }, { ...bearer(c.accessToken), 'idempotency-key': key }));
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { ...body, items: [{ productId: p.productId, quantity: 1 }] }, { ...bearer(c.accessToken), 'idempotency-key': key }));
    const rzp = await razorpayOrdersFor(`${first.body.orderId}-pay1`);
    expect(rzp.map((o) => o.id)).toEqual([first.body.payment.clientAction.razorpayOrderId]);
    expect(rzp[0]).toMatchObject({ amount: 99800, currency: 'INR' });
    expect(await levels(p.sku)).toEqual({ onHand: 4, reserved: 2, available: 2 });
  });

  it('U3 the same UPI order sent three times at once (one key): one order, one Razorpay order, held once', async () => {
    const p = await stockedProduct(3, 2000, { currency: 'INR' });
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'UPI' };
    const answers = await Promise.all([0, 1, 2].map(() => place(body, bearer(c.accessToken), key)));
    expect(answers.map((a) => a.res.status), JSON.stringify(answers.map((a) => a.body))).toEqual([201, 201, 201]);
    expect(answers.filter((a) => a.res.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(answers.filter((a) => a.res.headers.get('idempotent-replayed') === 'true')).toHaveLength(2);
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(1);
    const orderId = answers[0]!.body.orderId as string;
    const live = (await get(orderId, bearer(c.accessToken))).body;
    const rzp = await razorpayOrdersFor(`${orderId}-pay1`);
    expect(rzp.map((o) => o.id)).toEqual([live.payment.clientAction.razorpayOrderId]);
    expect(await levels(p.sku)).toEqual({ onHand: 3, reserved: 1, available: 2 });
  });

  it('U2 NETBANKING for a customer by an integration: the customer gets the Razorpay order; a failed payment releases the stock', async () => {
    const p = await stockedProduct(2, 5000, { currency: 'INR' });
    const c = await newCustomer();
    const erp = await newClient({ role: 'integration', scopes: ['orders:write'] });
    const placed = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 2 }], paymentMethod: 'NETBANKING' }, erp.h);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const orderId = placed.body.orderId as string;
    const mine = await get(orderId, bearer(c.accessToken));
    expect(mine.body.payment.clientAction).toMatchObject({ type: 'razorpay_order', keyId: config.RAZORPAY_KEY_ID });
    const rzpOrder = mine.body.payment.clientAction.razorpayOrderId as string;
    const pay = await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, { method: 'POST', body: JSON.stringify({ method: 'netbanking', outcome: 'failed' }) });
    expect(pay.status).toBe(200);
    const { deliveries } = (await (await fetch(`${RAZORPAY}/_emulator/webhooks?match=${rzpOrder}`)).json()) as { deliveries: Array<{ headers: Record<string, string>; body: string }> };
    expect(deliveries.length).toBeGreaterThan(0);
    for (const d of deliveries) expect((await call('/v1/payments/webhooks/razorpay', { method: 'POST', headers: d.headers, body: d.body })).status).toBe(200);
    expect((await get(orderId, bearer(c.accessToken))).body.status).toBe('PAYMENT_FAILED');
    expect(await eventually(() => levels(p.sku), (l) => l.reserved === 0, 5_000)).toEqual({ onHand: 2, reserved: 0, available: 2 });
  });
});

describe("the original design's body, for each method", () => {
  it("O1 a customer sends { userId: self, items: [{ productId, qty }], paymentMethod } for CARD, UPI, NETBANKING, COD: PENDING with an orderId, stock as documented", async () => {
    // UPI and NETBANKING take rupees only: their product is priced in INR, CARD's and COD's in the store's currency.
    const [store, rupees] = await Promise.all([stockedProduct(4, 1000), stockedProduct(4, 1000, { currency: 'INR' })]);
    const c = await newCustomer();
    const productOf = { CARD: store, UPI: rupees, NETBANKING: rupees, COD: store };
    const expected = new Map([store, rupees].map((p) => [p.sku, { onHand: 4, reserved: 0 }]));
    for (const method of Object.keys(productOf) as Array<keyof typeof productOf>) {
      const p = productOf[method];
      const r = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 2 }], paymentMethod: method }, bearer(c.accessToken), null);
      expect(r.res.status, `${method}: ${JSON.stringify(r.body)}`).toBe(201);
      expect(r.body.orderId).toMatch(/^ord_[0-9a-z]{26}$/);
      expect(r.body).toMatchObject({ status: 'PENDING', userId: c.user.id, items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], total: { amount: 2000, currency: p.currency }, payment: { method } });
      const e = expected.get(p.sku)!;
      if (method === 'COD') e.onHand -= 2;
      else e.reserved += 2;
      // Both products, after each order: the other one is untouched.
      for (const q of [store, rupees]) {
        const { onHand, reserved } = expected.get(q.sku)!;
        expect(await eventually(() => levels(q.sku), (l) => l.onHand === onHand && l.reserved === reserved, 5_000), `${method}: ${q.currency}`).toEqual({ onHand, reserved, available: onHand - reserved });
      }
    }
  });

  it('O2 a POS agent sends the original body with POS_CASH and POS_CARD_PRESENT: PAID at once, committed', async () => {
    const p = await stockedProduct(4, 800);
    const c = await newCustomer();
    for (const [h, method] of [
      [(await posAgent()).h, 'POS_CASH'],
      [await posDevice(), 'POS_CARD_PRESENT'],
    ] as const) {
      const r = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 2 }], paymentMethod: method }, h, null);
      expect(r.res.status, `${method}: ${JSON.stringify(r.body)}`).toBe(201);
      expect(r.body).toMatchObject({ orderId: expect.stringMatching(/^ord_/), status: 'PAID', userId: c.user.id, payment: { method, status: 'captured', amountCaptured: { amount: 1600 } } });
    }
    expect(await eventually(() => levels(p.sku), (l) => l.onHand === 0, 5_000)).toEqual({ onHand: 0, reserved: 0, available: 0 });
  });
});

describe('bad inputs: a clear 4xx problem+json, nothing reserved', () => {
  it('B1 unknown method, the till from a customer, a store the agent names, someone else as a customer, malformed lines', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const other = await newCustomer();
    const { h: agentH } = await posAgent();
    const cases: Array<[Headers, unknown, number, string]> = [
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'CASH' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'cod' }, 400, 'VALIDATION_FAILED'],
      [agentH, { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'BARTER' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, 422, 'PAYMENT_METHOD_NOT_ALLOWED'],
      [bearer(c.accessToken), { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CARD_PRESENT' }, 422, 'PAYMENT_METHOD_NOT_ALLOWED'],
      [await admin(), { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, 422, 'PAYMENT_METHOD_NOT_ALLOWED'],
      [agentH, { userId: c.user.id, storeId: DEV_IDS.store2, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, 400, 'VALIDATION_FAILED'],
      [await posDevice(), { userId: c.user.id, storeId: DEV_IDS.store2, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, 400, 'VALIDATION_FAILED'],
      [await posDevice(), { items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'POS_CASH' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { userId: other.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'COD' }, 403, 'FORBIDDEN'],
      [bearer(c.accessToken), { userId: other.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'UPI' }, 403, 'FORBIDDEN'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 0 }], paymentMethod: 'COD' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: '2' }], paymentMethod: 'COD' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 1.5 }], paymentMethod: 'COD' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId }], paymentMethod: 'COD' }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 1 }] }, 400, 'VALIDATION_FAILED'],
      [bearer(c.accessToken), { items: [{ productId: p.productId, qty: 4 }], paymentMethod: 'COD' }, 409, 'OUT_OF_STOCK'],
      [agentH, { userId: c.user.id, items: [{ productId: p.productId, qty: 4 }], paymentMethod: 'POS_CASH' }, 409, 'OUT_OF_STOCK'],
      [bearer((await staffSession()).token), { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'COD' }, 403, 'FORBIDDEN'],
    ];
    for (const [h, body, status, code] of cases) {
      for (const key of [crypto.randomUUID(), null]) {
        const init = jsonInit('POST', body, key ? { ...h, 'idempotency-key': key } : h);
        try {
          await problem('/v1/orders', status, code, init);
        } catch (e) {
          throw new Error(`${JSON.stringify(body)}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    expect(await levels(p.sku)).toEqual({ onHand: 3, reserved: 0, available: 3 });
    expect(await available(p.sku)).toBe(3);
    // Nobody got an order out of it.
    await new Promise((r) => setTimeout(r, 300));
    expect((await json('/v1/orders', { headers: bearer(c.accessToken) })).body.items).toEqual([]);
    expect((await json('/v1/orders', { headers: bearer(other.accessToken) })).body.items).toEqual([]);
  });
});
