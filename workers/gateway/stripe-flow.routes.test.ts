/**
 * CARD payments (Stripe PaymentIntents) end to end as a demanding shop runs them, through the
 * real Worker and the Stripe emulator (tools/local/emulators/stripe.ts): 3-D Secure (the intent in
 * `requires_action`, then passed, failed or abandoned until the payment deadline), a decline then
 * another card on the same intent, Stripe's webhooks out of order, duplicated, replayed, signed
 * with old or rotated secrets, money Agora did not move (a refund from the Stripe dashboard, a
 * dispute), intents that do not pay the order (edited amount, another currency, another
 * integration's intent, unknown metadata), a cancellation racing the payment, and a double submit.
 *
 * Outcomes are read live: the order (GET /v1/orders/{id}), the PaymentIntents and refunds at the
 * emulator (as the Stripe dashboard shows them), the emulator's request log, the webhook inbox and
 * the audit rows. Faults are list-based (errors/delays scoped to one test's request) so test files
 * running side by side never share a switch; out-of-order and duplicate deliveries are made here
 * by posting the emulator's signed deliveries in another order, twice.
 *
 * Five of these failed before 0.3.15 (a retry after a decline refunded, a dashboard refund and a
 * dispute ignored, another integration's intent and an overpayment taken as the order's payment).
 * Complements payment-faults (provider outages), timing-races (deadline races) and razorpay-flow.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { orderFor } from '../../durable-objects/order/order.stub';
import { stableJson } from '../../durable-objects/order/order.logic';
import { readConfig } from '../../shared/env';
import { toHex } from '../../shared/kernel/hex';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { admin, available, emulator, eventually, paymentIntentOf, signStripe, STRIPE, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);
const HOOK = '/v1/payments/webhooks/stripe';
const DEADLINE_MS = config.ORDER_PAYMENT_TIMEOUT_SECONDS * 1000;

type Delivery = { type: string; headers: Record<string, string>; body: string };
type Clocked = { clock: { now: () => Date } };

// ------------------------------------------------------------------------------------------------
// Stripe (the emulator) as the shopper's browser and the merchant's dashboard use it
// ------------------------------------------------------------------------------------------------

const jsonPost = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const stripeAuth = { authorization: `Bearer ${config.STRIPE_SECRET_KEY}` };

async function stripeGet(path: string): Promise<any> {
  const res = await fetch(`${STRIPE}${path}`, { headers: stripeAuth });
  expect(res.status, path).toBe(200);
  return res.json();
}
/** A form-encoded Stripe API call (Stripe.js confirming, the dashboard refunding). */
async function stripePost(path: string, params: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${STRIPE}${path}`, { method: 'POST', headers: { ...stripeAuth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
  return { status: res.status, body: await res.json() };
}
/** What the card was charged and refunded, and where the intent stands. */
async function stripeMoney(pi: string): Promise<{ status: string; received: number; refunded: number }> {
  const p = await stripeGet(`/v1/payment_intents/${pi}?expand[]=latest_charge`);
  return { status: p.status, received: p.amount_received, refunded: p.latest_charge?.amount_refunded ?? 0 };
}
const intentsOf = async (attemptId: string): Promise<any[]> =>
  (await stripeGet(`/v1/payment_intents/search?query=${encodeURIComponent(`metadata['attemptId']:'${attemptId}'`)}`)).data;
async function stripeRequests(): Promise<Array<{ method: string; path: string; status: number; key?: string }>> {
  return ((await (await fetch(`${STRIPE}/_emulator/requests`)).json()) as { requests: Array<{ method: string; path: string; status: number; key?: string }> }).requests;
}
async function faults(spec: unknown): Promise<void> {
  const res = await fetch(`${STRIPE}/_emulator/faults`, jsonPost(spec));
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}
async function clearFaults(match: string): Promise<void> {
  await (await fetch(`${STRIPE}/_emulator/faults?match=${encodeURIComponent(match)}`, { method: 'DELETE' })).arrayBuffer();
}
/** The shopper's browser completes (or fails) the payment / the 3-D Secure challenge. */
const shopperPays = (pi: string) => emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
const shopperFails = (pi: string) => emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });

/** The emulator's signed webhooks about `pi` not handed out yet, oldest first. */
const drain = async (pi: string): Promise<Delivery[]> => ((await emulator(`/_emulator/webhooks?match=${encodeURIComponent(pi)}`)) as { deliveries: Delivery[] }).deliveries;

/** Posts deliveries to our route in the given order; every one must be acknowledged 200. */
async function post(ds: Array<{ type?: string; headers: Record<string, string>; body: string }>): Promise<any[]> {
  const acks = [];
  for (const d of ds) {
    const { res, body } = await json(HOOK, { method: 'POST', headers: d.headers, body: d.body });
    expect(res.status, `${d.type ?? 'event'}: ${JSON.stringify(body)}`).toBe(200);
    acks.push({ type: d.type, ...body });
  }
  return acks;
}
const deliverAll = async (pi: string) => post(await drain(pi));

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text))));
}
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Stripe event as Stripe sends it (the emulator's shape), signed with our endpoint's secret. */
async function signedEvent(type: string, object: Record<string, unknown>, created = nowSeconds()) {
  const id = `evt_probe${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const body = JSON.stringify({ id, object: 'event', api_version: '2026-10-29.clover', created, data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type });
  return { id, type, body, headers: await signStripe(body) };
}
/** A PaymentIntent object as Stripe's payment_intent.* events carry it. */
const intentObject = (id: string, o: { amount: number; received?: number; currency: string; metadata: Record<string, string>; status?: string }) => ({
  id,
  object: 'payment_intent',
  amount: o.amount,
  amount_capturable: 0,
  amount_received: o.received ?? o.amount,
  capture_method: 'automatic',
  currency: o.currency.toLowerCase(),
  last_payment_error: null,
  latest_charge: null,
  livemode: false,
  metadata: o.metadata,
  status: o.status ?? 'succeeded',
});

// ------------------------------------------------------------------------------------------------
// Orders
// ------------------------------------------------------------------------------------------------

const place = (body: unknown, token: string, key: string = crypto.randomUUID()) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key }));
const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const stepsOf = (orderId: string) => orderFor(env, orderId).pendingSteps();
const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
/** workers/orders/orders.service.ts refund: an admin refund's id (its Stripe Idempotency-Key). */
const adminRefundId = async (orderId: string, key: string) => `rfd_${toHex(await sha256(stableJson({ id: orderId, key }))).slice(0, 26)}`;
const audits = (orderId: string, action: string) => rows<{ action: string }>(sql`select action from audit_log where target_id = ${orderId} and action = ${action}`);

/** A placed CARD order of `quantity` units (of `units` in stock), its PaymentIntent not paid yet. */
async function cardOrder(units: number, quantity: number, price = 1000) {
  const p = await stockedProduct(units, price);
  const c = await newCustomer();
  const placed = await place({ items: [{ productId: p.productId, quantity }], paymentMethod: 'CARD' }, c.accessToken);
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  const orderId = placed.body.orderId as string;
  return { p, c, orderId, attemptId: `${orderId}-pay1`, pi: paymentIntentOf(placed.body), total: quantity * price, currency: placed.body.total.currency as string, stub: orderFor(env, orderId) };
}
/** A PAID CARD order (the shopper paid, Stripe's webhooks delivered). */
async function paidCardOrder(units: number, quantity: number, price = 1000) {
  const o = await cardOrder(units, quantity, price);
  await shopperPays(o.pi);
  await deliverAll(o.pi);
  expect(await order(o.orderId)).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: o.total } } });
  return o;
}
/** Moves an order object's clock `ms` ahead (its deadline then lies in the past). */
async function shiftClock(stub: DurableObjectStub, ms: number) {
  await runInDurableObject(stub, (x: unknown) => {
    (x as Clocked).clock = { now: () => new Date(Date.now() + ms) };
  });
}

// ================================================================================================

describe('3-D Secure: the intent in requires_action', () => {
  it('the challenge passes: PENDING while Stripe waits for the shopper (payment_intent.requires_action acknowledged, ignored), then PAID once, stock committed, one capture audited', async () => {
    const o = await cardOrder(3, 2);
    const confirm = await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_authenticationRequired' });
    expect(confirm.status).toBe(200);
    expect(confirm.body.status).toBe('requires_action');
    const waiting = await deliverAll(o.pi);
    expect(waiting.map((a) => [a.type, a.ignored])).toEqual([
      ['payment_intent.created', true],
      ['payment_intent.requires_action', true],
    ]);
    // The shopper (only the owner is shown the client secret) still has what Stripe.js needs.
    const mine = await json(`/v1/orders/${o.orderId}`, { headers: bearer(o.c.accessToken) });
    expect(mine.body).toMatchObject({ status: 'PENDING', version: 1, payment: { status: 'requires_action', clientAction: { type: 'stripe_client_secret' } } });
    expect(await available(o.p.sku)).toBe(1);

    await shopperPays(o.pi);
    await deliverAll(o.pi);
    const paid = await order(o.orderId);
    expect(paid).toMatchObject({ status: 'PAID', version: 2, payment: { status: 'captured', amountCaptured: { amount: 2000 }, amountRefunded: { amount: 0 } }, refunds: [] });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 0 });
    expect(await eventually(() => available(o.p.sku), (n) => n === 1, 3_000)).toBe(1);
    expect(await eventually(() => audits(o.orderId, 'order.payment.captured'), (r) => r.length > 0, 10_000)).toHaveLength(1);
    expect(await stepsOf(o.orderId)).toEqual([]);
  });

  it('the challenge fails: PAYMENT_FAILED with the failure, stock released, the intent cancelled at Stripe, nothing charged', async () => {
    const o = await cardOrder(3, 2);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_authenticationRequired' })).body.status).toBe('requires_action');
    await shopperFails(o.pi);
    await deliverAll(o.pi);
    const live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'PAYMENT_FAILED', payment: { status: 'failed', failure: { code: 'card_declined' }, amountCaptured: { amount: 0 } }, refunds: [] });
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
    expect(await stripeMoney(o.pi)).toEqual({ status: 'canceled', received: 0, refunded: 0 });
    const cancels = (await stripeRequests()).filter((r) => r.path === `/v1/payment_intents/${o.pi}/cancel`);
    expect(cancels.map((r) => [r.status, r.key])).toEqual([[200, `${o.attemptId}:cancel`]]);
    // Stripe's payment_intent.canceled afterwards changes nothing.
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAYMENT_FAILED', version: live.version });
  });

  it('the challenge is abandoned until the payment deadline: CANCELLED (payment_timeout), stock released, the intent cancelled at Stripe; its canceled webhook changes nothing', async () => {
    const o = await cardOrder(4, 2);
    await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_authenticationRequired' });
    await deliverAll(o.pi);
    await shiftClock(o.stub, DEADLINE_MS + 1_000);
    expect(await runDurableObjectAlarm(o.stub)).toBe(true);
    const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 5_000);
    expect(live).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_timeout', payment: { status: 'cancelled', amountCaptured: { amount: 0 } }, refunds: [], paymentDueAt: null });
    expect(await eventually(() => available(o.p.sku), (n) => n === 4, 3_000)).toBe(4);
    expect(await stripeMoney(o.pi)).toEqual({ status: 'canceled', received: 0, refunded: 0 });
    const hooks = await deliverAll(o.pi);
    expect(hooks.map((a) => a.type)).toEqual(['payment_intent.canceled']);
    expect(await order(o.orderId)).toMatchObject({ status: 'CANCELLED', version: live.version });
    expect(await stepsOf(o.orderId)).toEqual([]);
  });

  it('the deadline cancels the order while Stripe refuses the cancel (503), then the shopper completes the challenge: the capture is refunded in full once, CANCELLED stays, stock back, nothing left pending', async () => {
    const o = await cardOrder(4, 2);
    await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_authenticationRequired' });
    await deliverAll(o.pi);
    // Four 503s: the first try and its three retries (below the breaker's threshold of 5).
    const MATCH = `POST /v1/payment_intents/${o.pi}/cancel`;
    await faults({ errors: [{ status: 503, times: 4, match: MATCH }] });
    try {
      await shiftClock(o.stub, DEADLINE_MS + 1_000);
      expect(await runDurableObjectAlarm(o.stub)).toBe(true);
      const cancelled = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 5_000);
      expect(cancelled).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_timeout' });
      expect((await stepsOf(o.orderId)).map((s) => s.kind)).toEqual(['cancel_payment']);
    } finally {
      await clearFaults(MATCH);
    }
    await shopperPays(o.pi);
    await deliverAll(o.pi);
    const done = await eventually(() => order(o.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(done).toMatchObject({
      status: 'CANCELLED',
      payment: { status: 'captured', amountCaptured: { amount: 2000 }, amountRefunded: { amount: 2000 } },
      refunds: [{ refundId: `${o.orderId}-late`, status: 'succeeded', amount: { amount: 2000 } }],
    });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 2000 });
    expect(await eventually(() => available(o.p.sku), (n) => n === 4, 3_000)).toBe(4);
    await orderFor(env, o.orderId).retryStepsNow();
    expect(await stepsOf(o.orderId)).toEqual([]);
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'CANCELLED', version: done.version });
    expect((await stripeRequests()).filter((r) => r.path === '/v1/refunds' && r.key === `${o.orderId}-late`).map((r) => r.status)).toEqual([200]);
  });
});

describe('a decline, then another card on the same intent', () => {
  it('the decline\'s webhook comes in first: PAYMENT_FAILED (final, docs/orders.md), stock released, the intent cancelled so the next card is refused by Stripe; nothing charged', async () => {
    const o = await cardOrder(3, 2);
    const declined = await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_chargeDeclined' });
    expect(declined.status).toBe(402);
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAYMENT_FAILED', payment: { status: 'failed', failure: { code: 'card_declined' } }, refunds: [] });
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
    const retry = await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_visa' });
    expect(retry.status).toBe(400);
    expect(retry.body.error.code).toBe('payment_intent_unexpected_state');
    expect(await stripeMoney(o.pi)).toEqual({ status: 'canceled', received: 0, refunded: 0 });
  });

  it('the next card succeeds at Stripe before the decline\'s webhook arrives (Stripe.js retries on the same intent at once); the webhooks come in order: the order must end PAID once, not PAYMENT_FAILED with the money sent back', async () => {
    const o = await cardOrder(3, 2);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_chargeDeclined' })).status).toBe(402);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_visa' })).body.status).toBe('succeeded');
    const hooks = await deliverAll(o.pi);
    expect(hooks.map((a) => a.type)).toEqual(['payment_intent.created', 'payment_intent.payment_failed', 'charge.succeeded', 'payment_intent.succeeded']);
    const live = await eventually(() => order(o.orderId), (x) => x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    // The intent had succeeded at Stripe when the stale payment_failed came in (the shopper saw
    // "payment succeeded"): the saga asks Stripe before failing the order on a decline
    // (`confirm_failure`), finds it paid, and the order is PAID, no refund, stock committed.
    // (Before 0.3.15: PAYMENT_FAILED, stock released, the capture refunded as `<orderId>-late`.)
    expect({ status: live.status, captured: live.payment.amountCaptured.amount, refunds: live.refunds.map((r: any) => r.refundId) }).toEqual({ status: 'PAID', captured: 2000, refunds: [] });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 0 });
    expect(await eventually(() => available(o.p.sku), (n) => n === 1, 3_000)).toBe(1);
  });

  it('after the decline the shopper tries a card that needs 3-D Secure: the decline is not the intent\'s last word (Stripe is asked: requires_action), PENDING, nothing cancelled; the challenge passes: PAID, no failure on the trail', async () => {
    const o = await cardOrder(3, 1);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_chargeDeclined' })).status).toBe(402);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_authenticationRequired' })).body.status).toBe('requires_action');
    const hooks = await deliverAll(o.pi);
    expect(hooks.map((a) => a.type)).toEqual(['payment_intent.created', 'payment_intent.payment_failed', 'payment_intent.requires_action']);
    expect(await order(o.orderId)).toMatchObject({ status: 'PENDING', version: 1 });
    expect(await stepsOf(o.orderId)).toEqual([]);
    expect((await stripeRequests()).filter((r) => r.path === `/v1/payment_intents/${o.pi}/cancel`)).toEqual([]);
    expect(await available(o.p.sku)).toBe(2);
    await shopperPays(o.pi);
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: 2, payment: { amountCaptured: { amount: 1000 }, failure: null }, refunds: [] });
    expect(await eventually(() => audits(o.orderId, 'order.payment.captured'), (r) => r.length > 0, 10_000)).toHaveLength(1);
    expect(await audits(o.orderId, 'order.payment.failed')).toEqual([]);
  });

  it('the same, Stripe delivering newest first and every event twice, then a stale payment_intent.processing: PAID once (version 2), no refund, one inbox row per event, one capture audited', async () => {
    const o = await cardOrder(3, 1);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_chargeDeclined' })).status).toBe(402);
    expect((await stripePost(`/v1/payment_intents/${o.pi}/confirm`, { payment_method: 'pm_card_visa' })).body.status).toBe('succeeded');
    const ds = (await drain(o.pi)).reverse();
    expect(ds.map((d) => d.type)).toEqual(['payment_intent.succeeded', 'charge.succeeded', 'payment_intent.payment_failed', 'payment_intent.created']);
    const first = await post(ds);
    const again = await post(ds);
    expect(first.filter((a) => !a.ignored).map((a) => a.duplicate)).toEqual([false, false]);
    expect(again.filter((a) => !a.ignored).map((a) => a.duplicate)).toEqual([true, true]);
    const processing = await signedEvent('payment_intent.processing', intentObject(o.pi, { amount: 1000, received: 0, currency: o.currency, metadata: { attemptId: o.attemptId, orderId: o.orderId }, status: 'processing' }), nowSeconds() - 60);
    await post([processing]);
    const live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'PAID', version: 2, payment: { status: 'captured', amountCaptured: { amount: 1000 }, failure: null }, refunds: [] });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 1000, refunded: 0 });
    expect(await eventually(() => available(o.p.sku), (n) => n === 2, 3_000)).toBe(2);
    const inbox = await rows<{ provider_type: string; n: number }>(
      sql`select provider_type, count(*)::int as n from payment_webhook_events where provider = 'stripe' and provider_ref = ${o.pi} group by provider_type order by provider_type`,
    );
    expect(inbox).toEqual([
      { provider_type: 'payment_intent.payment_failed', n: 1 },
      { provider_type: 'payment_intent.processing', n: 1 },
      { provider_type: 'payment_intent.succeeded', n: 1 },
    ]);
    expect(await eventually(() => audits(o.orderId, 'order.payment.captured'), (r) => r.length > 0, 10_000)).toHaveLength(1);
    expect(await audits(o.orderId, 'order.payment.failed')).toEqual([]);
  });
});

describe('webhook signatures', () => {
  it('replayed past the 5-minute tolerance, signed with another secret, v0 only, altered or unsigned: 400 WEBHOOK_SIGNATURE_INVALID and no effect; a rotation header (one v1 per secret, ours second) within tolerance is accepted', async () => {
    const o = await cardOrder(3, 1);
    await shopperPays(o.pi);
    const succeeded = (await drain(o.pi)).find((d) => d.type === 'payment_intent.succeeded')!;
    const body = succeeded.body;
    const secret = config.STRIPE_WEBHOOK_SECRET!;
    const t = nowSeconds();
    const sig = (secretKey: string, at: number, text = body) => hmacHex(secretKey, `${at}.${text}`);
    const altered = JSON.stringify({ ...JSON.parse(body), data: { object: { ...JSON.parse(body).data.object, amount_received: 1, amount: 1 } } }, null, 2);
    const refused: Array<[string, Record<string, string>, string]> = [
      ['replayed 10 minutes later', await signStripe(body, t - 600), body],
      ['another secret', { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${await sig('whsec_not_ours_0123456789', t)}` }, body],
      ['v0 only', { 'content-type': 'application/json', 'stripe-signature': `t=${t},v0=${await sig(secret, t)}` }, body],
      ['altered body', succeeded.headers, altered],
      ['unsigned', { 'content-type': 'application/json' }, body],
    ];
    for (const [label, headers, text] of refused) {
      const p = await problem(HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers, body: text }).catch((e: Error) => {
        throw new Error(`${label}: ${e.message}`);
      });
      expect(p.code, label).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    expect(await order(o.orderId)).toMatchObject({ status: 'PENDING', version: 1 });
    expect(await rows(sql`select 1 from payment_webhook_events where provider_ref = ${o.pi} and provider_type = 'payment_intent.succeeded'`)).toEqual([]);

    const rotated = { 'content-type': 'application/json', 'stripe-signature': `t=${t - 120},v1=${await sig('whsec_previous_secret_0123', t - 120)},v1=${await sig(secret, t - 120)}` };
    const [ack] = await post([{ type: 'rotated', headers: rotated, body }]);
    expect(ack).toMatchObject({ received: true, duplicate: false, ignored: false, delivered: true });
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: 2, payment: { amountCaptured: { amount: 1000 } } });
  });
});

describe('refunds and their webhooks', () => {
  it('an admin refund whose answer was lost (Stripe made it, every try timed out) is settled by Stripe\'s webhooks arriving newest first (charge.refunded before refund.created); a stale pending refund.updated after does not undo it; refunded once', async () => {
    const o = await paidCardOrder(3, 2);
    const key = crypto.randomUUID();
    const refundId = await adminRefundId(o.orderId, key);
    const MATCH = `key=${refundId}`;
    await faults({ delays: [{ ms: 1200, times: 4, match: MATCH }] });
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2000, reason: 'lost in transit' }, { ...(await admin()), 'idempotency-key': key }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending' }] });
    } finally {
      await clearFaults(MATCH);
    }
    const ds = (await drain(o.pi)).reverse();
    expect(ds.map((d) => d.type)).toEqual(['charge.refunded', 'refund.created']);
    const acks = await post(ds);
    expect(acks.map((a) => [a.type, a.ignored])).toEqual([
      ['charge.refunded', true],
      ['refund.created', false],
    ]);
    const settled = await order(o.orderId);
    expect(settled).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2000 } }, refunds: [{ refundId, status: 'succeeded' }] });
    const created = JSON.parse(ds[1]!.body).data.object;
    const stale = await signedEvent('refund.updated', { ...created, status: 'pending' }, nowSeconds() - 30);
    await post([stale]);
    expect(await order(o.orderId)).toMatchObject({ status: 'REFUNDED', version: settled.version, refunds: [{ refundId, status: 'succeeded' }] });
    // Refunded in full before shipping: the units go back.
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
    await orderFor(env, o.orderId).retryStepsNow();
    expect(await stepsOf(o.orderId)).toEqual([]);
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 2000 });
  });
});

describe('money Agora did not move', () => {
  it('a refund made in the Stripe dashboard (no metadata of ours): the order must reflect it, so Agora never offers to refund money already sent back', async () => {
    const o = await paidCardOrder(3, 2);
    const outside = await stripePost('/v1/refunds', { payment_intent: o.pi, amount: '600' });
    expect(outside.status).toBe(200);
    expect(outside.body).toMatchObject({ status: 'succeeded', amount: 600, metadata: {} });
    const ds = await drain(o.pi);
    const acks = await post(ds);
    expect(acks.map((a) => a.type)).toEqual(['refund.created', 'charge.refunded']);
    const live = await order(o.orderId);
    const more = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2000, reason: 'returned' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    // The dashboard refund names no order: payments correlates it through its PaymentIntent (whose
    // metadata is ours) and the order records it as an external refund, so an admin refund of the
    // full 2000 is refused (422: only 1400 left). (Before 0.3.15 it was dropped, the order stayed
    // PAID with nothing refunded, and Agora accepted a refund of 2000 that Stripe then refused.)
    expect({ status: live.status, amountRefunded: live.payment.amountRefunded.amount, adminRefundOf2000: more.res.status }).toEqual({
      status: 'PARTIALLY_REFUNDED',
      amountRefunded: 600,
      adminRefundOf2000: 422,
    });
    expect(more.body.code).toBe('REFUND_EXCEEDS_CAPTURED');
    expect(live.refunds).toEqual([expect.objectContaining({ refundId: `ext:${outside.body.id}`, status: 'succeeded', amount: { amount: 600, currency: o.currency } })]);
    // On the trail as money Stripe moved (its dashboard), not Agora.
    const trail = await eventually(
      () => rows<{ actor_kind: string; actor_id: string | null; amount: number; external: boolean }>(sql`select actor_kind, actor_id, (data->>'amount')::int as amount, (data->>'external')::boolean as external from audit_log where target_id = ${o.orderId} and action = 'order.refund.succeeded'`),
      (r) => r.length > 0,
      10_000,
    );
    expect(trail).toEqual([{ actor_kind: 'system', actor_id: 'stripe', amount: 600, external: true }]);
    // Stripe sending it again changes nothing; what is left can still be refunded, once.
    await post(ds);
    expect(await order(o.orderId)).toMatchObject({ status: 'PARTIALLY_REFUNDED', version: live.version });
    const rest = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1400, reason: 'returned' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(rest.res.status, JSON.stringify(rest.body)).toBe(201);
    await deliverAll(o.pi);
    expect(await eventually(() => order(o.orderId), (x) => x.status === 'REFUNDED', 5_000)).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2000 }, refundOwed: { amount: 0 } } });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 2000 });
  });

  it('a dispute (charge.dispute.created) is acknowledged 200 without a 500, and recorded somewhere an operator can see it', async () => {
    const o = await paidCardOrder(3, 1);
    const charge = (await stripeGet(`/v1/payment_intents/${o.pi}?expand[]=latest_charge`)).latest_charge.id as string;
    const dispute = await signedEvent('charge.dispute.created', {
      id: `dp_probe${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`,
      object: 'dispute',
      amount: 1000,
      currency: o.currency.toLowerCase(),
      charge,
      payment_intent: o.pi,
      reason: 'fraudulent',
      status: 'needs_response',
      metadata: {},
      evidence_details: { due_by: nowSeconds() + 7 * 86_400, has_evidence: false, past_due: false, submission_count: 0 },
      is_charge_refundable: false,
      livemode: false,
    });
    const [ack] = await post([dispute]);
    expect(ack.received).toBe(true);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID' });
    const inbox = await rows(sql`select 1 from payment_webhook_events where provider = 'stripe' and event_id = ${dispute.id}`);
    const audited = await rows(sql`select 1 from audit_log where target_id = ${o.orderId} and action like '%dispute%'`);
    // The dispute is a payment event of its own (`disputed`), recorded in the webhook inbox and
    // correlated to the order through its PaymentIntent, so someone answers it before
    // evidence_details.due_by. (Before 0.3.15: `ignored: true`, nothing stored anywhere.)
    expect({ ignored: ack.ignored, recorded: inbox.length + audited.length > 0 }).toEqual({ ignored: false, recorded: true });
    const [stored] = await rows<{ type: string; event: any }>(sql`select type, event from payment_webhook_events where provider = 'stripe' and event_id = ${dispute.id}`);
    expect(stored).toMatchObject({
      type: 'disputed',
      event: { providerRef: o.pi, amount: { amount: 1000, currency: o.currency }, dispute: { status: 'needs_response', reason: 'fraudulent', evidenceDueBy: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } },
    });
    // On the order (admins see it in GET /v1/orders/{id}) and on the audit trail.
    const disputeId = JSON.parse(dispute.body).data.object.id as string;
    const due = new Date(JSON.parse(dispute.body).data.object.evidence_details.due_by * 1000).toISOString();
    const live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'PAID', payment: { dispute: { disputeRef: disputeId, status: 'needs_response', reason: 'fraudulent', amount: { amount: 1000, currency: o.currency }, evidenceDueBy: due } } });
    const opened = await eventually(() => rows<{ actor_id: string | null; status: string }>(sql`select actor_id, data->>'status' as status from audit_log where target_id = ${o.orderId} and action = 'order.payment.dispute.opened'`), (r) => r.length > 0, 10_000);
    expect(opened).toEqual([{ actor_id: 'stripe', status: 'needs_response' }]);
    // Stripe closes it (lost); the same event again changes nothing.
    const closed = await signedEvent('charge.dispute.closed', { ...JSON.parse(dispute.body).data.object, status: 'lost' }, nowSeconds() + 1);
    await post([closed, closed]);
    const after = await order(o.orderId);
    expect(after).toMatchObject({ status: 'PAID', version: live.version + 1, payment: { dispute: { disputeRef: disputeId, status: 'lost' } } });
  });
});

describe('intents that do not pay this order', () => {
  it('a succeeded intent for less than the order (amount edited) or in another currency never makes it PAID: CANCELLED (payment_mismatch), stock released, what came in to be refunded', async () => {
    const short = await cardOrder(3, 2);
    const metadata = (x: { attemptId: string; orderId: string }) => ({ attemptId: x.attemptId, orderId: x.orderId });
    await post([await signedEvent('payment_intent.succeeded', intentObject(short.pi, { amount: 1500, currency: short.currency, metadata: metadata(short) }))]);
    const a = await eventually(() => order(short.orderId), (x) => x.status !== 'PENDING', 3_000);
    expect(a).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_mismatch' });
    expect(a.refunds).toEqual([expect.objectContaining({ refundId: `${short.orderId}-mismatch`, amount: { amount: 1500, currency: short.currency } })]);
    expect(await eventually(() => available(short.p.sku), (n) => n === 3, 3_000)).toBe(3);

    const foreign = await cardOrder(3, 1);
    const other = foreign.currency === 'USD' ? 'EUR' : 'USD';
    await post([await signedEvent('payment_intent.succeeded', intentObject(foreign.pi, { amount: 1000, currency: other, metadata: metadata(foreign) }))]);
    const b = await eventually(() => order(foreign.orderId), (x) => x.status !== 'PENDING', 3_000);
    expect(b).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_mismatch' });
    expect(await eventually(() => available(foreign.p.sku), (n) => n === 3, 3_000)).toBe(3);
    for (const id of [short.orderId, foreign.orderId]) expect(await stepsOf(id)).not.toContainEqual(expect.objectContaining({ kind: 'commit_stock' }));
  });

  it('a succeeded intent for MORE than the order (amount edited upwards): the shop must not keep the excess silently (not PAID, or the difference refunded)', async () => {
    const o = await cardOrder(3, 2);
    await post([await signedEvent('payment_intent.succeeded', intentObject(o.pi, { amount: 2500, currency: o.currency, metadata: { attemptId: o.attemptId, orderId: o.orderId } }))]);
    const live = await order(o.orderId);
    const requested = (live.refunds as Array<{ amount: { amount: number } }>).reduce((n, r) => n + r.amount.amount, 0);
    // An order charged 2500 for 2000 worth of goods is PAID its total and the 500 excess refunded
    // at once (`<orderId>-excess`). (Before 0.3.15: PAID with amountCaptured 2500 and no refund.)
    const captured = live.payment.amountCaptured.amount as number;
    expect(live.status === 'PAID' && captured - requested > o.total, `${live.status}: ${captured} captured for an order of ${o.total}, ${requested} to be refunded`).toBe(false);
    expect(live).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 2000 }, amountRefunded: { amount: 0 } } });
    expect(live.refunds.map((r: any) => [r.refundId, r.amount.amount])).toEqual([[`${o.orderId}-excess`, 500]]);
    // The excess is not the order's money: all 2000 of it may still be refunded, no more.
    const over = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2001, reason: 'probe' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect([over.res.status, over.body.code]).toEqual([422, 'REFUND_EXCEEDS_CAPTURED']);
    const requestedRows = await eventually(() => rows<{ refund_id: string; amount: number }>(sql`select data->>'refundId' as refund_id, (data->>'amount')::int as amount from audit_log where target_id = ${o.orderId} and action = 'order.refund.requested'`), (r) => r.length > 0, 10_000);
    expect(requestedRows).toEqual([{ refund_id: `${o.orderId}-excess`, amount: 500 }]);
  });

  it('a succeeded intent naming our order in its metadata but without our attempt id (another integration\'s or a dashboard-made intent): the order\'s own intent is unpaid, so it must stay PENDING', async () => {
    const o = await cardOrder(3, 2);
    const otherPi = `pi_foreign${crypto.randomUUID().replace(/-/g, '').slice(0, 14)}`;
    const [ack] = await post([await signedEvent('payment_intent.succeeded', intentObject(otherPi, { amount: 2000, currency: o.currency, metadata: { orderId: o.orderId } }))]);
    expect(ack.received).toBe(true);
    const live = await order(o.orderId);
    // PENDING (version 1, nothing captured): our own PaymentIntent o.pi is unpaid; a Stripe intent
    // without our attempt id, or other than the order's own, is not the order's payment. (Before
    // 0.3.15: PAID with 2000 "captured", its stock committed, and a refund would have gone to o.pi.)
    expect({ status: live.status, version: live.version, captured: live.payment.amountCaptured.amount }).toEqual({ status: 'PENDING', version: 1, captured: 0 });
    expect(await stripeMoney(o.pi)).toMatchObject({ status: 'requires_payment_method', received: 0 });
  });

  it('a succeeded intent carrying our attempt id but not the order\'s own intent (the order knows its intent): ignored, the order stays PENDING, its own intent can still pay it', async () => {
    const o = await cardOrder(3, 1);
    const otherPi = `pi_copy${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
    await post([await signedEvent('payment_intent.succeeded', intentObject(otherPi, { amount: 1000, currency: o.currency, metadata: { attemptId: o.attemptId, orderId: o.orderId } }))]);
    expect(await order(o.orderId)).toMatchObject({ status: 'PENDING', version: 1, payment: { amountCaptured: { amount: 0 } } });
    await shopperPays(o.pi);
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: 2, payment: { amountCaptured: { amount: 1000 } }, refunds: [] });
  });

  it('intents of another shop or unknown metadata (an unknown order, another order\'s attempt, no metadata): acknowledged 200, delivered, no effect on any order', async () => {
    const o = await cardOrder(3, 1);
    const ghost = `ord_${'z'.repeat(10)}${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const events = [
      await signedEvent('payment_intent.succeeded', intentObject(`pi_shop2${crypto.randomUUID().slice(0, 8)}`, { amount: 1000, currency: o.currency, metadata: { attemptId: `${ghost}-pay1`, orderId: ghost } })),
      await signedEvent('payment_intent.succeeded', intentObject(o.pi, { amount: 1000, currency: o.currency, metadata: { attemptId: 'ord_someoneelse00000000000000-pay1', orderId: o.orderId } })),
      await signedEvent('payment_intent.succeeded', intentObject(`pi_shop3${crypto.randomUUID().slice(0, 8)}`, { amount: 1000, currency: o.currency, metadata: { shop: 'elsewhere', order: '42' } })),
      await signedEvent('payment_intent.payment_failed', intentObject(`pi_shop4${crypto.randomUUID().slice(0, 8)}`, { amount: 1000, currency: o.currency, metadata: {}, status: 'requires_payment_method' })),
    ];
    const acks = await post(events);
    expect(acks.map((a) => ({ received: a.received, delivered: a.delivered }))).toEqual(events.map(() => ({ received: true, delivered: true })));
    expect(await order(o.orderId)).toMatchObject({ status: 'PENDING', version: 1, payment: { amountCaptured: { amount: 0 } } });
    expect(await available(o.p.sku)).toBe(2);
    // Nothing left for redeliverPending to offer forever.
    const inbox = await rows<{ delivered: boolean; last_error: string | null }>(
      sql`select delivered_at is not null as delivered, last_error from payment_webhook_events where event_id in (${sql.join(events.map((e) => sql`${e.id}`), sql`, `)})`,
    );
    expect(inbox).toEqual(events.map(() => ({ delivered: true, last_error: null })));
  });
});

describe('a cancellation racing the payment', () => {
  it('the shopper cancels while the intent is being paid (succeeded at Stripe, webhook not in yet): CANCELLED stays, the capture refunded once, stock released and never committed; the late webhooks change nothing', async () => {
    const o = await cardOrder(4, 2);
    await shopperPays(o.pi);
    const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(o.c.accessToken)));
    expect(c.res.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body.status).toBe('CANCELLED');
    const hooks = await drain(o.pi);
    await post([...hooks, ...hooks]);
    const done = await eventually(() => order(o.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(done).toMatchObject({
      status: 'CANCELLED',
      payment: { status: 'captured', amountCaptured: { amount: 2000 }, amountRefunded: { amount: 2000 } },
      refunds: [{ refundId: `${o.orderId}-late`, status: 'succeeded', amount: { amount: 2000 } }],
    });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 2000, refunded: 2000 });
    expect(await eventually(() => available(o.p.sku), (n) => n === 4, 3_000)).toBe(4);
    expect((await orderFor(env, o.orderId).view())!.stock.status).toBe('released');
    expect(await stepsOf(o.orderId)).toEqual([]);
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ status: 'CANCELLED', version: done.version });
  });
});

describe('an intent still processing', () => {
  it('the shopper cancels while the payment is processing (Stripe refuses to cancel it): the cancel step stays and retries; the payment then succeeds with its webhooks lost: the retry finds it captured and refunds it once', async () => {
    const o = await cardOrder(3, 1);
    expect((await emulator(`/_emulator/payment_intents/${o.pi}/processing`, { method: 'POST' })).status).toBe('processing');
    const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(o.c.accessToken)));
    expect([c.res.status, c.body.status]).toEqual([200, 'CANCELLED']);
    const cancels = (await stripeRequests()).filter((r) => r.path === `/v1/payment_intents/${o.pi}/cancel`);
    expect(cancels.map((r) => r.status)).toEqual([400]);
    // Not cancelled at Stripe: the step waits for the intent to settle, so the order does not say it is.
    const steps = await stepsOf(o.orderId);
    expect(steps.map((s) => s.kind)).toEqual(['cancel_payment']);
    expect(steps[0]!.lastError).toMatch(/processing/);
    expect((await order(o.orderId)).payment.status).not.toBe('cancelled');
    await shopperPays(o.pi);
    await drain(o.pi); // its webhooks never arrive
    await orderFor(env, o.orderId).retryStepsNow();
    const done = await eventually(() => order(o.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(done).toMatchObject({
      status: 'CANCELLED',
      payment: { status: 'captured', amountCaptured: { amount: 1000 }, amountRefunded: { amount: 1000 } },
      refunds: [{ refundId: `${o.orderId}-late`, status: 'succeeded', amount: { amount: 1000 } }],
    });
    expect(await stripeMoney(o.pi)).toEqual({ status: 'succeeded', received: 1000, refunded: 1000 });
    expect(await stepsOf(o.orderId)).toEqual([]);
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
  });
});

describe('a double submit', () => {
  it('two POST /v1/orders with the same Idempotency-Key at once: one order, one PaymentIntent at Stripe, the same client secret in both answers, the stock held once', async () => {
    const p = await stockedProduct(3, 1000);
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' };
    const [a, b] = await Promise.all([place(body, c.accessToken, key), place(body, c.accessToken, key)]);
    expect([a.res.status, b.res.status], JSON.stringify([a.body, b.body])).toEqual([201, 201]);
    expect(b.body.orderId).toBe(a.body.orderId);
    expect(paymentIntentOf(b.body)).toBe(paymentIntentOf(a.body));
    expect(b.body.payment.clientAction.clientSecret).toBe(a.body.payment.clientAction.clientSecret);
    const attemptId = `${a.body.orderId}-pay1`;
    expect((await intentsOf(attemptId)).map((pi) => pi.id)).toEqual([paymentIntentOf(a.body)]);
    const creates = (await stripeRequests()).filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.key === attemptId);
    expect(creates.map((r) => r.status)).toEqual([200]);
    expect(await available(p.sku)).toBe(2);
  });
});
