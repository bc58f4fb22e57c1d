/**
 * UPI / NETBANKING through Razorpay Orders end to end (issue 7), through the real Worker and the
 * Razorpay emulator (tools/local/emulators/razorpay.ts): what the shopper gets to pay, the signed
 * webhooks as Razorpay really sends them (payment entities without our notes when Checkout passed
 * none, refunds carrying our notes), amounts that do not match the order, an authorized-only
 * payment, the scheduled reconciliation of orders whose webhooks were lost (with Razorpay
 * answering 429/5xx), refunds and their webhooks, and a payment made after the shopper cancelled.
 * Complements workers/gateway/payment-faults.routes.test.ts (create retries, breaker, raw-body
 * HMAC, newest-first delivery) and pos-orders U1–U3.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { orderFor } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { toHex } from '../../shared/kernel/hex';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { admin, available, eventually, stockedProduct } from '../../test/support/orders';
import worker from './index';

const config = readConfig(env);
const RAZORPAY = config.RAZORPAY_API_BASE!;
const HOOK = '/v1/payments/webhooks/razorpay';

type Delivery = { type: string; eventId: string; headers: Record<string, string>; body: string };

const jsonPost = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function faults(spec: unknown): Promise<void> {
  const res = await fetch(`${RAZORPAY}/_emulator/faults`, jsonPost(spec));
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}
async function clearFaults(match: string): Promise<void> {
  await (await fetch(`${RAZORPAY}/_emulator/faults?match=${encodeURIComponent(match)}`, { method: 'DELETE' })).arrayBuffer();
}
async function requests(): Promise<Array<{ method: string; path: string; status: number }>> {
  return ((await (await fetch(`${RAZORPAY}/_emulator/requests`)).json()) as { requests: Array<{ method: string; path: string; status: number }> }).requests;
}
async function deliveries(needle: string): Promise<Delivery[]> {
  return ((await (await fetch(`${RAZORPAY}/_emulator/webhooks?match=${encodeURIComponent(needle)}`)).json()) as { deliveries: Delivery[] }).deliveries;
}
/** Razorpay Checkout paying the order (what the shopper's UPI app / bank does). */
async function pay(rzpOrder: string, outcome: 'authorized' | 'captured' | 'failed', method = 'upi'): Promise<any> {
  const res = await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method, outcome }));
  expect(res.status).toBe(200);
  return res.json();
}
/** The Razorpay API as the merchant's dashboard reads it. */
async function rzp(path: string): Promise<any> {
  const res = await fetch(`${RAZORPAY}${path}`, { headers: { authorization: `Basic ${btoa(`${config.RAZORPAY_KEY_ID}:${config.RAZORPAY_KEY_SECRET}`)}` } });
  expect(res.status, path).toBe(200);
  return res.json();
}
const paymentsOf = async (rzpOrder: string): Promise<any[]> => (await rzp(`/v1/orders/${rzpOrder}/payments`)).items;

async function sign(body: string, eventId = `evt_probe${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`): Promise<Record<string, string>> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.RAZORPAY_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body))));
  return { 'content-type': 'application/json', 'x-razorpay-signature': sig, 'x-razorpay-event-id': eventId };
}
/** Posts a delivery (or a signed body) to the webhook route; every one must be acknowledged 200. */
async function post(d: { headers: Record<string, string>; body: string }): Promise<any> {
  const { res, body } = await json(HOOK, { method: 'POST', headers: d.headers, body: d.body });
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}
async function postSigned(event: unknown): Promise<any> {
  const body = JSON.stringify(event);
  return post({ headers: await sign(body), body });
}
const rzpEvent = (event: string, payload: Record<string, unknown>, createdAt = Math.floor(Date.now() / 1000)) => ({
  entity: 'event',
  account_id: 'acc_EmulatorAcct01',
  event,
  contains: Object.keys(payload),
  payload: Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, { entity: v }])),
  created_at: createdAt,
});

const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const stepsOf = (orderId: string) => orderFor(env, orderId).pendingSteps();

/** A customer places a UPI (or NETBANKING) order of `quantity` units of a fresh product priced in rupees (the only currency UPI and netbanking take). */
async function placeUpi(units: number, quantity: number, price = 1500, paymentMethod: 'UPI' | 'NETBANKING' = 'UPI') {
  const p = await stockedProduct(units, price, { currency: 'INR' });
  const c = await newCustomer();
  const placed = await json('/v1/orders', jsonInit('POST', { items: [{ productId: p.productId, quantity }], paymentMethod }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  expect(placed.body.total).toEqual({ amount: quantity * price, currency: 'INR' });
  const orderId = placed.body.orderId as string;
  const rzpOrder = placed.body.payment.clientAction.razorpayOrderId as string;
  return { p, c, placed: placed.body, orderId, rzpOrder, attemptId: `${orderId}-pay1`, total: quantity * price, currency: placed.body.total.currency as string };
}
async function paidUpi(units: number, quantity: number, price = 1500) {
  const o = await placeUpi(units, quantity, price);
  await pay(o.rzpOrder, 'captured');
  for (const d of await deliveries(o.rzpOrder)) await post(d);
  expect(await order(o.orderId)).toMatchObject({ status: 'PAID' });
  return o;
}

/** The order's own entity and a payment of it, shaped as Razorpay's webhooks carry them. */
function entities(o: Awaited<ReturnType<typeof placeUpi>>, over: { amount?: number; currency?: string; status?: string; paymentNotes?: unknown } = {}) {
  const notes = { attemptId: o.attemptId, orderId: o.orderId, method: 'UPI' };
  const payment = {
    id: `pay_probe${crypto.randomUUID().replace(/-/g, '').slice(0, 8)}`,
    entity: 'payment',
    amount: over.amount ?? o.total,
    currency: over.currency ?? o.currency,
    status: over.status ?? 'captured',
    order_id: o.rzpOrder,
    method: 'upi',
    amount_refunded: 0,
    refund_status: null,
    captured: (over.status ?? 'captured') === 'captured',
    vpa: 'success@razorpay',
    notes: over.paymentNotes ?? notes,
    error_code: null,
    error_description: null,
    error_reason: null,
    created_at: Math.floor(Date.now() / 1000),
  };
  const amountPaid = over.amount ?? o.total;
  const rzpOrder = { id: o.rzpOrder, entity: 'order', amount: o.total, amount_paid: amountPaid, amount_due: o.total - amountPaid, currency: over.currency ?? o.currency, receipt: o.attemptId, status: 'paid', attempts: 1, notes };
  return { payment, order: rzpOrder };
}

async function ageInProjection(orderId: string): Promise<void> {
  await eventually(async () => (await rows(sql`select 1 from orders where id = ${orderId}`)).length, (n) => n === 1, 10_000);
  await rows(sql`update orders set updated_at = now() - interval '1 hour' where id = ${orderId}`);
}
async function runScheduled(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

// ================================================================================================

describe('what the shopper pays', () => {
  it('the Razorpay order handed to Checkout is for exactly the order total and currency, receipt = the attempt, notes name our order; only its owner reads it', async () => {
    const o = await placeUpi(3, 2, 1250, 'NETBANKING');
    expect(o.placed).toMatchObject({ status: 'PENDING', total: { amount: 2500 }, payment: { method: 'NETBANKING', status: 'requires_action', clientAction: { type: 'razorpay_order', razorpayOrderId: o.rzpOrder, keyId: config.RAZORPAY_KEY_ID } } });
    const atRzp = await rzp(`/v1/orders/${o.rzpOrder}`);
    expect(atRzp).toMatchObject({ amount: 2500, currency: o.currency, receipt: o.attemptId, status: 'created', notes: { attemptId: o.attemptId, orderId: o.orderId } });
    expect(await available(o.p.sku)).toBe(1);
    const mine = await json(`/v1/orders/${o.orderId}`, { headers: bearer(o.c.accessToken) });
    expect(mine.body.payment.clientAction).toEqual(o.placed.payment.clientAction);
    const other = await newCustomer();
    const theirs = await json(`/v1/orders/${o.orderId}`, { headers: bearer(other.accessToken) });
    expect([403, 404]).toContain(theirs.res.status);
    expect(JSON.stringify(theirs.body)).not.toContain(o.rzpOrder);
  });
});

describe('webhooks whose money does not match the order', () => {
  it('a signed payment.captured and order.paid for LESS than the order total never make it PAID (nor commit its stock)', async () => {
    const o = await placeUpi(3, 2, 1500);
    const short = entities(o, { amount: o.total - 100 });
    expect(await postSigned(rzpEvent('payment.captured', { payment: short.payment }))).toMatchObject({ received: true });
    expect(await postSigned(rzpEvent('order.paid', { payment: short.payment, order: short.order }))).toMatchObject({ received: true });
    // Not a payment of the order (docs/orders.md): cancelled, its stock released, what came in refunded.
    const live = await order(o.orderId);
    expect(live.status, `an order of ${o.total} paid ${o.total - 100}: ${JSON.stringify(live.payment)}`).toBe('CANCELLED');
    expect(live.cancelReason).toBe('payment_mismatch');
    expect(live.refunds).toEqual([expect.objectContaining({ refundId: `${o.orderId}-mismatch`, amount: { amount: o.total - 100, currency: o.currency } })]);
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
    expect(await stepsOf(o.orderId)).not.toContainEqual(expect.objectContaining({ kind: 'commit_stock' }));
  });

  it('a signed payment.captured for the right number in ANOTHER currency never makes it PAID', async () => {
    const o = await placeUpi(3, 1, 1500);
    const other = o.currency === 'USD' ? 'INR' : 'USD';
    const wrong = entities(o, { currency: other });
    await postSigned(rzpEvent('payment.captured', { payment: wrong.payment }));
    const live = await order(o.orderId);
    expect(live.status, `an order in ${o.currency} "paid" ${o.total} ${other}`).toBe('CANCELLED');
    expect(live.cancelReason).toBe('payment_mismatch');
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
  });
});

describe('webhooks as Razorpay sends them when Checkout passed no notes', () => {
  it('payment.failed whose payment entity carries no notes (only the Razorpay order id): the order still learns it failed and releases its stock', async () => {
    const o = await placeUpi(3, 2);
    const failed = { ...entities(o, { status: 'failed', paymentNotes: [] }).payment, captured: false, error_code: 'BAD_REQUEST_ERROR', error_description: 'Payment was declined by the bank', error_reason: 'payment_declined' };
    const ack = await postSigned(rzpEvent('payment.failed', { payment: failed }));
    expect(ack).toMatchObject({ received: true, ignored: false });
    const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 2_000);
    expect(live, 'a Razorpay payment.failed without Checkout notes is acknowledged and dropped (the Razorpay order id identifies our attempt)').toMatchObject({ status: 'PAYMENT_FAILED', payment: { status: 'failed' } });
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 3_000)).toBe(3);
  });
});

describe('an authorized-only payment', () => {
  it('NETBANKING authorized but not captured (manual capture at Razorpay): the saga asked for automatic capture, so the order captures it and is PAID, not left PENDING to be cancelled at the deadline', async () => {
    const o = await placeUpi(3, 1, 1500, 'NETBANKING');
    await pay(o.rzpOrder, 'authorized', 'netbanking');
    const ds = await deliveries(o.rzpOrder);
    expect(ds.map((d) => d.type)).toEqual(['payment.authorized']);
    await post(ds[0]!);
    // The cron's reconciliation asks Razorpay too.
    await ageInProjection(o.orderId);
    await runScheduled();
    const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 2_000);
    const atRzp = (await paymentsOf(o.rzpOrder)).map((p) => p.status);
    expect({ status: live.status, atRazorpay: atRzp }, 'the shopper\'s bank shows the money taken; the order never captures it').toEqual({ status: 'PAID', atRazorpay: ['captured'] });
    for (const d of await deliveries(o.rzpOrder)) await post(d);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 1500 } }, refunds: [] });
  });
});

describe('the scheduled reconciliation of UPI orders whose webhooks were lost', () => {
  it('Razorpay answers 429 then 500 on the lookup: one run still settles a paid order PAID and a failed one PAYMENT_FAILED; the late webhooks then change nothing', async () => {
    const a = await placeUpi(3, 2);
    const b = await placeUpi(3, 1);
    await pay(a.rzpOrder, 'captured');
    await pay(b.rzpOrder, 'failed');
    // Both webhook sets are lost (kept aside for later).
    const lateA = await deliveries(a.rzpOrder);
    const lateB = await deliveries(b.rzpOrder);
    expect(lateA.map((d) => d.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid']);
    for (const x of [a, b]) await ageInProjection(x.orderId);
    const MATCH = `GET /v1/orders/${a.rzpOrder}`;
    await faults({ errors: [{ status: 429, times: 1, match: MATCH }, { status: 500, times: 1, match: MATCH }] });
    try {
      await runScheduled();
    } finally {
      await clearFaults(MATCH);
    }
    const hits = (await requests()).filter((r) => r.method === 'GET' && r.path === `/v1/orders/${a.rzpOrder}`).map((r) => r.status);
    expect(hits.slice(0, 3)).toEqual([429, 500, 200]);
    const pa = await order(a.orderId);
    expect(pa).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: a.total } }, refunds: [] });
    const pb = await order(b.orderId);
    expect(pb).toMatchObject({ status: 'PAYMENT_FAILED', payment: { status: 'failed' } });
    expect(await eventually(() => available(a.p.sku), (n) => n === 1, 3_000)).toBe(1);
    expect(await eventually(() => available(b.p.sku), (n) => n === 3, 3_000)).toBe(3);
    for (const d of [...lateA, ...lateB]) await post(d);
    expect(await order(a.orderId)).toMatchObject({ status: 'PAID', version: pa.version, refunds: [] });
    expect(await order(b.orderId)).toMatchObject({ status: 'PAYMENT_FAILED', version: pb.version });
    expect(await available(a.p.sku)).toBe(1);
    expect((await paymentsOf(a.rzpOrder)).map((p) => p.amount_refunded)).toEqual([0]);
    // The projection: the payment row names Razorpay's order, one capture audited despite the late copies.
    const projected = await eventually(
      async () => (await rows<{ status: string; version: number }>(sql`select status, version::int as version from orders where id = ${a.orderId}`))[0],
      (r) => r?.version === pa.version,
      10_000,
    );
    expect(projected).toMatchObject({ status: 'PAID' });
    expect(await rows(sql`select provider, provider_ref, status, amount_captured::int as amount_captured from order_payments where order_id = ${a.orderId}`)).toEqual([
      { provider: 'razorpay', provider_ref: a.rzpOrder, status: 'captured', amount_captured: a.total },
    ]);
    expect(await rows(sql`select action from audit_log where target_id = ${a.orderId} and action = 'order.payment.captured'`)).toHaveLength(1);
  });
});

describe('refunds through Razorpay', () => {
  it('admin refunds a part, then the rest: each reaches Razorpay with our refund id and order id in its notes; the refund webhooks change nothing; a refund.failed later stops it counting', async () => {
    const o = await paidUpi(3, 2, 1500);
    const h = await admin();
    const k1 = crypto.randomUUID();
    const first = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1000, reason: 'scratched' }, { ...h, 'idempotency-key': k1 }));
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 1000 } }, refunds: [{ status: 'succeeded', amount: { amount: 1000 } }] });
    const r1 = (await orderFor(env, o.orderId).view())!.refunds[0]!;
    expect(r1.providerRefundRef).toMatch(/^rfnd_/);
    const atRzp = await rzp(`/v1/refunds/${r1.providerRefundRef}`);
    expect(atRzp).toMatchObject({ amount: 1000, status: 'processed', receipt: r1.refundId, notes: { refundId: r1.refundId, orderId: o.orderId } });
    const version = (await order(o.orderId)).version;
    const hooks = await deliveries(o.rzpOrder);
    expect(hooks.map((d) => d.type)).toEqual(['refund.created', 'refund.processed']);
    for (const d of [...hooks, ...hooks]) await post(d);
    expect(await order(o.orderId)).toMatchObject({ status: 'PARTIALLY_REFUNDED', version });
    const again = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1000, reason: 'scratched' }, { ...h, 'idempotency-key': k1 }));
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    await problem(`/v1/admin/orders/${o.orderId}/refunds`, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 2001, reason: 'too much' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    const rest = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2000, reason: 'returned' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(rest.res.status, JSON.stringify(rest.body)).toBe(201);
    expect(rest.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 3000 } } });
    const [paid] = await paymentsOf(o.rzpOrder);
    expect(paid).toMatchObject({ status: 'refunded', amount_refunded: 3000 });
    await problem(`/v1/admin/orders/${o.orderId}/refunds`, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 1, reason: 'more' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    for (const d of await deliveries(o.rzpOrder)) await post(d);
    // Razorpay reverses the first refund (the bank account was closed): signed as Razorpay does.
    const refundEntity = { ...atRzp, status: 'failed' };
    await postSigned(rzpEvent('refund.failed', { refund: refundEntity, payment: { ...paid, amount_refunded: 2000, status: 'captured' } }));
    const after = await order(o.orderId);
    expect(after.refunds.find((r: any) => r.refundId === r1.refundId)).toMatchObject({ status: 'failed' });
    expect(after.payment.amountRefunded.amount).toBe(2000);
    expect(after.status).toBe('REFUNDED');
  });

  it('Razorpay answers 429 then 502 to the refund: retried with the same X-Refund-Idempotency, the admin gets the settled refund in the same answer, ONE refund at Razorpay', async () => {
    const o = await paidUpi(3, 1, 1500);
    const [payment] = await paymentsOf(o.rzpOrder);
    const MATCH = `POST /v1/payments/${payment.id}/refund`;
    await faults({ errors: [{ status: 429, times: 1, match: MATCH }, { status: 502, times: 1, match: MATCH }] });
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1500, reason: 'never arrived' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 1500 } }, refunds: [{ status: 'succeeded' }] });
    } finally {
      await clearFaults(MATCH);
    }
    const posts = (await requests()).filter((x) => x.method === 'POST' && x.path === `/v1/payments/${payment.id}/refund`).map((x) => x.status);
    expect(posts).toEqual([429, 502, 200]);
    expect((await paymentsOf(o.rzpOrder))[0]).toMatchObject({ amount_refunded: 1500, refund_status: 'full' });
    expect(await stepsOf(o.orderId)).toEqual([]);
  });

  it('a refund whose answer was lost (Razorpay made it, every try timed out) is settled by refund.processed as Razorpay sends it: the payment entity without notes, the refund carrying our refund id and order id', async () => {
    const o = await paidUpi(3, 1, 1500);
    const [payment] = await paymentsOf(o.rzpOrder);
    const MATCH = `POST /v1/payments/${payment.id}/refund`;
    await faults({ delays: [{ ms: 1300, times: 4, match: MATCH }] });
    let refundId: string;
    try {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 600, reason: 'damaged' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 } }, refunds: [{ status: 'pending' }] });
      refundId = r.body.refunds[0].refundId;
    } finally {
      await clearFaults(MATCH);
    }
    expect((await paymentsOf(o.rzpOrder))[0].amount_refunded).toBe(600);
    const processed = (await deliveries(o.rzpOrder)).find((d) => d.type === 'refund.processed')!;
    expect(processed, 'Razorpay emitted refund.processed').toBeDefined();
    const ev = JSON.parse(processed.body);
    expect(ev.payload.refund.entity.notes).toEqual({ refundId, orderId: o.orderId });
    // Razorpay's payment entity holds only what Checkout passed: nothing here.
    ev.payload.payment.entity.notes = [];
    expect(await postSigned(ev)).toMatchObject({ received: true, ignored: false });
    const live = await order(o.orderId);
    expect(live, 'the refund webhook names the order in the refund\'s notes but is dropped').toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 600 } }, refunds: [{ refundId, status: 'succeeded' }] });
    await orderFor(env, o.orderId).retryStepsNow();
    expect((await paymentsOf(o.rzpOrder))[0].amount_refunded).toBe(600);
  });
});

describe('paid after the shopper gave up', () => {
  it('the shopper cancels a PENDING UPI order, then completes the open Checkout (Razorpay orders cannot be voided): CANCELLED stays, stock back once, the payment refunded at Razorpay exactly once, with our notes', async () => {
    const o = await placeUpi(4, 2);
    expect(await available(o.p.sku)).toBe(2);
    const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'found it cheaper' }, bearer(o.c.accessToken)));
    expect(c.res.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body.status).toBe('CANCELLED');
    await pay(o.rzpOrder, 'captured');
    const ds = await deliveries(o.rzpOrder);
    for (const d of [...ds, ...ds]) await post(d);
    const done = await eventually(() => order(o.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    expect(done).toMatchObject({ status: 'CANCELLED', payment: { amountCaptured: { amount: o.total }, amountRefunded: { amount: o.total } } });
    expect(done.refunds).toEqual([expect.objectContaining({ refundId: `${o.orderId}-late`, status: 'succeeded' })]);
    const [p] = await paymentsOf(o.rzpOrder);
    expect(p).toMatchObject({ status: 'refunded', amount_refunded: o.total });
    for (const d of await deliveries(o.rzpOrder)) await post(d);
    expect(await available(o.p.sku)).toBe(4);
    expect(await stepsOf(o.orderId)).toEqual([]);
    const audit = await eventually(
      async () => rows<{ action: string }>(sql`select action from audit_log where target_id = ${o.orderId} and action like 'order.refund.%' order by action`),
      (r) => r.some((x) => x.action === 'order.refund.succeeded'),
      10_000,
    );
    expect(audit.filter((x) => x.action === 'order.refund.succeeded')).toHaveLength(1);
  });
});

describe('webhook identity', () => {
  it('without X-Razorpay-Event-Id the signed body identifies the event: the same payment.captured twice is one event, PAID once; an upper-case hex signature is still the signature', async () => {
    const o = await placeUpi(3, 1);
    await pay(o.rzpOrder, 'captured');
    const ds = await deliveries(o.rzpOrder);
    const captured = ds.find((d) => d.type === 'payment.captured')!;
    const { 'x-razorpay-event-id': _id, ...noId } = captured.headers;
    const first = await post({ headers: noId, body: captured.body });
    const second = await post({ headers: { ...noId, 'x-razorpay-signature': noId['x-razorpay-signature']!.toUpperCase() }, body: captured.body });
    expect([first.duplicate, second.duplicate]).toEqual([false, true]);
    const live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'PAID', version: 2, payment: { amountCaptured: { amount: o.total } } });
    const inbox = await rows<{ n: number }>(sql`select count(*)::int as n from payment_webhook_events where provider = 'razorpay' and provider_ref = ${o.rzpOrder} and provider_type = 'payment.captured'`);
    expect(inbox).toEqual([{ n: 1 }]);
    await problem(HOOK, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: { ...captured.headers, 'x-razorpay-signature': `${captured.headers['x-razorpay-signature']}00` }, body: captured.body });
  });
});
