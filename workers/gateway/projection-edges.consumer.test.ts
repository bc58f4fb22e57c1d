/**
 * Probes of the event consumers and projections (inventory.updated → stock_levels →
 * product_variants.available_qty; order.* → orders) and of the inventory rules the concurrent-*
 * files do not cover: offline POS sales, low-stock events, warehouse allocation, and whether the
 * live availability (GET /v1/inventory/{sku}) and the catalog's in-stock view agree once the
 * queue has caught up.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject, type MessageBatchMessage } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { allocate } from '../../durable-objects/inventory/inventory.logic';
import { inventoryFor, offlineSaleOnShards } from '../../durable-objects/inventory/inventory.stub';
import { InventoryLowStock, ORDER_EVENTS, type EventEnvelope, type OrderEventType, type OrderSnapshot } from '../../shared/events';
import { encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { newId } from '../../shared/kernel/ids';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { json } from '../../test/support/http';
import { rows } from '../../test/support/db';
import { availableQty, inventoryUpdated, newVariant, stockProjection } from '../../test/support/stock';
import { admin, eventually, staffSession, stockedProduct } from '../../test/support/orders';
import worker from './index';
import { EVENTS_QUEUE, ORDER_EVENTS_DLQ, ORDER_EVENTS_QUEUE } from './queues';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

let seq = 0;
const message = <T>(body: T, attempts = 1): MessageBatchMessage<T> => ({ id: `msg-edge-${++seq}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts, body });

/** One batch through the Worker's own queue handler; which messages were acked and retried. */
async function deliver(queue: string, bodies: unknown[]) {
  const batch = createMessageBatch(queue, bodies.map((b) => message(b)));
  const spies = batch.messages.map((m) => vi.spyOn(m, 'retry'));
  const ctx = createExecutionContext();
  await worker.queue!(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { ...result, retried: spies.filter((s) => s.mock.calls.length > 0).length, ids: batch.messages.map((m) => m.id) };
}

let wh1: string;
let wh2: string;
let whByCode: Record<string, string> = {};

beforeAll(async () => {
  const found = await rows<{ id: string; code: string }>(sql`select id, code from warehouses order by id`);
  [wh1, wh2] = [found[0]!.id, found[1]!.id];
  whByCode = Object.fromEntries(found.map((w) => [w.code, w.id]));
});

const deadLetter = async (eventId: string) =>
  (await rows<{ queue: string; status: string; error: string }>(sql`select queue, status, error from dead_letters where event_id = ${eventId}`))[0];

/** Live availability (the object), as the public route answers it. */
async function liveAvailable(sku: string) {
  const { res, body } = await json(`/v1/inventory/${sku}`);
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { total: body.available as number, by: Object.fromEntries((body.warehouses as Array<{ warehouseId: string; available: number }>).map((w) => [w.warehouseId, w.available])) };
}

/** The staff stock view's line of one SKU (listed from the projection, levels live): one page positioned just before it. */
async function stockLine(sku: string, warehouseId: string, token: string) {
  const cursor = encodeCursor({ sku: sku.slice(0, -1) }, fingerprint({ warehouseId }));
  const read = async () =>
    ((await json(`/v1/warehouses/${warehouseId}/stock?limit=1&cursor=${cursor}`, { headers: bearer(token) })).body.items as Array<Record<string, unknown>>).find((l) => l.sku === sku);
  const found = await eventually(read, (l) => l !== undefined, 10_000);
  expect(found, `${sku} never listed in ${warehouseId}`).toBeDefined();
  return found as { onHand: number; reserved: number; available: number; needsReconciliation: boolean };
}

const reserveHttp = async (sku: string, quantity: number, key = crypto.randomUUID()) =>
  json(`/v1/inventory/${sku}/reservations`, jsonInit('POST', { quantity, ref: { kind: 'checkout', id: `chk-${key.slice(0, 8)}` } }, { ...(await admin()), 'idempotency-key': key }));

const waitProjected = (sku: string, warehouseId: string, ok: (r: { on_hand: number; reserved: number } | undefined) => boolean) =>
  eventually(async () => (await rows<{ on_hand: number; reserved: number }>(sql`select on_hand, reserved from stock_levels where sku = ${sku} and warehouse_id = ${warehouseId}`))[0], ok, 10_000);

// ---------------------------------------------------------------------------------------------
// inventory.updated through the queue
// ---------------------------------------------------------------------------------------------

describe('inventory.updated on the queue: order, duplicates, malformed messages', () => {
  it('out of order and duplicated, in one batch and across batches: the projection ends at the newest version per warehouse and never goes back', async () => {
    const sku = await newVariant('edge');
    const e1 = inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 10, reserved: 0 }]);
    const e2 = inventoryUpdated(sku, 2, [{ warehouseId: wh1, onHand: 7, reserved: 1 }]);
    const e3 = inventoryUpdated(sku, 3, [
      { warehouseId: wh1, onHand: 4, reserved: 2 },
      { warehouseId: wh2, onHand: 3, reserved: 0 },
    ]);
    const e4 = inventoryUpdated(sku, 4, [{ warehouseId: wh2, onHand: 1, reserved: 0 }]);
    const first = await deliver(EVENTS_QUEUE, [e3, e1, e3, e2]);
    expect(first.explicitAcks).toHaveLength(4);
    expect(first.retried).toBe(0);
    const want3 = [
      { warehouse_id: wh1, on_hand: 4, reserved: 2, version: '3' },
      { warehouse_id: wh2, on_hand: 3, reserved: 0, version: '3' },
    ].sort((a, b) => a.warehouse_id.localeCompare(b.warehouse_id));
    expect(await stockProjection(sku)).toEqual(want3);
    expect(await availableQty(sku)).toBe(5);

    const second = await deliver(EVENTS_QUEUE, [e2, e4, e1, e4, e3]);
    expect(second.explicitAcks).toHaveLength(5);
    expect(await stockProjection(sku)).toEqual(want3.map((r) => (r.warehouse_id === wh2 ? { ...r, on_hand: 1, version: '4' } : r)));
    expect(await availableQty(sku)).toBe(3);
    // Each consumer claimed each event once.
    expect(await rows(sql`select consumer, count(*)::int as n from processed_events where event_id in (${e1.id}, ${e2.id}, ${e3.id}, ${e4.id}) group by consumer order by consumer`)).toEqual([
      { consumer: 'catalog.variant_availability', n: 4 },
      { consumer: 'inventory.stock_levels', n: 4 },
    ]);
  });

  it('bad data, an unknown (newer) envelope version and a non-envelope in the middle of a batch: dead-lettered at once and acked; the valid ones around them applied', async () => {
    const sku = await newVariant('edge');
    const good1 = inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 9, reserved: 0 }]);
    const good2 = inventoryUpdated(sku, 2, [{ warehouseId: wh1, onHand: 6, reserved: 0 }]);
    const badData = { ...inventoryUpdated(sku, 5, [{ warehouseId: wh1, onHand: 1, reserved: 0 }]), data: { sku, shard: 0, levels: [] } };
    const v2 = { ...inventoryUpdated(sku, 6, [{ warehouseId: wh1, onHand: 2, reserved: 0 }]), version: 2 };
    const notEnvelope = { hello: 'world', subject: sku };
    const r = await deliver(EVENTS_QUEUE, [good1, badData, v2, notEnvelope, good2]);
    expect(r.explicitAcks).toHaveLength(5);
    expect(r.retried).toBe(0);
    expect(await deadLetter(badData.id)).toMatchObject({ queue: EVENTS_QUEUE, status: 'open', error: expect.stringMatching(/^invalid_data/) });
    expect(await deadLetter(v2.id)).toMatchObject({ queue: EVENTS_QUEUE, status: 'open', error: expect.stringMatching(/^unknown_type: unknown event type inventory.updated@2/) });
    expect(await deadLetter(`msg:${r.ids[3]}`)).toMatchObject({ error: expect.stringMatching(/^invalid_envelope/) });
    expect(await stockProjection(sku)).toEqual([{ warehouse_id: wh1, on_hand: 6, reserved: 0, version: '2' }]);
    expect(await availableQty(sku)).toBe(6);
  });

  // docs/events.md, "Consuming": a malformed message is recorded in dead_letters right away and
  // acked, "retrying never helps". An inventory.updated without aggregateVersion can never be
  // projected; it was retried 5 times before the DLQ (until 0.3.13: now invalid_envelope).
  it('an inventory.updated without aggregateVersion is dead-lettered at once, not retried, and does not hold up the batch', async () => {
    const sku = await newVariant('edge');
    // A producer cannot build one (create refuses it): a foreign or hand-made message.
    const { aggregateVersion: _dropped, ...noVersion } = inventoryUpdated(sku, 9, [{ warehouseId: wh1, onHand: 50, reserved: 0 }]);
    const good = inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 2, reserved: 0 }]);
    const r = await deliver(EVENTS_QUEUE, [noVersion, good]);
    expect(await stockProjection(sku)).toEqual([{ warehouse_id: wh1, on_hand: 2, reserved: 0, version: '1' }]);
    expect(r.retried, 'retried although it can never be applied').toBe(0);
    expect(r.explicitAcks).toHaveLength(2);
    expect(await deadLetter(noVersion.id)).toMatchObject({ queue: EVENTS_QUEUE, status: 'open' });
  });

  // docs/events.md: malformed → "record it in dead_letters right away and ack"; "The DLQ's consumer
  // records every message in dead_letters". Postgres jsonb cannot hold \u0000, so such a body is
  // never recorded: retried on the queue, then on the DLQ (max_retries 10), then lost.
  it('a malformed message whose body holds U+0000 is dead-lettered at once and acked', async () => {
    const id = newId('event');
    const body = { id, type: 'inventory.updated', version: 1, data: { note: 'nul \u0000 here' } };
    const r = await deliver(EVENTS_QUEUE, [body]);
    expect(r.retried).toBe(0);
    expect(r.explicitAcks).toHaveLength(1);
    expect(await deadLetter(id)).toMatchObject({ queue: EVENTS_QUEUE, status: 'open' });
  });

  it('the DLQ consumer records a message whose body holds U+0000 (order events DLQ)', async () => {
    const orderId = newId('order');
    const e = orderEvent('order.placed', snapshot(orderId, 1, 'PENDING', { items: [{ itemId: 'itm_1', productId: 'p', variantId: 'v', sku: 'S', name: 'Lamp \u0000', quantity: 1, unitPrice: 1, lineTotal: 1 }] }));
    const r = await deliver(ORDER_EVENTS_DLQ, [e]);
    expect(r.retried).toBe(0);
    expect(r.explicitAcks).toHaveLength(1);
    expect(await deadLetter(e.id)).toMatchObject({ queue: ORDER_EVENTS_QUEUE, status: 'open' });
  });

  it('inventory.low_stock has no consumer: acked, not dead-lettered', async () => {
    const e = InventoryLowStock.create({ sku: 'X-LOW', shard: 0, available: 3, threshold: 5 }, { correlationId: 'req_low', source: 'inventory', subject: 'X-LOW', aggregateVersion: 3 });
    const r = await deliver(EVENTS_QUEUE, [e]);
    expect(r.explicitAcks).toHaveLength(1);
    expect(await deadLetter(e.id)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// order.* through the queue
// ---------------------------------------------------------------------------------------------

function snapshot(orderId: string, version: number, status: string, over: Partial<OrderSnapshot> = {}): OrderSnapshot {
  return {
    orderId,
    userId: 'usr_edge_test',
    status,
    fulfilmentStatus: status === 'SHIPPED' ? 'shipped' : 'unfulfilled',
    version,
    channel: 'web',
    storeId: null,
    placedBy: { kind: 'user', id: 'usr_edge_test', role: 'customer' },
    currency: 'USD',
    subtotal: 5000,
    total: 5000,
    items: [{ itemId: 'itm_1', productId: 'prd_x', variantId: 'var_x', sku: 'SKU-EDGE', name: 'x', quantity: 2, unitPrice: 2500, lineTotal: 5000 }],
    payment: { attemptId: `${orderId}-pay1`, method: 'CARD', provider: 'stripe', status: status === 'PENDING' ? 'requires_action' : 'captured', providerRef: 'pi_1', amountCaptured: status === 'PENDING' ? 0 : 5000 },
    refunds: [],
    shipments:
      status === 'SHIPPED'
        ? [{ shipmentId: `${orderId}-s1`, warehouseId: 'wh_1', carrier: 'ups', trackingNumber: '1Z1', status: 'in_transit', lines: [{ itemId: 'itm_1', quantity: 2 }], events: [], createdAt: new Date(Date.UTC(2026, 10, 24, 13)).toISOString() }]
        : [],
    cancelReason: null,
    change: 'test',
    createdAt: new Date(Date.UTC(2026, 10, 24, 12)).toISOString(),
    updatedAt: new Date(Date.UTC(2026, 10, 24, 12, 0, version)).toISOString(),
    ...over,
  };
}

const orderEvent = (type: OrderEventType, snap: OrderSnapshot) =>
  ORDER_EVENTS[type].create(snap, { correlationId: 'req_edge', source: 'orders', subject: snap.orderId, aggregateVersion: snap.version });

describe('order.* on the queue: order, duplicates, malformed messages', () => {
  it('newest first, duplicates, bad data and an unknown version in one batch, then older again: the order stays at the newest, each movement audited once, the bad ones dead-lettered', async () => {
    const orderId = newId('order');
    const placed = orderEvent('order.placed', snapshot(orderId, 1, 'PENDING'));
    const paid = orderEvent('order.paid', snapshot(orderId, 2, 'PAID'));
    const shipped = orderEvent('order.shipped', snapshot(orderId, 3, 'SHIPPED'));
    const badData = { ...orderEvent('order.paid', snapshot(orderId, 9, 'PAID')), data: { orderId, version: 9 } };
    const v2 = { ...orderEvent('order.cancelled', snapshot(orderId, 10, 'CANCELLED')), version: 2 };
    const r = await deliver(ORDER_EVENTS_QUEUE, [shipped, placed, shipped, badData, v2, paid]);
    expect(r.explicitAcks).toHaveLength(6);
    expect(r.retried).toBe(0);
    const again = await deliver(ORDER_EVENTS_QUEUE, [paid, placed, paid]);
    expect(again.explicitAcks).toHaveLength(3);
    expect(await rows(sql`select status, version::int as version, amount_captured::int as captured from orders where id = ${orderId}`)).toEqual([{ status: 'SHIPPED', version: 3, captured: 5000 }]);
    expect(await rows(sql`select shipment_id from order_shipments where order_id = ${orderId}`)).toEqual([{ shipment_id: `${orderId}-s1` }]);
    expect(await rows(sql`select status from order_payments where order_id = ${orderId}`)).toEqual([{ status: 'captured' }]);
    const audit = await rows<{ action: string }>(sql`select action from audit_log where target_id = ${orderId} order by action`);
    expect(audit.map((a) => a.action)).toEqual(['order.payment.captured', 'order.placed', 'order.shipment.created']);
    expect(await deadLetter(badData.id)).toMatchObject({ queue: ORDER_EVENTS_QUEUE, error: expect.stringMatching(/^invalid_data/) });
    expect(await deadLetter(v2.id)).toMatchObject({ queue: ORDER_EVENTS_QUEUE, error: expect.stringMatching(/^unknown_type/) });
  });
});

// ---------------------------------------------------------------------------------------------
// Offline POS sales
// ---------------------------------------------------------------------------------------------

describe('offline POS sales', () => {
  it('below zero: accepted, flagged where the docs say, one effect on replay; live reads show 0 sellable, the staff view and the projection the negative level', async () => {
    const p = await stockedProduct(3);
    const { token, warehouseId } = await staffSession();
    expect((await reserveHttp(p.sku, 1)).res.status).toBe(201);
    const stub = inventoryFor(env, p.sku);
    const sale = { opId: `pos-${crypto.randomUUID()}`, saleId: 'sale_edge_1', warehouseId, quantity: 5, soldAt: '2026-11-20T10:00:00+05:30' };
    const first = await stub.recordOfflineSale(sale);
    expect(first).toEqual({ ok: true, level: { warehouseId, onHand: -2, reserved: 1, available: -3 }, needsReconciliation: true });
    expect(await stub.recordOfflineSale(sale)).toEqual(first);
    const view = await stub.levels();
    expect(view.totals).toEqual({ onHand: -2, reserved: 1, available: -3 });
    expect(view.needsReconciliation).toMatchObject({ reason: 'offline sale sale_edge_1 oversold' });
    await runInDurableObject(stub, (_i: InventoryDurableObject, state) => {
      expect(state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM movements WHERE kind = 'offline_sale'").one().n).toBe(1);
    });

    expect(await liveAvailable(p.sku)).toEqual({ total: 0, by: { [warehouseId]: 0 } });
    expect(await stockLine(p.sku, warehouseId, token)).toMatchObject({ onHand: -2, reserved: 1, available: -3, needsReconciliation: true });
    const projected = await waitProjected(p.sku, warehouseId, (r) => r?.on_hand === -2);
    expect(projected).toEqual({ on_hand: -2, reserved: 1 });
    expect(await eventually(() => availableQty(p.sku), (q) => q === 0, 10_000)).toBe(0);
    // Nothing more can be sold meanwhile.
    const refused = await reserveHttp(p.sku, 1);
    expect(refused.res.status).toBe(409);
    expect(refused.body.code).toBe('OUT_OF_STOCK');
  });

  // docs/inventory.md, "Staff": offline sales "flag the SKU for reconciliation; a count
  // (`cycle_count`) that covers every reservation clears the flag". The staff API's only count is
  // an adjustment with reason cycle_count, and `adjust` in the object only ever raises the flag.
  it('a staff cycle_count adjustment that leaves every warehouse covering its reservations clears the reconciliation flag', async () => {
    const p = await stockedProduct(2);
    const { token, warehouseId } = await staffSession();
    const stub = inventoryFor(env, p.sku);
    expect(await stub.recordOfflineSale({ opId: `pos-${crypto.randomUUID()}`, saleId: 'sale_edge_2', warehouseId, quantity: 4, soldAt: '2026-11-20T10:00:00Z' })).toMatchObject({
      ok: true,
      needsReconciliation: true,
    });
    const counted = await json(
      `/v1/warehouses/${warehouseId}/stock/adjustments`,
      jsonInit('POST', { sku: p.sku, delta: 5, reason: 'cycle_count' }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }),
    );
    expect(counted.res.status, JSON.stringify(counted.body)).toBe(201);
    expect(counted.body.level).toMatchObject({ onHand: 3, reserved: 0, available: 3 });
    expect({ response: counted.body.level.needsReconciliation, object: (await stub.levels()).needsReconciliation }).toEqual({ response: false, object: null });
    expect((await stockLine(p.sku, warehouseId, token)).needsReconciliation).toBe(false);
  });

  // A paid order whose hold lapsed becomes an offline sale on the shard that held it
  // (orders.saga-ports.ts). On a sharded SKU that shard goes below zero while its siblings keep
  // their units: GET /v1/inventory adds max(0, ·) per shard, the projection sums the shards first,
  // and the objects still let siblings' units be reserved although they were sold.
  it('an offline sale on a sharded SKU: live availability equals what physically remains, the catalog agrees, and no more than that can be reserved', async () => {
    const p = await stockedProduct(8);
    const { warehouseId } = await staffSession();
    const split = await json(`/v1/admin/inventory/${p.sku}/shards`, jsonInit('PUT', { shards: 2 }, await admin()));
    expect(split.res.status, JSON.stringify(split.body)).toBe(200);
    const s0 = inventoryFor(env, p.sku, 0);
    const s1 = inventoryFor(env, p.sku, 1);
    expect([(await s0.levels()).totals.onHand, (await s1.levels()).totals.onHand]).toEqual([4, 4]);
    const sale = await offlineSaleOnShards(env, p.sku, { shard: 0, shards: 2 }, { opId: `pos-${crypto.randomUUID()}`, saleId: 'sale_edge_3', warehouseId, quantity: 6, soldAt: '2026-11-20T10:00:00Z' });
    expect(sale).toMatchObject({ ok: true });
    // 8 − 6 = 2 units exist. The projection (sum over shards) gets there once the queue caught up.
    const projected = await waitProjected(p.sku, warehouseId, (r) => r?.on_hand === 2);
    expect(projected).toEqual({ on_hand: 2, reserved: 0 });
    const catalog = await eventually(() => availableQty(p.sku), (q) => q === 2, 10_000);
    const live = (await liveAvailable(p.sku)).total;
    // Before 0.3.13: the sale left shard 0 at −2 beside shard 1's 4: live 4, catalog 2, and 3 units reservable.
    const oversell = (await reserveHttp(p.sku, 3)).res.status;
    expect({ live, catalog, reserveThree: oversell }).toEqual({ live: 2, catalog: 2, reserveThree: 409 });
  });
});

// ---------------------------------------------------------------------------------------------
// Low-stock events
// ---------------------------------------------------------------------------------------------

describe('inventory.low_stock', () => {
  const recorder = (sent: EventEnvelope[]) => ({ sendBatch: async (messages: Iterable<MessageSendRequest>) => void sent.push(...[...messages].map((m) => m.body as EventEnvelope)) });

  it('once per downward crossing (a group commit crossing included), not on changes below it, again after a restock and a new crossing', async () => {
    const sku = `LOW-${crypto.randomUUID().slice(0, 8)}`;
    const stub = inventoryFor(env, sku);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: InventoryDurableObject) => {
      instance.eventsQueue = recorder(sent);
    });
    const order = (id: string) => ({ kind: 'order' as const, id });
    await stub.setStock({ opId: 'load', warehouseId: 'wh_a', onHand: 10, reason: 'receipt' });
    await stub.setStock({ opId: 'load-b', warehouseId: 'wh_b', onHand: 10, reason: 'receipt' });
    expect(await stub.reserve({ opId: 'big', reservationId: 'rsv_big', ref: order('o1'), quantity: 14 })).toMatchObject({ ok: true }); // 6
    // Three at once (group-committed or not): 6 → 3 crosses the default threshold (5) once.
    const three = await Promise.all([1, 2, 3].map((n) => stub.reserve({ opId: `r${n}`, reservationId: `rsv_${n}`, ref: order(`o${n}`), quantity: 1 })));
    expect(three.every((r) => r.ok)).toBe(true);
    await stub.reserve({ opId: 'r4', reservationId: 'rsv_4', ref: order('o4'), quantity: 1 }); // 2: below, no event
    await stub.recordOfflineSale({ opId: 'pos', saleId: 'sale_low', warehouseId: 'wh_a', quantity: 1, soldAt: new Date().toISOString() }); // 1
    await stub.release({ opId: 'rel-big', reservationId: 'rsv_big' }); // 15: above again
    await stub.adjust({ opId: 'dmg', warehouseId: 'wh_b', delta: -8, reason: 'damage' }); // 7: above
    await stub.adjust({ opId: 'dmg2', warehouseId: 'wh_b', delta: -2, reason: 'damage' }); // 5: crosses (at the threshold)
    await stub.adjust({ opId: 'dmg3', warehouseId: 'wh_a', delta: -1, reason: 'damage' }); // 4: below, no event
    await runInDurableObject(stub, (instance: InventoryDurableObject) => instance.flushOutbox());
    const low = sent.filter((e) => e.type === 'inventory.low_stock');
    expect(low.map((e) => (e.data as { available: number }).available)).toEqual([expect.any(Number), 5]);
    expect((low[0]!.data as { available: number }).available).toBeLessThanOrEqual(5);
    expect((low[0]!.data as { available: number }).available).toBeGreaterThanOrEqual(3);
    expect(low.every((e) => (e.data as { threshold: number }).threshold === 5 && e.subject === sku)).toBe(true);
    // Each low_stock carries the version of the update it came with.
    const updates = sent.filter((e) => e.type === 'inventory.updated');
    for (const l of low) expect(updates.some((u) => u.aggregateVersion === l.aggregateVersion)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Allocation across warehouses
// ---------------------------------------------------------------------------------------------

describe('allocation across warehouses (docs/inventory.md, "Warehouse allocation")', () => {
  const table = { 'eu-west': { AMS: 0, NJ: 1, BLR: 2 }, 'us-east': { NJ: 0, AMS: 1, BLR: 2 }, 'eu-central': { AMS: 1, NJ: 1, BLR: 2 } };

  it('stock available, then nearest, then fewest splits, with three warehouses', () => {
    // 1. Stock before nearness: the nearest cannot ship the line whole; the next one can.
    expect(allocate([{ skuId: 'A', quantity: 5 }], { A: [{ warehouseId: 'AMS', available: 3 }, { warehouseId: 'NJ', available: 5 }, { warehouseId: 'BLR', available: 50 }] }, { region: 'eu-west', table })).toMatchObject({
      ok: true,
      lines: [{ skuId: 'A', allocation: [{ warehouseId: 'NJ', quantity: 5 }] }],
      shipments: 1,
    });
    // 2. Nearest among those that can ship it whole, however much more a farther one has.
    expect(allocate([{ skuId: 'A', quantity: 2 }], { A: [{ warehouseId: 'AMS', available: 50 }, { warehouseId: 'NJ', available: 2 }] }, { region: 'us-east', table })).toMatchObject({
      lines: [{ allocation: [{ warehouseId: 'NJ', quantity: 2 }] }],
    });
    // 3. Equally near (AMS, NJ from eu-central): both lines from one warehouse.
    const tie = allocate(
      [{ skuId: 'A', quantity: 1 }, { skuId: 'B', quantity: 1 }],
      { A: [{ warehouseId: 'AMS', available: 3 }, { warehouseId: 'NJ', available: 6 }], B: [{ warehouseId: 'AMS', available: 6 }, { warehouseId: 'NJ', available: 3 }] },
      { region: 'eu-central', table },
    );
    expect(tie).toMatchObject({ ok: true, shipments: 1 });
    // A split only when no warehouse can ship the line: nearest first.
    expect(allocate([{ skuId: 'A', quantity: 10 }], { A: [{ warehouseId: 'BLR', available: 6 }, { warehouseId: 'NJ', available: 3 }, { warehouseId: 'AMS', available: 4 }] }, { region: 'eu-west', table })).toMatchObject({
      lines: [{ allocation: [{ warehouseId: 'AMS', quantity: 4 }, { warehouseId: 'NJ', quantity: 3 }, { warehouseId: 'BLR', quantity: 3 }] }],
      shipments: 3,
    });
    // Not coverable by all of them together: OUT_OF_STOCK with every short SKU.
    expect(allocate([{ skuId: 'A', quantity: 14 }, { skuId: 'B', quantity: 1 }], { A: [{ warehouseId: 'AMS', available: 13 }], B: [] }, { region: 'eu-west', table })).toEqual({
      ok: false,
      code: 'OUT_OF_STOCK',
      skuIds: ['A', 'B'],
    });
  });

  /** Adds `units` of `sku` to a warehouse by code (admins may adjust anywhere). */
  async function stockAt(sku: string, code: string, units: number) {
    const r = await json(`/v1/warehouses/${whByCode[code]}/stock/adjustments`, jsonInit('POST', { sku, delta: units, reason: 'receipt' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(r.res.status, JSON.stringify(r.body)).toBe(201);
  }

  const placeOrder = async (body: Record<string, unknown>) => {
    const c = await newCustomer();
    const placed = await json('/v1/orders', jsonInit('POST', { paymentMethod: 'CARD', ...body }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    return placed.body as { allocations: Array<{ sku: string; warehouseId: string; quantity: number }> };
  };

  // Rule 3: "among equally near warehouses: one already shipping another line of the order".
  // The order saga reserves each SKU in its own object (reserveAll), each choosing alone by "most
  // available"; `allocate` over the whole order is never called, so the order ships in two parcels.
  it('an order of two SKUs that one warehouse can ship whole is allocated to that one warehouse (fewest splits)', async () => {
    const a = await stockedProduct(3); // AMS1: 3
    const b = await stockedProduct(6); // AMS1: 6
    await stockAt(a.sku, 'NJ1', 6);
    await stockAt(b.sku, 'NJ1', 3);
    const order = await placeOrder({ items: [{ productId: a.productId, quantity: 1 }, { productId: b.productId, quantity: 1 }] });
    const warehouses = [...new Set(order.allocations.map((x) => x.warehouseId))];
    expect(order.allocations).toHaveLength(2);
    expect(warehouses, JSON.stringify(order.allocations)).toHaveLength(1);
  });

  // Rule 2: "nearest to the shipping region". Orders never pass distances (orders.service.ts →
  // order.do.ts `distances: input.distances ?? null`), so the shipping address plays no part.
  it('an order shipping to the US is reserved from the US warehouse when it can ship the line whole', async () => {
    const p = await stockedProduct(10); // AMS1: 10
    await stockAt(p.sku, 'NJ1', 4);
    const order = await placeOrder({
      items: [{ productId: p.productId, quantity: 2 }],
      shippingAddress: { name: 'Ned Newark', line1: '1 Main St', city: 'Newark', region: 'NJ', postalCode: '07102', country: 'US' },
    });
    expect(order.allocations).toEqual([{ sku: p.sku, warehouseId: whByCode.NJ1, quantity: 2 }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Live availability and the catalog agree once the queue caught up
// ---------------------------------------------------------------------------------------------

describe('GET /v1/inventory/{sku} and the catalog in-stock view', () => {
  const variantInStock = async (productId: string) => {
    const { res, body } = await json(`/v1/products/${productId}`);
    expect(res.status, JSON.stringify(body)).toBe(200);
    return { product: body.inStock as boolean, variant: body.variants[0].inStock as boolean };
  };

  it('the live read is from the object at once; available_qty and the in-stock view follow after the queue, out of stock and back', async () => {
    const p = await stockedProduct(2);
    await eventually(() => availableQty(p.sku), (q) => q === 2, 10_000);
    const held = await reserveHttp(p.sku, 2);
    expect(held.res.status).toBe(201);
    expect((await liveAvailable(p.sku)).total).toBe(0);
    expect(await eventually(() => availableQty(p.sku), (q) => q === 0, 10_000)).toBe(0);
    expect(await variantInStock(p.productId)).toEqual({ product: false, variant: false });
    const released = await json(`/v1/inventory/${p.sku}/reservations/${held.body.reservationId}/release`, { method: 'POST', headers: await admin() });
    expect(released.res.status, JSON.stringify(released.body)).toBe(200);
    expect((await liveAvailable(p.sku)).total).toBe(2);
    expect(await eventually(() => availableQty(p.sku), (q) => q === 2, 10_000)).toBe(2);
    expect(await variantInStock(p.productId)).toEqual({ product: true, variant: true });
  });
});
