import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { ORDER_EVENTS, type EventEnvelope, type OrderEventType, type OrderSnapshot } from '../../shared/events';
import { newId } from '../../shared/kernel/ids';
import worker from './index';
import { ORDER_EVENTS_QUEUE } from './queues';

/** The order projection through the Worker's queue handler: any order, duplicates, audit once. */
async function rows<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]> {
  const db = new DbProvider(readConfig(env)).http();
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

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
});
