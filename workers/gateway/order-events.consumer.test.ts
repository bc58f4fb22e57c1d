import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ORDER_EVENTS, type EventEnvelope, type OrderEventType, type OrderSnapshot } from '../../shared/events';
import { newId } from '../../shared/kernel/ids';
import worker from './index';
import { ORDER_EVENTS_QUEUE } from './queues';
import { rows } from '../../test/support/db';

/** The order projection through the Worker's queue handler: any order, duplicates, audit once. */
const message = <T>(body: T): MessageBatchMessage<T> => ({ id: `msg-ord-${crypto.randomUUID()}`, timestamp: Date.now(), attempts: 1, body });

async function deliver(...events: EventEnvelope[]) {
  const batch = createMessageBatch(ORDER_EVENTS_QUEUE, events.map((e) => message(e)));
  const ctx = createExecutionContext();
  await worker.queue!(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

function snapshot(orderId: string, version: number, status: string, over: Partial<OrderSnapshot> = {}): OrderSnapshot {
  const at = new Date(Date.UTC(2026, 10, 24, 12, 0, version)).toISOString();
  return {
    orderId,
    userId: 'usr_projection_test',
    status,
    fulfilmentStatus: 'unfulfilled',
    version,
    channel: 'web',
    storeId: null,
    placedBy: { kind: 'user', id: 'usr_projection_test', role: 'customer' },
    currency: 'USD',
    subtotal: 5000,
    total: 5000,
    items: [{ itemId: 'itm_1', productId: 'prd_x', variantId: 'var_x', sku: 'SKU-PROJ', name: 'x', quantity: 2, unitPrice: 2500, lineTotal: 5000 }],
    payment: { attemptId: `${orderId}-pay1`, method: 'CARD', provider: 'stripe', status: status === 'PENDING' ? 'requires_action' : 'captured', providerRef: 'pi_1', amountCaptured: status === 'PENDING' ? 0 : 5000 },
    refunds: [],
    shipments: [],
    cancelReason: null,
    change: 'test',
    createdAt: new Date(Date.UTC(2026, 10, 24, 12)).toISOString(),
    updatedAt: at,
    ...over,
  };
}

const event = (type: OrderEventType, snap: OrderSnapshot) =>
  ORDER_EVENTS[type].create(snap, { correlationId: 'req_test', source: 'orders', subject: snap.orderId, aggregateVersion: snap.version });

describe('order-events → orders projection', () => {
  it('keeps the newest version whatever the delivery order, and audits each money movement once', async () => {
    const orderId = newId('order');
    const placed = event('order.placed', snapshot(orderId, 1, 'PENDING'));
    const paid = event('order.paid', snapshot(orderId, 2, 'PAID'));
    // Newest first, then the older one, then both again.
    expect((await deliver(paid)).explicitAcks).toHaveLength(1);
    expect((await deliver(placed)).explicitAcks).toHaveLength(1);
    await deliver(paid, placed);
    const [row] = await rows<{ status: string; version: string; amount_captured: string }>(sql`select status, version::text, amount_captured::text from orders where id = ${orderId}`);
    expect(row).toEqual({ status: 'PAID', version: '2', amount_captured: '5000' });
    const items = await rows(sql`select item_id, quantity from order_items where order_id = ${orderId}`);
    expect(items).toEqual([{ item_id: 'itm_1', quantity: 2 }]);
    const audit = await rows<{ action: string }>(sql`select action from audit_log where target_id = ${orderId} order by action`);
    expect(audit.map((a) => a.action)).toEqual(['order.payment.captured', 'order.placed']);
  });

  it('replaces child rows with the newest version (refunds, shipments)', async () => {
    const orderId = newId('order');
    await deliver(event('order.paid', snapshot(orderId, 2, 'PAID')));
    const refunded = snapshot(orderId, 4, 'PARTIALLY_REFUNDED', {
      refunds: [{ refundId: 'rfd_a', amount: 1000, status: 'succeeded', reason: 'scratch', providerRefundRef: 're_1', requestedBy: 'user:usr_admin', createdAt: new Date().toISOString() }],
    });
    const requested = snapshot(orderId, 3, 'PAID', {
      change: 'refund_requested',
      refunds: [{ refundId: 'rfd_a', amount: 1000, status: 'pending', reason: 'scratch', providerRefundRef: null, requestedBy: 'user:usr_admin', createdAt: new Date().toISOString() }],
    });
    await deliver(event('order.partially_refunded', refunded));
    await deliver(event('order.changed', requested));
    const refunds = await rows(sql`select refund_id, status from order_refunds where order_id = ${orderId}`);
    expect(refunds).toEqual([{ refund_id: 'rfd_a', status: 'succeeded' }]);
    const [o] = await rows<{ status: string; amount_refunded: string }>(sql`select status, amount_refunded::text from orders where id = ${orderId}`);
    expect(o).toEqual({ status: 'PARTIALLY_REFUNDED', amount_refunded: '1000' });
    const audit = await rows<{ action: string; actor_id: string | null }>(sql`select action, actor_id from audit_log where target_id = ${orderId} order by action`);
    expect(audit).toEqual([
      { action: 'order.payment.captured', actor_id: null },
      { action: 'order.refund.requested', actor_id: 'usr_admin' },
      { action: 'order.refund.succeeded', actor_id: null },
    ]);
  });

  it('audits the refund an event names, when refunds settle in another order than requested', async () => {
    const orderId = newId('order');
    const at = new Date().toISOString();
    const refund = (id: string, amount: number, status: string) => ({ refundId: id, amount, status, reason: id, providerRefundRef: status === 'pending' ? null : `re_${id}`, requestedBy: 'user:usr_admin', createdAt: at });
    // rfd_1 (1000) then rfd_2 (500) are requested; rfd_2 settles first, then rfd_1.
    const second = snapshot(orderId, 5, 'PARTIALLY_REFUNDED', { refundId: 'rfd_2', refunds: [refund('rfd_1', 1000, 'pending'), refund('rfd_2', 500, 'succeeded')] });
    const first = snapshot(orderId, 6, 'PARTIALLY_REFUNDED', { change: 'refund_succeeded', refundId: 'rfd_1', refunds: [refund('rfd_1', 1000, 'succeeded'), refund('rfd_2', 500, 'succeeded')] });
    await deliver(event('order.changed', first), event('order.partially_refunded', second));
    const audit = await rows<{ action: string; refund_id: string; amount: number }>(
      sql`select action, data->>'refundId' as refund_id, (data->>'amount')::int as amount from audit_log where target_id = ${orderId} order by (data->>'version')::int`,
    );
    expect(audit).toEqual([
      { action: 'order.refund.succeeded', refund_id: 'rfd_2', amount: 500 },
      { action: 'order.refund.succeeded', refund_id: 'rfd_1', amount: 1000 },
    ]);
  });

  it('projects every column of the order, its items, payment, refunds and shipments, and its audit row, from one event', async () => {
    const orderId = newId('order');
    const created = '2026-11-24T12:00:00.000Z';
    const snap = snapshot(orderId, 7, 'PARTIALLY_REFUNDED', {
      fulfilmentStatus: 'shipped',
      channel: 'pos',
      storeId: 'st_proj',
      subtotal: 5000,
      total: 5400,
      items: [
        { itemId: 'itm_1', productId: 'prd_a', variantId: 'var_a', sku: 'SKU-A', name: 'Lamp "Nord"', quantity: 2, unitPrice: 2000, lineTotal: 4000 },
        { itemId: 'itm_2', productId: 'prd_b', variantId: 'var_b', sku: 'SKU-B', name: 'Bulb', quantity: 1, unitPrice: 1000, lineTotal: 1000 },
      ],
      payment: { attemptId: `${orderId}-pay1`, method: 'CARD', provider: 'stripe', status: 'captured', providerRef: 'pi_proj', amountCaptured: 5400 },
      refunds: [
        { refundId: `${orderId}-r1`, amount: 400, status: 'succeeded', reason: 'late', providerRefundRef: 're_1', requestedBy: 'user:usr_admin', createdAt: created },
        { refundId: `${orderId}-r2`, amount: 100, status: 'pending', reason: 'dent', providerRefundRef: null, requestedBy: 'user:usr_admin', createdAt: created },
      ],
      shipments: [
        { shipmentId: `${orderId}-s1`, warehouseId: 'wh_1', carrier: 'ups', trackingNumber: '1Z999', status: 'in_transit', lines: [{ itemId: 'itm_1', quantity: 2 }], events: [], createdAt: created },
      ],
      refundId: `${orderId}-r1`,
    });
    const e = event('order.partially_refunded', snap);
    expect((await deliver(e)).explicitAcks).toHaveLength(1);

    const [o] = await rows(sql`select user_id, status, fulfilment_status, version::int, channel, store_id, currency, subtotal::int, total::int, amount_captured::int,
      amount_refunded::int, payment_method, payment_status, item_count, snapshot = ${JSON.stringify(snap)}::jsonb as same_snapshot,
      created_at = ${snap.createdAt}::timestamptz as same_created, updated_at = ${snap.updatedAt}::timestamptz as same_updated from orders where id = ${orderId}`);
    expect(o).toEqual({
      user_id: 'usr_projection_test', status: 'PARTIALLY_REFUNDED', fulfilment_status: 'shipped', version: 7, channel: 'pos', store_id: 'st_proj', currency: 'USD',
      subtotal: 5000, total: 5400, amount_captured: 5400, amount_refunded: 400, payment_method: 'CARD', payment_status: 'captured', item_count: 3,
      same_snapshot: true, same_created: true, same_updated: true,
    });
    expect(await rows(sql`select item_id, product_id, variant_id, sku, name, quantity, unit_price::int, line_total::int from order_items where order_id = ${orderId} order by item_id`)).toEqual([
      { item_id: 'itm_1', product_id: 'prd_a', variant_id: 'var_a', sku: 'SKU-A', name: 'Lamp "Nord"', quantity: 2, unit_price: 2000, line_total: 4000 },
      { item_id: 'itm_2', product_id: 'prd_b', variant_id: 'var_b', sku: 'SKU-B', name: 'Bulb', quantity: 1, unit_price: 1000, line_total: 1000 },
    ]);
    expect(await rows(sql`select attempt_id, method, provider, provider_ref, status, amount_captured::int from order_payments where order_id = ${orderId}`)).toEqual([
      { attempt_id: `${orderId}-pay1`, method: 'CARD', provider: 'stripe', provider_ref: 'pi_proj', status: 'captured', amount_captured: 5400 },
    ]);
    expect(await rows(sql`select refund_id, amount::int, status, reason, provider_refund_ref, requested_by, created_at = ${created}::timestamptz as same_created from order_refunds where order_id = ${orderId} order by refund_id`)).toEqual([
      { refund_id: `${orderId}-r1`, amount: 400, status: 'succeeded', reason: 'late', provider_refund_ref: 're_1', requested_by: 'user:usr_admin', same_created: true },
      { refund_id: `${orderId}-r2`, amount: 100, status: 'pending', reason: 'dent', provider_refund_ref: null, requested_by: 'user:usr_admin', same_created: true },
    ]);
    expect(await rows(sql`select shipment_id, warehouse_id, carrier, tracking_number, status, lines, created_at = ${created}::timestamptz as same_created from order_shipments where order_id = ${orderId}`)).toEqual([
      { shipment_id: `${orderId}-s1`, warehouse_id: 'wh_1', carrier: 'ups', tracking_number: '1Z999', status: 'in_transit', lines: [{ itemId: 'itm_1', quantity: 2 }], same_created: true },
    ]);
    const audit = await rows<Record<string, unknown>>(sql`select id, action, outcome, actor_kind, actor_id, target_kind, target_id, request_id, ip, data, occurred_at = ${e.occurredAt}::timestamptz as same_time from audit_log where target_id = ${orderId}`);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'order.refund.succeeded', outcome: 'success', actor_kind: 'system', actor_id: null, target_kind: 'order', target_id: orderId, request_id: 'req_test', ip: null, same_time: true,
      data: { orderId, version: 7, currency: 'USD', eventId: e.id, refundId: `${orderId}-r1`, amount: 400, providerRefundRef: 're_1' },
    });
    expect(audit[0]!.id).toMatch(/^aud_/);
    const [claim] = await rows(sql`select count(*)::int as n from processed_events where consumer = 'orders.projection' and event_id = ${e.id}`);
    expect(claim).toEqual({ n: 1 });
  });

  it('one event delivered twice at once is applied and audited once; an older one arriving later changes no row but is audited', async () => {
    const orderId = newId('order');
    const paid = event('order.paid', snapshot(orderId, 2, 'PAID'));
    await Promise.all([deliver(paid), deliver(paid), deliver(paid)]);
    const placed = event('order.placed', snapshot(orderId, 1, 'PENDING', { items: [{ itemId: 'itm_9', productId: 'p', variantId: 'v', sku: 'S', name: 'n', quantity: 1, unitPrice: 1, lineTotal: 1 }] }));
    await deliver(placed);
    expect(await rows(sql`select status, version::int from orders where id = ${orderId}`)).toEqual([{ status: 'PAID', version: 2 }]);
    // The items came with the first row written (version 2's); the older event's items are not added.
    expect(await rows(sql`select item_id from order_items where order_id = ${orderId}`)).toEqual([{ item_id: 'itm_1' }]);
    expect(await rows(sql`select status from order_payments where order_id = ${orderId}`)).toEqual([{ status: 'captured' }]);
    const audit = await rows<{ action: string }>(sql`select action from audit_log where target_id = ${orderId} order by action`);
    expect(audit.map((a) => a.action)).toEqual(['order.payment.captured', 'order.placed']);
  });
});
