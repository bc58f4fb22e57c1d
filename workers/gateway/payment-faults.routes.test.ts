/**
 * Payments under provider faults (issue 7), through the real Worker: the Stripe and Razorpay
 * emulators' fault switches (timeouts after send, 5xx, 429, held and duplicated webhooks), the
 * retries, the per-provider breaker, the saga's pending steps, signed webhooks delivered out of
 * order, replayed or altered, and refunds whose provider call fails. Exact outcomes are read live
 * from the order's object (GET /v1/orders/{id}) and from the provider emulators themselves (how
 * many PaymentIntents / Razorpay orders / refunds really exist).
 *
 * Faults are scoped to one test's ids (an attempt's or refund's Idempotency-Key) where the
 * provider sends one, and always removed in `finally`. The breaker lives in the isolate, so a
 * test that leaves failures behind ends with a successful call (or waits out the cooldown).
 */
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { OrderDurableObject } from '../../durable-objects/order/order.do';
import { orderFor } from '../../durable-objects/order/order.stub';
import { stableJson } from '../../durable-objects/order/order.logic';
import { readConfig } from '../../shared/env';
import { toHex } from '../../shared/kernel/hex';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { admin, available, emulator, eventually, paymentIntentOf, signStripe, STRIPE, stockedProduct } from '../../test/support/orders';
import worker from './index';

const config = readConfig(env);
const RAZORPAY = config.RAZORPAY_API_BASE!;
const STRIPE_HOOK = '/v1/payments/webhooks/stripe';
const RAZORPAY_HOOK = '/v1/payments/webhooks/razorpay';
/** vitest.config.ts: PAYMENT_BREAKER_COOLDOWN_MS = 1500. */
const COOLDOWN_MS = 1500;

type Delivery = { type: string; eventId?: string; headers: Record<string, string>; body: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// Ids the Worker derives (so a fault can be scoped to one attempt or refund before it exists)
// ------------------------------------------------------------------------------------------------

const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/** workers/orders/orders.service.ts orderIdFor: a keyed order's id. */
async function orderIdFor(actorId: string, key: string): Promise<string> {
  const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
  const h = await sha256(`order|${actorId}|${key}`);
  let body = '';
  for (let i = 0; i < 26; i++) body += ALPHABET[h[i]! & 31];
  return `ord_${body}`;
}

/** workers/orders/orders.service.ts refund: an admin refund's id (its provider idempotency key). */
const adminRefundId = async (orderId: string, key: string) => `rfd_${toHex(await sha256(stableJson({ id: orderId, key }))).slice(0, 26)}`;

// ------------------------------------------------------------------------------------------------
// Provider emulators: faults, webhooks, and what really exists there
// ------------------------------------------------------------------------------------------------

const jsonPost = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function faults(base: string, spec: unknown): Promise<void> {
  const res = await fetch(`${base}/_emulator/faults`, jsonPost(spec));
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}
async function clearFaults(base: string, match: string): Promise<void> {
  await (await fetch(`${base}/_emulator/faults?match=${encodeURIComponent(match)}`, { method: 'DELETE' })).arrayBuffer();
}

async function requests(base: string): Promise<Array<{ method: string; path: string; status: number; key?: string }>> {
  return ((await (await fetch(`${base}/_emulator/requests`)).json()) as { requests: Array<{ method: string; path: string; status: number; key?: string }> }).requests;
}

async function stripeDeliveries(needle: string): Promise<Delivery[]> {
  return ((await emulator(`/_emulator/webhooks?match=${encodeURIComponent(needle)}`)) as { deliveries: Delivery[] }).deliveries;
}
async function razorpayDeliveries(needle: string): Promise<Delivery[]> {
  return ((await (await fetch(`${RAZORPAY}/_emulator/webhooks?match=${encodeURIComponent(needle)}`)).json()) as { deliveries: Delivery[] }).deliveries;
}

/** The Stripe API as a merchant's dashboard would read it. */
async function stripeApi(path: string): Promise<any> {
  const res = await fetch(`${STRIPE}${path}`, { headers: { authorization: `Bearer ${config.STRIPE_SECRET_KEY}` } });
  expect(res.status, path).toBe(200);
  return res.json();
}
/** Every PaymentIntent of one attempt (by the metadata our begin() sets). */
const intentsOf = async (attemptId: string): Promise<any[]> =>
  (await stripeApi(`/v1/payment_intents/search?query=${encodeURIComponent(`metadata['attemptId']:'${attemptId}'`)}`)).data;
/** What the card was charged and refunded for one PaymentIntent. */
async function stripeMoney(pi: string): Promise<{ status: string; received: number; refunded: number }> {
  const p = await stripeApi(`/v1/payment_intents/${pi}?expand[]=latest_charge`);
  return { status: p.status, received: p.amount_received, refunded: p.latest_charge?.amount_refunded ?? 0 };
}

async function razorpayApi(path: string): Promise<any> {
  const res = await fetch(`${RAZORPAY}${path}`, { headers: { authorization: `Basic ${btoa(`${config.RAZORPAY_KEY_ID}:${config.RAZORPAY_KEY_SECRET}`)}` } });
  expect(res.status, path).toBe(200);
  return res.json();
}
const razorpayOrdersOf = async (attemptId: string): Promise<any[]> => (await razorpayApi(`/v1/orders?receipt=${encodeURIComponent(attemptId)}&count=100`)).items;
const razorpayPaymentsOf = async (rzpOrder: string): Promise<any[]> => (await razorpayApi(`/v1/orders/${rzpOrder}/payments`)).items;

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text))));
}
async function signRazorpay(body: string, eventId: string): Promise<Record<string, string>> {
  return { 'content-type': 'application/json', 'x-razorpay-signature': await hmacHex(config.RAZORPAY_WEBHOOK_SECRET!, body), 'x-razorpay-event-id': eventId };
}

const hook = (d: { headers: Record<string, string>; body: string }): RequestInit => ({ method: 'POST', headers: d.headers, body: d.body });
async function deliver(path: string, ds: Delivery[]): Promise<any[]> {
  const out = [];
  for (const d of ds) {
    const { res, body } = await json(path, hook(d));
    expect(res.status, `${d.type}: ${JSON.stringify(body)}`).toBe(200);
    out.push(body);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Orders
// ------------------------------------------------------------------------------------------------

const place = (body: unknown, token: string, key: string) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key }));
const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const stepsOf = (orderId: string) => orderFor(env, orderId).pendingSteps();

/**
 * A customer, a fresh product, and the ids the order will have (before it is placed). The product
 * is in the store's currency, or in `currency`: a UPI order needs one in rupees.
 */
async function shopper(units: number, price = 1000, currency?: 'INR') {
  const p = await stockedProduct(units, price, { currency });
  const c = await newCustomer();
  const key = crypto.randomUUID();
  const orderId = await orderIdFor(c.user.id, key);
  return { p, c, key, orderId, attemptId: `${orderId}-pay1` };
}

/** A PAID card order (webhooks delivered, stock committed). */
async function paidCardOrder(units: number, quantity: number, price = 1000) {
  const s = await shopper(units, price);
  const placed = await place({ items: [{ productId: s.p.productId, quantity }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  const pi = paymentIntentOf(placed.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliver(STRIPE_HOOK, await stripeDeliveries(pi));
  expect((await order(s.orderId)).status).toBe('PAID');
  return { ...s, pi, total: quantity * price };
}

/** A PAID UPI order (Razorpay Checkout paid, webhooks delivered). */
async function paidUpiOrder(units: number, quantity: number, price = 1000) {
  const s = await shopper(units, price, 'INR');
  const placed = await place({ items: [{ productId: s.p.productId, quantity }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
  expect((await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'captured' }))).status).toBe(200);
  await deliver(RAZORPAY_HOOK, await razorpayDeliveries(rzpOrder));
  expect((await order(s.orderId)).status).toBe('PAID');
  return { ...s, rzpOrder, total: quantity * price };
}

// ================================================================================================

describe('creating the payment when the provider times out or fails', () => {
  it('Stripe: every try of the PaymentIntent create times out AFTER Stripe made it: the shopper gets PENDING with stock held and a retryAt, the saga retries with the same key, ONE PaymentIntent in the end, paid once', async () => {
    const s = await shopper(3);
    // Stripe processes each call and then holds the answer past PAYMENT_TIMEOUT_MS (1 s): the first try and its 3 retries.
    await faults(STRIPE, { delays: [{ ms: 1400, times: 4, match: `key=${s.attemptId}` }] });
    try {
      const placed = await place({ items: [{ productId: s.p.productId, quantity: 2 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
      expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
      expect(placed.body).toMatchObject({ orderId: s.orderId, status: 'PENDING', payment: { status: 'not_started', clientAction: null } });
      expect(Date.parse(placed.body.payment.retryAt)).toBeGreaterThan(Date.now() - 1000);
      expect(placed.body.paymentDueAt).toBeTruthy();
      expect(await available(s.p.sku)).toBe(1);
      // Stripe holds one intent already, which nobody can pay yet (no client secret handed out).
      expect(await intentsOf(s.attemptId)).toHaveLength(1);
      expect((await stepsOf(s.orderId)).map((st) => st.kind)).toEqual(['begin_payment']);
    } finally {
      await clearFaults(STRIPE, `key=${s.attemptId}`);
    }
    // The object's alarm retries the step by itself (same Idempotency-Key: Stripe replays its answer).
    const ready = await eventually(() => order(s.orderId), (o) => o.payment.status === 'requires_action', 10_000);
    expect(ready).toMatchObject({ status: 'PENDING', payment: { status: 'requires_action', retryAt: null } });
    const mine = await json(`/v1/orders/${s.orderId}`, { headers: bearer(s.c.accessToken) });
    const pi = paymentIntentOf(mine.body);
    const intents = await intentsOf(s.attemptId);
    expect(intents.map((i) => i.id)).toEqual([pi]);
    const creates = (await requests(STRIPE)).filter((r) => r.key === s.attemptId && r.method === 'POST' && r.path === '/v1/payment_intents');
    expect(creates.length).toBe(5);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliver(STRIPE_HOOK, await stripeDeliveries(pi));
    const paid = await order(s.orderId);
    expect(paid).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: 2000 } }, refunds: [] });
    expect(await stripeMoney(pi)).toMatchObject({ status: 'succeeded', received: 2000, refunded: 0 });
    expect(await stepsOf(s.orderId)).toEqual([]);
  });

  it('Razorpay: the order create times out after Razorpay made it: the retry finds it by receipt, ONE Razorpay order, the shopper gets it at once', async () => {
    const s = await shopper(3, 1000, 'INR');
    await faults(RAZORPAY, { delays: [{ ms: 1400, times: 1, match: 'POST /v1/orders' }] });
    let placed;
    try {
      placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
    } finally {
      await clearFaults(RAZORPAY, 'POST /v1/orders');
    }
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body).toMatchObject({ status: 'PENDING', payment: { status: 'requires_action', clientAction: { type: 'razorpay_order' } } });
    const orders = await razorpayOrdersOf(s.attemptId);
    expect(orders.map((o) => o.id)).toEqual([placed.body.payment.clientAction.razorpayOrderId]);
    expect(await available(s.p.sku)).toBe(2);
  });

  it('Stripe: a 500 then a 429 on the create, then success: one PaymentIntent, the shopper gets the client secret in the same answer', async () => {
    const s = await shopper(2);
    await faults(STRIPE, { errors: [{ status: 500, times: 1, match: `key=${s.attemptId}` }, { status: 429, times: 1, match: `key=${s.attemptId}` }] });
    try {
      const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
      expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
      expect(placed.body).toMatchObject({ status: 'PENDING', payment: { status: 'requires_action', retryAt: null } });
      const pi = paymentIntentOf(placed.body);
      expect((await intentsOf(s.attemptId)).map((i) => i.id)).toEqual([pi]);
      const calls = (await requests(STRIPE)).filter((r) => r.key === s.attemptId && r.path === '/v1/payment_intents');
      expect(calls.map((c) => c.status)).toEqual([500, 429, 200]);
    } finally {
      await clearFaults(STRIPE, `key=${s.attemptId}`);
    }
  });

  it('Razorpay: a 503 then a 429 on the create, then success: one Razorpay order for the attempt', async () => {
    const s = await shopper(2, 1000, 'INR');
    await faults(RAZORPAY, { errors: [{ status: 503, times: 1, match: 'POST /v1/orders' }, { status: 429, times: 1, match: 'POST /v1/orders' }] });
    try {
      const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
      expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
      expect(placed.body.payment.status).toBe('requires_action');
      expect((await razorpayOrdersOf(s.attemptId)).map((o) => o.id)).toEqual([placed.body.payment.clientAction.razorpayOrderId]);
    } finally {
      await clearFaults(RAZORPAY, 'POST /v1/orders');
    }
  });
});

describe('the breaker', () => {
  it('Stripe down: the breaker opens after 5 failures and later orders send nothing; every shopper gets PENDING with its stock held and a retryAt (docs/orders.md "Provider down"); after the cooldown it closes and each order gets exactly one PaymentIntent', async () => {
    const MATCH = 'POST /v1/payment_intents';
    const [a, b, c] = await Promise.all([shopper(2), shopper(2), shopper(2)]);
    const body = (x: typeof a) => ({ items: [{ productId: x.p.productId, quantity: 2 }], paymentMethod: 'CARD' });
    await faults(STRIPE, { errors: [{ status: 503, times: 1000, match: MATCH }] });
    let sentForC: number;
    try {
      // A: four 503s (the try and 3 retries); B: the fifth opens the breaker, its retries fail fast.
      const pa = await place(body(a), a.c.accessToken, a.key);
      const pb = await place(body(b), b.c.accessToken, b.key);
      const before = (await requests(STRIPE)).filter((r) => r.key === c.attemptId).length;
      const pc = await place(body(c), c.c.accessToken, c.key);
      sentForC = (await requests(STRIPE)).filter((r) => r.key === c.attemptId).length - before;
      for (const [x, p] of [[a, pa], [b, pb], [c, pc]] as const) {
        expect(p.res.status, JSON.stringify(p.body)).toBe(201);
        expect(p.res.headers.get('idempotent-replayed')).toBeNull();
        expect(p.body).toMatchObject({ orderId: x.orderId, status: 'PENDING', payment: { status: 'not_started', clientAction: null } });
        expect(p.body.payment.retryAt, JSON.stringify(p.body.payment)).toBeTruthy();
        expect(await available(x.p.sku)).toBe(0);
      }
      expect((await requests(STRIPE)).filter((r) => r.key === a.attemptId).length).toBeGreaterThanOrEqual(4);
      // While the breaker is open nothing is sent for C.
      expect(sentForC).toBe(0);
      // A retry of the place request (same key and body) answers the same order, holds nothing more.
      const again = await place(body(c), c.c.accessToken, c.key);
      expect(again.res.status).toBe(201);
      expect(again.res.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.orderId).toBe(c.orderId);
      expect(await available(c.p.sku)).toBe(0);
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await sleep(COOLDOWN_MS + 100);
    for (const x of [a, b, c]) await orderFor(env, x.orderId).retryStepsNow();
    for (const x of [a, b, c]) {
      const o = await eventually(() => order(x.orderId), (v) => v.payment.status === 'requires_action', 8_000);
      expect(o).toMatchObject({ status: 'PENDING', payment: { status: 'requires_action', retryAt: null } });
      expect(await intentsOf(x.attemptId)).toHaveLength(1);
    }
    // Closed again: a new order gets its client secret in its own answer.
    const d = await shopper(1);
    const pd = await place({ items: [{ productId: d.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, d.c.accessToken, d.key);
    expect(pd.res.status).toBe(201);
    expect(pd.body.payment.status).toBe('requires_action');
  });
  it('the breaker is per provider: Razorpay down opens Razorpay\'s breaker only; a CARD order meanwhile gets its client secret at once; the UPI orders get theirs (one Razorpay order each) once it closes', async () => {
    const MATCH = '/v1/orders';
    const [u1, u2, u3, card] = await Promise.all([shopper(1, 1000, 'INR'), shopper(1, 1000, 'INR'), shopper(1, 1000, 'INR'), shopper(1)]);
    const upi = (x: typeof u1) => place({ items: [{ productId: x.p.productId, quantity: 1 }], paymentMethod: 'UPI' }, x.c.accessToken, x.key);
    await faults(RAZORPAY, { errors: [{ status: 503, times: 1000, match: MATCH }] });
    try {
      const r1 = await upi(u1);
      const r2 = await upi(u2);
      const sent = (await requests(RAZORPAY)).length;
      const r3 = await upi(u3);
      expect((await requests(RAZORPAY)).length - sent).toBe(0);
      for (const r of [r1, r2, r3]) {
        expect(r.res.status, JSON.stringify(r.body)).toBe(201);
        expect(r.body).toMatchObject({ status: 'PENDING', payment: { method: 'UPI', status: 'not_started', clientAction: null } });
      }
      const c = await place({ items: [{ productId: card.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, card.c.accessToken, card.key);
      expect(c.res.status).toBe(201);
      expect(c.body.payment).toMatchObject({ status: 'requires_action', clientAction: { type: 'stripe_client_secret' } });
    } finally {
      await clearFaults(RAZORPAY, MATCH);
    }
    await sleep(COOLDOWN_MS + 100);
    for (const x of [u1, u2, u3]) {
      await orderFor(env, x.orderId).retryStepsNow();
      const o = await eventually(() => order(x.orderId), (v) => v.payment.status === 'requires_action', 8_000);
      expect(o.payment.status).toBe('requires_action');
      expect(await razorpayOrdersOf(x.attemptId)).toHaveLength(1);
    }
  });
});

describe('Stripe webhooks out of order, replayed or altered', () => {
  it('a decline and then a successful retry on the same PaymentIntent, delivered newest first (succeeded before payment_failed): PAID, kept, stock committed once, no refund', async () => {
    const s = await shopper(4);
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 2 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    const pi = paymentIntentOf(placed.body);
    await faults(STRIPE, { outOfOrderWebhooks: pi });
    try {
      await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
      await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
      expect((await (await fetch(`${STRIPE}/_emulator/webhooks/flush?match=${pi}`, { method: 'POST' })).json()) as { released: number }).toMatchObject({ released: expect.any(Number) });
    } finally {
      await clearFaults(STRIPE, pi);
    }
    const ds = await stripeDeliveries(pi);
    const types = ds.map((d) => d.type);
    expect(types.indexOf('payment_intent.succeeded')).toBeLessThan(types.indexOf('payment_intent.payment_failed'));
    await deliver(STRIPE_HOOK, ds);
    const o = await order(s.orderId);
    expect(o).toMatchObject({ status: 'PAID', version: 2, payment: { status: 'captured', amountCaptured: { amount: 2000 }, failure: null }, refunds: [] });
    expect(await available(s.p.sku)).toBe(2);
    expect(await stepsOf(s.orderId)).toEqual([]);
  });

  it('after a decline the order is PAYMENT_FAILED ("final for the order", docs/orders.md) and its PaymentIntent is cancelled at Stripe, so the shopper\'s retry in Stripe.js cannot charge a card for an order that will never ship', async () => {
    const s = await shopper(3);
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
    await deliver(STRIPE_HOOK, await stripeDeliveries(pi));
    expect(await order(s.orderId)).toMatchObject({ status: 'PAYMENT_FAILED', payment: { status: 'failed' } });
    expect(await available(s.p.sku)).toBe(3);
    await orderFor(env, s.orderId).nudge();
    const atStripe = await eventually(() => stripeMoney(pi), (m) => m.status === 'canceled', 3_000);
    expect(atStripe.status, 'the PaymentIntent of a PAYMENT_FAILED order is still open for payment (requires_payment_method)').toBe('canceled');
  });

  it('a decline delivered first, then the successful retry on the same PaymentIntent: PAYMENT_FAILED stays, the late capture is refunded in full exactly once (docs/orders.md: never keep money for an order it gave up)', async () => {
    const s = await shopper(3);
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
    await deliver(STRIPE_HOOK, await stripeDeliveries(pi));
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    const ds = await stripeDeliveries(pi);
    await deliver(STRIPE_HOOK, ds);
    await deliver(STRIPE_HOOK, ds.filter((d) => d.type === 'payment_intent.succeeded'));
    const o = await eventually(() => order(s.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(o).toMatchObject({ status: 'PAYMENT_FAILED', payment: { amountCaptured: { amount: 1000 }, amountRefunded: { amount: 1000 } } });
    expect(o.refunds).toHaveLength(1);
    expect(await stripeMoney(pi)).toMatchObject({ received: 1000, refunded: 1000 });
    expect(await available(s.p.sku)).toBe(3);
  });

  it('succeeded after a cancel whose provider cancel failed (Stripe 503): CANCELLED stays, the late capture refunded once, the stock back once, no step left', async () => {
    const s = await shopper(4);
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 2 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    const pi = paymentIntentOf(placed.body);
    const MATCH = `key=${s.attemptId}:cancel`;
    await faults(STRIPE, { errors: [{ status: 503, times: 4, match: MATCH }] });
    try {
      const cancel = await json(`/v1/orders/${s.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(s.c.accessToken)));
      expect(cancel.res.status, JSON.stringify(cancel.body)).toBe(200);
      expect(cancel.body.status).toBe('CANCELLED');
      expect((await stepsOf(s.orderId)).map((st) => st.kind)).toEqual(['cancel_payment']);
      expect(await available(s.p.sku)).toBe(4);
      // The PaymentIntent was never cancelled: the shopper's open checkout page pays it.
      await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
      await deliver(STRIPE_HOOK, await stripeDeliveries(pi));
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await orderFor(env, s.orderId).retryStepsNow();
    const o = await eventually(() => order(s.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(o).toMatchObject({ status: 'CANCELLED', payment: { status: 'captured', amountCaptured: { amount: 2000 }, amountRefunded: { amount: 2000 } } });
    expect(o.refunds).toHaveLength(1);
    expect(await stripeMoney(pi)).toMatchObject({ received: 2000, refunded: 2000 });
    expect(await available(s.p.sku)).toBe(4);
    expect(await stepsOf(s.orderId)).toEqual([]);
  });

  it('webhooks for a PaymentIntent we do not know (an order id that does not exist, no metadata at all): 200, recorded as delivered (not offered again for ever), no order appears', async () => {
    const ghost = `ord_${'0123456789abcdefghjkmnpqrs'.split('').sort(() => Math.random() - 0.5).join('')}`;
    const mk = (id: string, metadata: Record<string, string>) =>
      JSON.stringify({
        id,
        object: 'event',
        api_version: '2026-10-29.clover',
        created: Math.floor(Date.now() / 1000),
        type: 'payment_intent.succeeded',
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        data: { object: { id: `pi_ghost${crypto.randomUUID().slice(0, 8)}`, object: 'payment_intent', amount: 1000, amount_received: 1000, currency: 'usd', status: 'succeeded', metadata, last_payment_error: null } },
      });
    const ids = [`evt_ghost_${crypto.randomUUID().slice(0, 12)}`, `evt_ghost_${crypto.randomUUID().slice(0, 12)}`];
    const bodies = [mk(ids[0]!, { attemptId: `${ghost}-pay1`, orderId: ghost }), mk(ids[1]!, {})];
    for (const b of bodies) {
      const { res, body } = await json(STRIPE_HOOK, { method: 'POST', headers: await signStripe(b), body: b });
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ received: true, duplicate: false, ignored: false });
    }
    expect(await orderFor(env, ghost).view()).toBeNull();
    const inbox = await rows<{ event_id: string; delivered: boolean }>(sql`select event_id, delivered_at is not null as delivered from payment_webhook_events where provider = 'stripe' and event_id in (${ids[0]}, ${ids[1]}) order by event_id`);
    expect(inbox.map((r) => r.delivered)).toEqual([true, true]);
  });

  it('a replay with a valid signature but a timestamp outside the 5-minute tolerance: 400 WEBHOOK_SIGNATURE_INVALID, nothing applied; the same body freshly signed is applied', async () => {
    const s = await shopper(2);
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    const succeeded = (await stripeDeliveries(pi)).find((d) => d.type === 'payment_intent.succeeded')!;
    const old = await signStripe(succeeded.body, Math.floor(Date.now() / 1000) - 600);
    await problem(STRIPE_HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: old, body: succeeded.body });
    expect(await order(s.orderId)).toMatchObject({ status: 'PENDING', payment: { amountCaptured: { amount: 0 } } });
    const eventId = JSON.parse(succeeded.body).id as string;
    expect(await rows(sql`select 1 from payment_webhook_events where provider = 'stripe' and event_id = ${eventId}`)).toEqual([]);
    const { res } = await json(STRIPE_HOOK, { method: 'POST', headers: await signStripe(succeeded.body), body: succeeded.body });
    expect(res.status).toBe(200);
    expect((await order(s.orderId)).status).toBe('PAID');
  });

  it('the same event id again with a different body (payment_failed, another amount): answered as a duplicate, the order unchanged', async () => {
    const o = await paidCardOrder(3, 1);
    const before = await order(o.orderId);
    // Rebuild the succeeded event (same id) as a payment_failed with another amount.
    const evId = `evt_same_${crypto.randomUUID().slice(0, 10)}`;
    const base = {
      id: evId,
      object: 'event',
      api_version: '2026-10-29.clover',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    };
    const pi = { id: o.pi, object: 'payment_intent', amount: 1000, amount_received: 1000, currency: 'usd', status: 'succeeded', metadata: { attemptId: o.attemptId, orderId: o.orderId }, last_payment_error: null };
    const first = JSON.stringify({ ...base, type: 'payment_intent.succeeded', data: { object: pi } });
    const second = JSON.stringify({ ...base, type: 'payment_intent.payment_failed', data: { object: { ...pi, amount: 1, amount_received: 0, status: 'requires_payment_method', last_payment_error: { code: 'card_declined', message: 'declined' } } } });
    const a = await json(STRIPE_HOOK, { method: 'POST', headers: await signStripe(first), body: first });
    const b = await json(STRIPE_HOOK, { method: 'POST', headers: await signStripe(second), body: second });
    expect([a.res.status, b.res.status]).toEqual([200, 200]);
    expect(b.body).toMatchObject({ duplicate: true });
    const after = await order(o.orderId);
    expect(after).toMatchObject({ status: 'PAID', version: before.version, payment: { status: 'captured', amountCaptured: { amount: 1000 }, failure: null } });
    const inbox = await rows<{ type: string }>(sql`select type from payment_webhook_events where provider = 'stripe' and event_id = ${evId}`);
    expect(inbox).toEqual([{ type: 'succeeded' }]);
  });
});

describe('Razorpay (UPI) webhooks', () => {
  it('HMAC over the RAW body: the same JSON re-serialised, or one digit changed, keeps the old signature and is refused (400); payment.captured twice and order.paid: PAID once, version 2, stock committed once', async () => {
    const s = await shopper(3, 1000, 'INR');
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
    const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
    expect((await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'captured' }))).status).toBe(200);
    const ds = await razorpayDeliveries(rzpOrder);
    expect(ds.map((d) => d.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid']);
    const captured = ds[1]!;
    const reserialised = JSON.stringify(JSON.parse(captured.body), null, 1);
    await problem(RAZORPAY_HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: captured.headers, body: reserialised });
    const tampered = captured.body.replace(`"amount":${s.p.price}`, `"amount":${s.p.price - 1}`);
    expect(tampered).not.toBe(captured.body);
    await problem(RAZORPAY_HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: captured.headers, body: tampered });
    const { 'x-razorpay-signature': _sig, ...unsigned } = captured.headers;
    await problem(RAZORPAY_HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: unsigned, body: captured.body });
    expect(await order(s.orderId)).toMatchObject({ status: 'PENDING', payment: { amountCaptured: { amount: 0 } } });
    const acks = await deliver(RAZORPAY_HOOK, [captured, captured, ds[2]!, ds[0]!, captured]);
    expect(acks.map((a) => a.duplicate)).toEqual([false, true, false, false, true]);
    const o = await order(s.orderId);
    expect(o).toMatchObject({ status: 'PAID', version: 2, payment: { method: 'UPI', status: 'captured', amountCaptured: { amount: 1000 } }, refunds: [] });
    expect(await available(s.p.sku)).toBe(2);
    expect(await stepsOf(s.orderId)).toEqual([]);
  });

  it('a failed UPI payment and then a captured one on the same Razorpay order, delivered newest first: PAID, no refund', async () => {
    const s = await shopper(3, 1000, 'INR');
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 2 }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
    const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
    await faults(RAZORPAY, { outOfOrderWebhooks: rzpOrder });
    try {
      await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'failed' }));
      await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'captured' }));
      await (await fetch(`${RAZORPAY}/_emulator/webhooks/flush?match=${rzpOrder}`, { method: 'POST' })).arrayBuffer();
    } finally {
      await clearFaults(RAZORPAY, rzpOrder);
    }
    const ds = await razorpayDeliveries(rzpOrder);
    expect(ds.map((d) => d.type)).toEqual(['order.paid', 'payment.captured', 'payment.authorized', 'payment.failed']);
    await deliver(RAZORPAY_HOOK, ds);
    expect(await order(s.orderId)).toMatchObject({ status: 'PAID', version: 2, payment: { status: 'captured', amountCaptured: { amount: 2000 } }, refunds: [] });
    expect(await available(s.p.sku)).toBe(1);
  });

  it('a failed UPI payment delivered first, then a captured one on the same Razorpay order: PAYMENT_FAILED stays and the capture is refunded at Razorpay exactly once', async () => {
    const s = await shopper(3, 1000, 'INR');
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'UPI' }, s.c.accessToken, s.key);
    const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
    await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'failed' }));
    await deliver(RAZORPAY_HOOK, await razorpayDeliveries(rzpOrder));
    expect((await order(s.orderId)).status).toBe('PAYMENT_FAILED');
    await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'captured' }));
    const ds = await razorpayDeliveries(rzpOrder);
    await deliver(RAZORPAY_HOOK, [...ds, ...ds]);
    // The refund's own webhooks (refund.processed) come back too: applied once.
    await deliver(RAZORPAY_HOOK, await razorpayDeliveries(rzpOrder));
    const o = await eventually(() => order(s.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(o).toMatchObject({ status: 'PAYMENT_FAILED', payment: { amountCaptured: { amount: 1000 }, amountRefunded: { amount: 1000 } } });
    expect(o.refunds).toHaveLength(1);
    const captured = (await razorpayPaymentsOf(rzpOrder)).filter((p) => p.captured);
    expect(captured.map((p) => p.amount_refunded)).toEqual([1000]);
  });

  it('a signed webhook about a Razorpay order we never made (notes name no order, or an order that does not exist): 200, delivered, nothing changes', async () => {
    const ghost = `ord_${crypto.randomUUID().replace(/-/g, '').slice(0, 26)}`;
    for (const notes of [{}, { attemptId: `${ghost}-pay1`, orderId: ghost }]) {
      const payment = { id: `pay_ghost${crypto.randomUUID().slice(0, 6)}`, entity: 'payment', amount: 1000, currency: 'INR', status: 'captured', order_id: `order_ghost${crypto.randomUUID().slice(0, 6)}`, method: 'upi', notes };
      const body = JSON.stringify({ entity: 'event', account_id: 'acc_x', event: 'payment.captured', contains: ['payment'], payload: { payment: { entity: payment } }, created_at: Math.floor(Date.now() / 1000) });
      const { res, body: ack } = await json(RAZORPAY_HOOK, { method: 'POST', headers: await signRazorpay(body, `evt_ghost${crypto.randomUUID().slice(0, 8)}`), body });
      expect(res.status, JSON.stringify(ack)).toBe(200);
      expect(ack).toMatchObject({ received: true, delivered: true });
    }
    expect(await orderFor(env, ghost).view()).toBeNull();
  });
});

describe('refunds when the provider fails', () => {
  it('Stripe answers 503 to the admin refund (every retry): 201 with the refund PENDING, nothing recorded as refunded (live, projection, audit); a replay and a second refund do not add one; once Stripe is back exactly one refund moves the money', async () => {
    const o = await paidCardOrder(3, 2);
    const h = await admin();
    const key = crypto.randomUUID();
    const refundId = await adminRefundId(o.orderId, key);
    const MATCH = `key=${refundId}`;
    await faults(STRIPE, { errors: [{ status: 503, times: 4, match: MATCH }] });
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1500, reason: 'scratched' }, { ...h, 'idempotency-key': key }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.res.headers.get('idempotent-replayed')).toBeNull();
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 2000 }, amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending', amount: { amount: 1500 } }] });
      const steps = await stepsOf(o.orderId);
      expect(steps).toEqual([expect.objectContaining({ kind: 'refund', attempts: 1, lastError: expect.stringContaining('did not answer usefully after retries') })]);
      expect(await stripeMoney(o.pi)).toMatchObject({ received: 2000, refunded: 0 });
      // The same request again: the same refund, nothing new.
      const again = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1500, reason: 'scratched' }, { ...h, 'idempotency-key': key }));
      expect(again.res.status).toBe(201);
      expect(again.res.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.refunds).toHaveLength(1);
      // The pending 1500 is spoken for: at most 500 more.
      await problem(`/v1/admin/orders/${o.orderId}/refunds`, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 600, reason: 'more' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
      const live = await order(o.orderId);
      const row = await eventually(
        async () => (await rows<{ version: number; amount_refunded: number; status: string }>(sql`select version::int as version, amount_refunded::int as amount_refunded, status from orders where id = ${o.orderId}`))[0],
        (x) => x?.version === live.version,
        10_000,
      );
      expect(row).toMatchObject({ status: 'PAID', amount_refunded: 0 });
      expect(await rows(sql`select status from order_refunds where refund_id = ${refundId}`)).toEqual([{ status: 'pending' }]);
      expect(await rows(sql`select action from audit_log where target_id = ${o.orderId} and action like 'order.refund.%' order by action`)).toEqual([{ action: 'order.refund.requested' }]);
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await orderFor(env, o.orderId).retryStepsNow();
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 1500 } }, refunds: [{ refundId, status: 'succeeded' }] });
    expect(await stripeMoney(o.pi)).toMatchObject({ received: 2000, refunded: 1500 });
    const posts = (await requests(STRIPE)).filter((r) => r.key === refundId && r.path === '/v1/refunds');
    expect(posts.map((p) => p.status)).toEqual([503, 503, 503, 503, 200]);
    expect(await stepsOf(o.orderId)).toEqual([]);
  });

  it('the admin refund times out AFTER Stripe made it (every retry): the order says pending, not refunded; the retries and the later step replay the same key: the card is refunded once, never twice', async () => {
    const o = await paidCardOrder(3, 2);
    const h = await admin();
    const key = crypto.randomUUID();
    const refundId = await adminRefundId(o.orderId, key);
    const MATCH = `key=${refundId}`;
    await faults(STRIPE, { delays: [{ ms: 1400, times: 4, match: MATCH }] });
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2000, reason: 'lost in transit' }, { ...h, 'idempotency-key': key }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending' }] });
      // The money did move at Stripe (the answer was lost), once.
      expect(await stripeMoney(o.pi)).toMatchObject({ refunded: 2000 });
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await orderFor(env, o.orderId).retryStepsNow();
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2000 } }, refunds: [{ refundId, status: 'succeeded' }] });
    // Stripe's own webhooks about that refund arrive afterwards: nothing changes.
    await deliver(STRIPE_HOOK, await stripeDeliveries(o.pi));
    expect(await order(o.orderId)).toMatchObject({ status: 'REFUNDED', version: done.version });
    expect(await stripeMoney(o.pi)).toMatchObject({ received: 2000, refunded: 2000 });
    const posts = (await requests(STRIPE)).filter((r) => r.key === refundId && r.path === '/v1/refunds');
    expect(posts.length).toBe(5);
  });

  it('the customer cancels a paid order while Stripe refunds fail: 200 CANCELLED, stock back, the refund pending and not counted as refunded; a second cancel adds nothing; once Stripe is back one refund of the whole amount', async () => {
    const o = await paidCardOrder(4, 2);
    expect(await available(o.p.sku)).toBe(2);
    const refundId = `${o.orderId}-cancel`;
    const MATCH = `key=${refundId}`;
    await faults(STRIPE, { errors: [{ status: 502, times: 4, match: MATCH }] });
    try {
      const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'too late' }, bearer(o.c.accessToken)));
      expect(c.res.status, JSON.stringify(c.body)).toBe(200);
      expect(c.body).toMatchObject({ status: 'CANCELLED', payment: { status: 'captured', amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending', amount: { amount: 2000 } }] });
      expect(await eventually(() => available(o.p.sku), (n) => n === 4, 3_000)).toBe(4);
      const again = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)));
      expect(again.res.status).toBe(200);
      expect(again.body.refunds).toHaveLength(1);
      expect(await stripeMoney(o.pi)).toMatchObject({ refunded: 0 });
      expect((await stepsOf(o.orderId)).map((st) => st.kind)).toEqual(['refund']);
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await orderFor(env, o.orderId).retryStepsNow();
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 2000 } }, refunds: [{ refundId, status: 'succeeded' }] });
    expect(await stripeMoney(o.pi)).toMatchObject({ received: 2000, refunded: 2000 });
    expect(await available(o.p.sku)).toBe(4);
    expect(await stepsOf(o.orderId)).toEqual([]);
  });

  it('a refund Stripe reported succeeded later fails (refund.failed: the card was closed, the money went back to our balance): the order must stop counting it as refunded', async () => {
    const o = await paidCardOrder(3, 1);
    const h = await admin();
    const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1000, reason: 'return' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(r.res.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 1000 } } });
    const refund = (await orderFor(env, o.orderId).view())!.refunds[0]!;
    expect(refund.providerRefundRef).toMatch(/^re_/);
    await stripeDeliveries(o.pi);
    // Stripe's refund object carries the metadata we created it with (the order's id among it).
    const stored = await stripeApi(`/v1/refunds/${refund.providerRefundRef}`);
    expect(stored.metadata).toEqual({ refundId: refund.refundId, orderId: o.orderId, note: 'requested_by_customer' });
    const body = JSON.stringify({
      id: `evt_rf_${crypto.randomUUID().slice(0, 12)}`,
      object: 'event',
      api_version: '2026-10-29.clover',
      created: Math.floor(Date.now() / 1000),
      type: 'refund.failed',
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: {
        object: { id: refund.providerRefundRef, object: 'refund', amount: 1000, currency: 'usd', payment_intent: o.pi, metadata: stored.metadata, status: 'failed', failure_reason: 'expired_or_canceled_card' },
        previous_attributes: { status: 'succeeded', failure_reason: null },
      },
    });
    const ack = await json(STRIPE_HOOK, { method: 'POST', headers: await signStripe(body), body });
    expect(ack.res.status).toBe(200);
    const after = await order(o.orderId);
    expect(after.refunds[0], 'a refund that failed at Stripe is still shown succeeded').toMatchObject({ status: 'failed' });
    expect(after.payment.amountRefunded.amount).toBe(0);
  });

  it('Razorpay answers 503 to the refund, then times out after making it: the order says pending until it knows; the payment is refunded once', async () => {
    const o = await paidUpiOrder(3, 2);
    const h = await admin();
    const paymentId = (await razorpayPaymentsOf(o.rzpOrder)).find((p) => p.captured)!.id as string;
    const MATCH = `POST /v1/payments/${paymentId}/refund`;
    await faults(RAZORPAY, { errors: [{ status: 503, times: 2, match: MATCH }], delays: [{ ms: 1400, times: 2, match: MATCH }] });
    const key = crypto.randomUUID();
    const refundId = await adminRefundId(o.orderId, key);
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 800, reason: 'scratched' }, { ...h, 'idempotency-key': key }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending' }] });
    } finally {
      await clearFaults(RAZORPAY, MATCH);
    }
    await orderFor(env, o.orderId).retryStepsNow();
    // Razorpay's refund webhooks come too.
    await deliver(RAZORPAY_HOOK, await razorpayDeliveries(o.rzpOrder));
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 800 } }, refunds: [{ refundId, status: 'succeeded' }] });
    const paid = (await razorpayPaymentsOf(o.rzpOrder)).find((p) => p.id === paymentId)!;
    expect(paid.amount_refunded).toBe(800);
    expect(await stepsOf(o.orderId)).toEqual([]);
  });
});

describe('reconciliation and the payment deadline while the provider fails', () => {
  it('the scheduled reconciliation while Stripe fails for one of two orders whose webhook was lost: the other settles PAID; the failing one stays PENDING (not cancelled) and settles on the next run; one capture each', async () => {
    const [a, b] = await Promise.all([shopper(3), shopper(3)]);
    const pa = await place({ items: [{ productId: a.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, a.c.accessToken, a.key);
    const pb = await place({ items: [{ productId: b.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, b.c.accessToken, b.key);
    const [piA, piB] = [paymentIntentOf(pa.body), paymentIntentOf(pb.body)];
    for (const pi of [piA, piB]) await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    // Both webhooks are lost. Age both orders in the projection past the reconciliation delay.
    for (const id of [a.orderId, b.orderId]) {
      await eventually(async () => (await rows(sql`select 1 from orders where id = ${id}`)).length, (n) => n === 1, 10_000);
      await rows(sql`update orders set updated_at = now() - interval '1 hour' where id = ${id}`);
    }
    const MATCH = `GET /v1/payment_intents/${piB}`;
    const run = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
      await waitOnExecutionContext(ctx);
    };
    await faults(STRIPE, { errors: [{ status: 503, times: 4, match: MATCH }] });
    try {
      await run();
      expect(await order(a.orderId)).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: 1000 } } });
      expect(await order(b.orderId)).toMatchObject({ status: 'PENDING', payment: { amountCaptured: { amount: 0 } } });
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    await rows(sql`update orders set updated_at = now() - interval '1 hour' where id = ${b.orderId}`);
    await run();
    expect(await order(b.orderId)).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: 1000 } }, refunds: [] });
    expect(await available(a.p.sku)).toBe(2);
    expect(await available(b.p.sku)).toBe(2);
    for (const pi of [piA, piB]) expect(await stripeMoney(pi)).toMatchObject({ received: 1000, refunded: 0 });
  });

  it('the payment deadline passes while Stripe cannot be asked: the order is not cancelled blindly (good), but the object must not spin its alarm every 10 ms while the expire step waits for its retry', async () => {
    const s = await shopper(2);
    const stub = orderFor(env, s.orderId);
    let alarms = 0;
    // A 1-second payment deadline for this order's object (the same instance then serves the place request).
    await runInDurableObject(stub, (o: OrderDurableObject) => {
      o.ports = { ...o.ports, config: { paymentTimeoutMs: 1000 } };
      const real = o.alarm.bind(o);
      o.alarm = async () => {
        alarms++;
        return real();
      };
    });
    const placed = await place({ items: [{ productId: s.p.productId, quantity: 1 }], paymentMethod: 'CARD' }, s.c.accessToken, s.key);
    expect(placed.res.status).toBe(201);
    const pi = paymentIntentOf(placed.body);
    // The shopper paid; the webhook is lost; Stripe cannot be read when the deadline comes.
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    const MATCH = `GET /v1/payment_intents/${pi}`;
    await faults(STRIPE, { errors: [{ status: 503, times: 1000, match: MATCH }] });
    let spun: number;
    try {
      const waiting = await eventually(() => stub.pendingSteps(), (st) => st.some((x) => x.kind === 'expire' && x.attempts >= 1), 6_000);
      const expire = waiting.find((x) => x.kind === 'expire')!;
      expect(expire, JSON.stringify(waiting)).toBeDefined();
      expect(await order(s.orderId)).toMatchObject({ status: 'PENDING' });
      const from = alarms;
      await sleep(1000);
      spun = alarms - from;
    } finally {
      await clearFaults(STRIPE, MATCH);
    }
    // Let the breaker close again, then the step runs: Stripe says paid.
    await sleep(COOLDOWN_MS + 100);
    await stub.retryStepsNow();
    expect(await order(s.orderId)).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 1000 } }, refunds: [] });
    expect(await available(s.p.sku)).toBe(1);
    expect(spun, `alarm invocations in one second while the expire step waited for its retry`).toBeLessThanOrEqual(3);
  });
});
