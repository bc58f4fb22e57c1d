/**
 * Money the shop must give back, and who is named for a cancellation (issue 7, checkout saga),
 * through the real Worker and the provider emulators (docs/orders.md, "Fulfilment, cancellation,
 * refunds" and "Refunds that fail"):
 * - R: a refund of an order that can never ship fails (pending then failed, or a succeeded one
 *   reversed): the saga refunds what is owed afresh (`<orderId>-owed-<n>`), a bounded number of
 *   times, then the order shows what it owes (`payment.refundOwed`), with an event and an audit
 *   row; an order that can still ship leaves it to the admin, and its view tells the amount.
 * - D: a Razorpay order paid twice (a UPI retry, two tabs): the second capture is refunded in
 *   full, once, counted nowhere; from webhooks, after a cancellation, and by reconciliation.
 * - C: UPI and NETBANKING take rupees only: refused at placement, nothing held, nothing asked.
 * - A: the `order.cancelled` audit row names the person who cancelled.
 * The owed refunds wait for their delay (a minute, then more); the tests make them due at once
 * through the object's `retryStepsNow()` (the operators' "retry now") instead of waiting.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { duplicateRefundId, owedRefundId } from '../../durable-objects/order/order.logic';
import { orderFor } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, STRIPE, stockedProduct } from '../../test/support/orders';
import worker from './index';

const config = readConfig(env);
const RAZORPAY = config.RAZORPAY_API_BASE!;

type Product = Awaited<ReturnType<typeof stockedProduct>>;
type Customer = Awaited<ReturnType<typeof newCustomer>>;

const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const stepsOf = (orderId: string) => orderFor(env, orderId).pendingSteps();
const jsonPost = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function place(p: Product, quantity: number, paymentMethod: string, c?: Customer) {
  const who = c ?? (await newCustomer());
  const placed = await json('/v1/orders', jsonInit('POST', { items: [{ productId: p.productId, quantity }], paymentMethod }, { ...bearer(who.accessToken), 'idempotency-key': crypto.randomUUID() }));
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  return { c: who, orderId: placed.body.orderId as string, body: placed.body, total: placed.body.total.amount as number };
}

/** A CARD order paid at the Stripe emulator, its webhooks delivered: PAID. */
async function paidCard(p: Product, quantity: number, c?: Customer) {
  const o = await place(p, quantity, 'CARD', c);
  const pi = paymentIntentOf(o.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  expect((await order(o.orderId)).status).toBe('PAID');
  return { ...o, pi };
}

/** Runs `fn` with the Stripe emulator leaving pending every refund whose request names `needle` (an order id). */
async function withPendingRefunds<T>(needle: string, fn: () => Promise<T>): Promise<T> {
  const res = await fetch(`${STRIPE}/_emulator/faults`, jsonPost({ pendingRefunds: needle }));
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  try {
    return await fn();
  } finally {
    await (await fetch(`${STRIPE}/_emulator/faults?match=${encodeURIComponent(needle)}`, { method: 'DELETE' })).arrayBuffer();
  }
}

/** The bank answers a refund at Stripe (`succeed`/`fail` a pending one, `reverse` a succeeded one), and Stripe's webhooks reach us. */
async function atStripe(orderId: string, refundId: string, pi: string, outcome: 'succeed' | 'fail' | 'reverse') {
  const ref = (await orderFor(env, orderId).view())!.refunds.find((r) => r.refundId === refundId)?.providerRefundRef;
  expect(ref, `refund ${refundId} has no Stripe id`).toMatch(/^re_/);
  const res = await fetch(`${STRIPE}/_emulator/refunds/${ref}/${outcome}`, { method: 'POST' });
  expect(res.status, await res.text()).toBe(200);
  await deliverWebhooks(pi);
}

/** What Stripe refunded of the order's charge in the end. */
const stripeRefunded = async (pi: string) =>
  (await emulator(`/v1/payment_intents/${pi}?expand[]=latest_charge`, { headers: { authorization: `Bearer ${config.STRIPE_SECRET_KEY}` } })).latest_charge.amount_refunded as number;

const refundsOf = (o: { refunds: Array<{ refundId: string; status: string; amount: { amount: number } }> }) => o.refunds.map((r) => [r.refundId, r.status, r.amount.amount]);

async function audit(orderId: string, like: string) {
  return rows<{ action: string; outcome: string; actor_kind: string; actor_id: string | null; refund_id: string | null; amount: number | null; change: string | null; refund_owed: number | null }>(
    sql`select action, outcome, actor_kind, actor_id, data->>'refundId' as refund_id, (data->>'amount')::int as amount, data->>'change' as change, (data->>'refundOwed')::int as refund_owed
          from audit_log where target_id = ${orderId} and action like ${like} order by occurred_at, id`,
  );
}

// ---- Razorpay ------------------------------------------------------------------------------

type Delivery = { type: string; headers: Record<string, string>; body: string };

async function deliveries(needle: string): Promise<Delivery[]> {
  return ((await (await fetch(`${RAZORPAY}/_emulator/webhooks?match=${encodeURIComponent(needle)}`)).json()) as { deliveries: Delivery[] }).deliveries;
}
async function post(ds: Delivery[]): Promise<void> {
  for (const d of ds) {
    const { res, body } = await json('/v1/payments/webhooks/razorpay', { method: 'POST', headers: d.headers, body: d.body });
    expect(res.status, JSON.stringify(body)).toBe(200);
  }
}
/** The shopper pays the Razorpay order (its Checkout, their UPI app). */
async function pay(rzpOrder: string): Promise<{ id: string }> {
  const res = await fetch(`${RAZORPAY}/_emulator/orders/${rzpOrder}/pay`, jsonPost({ method: 'upi', outcome: 'captured' }));
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string };
}
async function rzp(path: string): Promise<any> {
  const res = await fetch(`${RAZORPAY}${path}`, { headers: { authorization: `Basic ${btoa(`${config.RAZORPAY_KEY_ID}:${config.RAZORPAY_KEY_SECRET}`)}` } });
  expect(res.status, path).toBe(200);
  return res.json();
}
/** The Razorpay order's captured payments, the order's own first (earliest, ties by id: workers/payments/adapters/razorpay.ts). */
async function capturesOf(rzpOrder: string): Promise<Array<{ id: string; status: string; amount: number; amount_refunded: number; created_at: number }>> {
  const items = (await rzp(`/v1/orders/${rzpOrder}/payments`)).items as Array<{ id: string; status: string; amount: number; amount_refunded: number; created_at: number }>;
  return items.filter((p) => p.status === 'captured' || p.status === 'refunded').sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
}
async function refundCalls(paymentId: string): Promise<number> {
  const { requests } = (await (await fetch(`${RAZORPAY}/_emulator/requests`)).json()) as { requests: Array<{ method: string; path: string; status: number }> };
  return requests.filter((r) => r.method === 'POST' && r.path === `/v1/payments/${paymentId}/refund` && r.status === 200).length;
}

/** A fresh product priced in rupees (the store's currency is USD: the API cannot make one, the database can). */
async function rupeeProduct(units: number, price: number): Promise<Product> {
  const p = await stockedProduct(units, price);
  await rows(sql`update product_variants set currency = 'INR' where product_id = ${p.productId}`);
  await rows(sql`update products set currency = 'INR' where id = ${p.productId}`);
  // A no-op admin change bumps the catalog cache generation (variants not sent: kept as stored).
  const bump = await json(`/v1/admin/products/${p.productId}`, jsonInit('PATCH', { description: 'priced in rupees' }, await admin()));
  expect(bump.res.status, JSON.stringify(bump.body)).toBe(200);
  expect(bump.body.variants[0].price).toEqual({ amount: price, currency: 'INR' });
  return p;
}

async function placeUpi(quantity: number, price = 1500) {
  const p = await rupeeProduct(3, price);
  const o = await place(p, quantity, 'UPI');
  expect(o.body.total).toEqual({ amount: quantity * price, currency: 'INR' });
  return { ...o, p, rzpOrder: o.body.payment.clientAction.razorpayOrderId as string };
}

async function runScheduled(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** The id a keyed order gets (workers/orders/orders.service.ts orderIdFor), to look for its object. */
async function keyedOrderId(actorId: string, key: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`order|${actorId}|${key}`)));
  const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
  let body = '';
  for (let i = 0; i < 26; i++) body += ALPHABET[h[i]! & 31];
  return `ord_${body}`;
}

// ================================================================================================

describe('R: refunds that fail on an order that can never ship', () => {
  it('R1 the customer cancels a paid order, the bank fails its refund: the saga refunds the amount again by itself (<orderId>-owed-1, -owed-2: replayable ids), the second lands; the view tells what is owed meanwhile; Stripe refunded the charge once in all; each step audited (the saga as actor)', async () => {
    const p = await stockedProduct(4, 1000);
    const o = await paidCard(p, 2);
    await withPendingRefunds(o.orderId, async () => {
      const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(o.c.accessToken)));
      expect(c.res.status, JSON.stringify(c.body)).toBe(200);
      expect(c.body).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 0 }, refundOwed: { amount: 0 } } });
      await atStripe(o.orderId, `${o.orderId}-cancel`, o.pi, 'fail');
      const failed = await order(o.orderId);
      expect(failed, 'a cancelled order whose refund failed keeps the money with nothing to give it back').toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 0 }, refundOwed: { amount: 2000, currency: failed.total.currency } } });
      expect((await stepsOf(o.orderId)).filter((s) => s.kind === 'refund_owed').map((s) => s.stepId)).toEqual(['owed:1']);

      await orderFor(env, o.orderId).retryStepsNow();
      const first = await order(o.orderId);
      expect(refundsOf(first)).toEqual([[`${o.orderId}-cancel`, 'failed', 2000], [owedRefundId(o.orderId, 1), 'pending', 2000]]);
      expect(first.payment.refundOwed.amount).toBe(0);
      await atStripe(o.orderId, owedRefundId(o.orderId, 1), o.pi, 'fail');
      expect((await order(o.orderId)).payment.refundOwed.amount).toBe(2000);

      await orderFor(env, o.orderId).retryStepsNow();
      // A replay of the step (the operator again, the alarm) makes no third refund.
      await orderFor(env, o.orderId).retryStepsNow();
      await atStripe(o.orderId, owedRefundId(o.orderId, 2), o.pi, 'succeed');
    });
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'CANCELLED', payment: { amountCaptured: { amount: 2000 }, amountRefunded: { amount: 2000 }, refundOwed: { amount: 0 } } });
    expect(refundsOf(done)).toEqual([
      [`${o.orderId}-cancel`, 'failed', 2000],
      [owedRefundId(o.orderId, 1), 'failed', 2000],
      [owedRefundId(o.orderId, 2), 'succeeded', 2000],
    ]);
    expect((await stepsOf(o.orderId)).filter((s) => s.kind === 'refund_owed' || s.kind === 'refund')).toEqual([]);
    expect(await stripeRefunded(o.pi)).toBe(2000);
    expect(await eventually(() => available(p.sku), (n) => n === 4, 5_000)).toBe(4);
    const rowsOf = await eventually(() => audit(o.orderId, 'order.refund.%'), (a) => a.length >= 6, 10_000);
    expect(rowsOf.map((a) => [a.action, a.refund_id, a.actor_kind]).sort()).toEqual(
      [
        ['order.refund.failed', `${o.orderId}-cancel`, 'system'],
        ['order.refund.failed', owedRefundId(o.orderId, 1), 'system'],
        ['order.refund.requested', `${o.orderId}-cancel`, 'user'],
        ['order.refund.requested', owedRefundId(o.orderId, 1), 'system'],
        ['order.refund.requested', owedRefundId(o.orderId, 2), 'system'],
        ['order.refund.succeeded', owedRefundId(o.orderId, 2), 'system'],
      ].sort(),
    );
  });

  it('R2 every refund fails: after the saga\'s 3 own refunds the order shows what it owes (payment.refundOwed), says so in an event and an audit row, and schedules no more; an admin then refunds it by other means', async () => {
    const p = await stockedProduct(3, 700);
    const o = await paidCard(p, 1);
    await withPendingRefunds(o.orderId, async () => {
      expect((await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)))).res.status).toBe(200);
      await atStripe(o.orderId, `${o.orderId}-cancel`, o.pi, 'fail');
      for (const n of [1, 2, 3]) {
        await orderFor(env, o.orderId).retryStepsNow();
        await atStripe(o.orderId, owedRefundId(o.orderId, n), o.pi, 'fail');
      }
      await orderFor(env, o.orderId).retryStepsNow();
    });
    const owed = await order(o.orderId);
    expect(owed).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 0 }, refundOwed: { amount: 700 } } });
    expect(owed.refunds.map((r: { status: string }) => r.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect((await stepsOf(o.orderId)).filter((s) => s.kind === 'refund_owed' || s.kind === 'refund')).toEqual([]);
    const row = await eventually(() => audit(o.orderId, 'order.refund.failed'), (a) => a.some((x) => x.change === 'refund_owed'), 10_000);
    expect(row.filter((x) => x.change === 'refund_owed')).toEqual([expect.objectContaining({ outcome: 'failure', actor_kind: 'system', amount: 700, refund_owed: 700 })]);
    const projected = await eventually(
      () => rows<{ status: string }>(sql`select status from order_refunds where order_id = ${o.orderId} order by refund_id`),
      (r) => r.length === 4 && r.every((x) => x.status === 'failed'),
      10_000,
    );
    expect(projected.map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'failed']);

    const paidBack = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 700, reason: 'paid back by bank transfer' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(paidBack.res.status, JSON.stringify(paidBack.body)).toBe(201);
    expect(paidBack.body).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 700 }, refundOwed: { amount: 0 } } });
  });

  it('R3 a full refund of an unshipped order (REFUNDED) that Stripe reverses later (refund.failed: the card was closed): the saga refunds it again; REFUNDED stays, the money goes back once more, exactly', async () => {
    const p = await stockedProduct(3, 800);
    const o = await paidCard(p, 2);
    const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1600, reason: 'cannot ship it' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect([r.res.status, r.body.status]).toEqual([201, 'REFUNDED']);
    const adminRefund = r.body.refunds[0].refundId as string;
    await atStripe(o.orderId, adminRefund, o.pi, 'reverse');
    expect(await stripeRefunded(o.pi)).toBe(0);
    const reversed = await order(o.orderId);
    expect(reversed).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 0 }, refundOwed: { amount: 1600 } } });
    expect((await stepsOf(o.orderId)).map((s) => s.kind)).toContain('refund_owed');
    await orderFor(env, o.orderId).retryStepsNow();
    const again = await order(o.orderId);
    expect(again).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 1600 }, refundOwed: { amount: 0 } } });
    expect(refundsOf(again)).toEqual([[adminRefund, 'failed', 1600], [owedRefundId(o.orderId, 1), 'succeeded', 1600]]);
    expect(await stripeRefunded(o.pi)).toBe(1600);
    await deliverWebhooks(o.pi);
    expect((await order(o.orderId)).version).toBe(again.version);
  });

  it('R4 an order that can still ship (PAID): a failed admin refund stays the admin\'s call (no refund by the saga), the view tells the amount; a later refund covers it; a cancellation then refunds the rest and owes nothing', async () => {
    const p = await stockedProduct(3, 1000);
    const o = await paidCard(p, 2);
    const h = await admin();
    let first = '';
    await withPendingRefunds(o.orderId, async () => {
      const r = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 500, reason: 'dent' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      first = r.body.refunds[0].refundId;
      await atStripe(o.orderId, first, o.pi, 'fail');
    });
    const failed = await order(o.orderId);
    expect(failed).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 }, refundOwed: { amount: 500 } } });
    expect((await stepsOf(o.orderId)).filter((s) => s.kind === 'refund_owed')).toEqual([]);
    const second = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 300, reason: 'dent, by another route' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(second.body).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 300 }, refundOwed: { amount: 200 } } });
    const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)));
    expect(c.body).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 2000 }, refundOwed: { amount: 0 } } });
    expect(await stripeRefunded(o.pi)).toBe(2000);
  });
});

describe('D: a Razorpay order paid twice', () => {
  it('D1 two captured payments of one Razorpay order (UPI retry): the order is PAID once, counts one capture; the second payment is refunded in full, once, with an audit row; replayed webhooks add nothing; the order\'s own money can still be refunded in full', async () => {
    const o = await placeUpi(2);
    await pay(o.rzpOrder);
    await pay(o.rzpOrder);
    const ds = await deliveries(o.rzpOrder);
    expect(ds.map((d) => d.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid', 'payment.authorized', 'payment.captured', 'order.paid']);
    await post(ds);
    const [kept, dup] = await capturesOf(o.rzpOrder);
    const dupRefund = duplicateRefundId(o.orderId, dup!.id);
    expect(dupRefund.length).toBeLessThanOrEqual(40);
    const live = await order(o.orderId);
    expect(live, 'the second capture of the Razorpay order is kept by the shop').toMatchObject({
      status: 'PAID',
      payment: { amountCaptured: { amount: 3000 }, amountRefunded: { amount: 0 }, refundOwed: { amount: 0 } },
    });
    expect(refundsOf(live)).toEqual([[dupRefund, 'succeeded', 3000]]);
    expect(await capturesOf(o.rzpOrder)).toEqual([
      expect.objectContaining({ id: kept!.id, status: 'captured', amount_refunded: 0 }),
      expect.objectContaining({ id: dup!.id, status: 'refunded', amount_refunded: 3000 }),
    ]);
    // Everything again, with the refund's own webhooks: nothing new.
    await post([...ds, ...(await deliveries(o.rzpOrder))]);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: live.version });
    expect(await refundCalls(dup!.id)).toBe(1);
    expect(await stepsOf(o.orderId)).toEqual([]);
    const trail = await eventually(() => audit(o.orderId, 'order.%'), (a) => a.some((x) => x.action === 'order.refund.succeeded') && a.some((x) => x.action === 'order.refund.requested'), 10_000);
    expect(trail.filter((a) => a.action === 'order.payment.captured')).toHaveLength(1);
    expect(trail.filter((a) => a.action.startsWith('order.refund.')).map((a) => [a.action, a.refund_id, a.amount, a.actor_kind]).sort()).toEqual([
      ['order.refund.requested', dupRefund, 3000, 'system'],
      ['order.refund.succeeded', dupRefund, 3000, 'system'],
    ]);
    const projected = await eventually(
      async () => (await rows<{ version: number; amount_captured: number; amount_refunded: number }>(sql`select version::int as version, amount_captured::int as amount_captured, amount_refunded::int as amount_refunded from orders where id = ${o.orderId}`))[0],
      (r) => r?.version === live.version,
      10_000,
    );
    expect(projected).toEqual({ version: live.version, amount_captured: 3000, amount_refunded: 0 });
    // The order's own payment is still all refundable, from the payment that paid it.
    const all = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 3000, reason: 'returned' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(all.res.status, JSON.stringify(all.body)).toBe(201);
    expect(all.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 3000 } } });
    expect((await capturesOf(o.rzpOrder)).map((p) => [p.id, p.amount_refunded])).toEqual([[kept!.id, 3000], [dup!.id, 3000]]);
  });

  it('D2 the shopper cancels, then pays the open Razorpay order twice: CANCELLED stays, both payments are refunded in full (late + duplicate), each once', async () => {
    const o = await placeUpi(1, 2000);
    const c = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'found it cheaper' }, bearer(o.c.accessToken)));
    expect(c.body.status).toBe('CANCELLED');
    await pay(o.rzpOrder);
    await pay(o.rzpOrder);
    await post(await deliveries(o.rzpOrder));
    await post(await deliveries(o.rzpOrder));
    const [kept, dup] = await capturesOf(o.rzpOrder);
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'CANCELLED', payment: { amountCaptured: { amount: 2000 }, amountRefunded: { amount: 2000 }, refundOwed: { amount: 0 } } });
    expect(refundsOf(done).sort()).toEqual([[`${o.orderId}-late`, 'succeeded', 2000], [duplicateRefundId(o.orderId, dup!.id), 'succeeded', 2000]].sort());
    expect((await capturesOf(o.rzpOrder)).map((p) => [p.id, p.amount_refunded])).toEqual([[kept!.id, 2000], [dup!.id, 2000]]);
    expect([await refundCalls(kept!.id), await refundCalls(dup!.id)]).toEqual([1, 1]);
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 5_000)).toBe(3);
  });

  it('D3 both payments\' webhooks lost: the scheduled reconciliation finds two captures, makes the order PAID and refunds the second; the late webhooks change nothing', async () => {
    const o = await placeUpi(1, 1200);
    await pay(o.rzpOrder);
    await pay(o.rzpOrder);
    const late = await deliveries(o.rzpOrder);
    await eventually(async () => (await rows(sql`select 1 from orders where id = ${o.orderId}`)).length, (n) => n === 1, 10_000);
    await rows(sql`update orders set updated_at = now() - interval '1 hour' where id = ${o.orderId}`);
    await runScheduled();
    const [, dup] = await capturesOf(o.rzpOrder);
    const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 5_000);
    expect(live).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 1200 }, amountRefunded: { amount: 0 } } });
    expect(refundsOf(live)).toEqual([[duplicateRefundId(o.orderId, dup!.id), 'succeeded', 1200]]);
    await post(late);
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: live.version });
    expect((await capturesOf(o.rzpOrder)).map((p) => p.amount_refunded)).toEqual([0, 1200]);
  });
});

describe('C: UPI and NETBANKING are for rupees', () => {
  it('C1 UPI or NETBANKING for items priced in USD (items, the original design\'s body, a cart): 422 PAYMENT_METHOD_NOT_ALLOWED on body.paymentMethod, nothing held, no order object, nothing asked of Razorpay, the cart still open; in rupees it is placed; CARD in USD too', async () => {
    const p = await stockedProduct(3, 1500);
    const c = await newCustomer();
    const tries: Array<[string, unknown]> = [
      ['UPI', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'UPI' }],
      ['NETBANKING', { items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], paymentMethod: 'NETBANKING' }],
      ['original design', { userId: c.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'UPI' }],
    ];
    for (const [what, body] of tries) {
      const key = crypto.randomUUID();
      const refused = await problem('/v1/orders', 422, 'PAYMENT_METHOD_NOT_ALLOWED', jsonInit('POST', body, { ...bearer(c.accessToken), 'idempotency-key': key }));
      expect(refused.errors, what).toEqual([expect.objectContaining({ path: 'body.paymentMethod', code: 'CURRENCY_NOT_SUPPORTED' })]);
      expect(refused.detail, what).toMatch(/INR/);
      const id = await keyedOrderId(c.user.id, key);
      expect(await orderFor(env, id).view(), what).toBeNull();
      expect((await rzp(`/v1/orders?receipt=${encodeURIComponent(`${id}-pay1`)}`)).items, what).toEqual([]);
    }
    expect(await available(p.sku)).toBe(3);
    // From a cart: refused the same, and the cart is not closed.
    const cart = (await json('/v1/carts', { method: 'POST', headers: bearer(c.accessToken) })).body;
    const added = await json(`/v1/carts/${cart.id}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, bearer(c.accessToken)));
    expect(added.res.status, JSON.stringify(added.body)).toBe(201);
    await problem('/v1/orders', 422, 'PAYMENT_METHOD_NOT_ALLOWED', jsonInit('POST', { cartId: cart.id, paymentMethod: 'UPI' }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
    expect((await json(`/v1/carts/${cart.id}`, { headers: bearer(c.accessToken) })).body).toMatchObject({ status: 'active', version: added.body.version });
    expect(await available(p.sku)).toBe(3);
    // Rupees: placed, with its Razorpay order; a card in dollars: placed.
    const inr = await placeUpi(1, 1500);
    expect(inr.body).toMatchObject({ status: 'PENDING', payment: { method: 'UPI', clientAction: { type: 'razorpay_order' } } });
    const card = await place(p, 1, 'CARD', c);
    expect(card.body).toMatchObject({ status: 'PENDING', total: { currency: 'USD' } });
  });
});

describe('A: who cancelled, on the audit trail', () => {
  const cancelledRow = (orderId: string) =>
    eventually(() => audit(orderId, 'order.cancelled'), (a) => a.length > 0, 10_000);

  it('A1 the customer (unpaid), an admin (paid) and a POS agent (a till sale) are each the actor of the order.cancelled row; a cancellation by the provider stays the system\'s', async () => {
    const p = await stockedProduct(10, 900);
    const mine = await place(p, 1, 'CARD');
    expect((await json(`/v1/orders/${mine.orderId}/cancel`, jsonInit('POST', {}, bearer(mine.c.accessToken)))).res.status).toBe(200);

    const paid = await paidCard(p, 1);
    const a = await login('admin@agora.dev');
    const byAdmin = await json(`/v1/orders/${paid.orderId}/cancel`, jsonInit('POST', { reason: 'fraud check' }, bearer(a.accessToken)));
    expect(byAdmin.body.status).toBe('CANCELLED');

    const agent = await login('pos@agora.dev');
    const customer = await newCustomer();
    const sale = await json('/v1/orders', jsonInit('POST', { userId: customer.user.id, items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'POS_CASH' }, { ...bearer(agent.accessToken), 'idempotency-key': crypto.randomUUID() }));
    expect([sale.res.status, sale.body.status]).toEqual([201, 'PAID']);
    expect((await json(`/v1/orders/${sale.body.orderId}/cancel`, jsonInit('POST', {}, bearer(agent.accessToken)))).body.status).toBe('CANCELLED');

    const byProvider = await place(p, 1, 'CARD');
    const r = await orderFor(env, byProvider.orderId).applyPaymentEvent({ eventId: `probe-cancel-${crypto.randomUUID()}`, provider: 'stripe', type: 'cancelled', attemptId: null, providerRef: null, amount: null, occurredAt: new Date().toISOString() });
    expect(r).toMatchObject({ ok: true, order: { status: 'CANCELLED' } });

    const who = async (orderId: string) => (await cancelledRow(orderId)).map((x) => [x.actor_kind, x.actor_id]);
    expect({
      customer: await who(mine.orderId),
      admin: await who(paid.orderId),
      posAgent: await who(sale.body.orderId as string),
      provider: await who(byProvider.orderId),
    }).toEqual({
      customer: [['user', mine.c.user.id]],
      admin: [['user', a.user.id]],
      posAgent: [['user', agent.user.id]],
      provider: [['system', null]],
    });
    // The paid order's refund request is the admin's too, as before.
    const requested = await eventually(() => audit(paid.orderId, 'order.refund.requested'), (x) => x.length > 0, 10_000);
    expect(requested.map((x) => [x.refund_id, x.actor_kind, x.actor_id])).toEqual([[`${paid.orderId}-cancel`, 'user', a.user.id]]);
  });
});
