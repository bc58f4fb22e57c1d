/**
 * Admin refunds (`POST /v1/admin/orders/{id}/refunds`, docs/orders.md "Fulfilment, cancellation,
 * refunds") at their edges, through the real Worker and the Stripe emulator: malformed amounts and
 * keys, states with nothing captured, refunds the provider leaves pending and then fails or
 * settles out of order (the emulator's `pendingRefunds` switch and `/_emulator/refunds/{id}/…`),
 * a cancel while a refund is pending, refunds around shipping, the order lists (mine only, admin
 * filters, cursors under inserts, hostile time bounds), and the Postgres projection and audit rows
 * after the queue. Exact outcomes are read live (GET /v1/orders/{id}), from the SKU's object
 * (GET /v1/inventory/{sku}) and from Postgres once the projection caught up.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { stableJson } from '../../durable-objects/order/order.logic';
import { orderFor } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { fromBase64Url, toBase64Url } from '../../shared/kernel/base64';
import { toHex } from '../../shared/kernel/hex';
import { bearer, DEV_CLIENT, freshIp, jsonInit, newCustomer } from '../../test/support/auth';
import { allAtOnce, answer } from '../../test/support/concurrency';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, STRIPE, stockedProduct } from '../../test/support/orders';

type Product = Awaited<ReturnType<typeof stockedProduct>>;
type Customer = Awaited<ReturnType<typeof newCustomer>>;

const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
/** workers/orders/orders.service.ts refund(): an admin refund's id (the provider's idempotency key; in its metadata). */
const adminRefundId = async (orderId: string, key: string) => `rfd_${toHex(await sha256(stableJson({ id: orderId, key }))).slice(0, 26)}`;

async function placeOrder(p: Product, quantity: number, paymentMethod: 'CARD' | 'COD' = 'CARD', c?: Customer) {
  const who = c ?? (await newCustomer());
  const placed = await json('/v1/orders', jsonInit('POST', { items: [{ productId: p.productId, variantId: p.variantId, quantity }], paymentMethod }, { ...bearer(who.accessToken), 'idempotency-key': crypto.randomUUID() }));
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  return { c: who, orderId: placed.body.orderId as string, body: placed.body, total: placed.body.total.amount as number };
}

/** A CARD order paid at the Stripe emulator, its webhooks delivered: PAID, stock committed. */
async function paidOrder(p: Product, quantity: number, c?: Customer) {
  const o = await placeOrder(p, quantity, 'CARD', c);
  const pi = paymentIntentOf(o.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  expect((await order(o.orderId)).status).toBe('PAID');
  return { ...o, pi };
}

const refundUrl = (orderId: string) => `/v1/admin/orders/${orderId}/refunds`;
async function refund(orderId: string, body: unknown, key: string = crypto.randomUUID()) {
  return answer(refundUrl(orderId), jsonInit('POST', body, { ...(await admin()), 'idempotency-key': key }));
}

const emulatorPost = (path: string, body: unknown) => fetch(`${STRIPE}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
/** Runs `fn` with the Stripe emulator leaving the refunds whose request names `refundId` pending. */
async function withPendingRefunds<T>(refundId: string, fn: () => Promise<T>): Promise<T> {
  expect((await emulatorPost('/_emulator/faults', { pendingRefunds: refundId })).status).toBe(200);
  try {
    return await fn();
  } finally {
    await (await fetch(`${STRIPE}/_emulator/faults?match=${encodeURIComponent(refundId)}`, { method: 'DELETE' })).arrayBuffer();
  }
}
/** The bank answers a pending refund (the emulator sends refund.updated / refund.failed), and Stripe's webhooks reach us. */
async function settleAtStripe(orderId: string, refundId: string, pi: string, outcome: 'succeed' | 'fail') {
  const ref = (await orderFor(env, orderId).view())!.refunds.find((r) => r.refundId === refundId)!.providerRefundRef;
  expect(ref, `refund ${refundId} has no Stripe id`).toMatch(/^re_/);
  const res = await emulatorPost(`/_emulator/refunds/${ref}/${outcome}`, {});
  expect(res.status, await res.text()).toBe(200);
  await deliverWebhooks(pi);
}

/** Waits until the projection holds the order at the object's version; answers the row and its refund rows. */
async function projected(orderId: string) {
  const live = await order(orderId);
  const read = async () =>
    (await rows<{ status: string; version: number; amount_captured: number; amount_refunded: number; fulfilment_status: string }>(
      sql`select status, version::int as version, amount_captured::int as amount_captured, amount_refunded::int as amount_refunded, fulfilment_status from orders where id = ${orderId}`,
    ))[0];
  const row = await eventually(read, (r) => r?.version === live.version, 10_000);
  expect(row, `projection of ${orderId} never reached version ${live.version}: ${JSON.stringify(row)}`).toMatchObject({ version: live.version, status: live.status });
  const refunds = await rows<{ refund_id: string; amount: number; status: string }>(sql`select refund_id, amount::int as amount, status from order_refunds where order_id = ${orderId} order by created_at, refund_id`);
  return { live, row: row!, refunds };
}

/** The audit rows of an order's money movements: action, outcome, refund and amount. */
async function moneyAudit(orderId: string, like = 'order.refund.%') {
  return rows<{ action: string; outcome: string; refund_id: string | null; amount: number | null }>(
    sql`select action, outcome, data->>'refundId' as refund_id, (data->>'amount')::int as amount from audit_log where target_id = ${orderId} and action like ${like} order by action, data->>'refundId'`,
  );
}

describe('refusals: malformed requests and nothing captured', () => {
  it('bad amounts (0, negative, fractional, a string, beyond 2^53, Money objects, another currency), bad reasons and bad keys: 400 problem+json, nothing written; amounts above any order (10^11 + 1, 2^53 - 1) a 4xx too, never a 500', async () => {
    const p = await stockedProduct(2, 1000);
    const o = await paidOrder(p, 1);
    const before = await order(o.orderId);
    const h = await admin();
    const send = (body: unknown, headers: Record<string, string> = { 'idempotency-key': crypto.randomUUID() }) => jsonInit('POST', body, { ...h, ...headers });
    const bad: unknown[] = [
      { amount: 0, reason: 'zero' },
      { amount: -100, reason: 'negative' },
      { amount: 10.5, reason: 'fraction' },
      { amount: '100', reason: 'string' },
      { amount: null, reason: 'null' },
      { amount: 2 ** 53, reason: 'unsafe' },
      { amount: 1e20, reason: 'huge' },
      { amount: { amount: 100, currency: before.total.currency }, reason: 'money object' },
      { amount: 100, currency: before.total.currency === 'EUR' ? 'USD' : 'EUR', reason: 'another currency' },
      { amount: 100 },
      { amount: 100, reason: '' },
      { amount: 100, reason: 'x'.repeat(201) },
      { amount: 100, reason: 'ok', refundTo: 'another card' },
      { amount: 100, reason: 'nul \u0000 inside' },
    ];
    for (const body of bad) await problem(refundUrl(o.orderId), 400, 'VALIDATION_FAILED', send(body));
    for (const headers of [{}, { 'idempotency-key': '' } as Record<string, string>, { 'idempotency-key': 'has space' }, { 'idempotency-key': 'k'.repeat(101) }]) {
      await problem(refundUrl(o.orderId), 400, 'VALIDATION_FAILED', send({ amount: 100, reason: 'key' }, headers));
    }
    await problem(refundUrl(o.orderId), 422, 'REFUND_EXCEEDS_CAPTURED', send({ amount: 1001, reason: 'captured + 1' }));
    await problem('/v1/admin/orders/ord_not-an-id/refunds', 400, 'VALIDATION_FAILED', send({ amount: 1, reason: 'bad id' }));
    expect(await order(o.orderId)).toMatchObject({ status: 'PAID', version: before.version, refunds: [] });
    // Exactly the amount captured is accepted.
    const all = await refund(o.orderId, { amount: 1000, reason: 'captured exactly' });
    expect(all.status, JSON.stringify(all.body)).toBe(201);
    expect(all.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 1000 } } });
    // Safe integers the body schema accepts but no order can hold (above 10^11 minor units): a clear refusal, never a 500.
    const huge: string[] = [];
    for (const amount of [100_000_000_001, Number.MAX_SAFE_INTEGER]) {
      const { res, body } = await json(refundUrl(o.orderId), send({ amount, reason: 'far too much' }));
      huge.push(`${amount} → ${res.status} ${body.code} ${res.headers.get('content-type')}`);
    }
    expect(huge).toEqual([
      expect.stringMatching(/^100000000001 → (400 VALIDATION_FAILED|422 REFUND_EXCEEDS_CAPTURED) application\/problem\+json$/),
      expect.stringMatching(/^9007199254740991 → (400 VALIDATION_FAILED|422 REFUND_EXCEEDS_CAPTURED) application\/problem\+json$/),
    ]);
    expect((await order(o.orderId)).refunds).toHaveLength(1);
  });

  it('an unpaid card order, a cancelled unpaid one, a PAYMENT_FAILED one and a COD order not delivered: 409 NOTHING_TO_REFUND, version unchanged, no audit row', async () => {
    const p = await stockedProduct(8, 700);
    const pending = await placeOrder(p, 1);
    const cancelled = await placeOrder(p, 1);
    expect((await json(`/v1/orders/${cancelled.orderId}/cancel`, jsonInit('POST', {}, bearer(cancelled.c.accessToken)))).res.status).toBe(200);
    const failed = await placeOrder(p, 1);
    const pi = paymentIntentOf(failed.body);
    await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
    await deliverWebhooks(pi);
    const cod = await placeOrder(p, 1, 'COD');
    for (const [o, status] of [[pending, 'PENDING'], [cancelled, 'CANCELLED'], [failed, 'PAYMENT_FAILED'], [cod, 'PENDING']] as const) {
      const before = await order(o.orderId);
      expect(before.status).toBe(status);
      const r = await refund(o.orderId, { amount: 100, reason: 'goodwill' });
      expect([r.status, r.body.code], `${status}: ${JSON.stringify(r.body)}`).toEqual([409, 'NOTHING_TO_REFUND']);
      expect(await order(o.orderId)).toMatchObject({ status, version: before.version, refunds: [] });
    }
    await projected(failed.orderId);
    expect(await moneyAudit(failed.orderId)).toEqual([]);
  });
});

describe('refunds the provider settles later', () => {
  it('a refund Stripe leaves pending, then the bank fails it: pending counts against what is left, the failure frees it (order stays PAID), a replay answers the failed refund, a new refund of everything lands; projection and audit show each step', async () => {
    const p = await stockedProduct(3, 1000);
    const o = await paidOrder(p, 2);
    const key = crypto.randomUUID();
    const refundId = await adminRefundId(o.orderId, key);
    await withPendingRefunds(refundId, async () => {
      const r = await refund(o.orderId, { amount: 1500, reason: 'scratched' }, key);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ status: 'PAID', payment: { amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'pending', amount: { amount: 1500 } }] });
      const more = await refund(o.orderId, { amount: 501, reason: 'more' });
      expect([more.status, more.body.code]).toEqual([422, 'REFUND_EXCEEDS_CAPTURED']);
    });
    await settleAtStripe(o.orderId, refundId, o.pi, 'fail');
    const after = await order(o.orderId);
    expect(after).toMatchObject({ status: 'PAID', payment: { amountCaptured: { amount: 2000 }, amountRefunded: { amount: 0 } }, refunds: [{ refundId, status: 'failed' }] });
    const replay = await refund(o.orderId, { amount: 1500, reason: 'scratched' }, key);
    expect([replay.status, replay.replayed]).toEqual([201, true]);
    expect(replay.body.refunds).toEqual([expect.objectContaining({ refundId, status: 'failed' })]);
    const again = await refund(o.orderId, { amount: 2000, reason: 'returned, by another route' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2000 } } });
    const { row, refunds } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'REFUNDED', amount_captured: 2000, amount_refunded: 2000 });
    expect(refunds.map((r) => [r.amount, r.status])).toEqual([[1500, 'failed'], [2000, 'succeeded']]);
    const second = again.body.refunds.find((r: { refundId: string }) => r.refundId !== refundId).refundId as string;
    const audit = await eventually(() => moneyAudit(o.orderId), (a) => a.length >= 4, 5_000);
    expect(audit).toEqual(
      expect.arrayContaining([
        { action: 'order.refund.failed', outcome: 'failure', refund_id: refundId, amount: 1500 },
        { action: 'order.refund.requested', outcome: 'success', refund_id: refundId, amount: 1500 },
        { action: 'order.refund.requested', outcome: 'success', refund_id: second, amount: 2000 },
        { action: 'order.refund.succeeded', outcome: 'success', refund_id: second, amount: 2000 },
      ]),
    );
    expect(audit).toHaveLength(4);
  });

  it('two partial refunds settled out of order (the first pending at the bank, the second at once): PARTIALLY_REFUNDED, then REFUNDED when the first lands; each audited with its own amount; the admin list follows', async () => {
    const p = await stockedProduct(3, 1000);
    const o = await paidOrder(p, 2);
    const keyA = crypto.randomUUID();
    const refundA = await adminRefundId(o.orderId, keyA);
    await withPendingRefunds(refundA, async () => {
      expect((await refund(o.orderId, { amount: 500, reason: 'dent' }, keyA)).body.refunds[0]).toMatchObject({ refundId: refundA, status: 'pending' });
    });
    const b = await refund(o.orderId, { amount: 1500, reason: 'returned one' });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect(b.body).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 1500 } } });
    const refundB = b.body.refunds.find((r: { refundId: string }) => r.refundId !== refundA).refundId as string;
    await settleAtStripe(o.orderId, refundA, o.pi, 'succeed');
    const done = await order(o.orderId);
    expect(done).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2000 } } });
    expect(done.refunds.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'succeeded']);
    const timeline = (await json(`/v1/orders/${o.orderId}/tracking`, { headers: bearer(o.c.accessToken) })).body.timeline as Array<{ kind: string; status: string }>;
    expect(timeline.filter((t) => t.kind === 'order').map((t) => t.status)).toEqual(['PENDING', 'PAID', 'PARTIALLY_REFUNDED', 'REFUNDED']);
    const { row, refunds } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'REFUNDED', amount_refunded: 2000 });
    expect(refunds.every((r) => r.status === 'succeeded')).toBe(true);
    const succeeded = await eventually(() => moneyAudit(o.orderId, 'order.refund.succeeded'), (a) => a.length >= 2, 5_000);
    expect(succeeded.map((a) => [a.refund_id, a.amount]).sort()).toEqual([[refundA, 500], [refundB, 1500]].sort());
    const h = await admin();
    const listed = (await json(`/v1/admin/orders?userId=${o.c.user.id}&status=REFUNDED`, { headers: h })).body;
    expect(listed.items.map((x: { orderId: string }) => x.orderId)).toEqual([o.orderId]);
    expect((await json(`/v1/admin/orders?userId=${o.c.user.id}&status=PARTIALLY_REFUNDED`, { headers: h })).body.items).toEqual([]);
  });

  it('a refund pending at the bank, the customer cancels (the rest refunded at once), then the bank fails the pending one: CANCELLED, stock back once; the admin can refund that amount again, and never more than captured', async () => {
    const p = await stockedProduct(4, 1000);
    const o = await paidOrder(p, 2);
    expect(await available(p.sku)).toBe(2);
    const key = crypto.randomUUID();
    const refundA = await adminRefundId(o.orderId, key);
    await withPendingRefunds(refundA, async () => {
      expect((await refund(o.orderId, { amount: 500, reason: 'dent' }, key)).status).toBe(201);
      const cancel = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'changed my mind' }, bearer(o.c.accessToken)));
      expect(cancel.res.status, JSON.stringify(cancel.body)).toBe(200);
      expect(cancel.body.status).toBe('CANCELLED');
      expect(cancel.body.refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([500, 1500]);
    });
    expect(await eventually(() => available(p.sku), (n) => n === 4, 5_000)).toBe(4);
    await settleAtStripe(o.orderId, refundA, o.pi, 'fail');
    const after = await order(o.orderId);
    expect(after).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 1500 } } });
    const again = await refund(o.orderId, { amount: 500, reason: 'the first refund bounced' });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ status: 'CANCELLED', payment: { amountRefunded: { amount: 2000 } } });
    const over = await refund(o.orderId, { amount: 1, reason: 'one more' });
    expect([over.status, over.body.code]).toEqual([422, 'REFUND_EXCEEDS_CAPTURED']);
    expect(await available(p.sku)).toBe(4);
    const { row } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'CANCELLED', amount_captured: 2000, amount_refunded: 2000 });
  });
});

describe('refunds and the goods', () => {
  it('a partial refund of a partly shipped order, then the rest ships: PARTIALLY_REFUNDED stays, and every parcel is on the audit trail (order.shipment.created)', async () => {
    const p = await stockedProduct(3, 1000);
    const o = await paidOrder(p, 2);
    const { token, warehouseId } = await staffSession();
    const ship = (tn: string) =>
      answer(`/v1/orders/${o.orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: tn, items: [{ itemId: 'itm_1', quantity: 1 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    const first = await ship(`RF-${crypto.randomUUID().slice(0, 8)}`);
    expect([first.status, first.body.status]).toEqual([201, 'PARTIALLY_SHIPPED']);
    const r = await refund(o.orderId, { amount: 1000, reason: 'the unit still here is out of date' });
    expect([r.status, r.body.status]).toEqual([201, 'PARTIALLY_REFUNDED']);
    const second = await ship(`RF-${crypto.randomUUID().slice(0, 8)}`);
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect(second.body).toMatchObject({ status: 'PARTIALLY_REFUNDED', fulfilmentStatus: 'shipped' });
    const { row } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'PARTIALLY_REFUNDED', fulfilment_status: 'shipped', amount_refunded: 1000 });
    expect((await rows(sql`select shipment_id from order_shipments where order_id = ${o.orderId}`)).length).toBe(2);
    const shipped = await rows<{ shipment_id: string }>(sql`select data->>'shipmentId' as shipment_id from audit_log where target_id = ${o.orderId} and action = 'order.shipment.created'`);
    expect(shipped.map((s) => s.shipment_id).sort(), 'the parcel shipped after the partial refund has no audit row').toEqual((second.body.shipments as Array<{ shipmentId: string }>).map((s) => s.shipmentId).sort());
  });

  it('a full refund of a paid order that never shipped: REFUNDED, it can neither ship nor be cancelled, so its units must come back to stock', async () => {
    const p = await stockedProduct(5, 800);
    const o = await paidOrder(p, 2);
    expect(await eventually(() => available(p.sku), (n) => n === 3, 5_000)).toBe(3);
    const r = await refund(o.orderId, { amount: 1600, reason: 'we cannot ship it after all' });
    expect([r.status, r.body.status]).toEqual([201, 'REFUNDED']);
    const cancel = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)));
    expect([cancel.res.status, cancel.body.code]).toEqual([409, 'ORDER_NOT_CANCELLABLE']);
    const { token, warehouseId } = await staffSession();
    const ship = await answer(`/v1/orders/${o.orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: 'NEVER', items: [{ itemId: 'itm_1', quantity: 2 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    expect([ship.status, ship.body.code]).toEqual([409, 'ORDER_NOT_SHIPPABLE']);
    expect(await eventually(() => available(p.sku), (n) => n === 5, 3_000), 'the 2 units of a refunded order that will never ship stay sold').toBe(5);
  });

  it('cash on delivery, delivered and collected: a refund is money staff paid back, succeeded at once with no provider (PARTIALLY_REFUNDED, then REFUNDED); every movement audited, the projection agrees', async () => {
    const p = await stockedProduct(3, 1200);
    const o = await placeOrder(p, 2, 'COD');
    const { token, warehouseId } = await staffSession();
    const tn = `COD-${crypto.randomUUID().slice(0, 8)}`;
    const shipped = await answer(`/v1/orders/${o.orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber: tn, items: [{ itemId: 'itm_1', quantity: 2 }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
    expect([shipped.status, shipped.body.status]).toEqual([201, 'SHIPPED']);
    const early = await refund(o.orderId, { amount: 100, reason: 'not collected yet' });
    expect([early.status, early.body.code]).toEqual([409, 'NOTHING_TO_REFUND']);
    await eventually(() => rows(sql`select 1 from order_shipments where tracking_number = ${tn}`), (r) => r.length === 1, 10_000);
    const raw = JSON.stringify({ eventId: `d-${tn}`, trackingNumber: tn, status: 'delivered', occurredAt: new Date().toISOString() });
    const hmac = await crypto.subtle.importKey('raw', new TextEncoder().encode(readConfig(env).CARRIER_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const sig = toHex(new Uint8Array(await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode(raw))));
    const delivered = await call('/v1/shipping/webhooks/acme', { method: 'POST', headers: { 'content-type': 'application/json', 'x-carrier-signature': sig }, body: raw });
    expect(delivered.status, await delivered.text()).toBe(200);
    expect(await order(o.orderId)).toMatchObject({ status: 'DELIVERED', payment: { status: 'captured', amountCaptured: { amount: 2400 } } });
    const r1 = await refund(o.orderId, { amount: 1000, reason: 'paid back in cash' });
    expect(r1.body).toMatchObject({ status: 'PARTIALLY_REFUNDED', payment: { amountRefunded: { amount: 1000 } }, refunds: [{ status: 'succeeded' }] });
    const r2 = await refund(o.orderId, { amount: 1400, reason: 'the rest by bank transfer' });
    expect(r2.body).toMatchObject({ status: 'REFUNDED', payment: { amountRefunded: { amount: 2400 } } });
    const { row, refunds } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'REFUNDED', fulfilment_status: 'delivered', amount_captured: 2400, amount_refunded: 2400 });
    expect(refunds.map((r) => [r.amount, r.status])).toEqual([[1000, 'succeeded'], [1400, 'succeeded']]);
    const audit = await eventually(() => moneyAudit(o.orderId, 'order.%'), (a) => a.filter((x) => x.action.startsWith('order.refund.')).length >= 4, 5_000);
    const actions = audit.map((a) => `${a.action}${a.amount === null ? '' : ` ${a.amount}`}`).filter((a) => a.startsWith('order.refund.') || a.startsWith('order.payment.'));
    expect(actions.sort()).toEqual(['order.payment.captured 2400', 'order.refund.requested 1000', 'order.refund.requested 1400', 'order.refund.succeeded 1000', 'order.refund.succeeded 1400']);
  });

  it('the same refund key on two orders makes two refunds; under one order a changed reason is 422; a replay after the order moved on answers 201 marked, with the order as it stands', async () => {
    const p = await stockedProduct(4, 600);
    const a = await paidOrder(p, 1);
    const b = await paidOrder(p, 1);
    const key = crypto.randomUUID();
    const h = await admin();
    // One key, two orders, at once: each order its own refund.
    const first = await allAtOnce([a, b].map((o): [string, RequestInit] => [refundUrl(o.orderId), jsonInit('POST', { amount: 200, reason: 'promo' }, { ...h, 'idempotency-key': key })]));
    expect(first.map((x) => [x.status, x.replayed])).toEqual([[201, false], [201, false]]);
    expect(first[0]!.body.refunds[0].refundId).not.toBe(first[1]!.body.refunds[0].refundId);
    const changed = await refund(a.orderId, { amount: 200, reason: 'promo code' }, key);
    expect([changed.status, changed.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect((await refund(a.orderId, { amount: 400, reason: 'the rest' })).body.status).toBe('REFUNDED');
    const replay = await refund(a.orderId, { amount: 200, reason: 'promo' }, key);
    expect([replay.status, replay.replayed, replay.body.status, replay.body.refunds.length]).toEqual([201, true, 'REFUNDED', 2]);
    expect((await order(b.orderId)).refunds).toHaveLength(1);
  });
});

describe('the order lists', () => {
  /** Decodes an opaque cursor, changes its position, encodes it again (what a curious client can do). */
  const tamper = (cursor: string, change: (p: Record<string, unknown>) => Record<string, unknown>) => {
    const parsed = JSON.parse(new TextDecoder().decode(fromBase64Url(cursor)!)) as { p: Record<string, unknown>; f: string };
    return toBase64Url(new TextEncoder().encode(JSON.stringify({ ...parsed, p: change(parsed.p) })));
  };

  it('mine only (a userId in the query changes nothing), cursor pages stable while new orders arrive, admin filters by user, method, status and time', async () => {
    const p = await stockedProduct(12, 300);
    const me = await newCustomer();
    const other = await newCustomer();
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) mine.push((await placeOrder(p, 1, 'COD', me)).orderId);
    const theirs = (await placeOrder(p, 1, 'COD', other)).orderId;
    const h = bearer(me.accessToken);
    const all = await eventually(async () => (await json('/v1/orders?limit=100', { headers: h })).body, (b) => b.items?.length === 3, 10_000);
    expect(all.items.map((x: { orderId: string }) => x.orderId)).toEqual([...mine].reverse());
    const spoof = (await json(`/v1/orders?userId=${other.user.id}`, { headers: h })).body;
    expect(spoof.items.map((x: { orderId: string }) => x.orderId)).not.toContain(theirs);
    const page1 = (await json('/v1/orders?limit=2', { headers: h })).body;
    expect(page1.items.map((x: { orderId: string }) => x.orderId)).toEqual([mine[2], mine[1]]);
    const newer: string[] = [];
    for (let i = 0; i < 2; i++) newer.push((await placeOrder(p, 1, 'COD', me)).orderId);
    await eventually(async () => (await json('/v1/orders?limit=100', { headers: h })).body, (b) => b.items?.length === 5, 10_000);
    const page2 = (await json(`/v1/orders?limit=2&cursor=${page1.nextCursor}`, { headers: h })).body;
    expect(page2).toMatchObject({ items: [{ orderId: mine[0] }], nextCursor: null });
    const admin_ = await admin();
    const byUser = (q: string) => json(`/v1/admin/orders?userId=${me.user.id}${q}`, { headers: admin_ }).then((r) => r.body.items.map((x: { orderId: string }) => x.orderId));
    expect(await byUser('&paymentMethod=COD&limit=100')).toEqual([...mine, ...newer].reverse());
    expect(await byUser('&paymentMethod=CARD')).toEqual([]);
    expect(await byUser('&status=CANCELLED')).toEqual([]);
    expect(await byUser(`&createdFrom=${new Date(Date.now() + 3600_000).toISOString()}`)).toEqual([]);
    expect(await byUser(`&createdFrom=2026-01-02T00:00:00Z&createdTo=2026-01-01T00:00:00Z`)).toEqual([]);
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'status=SHIPPING', 'createdFrom=yesterday']) {
      await problem(`/v1/admin/orders?${q}`, 400, 'VALIDATION_FAILED', { headers: admin_ });
    }
    // A POS terminal (client credentials) has no orders of its own.
    const tok = await json('/v1/auth/token', { method: 'POST', headers: { authorization: `Basic ${btoa(`${DEV_CLIENT.id}:${DEV_CLIENT.secret}`)}`, 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': freshIp() }, body: 'grant_type=client_credentials' });
    expect(tok.res.status, JSON.stringify(tok.body)).toBe(200);
    await problem('/v1/orders', 403, 'FORBIDDEN', { headers: bearer(tok.body.access_token ?? tok.body.accessToken) });
  });

  it('time bounds and cursors Postgres cannot hold (year 0, year 10000): a 4xx or an answer, never a 500', async () => {
    const c = await newCustomer();
    const p = await stockedProduct(3, 300);
    for (let i = 0; i < 2; i++) await placeOrder(p, 1, 'COD', c);
    const h = bearer(c.accessToken);
    const page1 = await eventually(async () => (await json('/v1/orders?limit=1', { headers: h })).body, (b) => typeof b.nextCursor === 'string', 10_000);
    const adminH = await admin();
    const probes: Array<[string, Record<string, string>]> = [
      ['/v1/admin/orders?createdFrom=0000-01-01T00:00:00Z', adminH],
      ['/v1/admin/orders?createdTo=9999-12-31T23:59:59-23:59', adminH],
      [`/v1/orders?limit=1&cursor=${tamper(page1.nextCursor, (q) => ({ ...q, c: '0000-01-01T00:00:00.000Z' }))}`, h],
      [`/v1/orders?limit=1&cursor=${tamper(page1.nextCursor, (q) => ({ ...q, c: '+275760-09-13T00:00:00.000Z' }))}`, h],
    ];
    const seen: string[] = [];
    for (const [path, headers] of probes) {
      const res = await json(path, { headers });
      seen.push(`${res.res.status} ${path.split('?')[1]!.slice(0, 60)} ${res.body.code ?? ''}`);
      if (res.res.status >= 400) expect(res.res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect(seen.filter((s) => s.startsWith('5')), seen.join('\n')).toEqual([]);
  });
});
