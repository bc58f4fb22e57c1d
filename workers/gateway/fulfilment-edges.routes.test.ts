/**
 * Fulfilment, shipping and tracking at their edges (docs/orders.md, "Fulfilment, cancellation,
 * refunds" and "Payments in, carriers in"; API.md `POST /v1/orders/{id}/fulfillments`,
 * `GET /v1/orders/{id}/tracking`): split shipments summing exactly to the order, the
 * Idempotency-Key, who may ship from where, which states may ship, the carrier webhook (signature,
 * unknown parcels, duplicates, out-of-order and offset timestamps, one parcel of a split order),
 * the tracking timeline, the Postgres projection after the queue, cancel/refund after shipping and
 * the stock (committed exactly once, read from the SKU's object and GET /v1/inventory/{sku}).
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { allAtOnce, statuses } from '../../test/support/concurrency';
import { rows } from '../../test/support/db';
import { call, json } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);

type Product = Awaited<ReturnType<typeof stockedProduct>>;
type Item = { itemId: string; quantity: number };

let whByCode: Record<string, string> = {};
beforeAll(async () => {
  const found = await rows<{ id: string; code: string }>(sql`select id, code from warehouses order by id`);
  whByCode = Object.fromEntries(found.map((w) => [w.code, w.id]));
});

const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;

/** Places an order of `lines` (product, quantity) for a new customer. */
async function placeOrder(lines: Array<[Product, number]>, paymentMethod: 'CARD' | 'COD' = 'CARD') {
  const c = await newCustomer();
  const placed = await json(
    '/v1/orders',
    jsonInit('POST', { items: lines.map(([p, quantity]) => ({ productId: p.productId, variantId: p.variantId, quantity })), paymentMethod }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }),
  );
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  return { c, orderId: placed.body.orderId as string, body: placed.body, total: placed.body.total.amount as number };
}

/** A CARD order of `lines`, paid at the Stripe emulator and its webhooks delivered: PAID, stock committed. */
async function paidOrder(lines: Array<[Product, number]>) {
  const o = await placeOrder(lines);
  const pi = paymentIntentOf(o.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  const live = await eventually(() => order(o.orderId), (x) => x.status === 'PAID', 10_000);
  expect(live.status).toBe('PAID');
  return o;
}

/** A fulfilment request (answer = status + body, never a 5xx). */
async function ship(orderId: string, token: string, warehouseId: string, items: Item[], opts: { key?: string; trackingNumber?: string; carrier?: string } = {}) {
  const [a] = await allAtOnce([shipReq(orderId, token, warehouseId, items, opts)]);
  return a!;
}
function shipReq(orderId: string, token: string, warehouseId: string, items: Item[], opts: { key?: string; trackingNumber?: string; carrier?: string } = {}): [string, RequestInit] {
  return [
    `/v1/orders/${orderId}/fulfillments`,
    jsonInit(
      'POST',
      { warehouseId, carrier: opts.carrier ?? 'acme', trackingNumber: opts.trackingNumber ?? `TRK-${crypto.randomUUID().slice(0, 12)}`, items },
      { ...bearer(token), 'idempotency-key': opts.key ?? crypto.randomUUID() },
    ),
  ];
}

async function hmacHex(secret: string, raw: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(raw)))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Posts a carrier update to /v1/shipping/webhooks/{carrier}, signed with `secret` (the configured one by default). */
async function carrier(update: Record<string, unknown>, opts: { carrier?: string; secret?: string; signature?: string | null } = {}) {
  const raw = JSON.stringify(update);
  const sig = opts.signature === undefined ? await hmacHex(opts.secret ?? config.CARRIER_WEBHOOK_SECRET!, raw) : opts.signature;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (sig !== null) headers['x-carrier-signature'] = sig;
  const res = await call(`/v1/shipping/webhooks/${opts.carrier ?? 'acme'}`, { method: 'POST', headers, body: raw });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  expect(res.status, `carrier webhook → ${text}`).toBeLessThan(500);
  return { status: res.status, body };
}

/** Waits until the projection holds the parcel (the webhook finds parcels through it). */
async function projectedParcel(trackingNumber: string) {
  const r = await eventually(() => rows(sql`select 1 from order_shipments where tracking_number = ${trackingNumber}`), (x) => x.length === 1, 10_000);
  expect(r, `parcel ${trackingNumber} never projected`).toHaveLength(1);
}

/** Waits until the projection holds the order at the object's version; answers its row and shipment rows. */
async function projected(orderId: string) {
  const live = await order(orderId);
  const read = async () => (await rows<{ status: string; version: number; fulfilment_status: string }>(sql`select status, version::int as version, fulfilment_status from orders where id = ${orderId}`))[0];
  const row = await eventually(read, (r) => r !== undefined && r.version === live.version, 10_000);
  expect(row, `projection of ${orderId} never reached version ${live.version}`).toMatchObject({ version: live.version, status: live.status });
  const shipments = await rows<{ shipment_id: string; status: string; tracking_number: string; warehouse_id: string; lines: unknown }>(
    sql`select shipment_id, status, tracking_number, warehouse_id, lines from order_shipments where order_id = ${orderId} order by created_at, shipment_id`,
  );
  return { live, row: row!, shipments };
}

/** On hand and reserved of a SKU in one warehouse, read from its object. */
async function level(sku: string, warehouseId: string) {
  const view = (await inventoryFor(env, sku).levels()) as { levels: Array<{ warehouseId: string; onHand: number; reserved: number; available: number }> };
  const l = view.levels.find((x) => x.warehouseId === warehouseId);
  return { onHand: l?.onHand ?? 0, reserved: l?.reserved ?? 0 };
}

/** A fresh warehouse_staff account bound to `warehouseIds` only (made by an admin), signed in. */
async function staffBoundTo(warehouseIds: string[]) {
  const c = await newCustomer('Warehouse Temp');
  const changed = await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { roles: ['warehouse_staff'], warehouseIds }, await admin()));
  expect(changed.res.status, JSON.stringify(changed.body)).toBe(200);
  const s = await login(c.email, c.password);
  expect(s.user.warehouseIds).toEqual(warehouseIds);
  return s.accessToken;
}

/** Adds `units` of `sku` to a warehouse (admins may adjust anywhere). */
async function stockAt(sku: string, warehouseId: string, units: number) {
  const r = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, jsonInit('POST', { sku, delta: units, reason: 'receipt' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
  expect(r.res.status, JSON.stringify(r.body)).toBe(201);
}

/** A fresh product stocked only in `warehouseId` (created with stock in the staff warehouse, then moved by adjustments). */
async function productOnlyIn(warehouseId: string, units: number, price = 1000) {
  const p = await stockedProduct(units, price);
  if (warehouseId !== p.warehouseId) {
    const out = await json(`/v1/warehouses/${p.warehouseId}/stock/adjustments`, jsonInit('POST', { sku: p.sku, delta: -units, reason: 'cycle_count' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));
    expect(out.res.status, JSON.stringify(out.body)).toBe(201);
    await stockAt(p.sku, warehouseId, units);
  }
  return p;
}

const otherWarehouse = (mine: string) => {
  const id = Object.values(whByCode).find((w) => w !== mine);
  expect(id, JSON.stringify(whByCode)).toBeDefined();
  return id!;
};

const shippedOf = (live: { shipments: Array<{ lines: Item[] }> }) => {
  const m: Record<string, number> = {};
  for (const s of live.shipments) for (const l of s.lines) m[l.itemId] = (m[l.itemId] ?? 0) + l.quantity;
  return m;
};

describe('split shipments', () => {
  it('three parcels (2+0, 1+1, 0+1) sum exactly to lines of 3 and 2: SHIPPED; one unit too many, an unknown item and a doubled item are refused with nothing written', async () => {
    const a = await stockedProduct(5);
    const b = await stockedProduct(5);
    const o = await paidOrder([[a, 3], [b, 2]]);
    const { token, warehouseId } = await staffSession();

    const first = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 2 }]);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ status: 'PARTIALLY_SHIPPED', fulfilmentStatus: 'partially_shipped' });
    const second = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }, { itemId: 'itm_2', quantity: 1 }]);
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect(second.body.status).toBe('PARTIALLY_SHIPPED');

    const before = await order(o.orderId);
    // One unit too many on itm_2 (1 left), itm_1 exhausted, an unknown item, the last unit named twice.
    for (const items of [[{ itemId: 'itm_2', quantity: 2 }], [{ itemId: 'itm_1', quantity: 1 }], [{ itemId: 'itm_9', quantity: 1 }], [{ itemId: 'itm_2', quantity: 1 }, { itemId: 'itm_2', quantity: 1 }]]) {
      const r = await ship(o.orderId, token, warehouseId, items);
      expect(r.status, JSON.stringify([items, r.body])).toBe(422);
      expect(r.body.code).toBe('SHIPMENT_EXCEEDS_ORDER');
    }
    const after = await order(o.orderId);
    expect(after.version).toBe(before.version);
    expect(after.shipments).toHaveLength(2);

    const last = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_2', quantity: 1 }]);
    expect(last.status, JSON.stringify(last.body)).toBe(201);
    expect(last.body).toMatchObject({ status: 'SHIPPED', fulfilmentStatus: 'shipped' });
    expect(shippedOf(last.body)).toEqual({ itm_1: 3, itm_2: 2 });
    const again = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('ORDER_NOT_SHIPPABLE');

    const { live, row, shipments } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'SHIPPED', fulfilment_status: 'shipped' });
    expect(shipments.map((s) => s.shipment_id).sort()).toEqual(live.shipments.map((s: { shipmentId: string }) => s.shipmentId).sort());
    expect(shipments.every((s) => s.status === 'label_created' && s.warehouse_id === warehouseId)).toBe(true);
  });

  it('Idempotency-Key: the same body again is 201, marked Idempotent-Replayed, with one shipment; another body under it is 422 and writes nothing; the same key on another order is its own', async () => {
    const p = await stockedProduct(6);
    const o = await paidOrder([[p, 3]]);
    const o2 = await paidOrder([[p, 1]]);
    const { token, warehouseId } = await staffSession();
    const key = crypto.randomUUID();
    const tn = `TRK-${crypto.randomUUID().slice(0, 12)}`;
    const first = await json(...shipReq(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { key, trackingNumber: tn }));
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect(first.res.headers.get('idempotent-replayed')).toBeNull();
    const replay = await json(...shipReq(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { key, trackingNumber: tn }));
    expect(replay.res.status, JSON.stringify(replay.body)).toBe(201);
    expect(replay.res.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.shipments).toEqual(first.body.shipments);
    expect(replay.body.version).toBe(first.body.version);
    for (const changed of [
      { items: [{ itemId: 'itm_1', quantity: 2 }], trackingNumber: tn },
      { items: [{ itemId: 'itm_1', quantity: 1 }], trackingNumber: `${tn}-X` },
    ]) {
      const r = await ship(o.orderId, token, warehouseId, changed.items, { key, trackingNumber: changed.trackingNumber });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    }
    // Without a key: refused before anything happens.
    const init = shipReq(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }])[1];
    delete (init.headers as Record<string, string>)['idempotency-key'];
    const keyless = await json(`/v1/orders/${o.orderId}/fulfillments`, init);
    expect([keyless.res.status, keyless.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const live = await order(o.orderId);
    expect(live.shipments).toHaveLength(1);
    expect(live.version).toBe(first.body.version);
    expect(shippedOf(live)).toEqual({ itm_1: 1 });
    // The same key on another order ships that order.
    const other = await json(...shipReq(o2.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { key, trackingNumber: tn }));
    expect(other.res.status, JSON.stringify(other.body)).toBe(201);
    expect(other.res.headers.get('idempotent-replayed')).toBeNull();
    expect(other.body.status).toBe('SHIPPED');
  });

  it('two fulfilments at once that together exceed the order (2+1 and 2+1 of 3+2): one 201, one 422; never more shipped than ordered', async () => {
    const a = await stockedProduct(4);
    const b = await stockedProduct(4);
    const o = await paidOrder([[a, 3], [b, 2]]);
    const { token, warehouseId } = await staffSession();
    const items = [{ itemId: 'itm_1', quantity: 2 }, { itemId: 'itm_2', quantity: 1 }];
    const answers = await allAtOnce([shipReq(o.orderId, token, warehouseId, items), shipReq(o.orderId, token, warehouseId, items)]);
    expect(statuses(answers), JSON.stringify(answers)).toEqual([201, 422]);
    const live = await order(o.orderId);
    expect(live.status).toBe('PARTIALLY_SHIPPED');
    expect(shippedOf(live)).toEqual({ itm_1: 2, itm_2: 1 });
    const { shipments } = await projected(o.orderId);
    expect(shipments).toHaveLength(1);
  });
});

describe('who may ship, and from where', () => {
  it('a customer cannot fulfil (403); staff not bound to the warehouse named cannot (403); staff of a warehouse holding none of the order cannot even see it (404)', async () => {
    const p = await stockedProduct(2);
    const o = await paidOrder([[p, 1]]);
    const { warehouseId } = await staffSession();
    const customer = await ship(o.orderId, o.c.accessToken, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(customer.status).toBe(403);
    expect(customer.body.code).toBe('FORBIDDEN');
    const other = otherWarehouse(warehouseId);
    const elsewhere = await staffBoundTo([other]);
    // Bound elsewhere, naming the order's warehouse: not theirs.
    const named = await ship(o.orderId, elsewhere, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(named.status).toBe(403);
    // Naming their own warehouse: the order holds nothing there, and they may not read it.
    const own = await ship(o.orderId, elsewhere, other, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([404, 422], JSON.stringify(own.body)).toContain(own.status);
    expect((await call(`/v1/orders/${o.orderId}`, { headers: bearer(elsewhere) })).status).toBe(404);
    expect((await call(`/v1/orders/${o.orderId}/tracking`, { headers: bearer(elsewhere) })).status).toBe(404);
    // An admin may ship from anywhere, but only from a warehouse that holds the order's stock.
    const adminElsewhere = await ship(o.orderId, (await admin()).authorization.slice(7), other, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([adminElsewhere.status, adminElsewhere.body.code]).toEqual([422, 'WRONG_WAREHOUSE']);
    const live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'PAID', shipments: [] });
    // The staff of the order's warehouse can read it.
    const { token } = await staffSession();
    expect((await call(`/v1/orders/${o.orderId}`, { headers: bearer(token) })).status).toBe(200);
  });

  it('staff bound to warehouse A (holding line 1) ship line 2, allocated to warehouse B, from A: refused (WRONG_WAREHOUSE), nothing written; the admin ships it from B', async () => {
    const { token, warehouseId: A } = await staffSession();
    const B = otherWarehouse(A);
    const inA = await productOnlyIn(A, 2);
    const inB = await productOnlyIn(B, 2);
    const o = await paidOrder([[inA, 1], [inB, 1]]);
    const live = await order(o.orderId);
    expect(live.allocations).toEqual(expect.arrayContaining([{ sku: inA.sku, warehouseId: A, quantity: 1 }, { sku: inB.sku, warehouseId: B, quantity: 1 }]));

    const wrong = await ship(o.orderId, token, A, [{ itemId: 'itm_2', quantity: 1 }]);
    const after = await order(o.orderId);
    expect({ status: wrong.status, code: wrong.body.code, shipments: after.shipments.length }, JSON.stringify(wrong.body)).toEqual({ status: 422, code: 'WRONG_WAREHOUSE', shipments: 0 });

    const byAdmin = await ship(o.orderId, (await admin()).authorization.slice(7), B, [{ itemId: 'itm_2', quantity: 1 }]);
    expect(byAdmin.status, JSON.stringify(byAdmin.body)).toBe(201);
    const right = await ship(o.orderId, token, A, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(right.status, JSON.stringify(right.body)).toBe(201);
    expect(right.body.status).toBe('SHIPPED');
  });

  it('one line split over two warehouses (3 in A, 2 in B): shipping all 5 from A is refused, 3 from A and 2 from B are accepted', async () => {
    const { token, warehouseId: A } = await staffSession();
    const B = otherWarehouse(A);
    const p = await stockedProduct(3);
    await stockAt(p.sku, B, 2);
    const o = await paidOrder([[p, 5]]);
    const live = await order(o.orderId);
    expect([...live.allocations].sort((x: { warehouseId: string }, y: { warehouseId: string }) => (x.warehouseId === A ? -1 : y.warehouseId === A ? 1 : 0))).toEqual([
      { sku: p.sku, warehouseId: A, quantity: 3 },
      { sku: p.sku, warehouseId: B, quantity: 2 },
    ]);
    const all = await ship(o.orderId, token, A, [{ itemId: 'itm_1', quantity: 5 }]);
    const after = await order(o.orderId);
    expect({ status: all.status, shipments: after.shipments.length }, JSON.stringify(all.body)).toEqual({ status: 422, shipments: 0 });
    expect((await ship(o.orderId, token, A, [{ itemId: 'itm_1', quantity: 3 }])).status).toBe(201);
    const fromB = await ship(o.orderId, (await admin()).authorization.slice(7), B, [{ itemId: 'itm_1', quantity: 2 }]);
    expect(fromB.status, JSON.stringify(fromB.body)).toBe(201);
    expect(fromB.body.status).toBe('SHIPPED');
  });
});

describe('which states may ship', () => {
  it('card PENDING, CANCELLED and REFUNDED orders are 409 ORDER_NOT_SHIPPABLE with nothing written', async () => {
    const p = await stockedProduct(10);
    const { token, warehouseId } = await staffSession();
    const h = await admin();

    const pending = await placeOrder([[p, 1]]);
    const r1 = await ship(pending.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([r1.status, r1.body.code]).toEqual([409, 'ORDER_NOT_SHIPPABLE']);

    const cancelled = await paidOrder([[p, 1]]);
    expect((await json(`/v1/orders/${cancelled.orderId}/cancel`, jsonInit('POST', {}, bearer(cancelled.c.accessToken)))).res.status).toBe(200);
    const r2 = await ship(cancelled.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([r2.status, r2.body.code]).toEqual([409, 'ORDER_NOT_SHIPPABLE']);

    const refunded = await paidOrder([[p, 1]]);
    const rf = await json(`/v1/admin/orders/${refunded.orderId}/refunds`, jsonInit('POST', { amount: refunded.total, reason: 'out of stock after all' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(rf.res.status, JSON.stringify(rf.body)).toBe(201);
    const got = await eventually(() => order(refunded.orderId), (x) => x.status === 'REFUNDED', 10_000);
    expect(got.status).toBe('REFUNDED');
    const r3 = await ship(refunded.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([r3.status, r3.body.code]).toEqual([409, 'ORDER_NOT_SHIPPABLE']);

    for (const id of [pending.orderId, cancelled.orderId, refunded.orderId]) expect((await order(id)).shipments).toEqual([]);
  });

  it('a PARTIALLY_REFUNDED order that has not shipped may still ship (the state machine allows it); once it has all shipped, no more', async () => {
    const p = await stockedProduct(2);
    const o = await paidOrder([[p, 2]]);
    const h = await admin();
    const rf = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 300, reason: 'scratched box' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(rf.res.status, JSON.stringify(rf.body)).toBe(201);
    expect((await eventually(() => order(o.orderId), (x) => x.status === 'PARTIALLY_REFUNDED', 10_000)).status).toBe('PARTIALLY_REFUNDED');
    const { token, warehouseId } = await staffSession();
    const first = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.fulfilmentStatus).toBe('partially_shipped');
    // Cancelling is refused once part of it shipped, even partially refunded.
    const cancel = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)));
    expect([cancel.res.status, cancel.body.code]).toEqual([409, 'ORDER_NOT_CANCELLABLE']);
    const second = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(second.status, JSON.stringify(second.body)).toBe(201);
    expect(second.body.fulfilmentStatus).toBe('shipped');
    const third = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(third.status).toBeGreaterThanOrEqual(409);
    expect(third.status).toBeLessThanOrEqual(422);
    expect((await order(o.orderId)).shipments).toHaveLength(2);
    // Both parcels delivered: fulfilment says so (the status keeps saying PARTIALLY_REFUNDED).
    for (const sh of second.body.shipments as Array<{ trackingNumber: string }>) {
      await projectedParcel(sh.trackingNumber);
      expect((await carrier({ eventId: `d-${sh.trackingNumber}`, trackingNumber: sh.trackingNumber, status: 'delivered', occurredAt: new Date().toISOString() })).status).toBe(200);
    }
    expect(await order(o.orderId)).toMatchObject({ fulfilmentStatus: 'delivered', payment: { amountCaptured: { amount: 5000 }, amountRefunded: { amount: 300 } } });
  });

  it('cash on delivery ships from PENDING; every parcel delivered makes it DELIVERED and the payment captured once; the stock was committed once, at placement', async () => {
    const p = await stockedProduct(5, 1500);
    const { token, warehouseId } = await staffSession();
    const o = await placeOrder([[p, 3]], 'COD');
    expect(o.body).toMatchObject({ status: 'PENDING', payment: { status: 'due_on_delivery' } });
    const committed = await eventually(() => level(p.sku, warehouseId), (l) => l.onHand === 2 && l.reserved === 0, 5_000);
    expect(committed).toEqual({ onHand: 2, reserved: 0 });
    const s1 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(s1.status, JSON.stringify(s1.body)).toBe(201);
    expect(s1.body.status).toBe('PARTIALLY_SHIPPED');
    const s2 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 2 }]);
    expect(s2.body.status).toBe('SHIPPED');
    const tns = (s2.body.shipments as Array<{ trackingNumber: string }>).map((x) => x.trackingNumber);
    for (const tn of tns) await projectedParcel(tn);
    const d1 = await carrier({ eventId: `d-${tns[0]}`, trackingNumber: tns[0], status: 'delivered', occurredAt: new Date().toISOString() });
    expect(d1.status).toBe(200);
    expect(await order(o.orderId)).toMatchObject({ status: 'SHIPPED', payment: { status: 'due_on_delivery', amountCaptured: { amount: 0 } } });
    const d2 = await carrier({ eventId: `d-${tns[1]}`, trackingNumber: tns[1], status: 'delivered', occurredAt: new Date().toISOString() });
    expect(d2.status).toBe(200);
    expect(await order(o.orderId)).toMatchObject({ status: 'DELIVERED', fulfilmentStatus: 'delivered', payment: { status: 'captured', amountCaptured: { amount: 4500 } } });
    expect(await level(p.sku, warehouseId)).toEqual({ onHand: 2, reserved: 0 });
    expect(await available(p.sku)).toBe(2);
    const { row } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'DELIVERED', fulfilment_status: 'delivered' });
    expect(await rows(sql`select amount_captured::int as a, payment_status from orders where id = ${o.orderId}`)).toEqual([{ a: 4500, payment_status: 'captured' }]);
  });
});

describe('the carrier webhook', () => {
  it('bad, missing and malformed signatures are 400; an unknown tracking number is 404; an invalid body is 400; none changes the order', async () => {
    const p = await stockedProduct(1);
    const o = await paidOrder([[p, 1]]);
    const { token, warehouseId } = await staffSession();
    const s = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    const tn = s.body.shipments[0].trackingNumber as string;
    await projectedParcel(tn);
    const version = (await order(o.orderId)).version;
    const update = { eventId: `e-${tn}`, trackingNumber: tn, status: 'delivered', occurredAt: new Date().toISOString() };
    const bad = await carrier(update, { secret: 'not-the-carrier-secret-0123456789' });
    expect([bad.status, bad.body.code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    const missing = await carrier(update, { signature: null });
    expect([missing.status, missing.body.code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    const malformed = await carrier(update, { signature: 'zz'.repeat(32) });
    expect([malformed.status, malformed.body.code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    const unknown = await carrier({ ...update, trackingNumber: `NOPE-${crypto.randomUUID()}` });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'NOT_FOUND']);
    const otherCarrier = await carrier(update, { carrier: 'other-co' });
    expect(otherCarrier.status).toBe(404);
    const invalid = await carrier({ ...update, status: 'lost_forever' });
    expect([invalid.status, invalid.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const noTime = await carrier({ ...update, occurredAt: 'yesterday' });
    expect(noTime.status).toBe(400);
    expect(await order(o.orderId)).toMatchObject({ status: 'SHIPPED', version });
  });

  it('a split order: one parcel delivered leaves it SHIPPED; duplicates apply once; a late in_transit does not undo delivery; DELIVERED when both are; the timeline is ordered and deduplicated; the projection agrees', async () => {
    const p = await stockedProduct(3);
    const o = await paidOrder([[p, 3]]);
    const { token, warehouseId } = await staffSession();
    const s1 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 2 }]);
    const s2 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect([s1.status, s2.status]).toEqual([201, 201]);
    expect(s2.body.status).toBe('SHIPPED');
    const [A, B] = (s2.body.shipments as Array<{ trackingNumber: string; shipmentId: string }>).map((x) => x);
    await projectedParcel(A!.trackingNumber);
    await projectedParcel(B!.trackingNumber);
    const t0 = Date.now();
    const at = (min: number) => new Date(t0 + min * 60_000).toISOString();

    // Parcel A: delivered arrives before its in_transit; then the delivered again (duplicate).
    const dA = { eventId: `dA-${A!.trackingNumber}`, trackingNumber: A!.trackingNumber, status: 'delivered', description: 'handed to the customer', location: 'Amsterdam', occurredAt: at(30) };
    expect((await carrier(dA)).body).toEqual({ received: true, applied: 1 });
    expect((await carrier({ eventId: `tA-${A!.trackingNumber}`, trackingNumber: A!.trackingNumber, status: 'in_transit', location: 'Utrecht hub', occurredAt: at(10) })).body).toEqual({ received: true, applied: 1 });
    expect((await carrier(dA)).body).toEqual({ received: true, applied: 0 });
    // An exception after the delivery (by time) does not undo it either.
    expect((await carrier({ eventId: `xA-${A!.trackingNumber}`, trackingNumber: A!.trackingNumber, status: 'exception', description: 'scanner glitch', occurredAt: at(40) })).status).toBe(200);
    let live = await order(o.orderId);
    expect(live.status).toBe('SHIPPED');
    expect(live.fulfilmentStatus).toBe('shipped');
    expect(live.shipments.map((x: { trackingNumber: string; status: string }) => [x.trackingNumber, x.status])).toEqual([
      [A!.trackingNumber, 'delivered'],
      [B!.trackingNumber, 'label_created'],
    ]);

    // Parcel B: out_for_delivery, then delivered; the order is DELIVERED once.
    expect((await carrier({ eventId: `oB-${B!.trackingNumber}`, trackingNumber: B!.trackingNumber, status: 'out_for_delivery', occurredAt: at(20) })).status).toBe(200);
    expect((await carrier({ eventId: `dB-${B!.trackingNumber}`, trackingNumber: B!.trackingNumber, status: 'delivered', occurredAt: at(35) })).body.applied).toBe(1);
    live = await order(o.orderId);
    expect(live).toMatchObject({ status: 'DELIVERED', fulfilmentStatus: 'delivered' });

    const tracking = (await json(`/v1/orders/${o.orderId}/tracking`, { headers: bearer(o.c.accessToken) })).body;
    expect(tracking.status).toBe('DELIVERED');
    const times = (tracking.timeline as Array<{ at: string }>).map((t) => Date.parse(t.at));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    const shipmentEvents = (tracking.timeline as Array<{ kind: string; status: string; shipmentId: string; at: string }>).filter((t) => t.kind === 'shipment');
    expect(shipmentEvents.filter((t) => t.shipmentId === A!.shipmentId).map((t) => t.status)).toEqual(['label_created', 'in_transit', 'delivered', 'exception']);
    expect(shipmentEvents.filter((t) => t.shipmentId === B!.shipmentId).map((t) => t.status)).toEqual(['label_created', 'out_for_delivery', 'delivered']);
    expect(tracking.timeline.filter((t: { kind: string; status: string }) => t.kind === 'order' && t.status === 'DELIVERED')).toHaveLength(1);

    const { row, shipments } = await projected(o.orderId);
    expect(row).toMatchObject({ status: 'DELIVERED', fulfilment_status: 'delivered' });
    expect(shipments.map((x) => x.status)).toEqual(['delivered', 'delivered']);
  });

  it('carrier timestamps with a UTC offset are ordered by instant: the newest event sets the parcel status and the timeline is in time order', async () => {
    const p = await stockedProduct(1);
    const o = await paidOrder([[p, 1]]);
    const { token, warehouseId } = await staffSession();
    const s = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    const tn = s.body.shipments[0].trackingNumber as string;
    await projectedParcel(tn);
    const t0 = Date.now();
    // in_transit one hour from now, written in India time (+05:30); out_for_delivery two hours from now, in UTC.
    const ist = (ms: number) => new Date(ms + 5.5 * 3600_000).toISOString().replace('Z', '+05:30');
    const inTransitAt = ist(t0 + 3600_000);
    const outAt = new Date(t0 + 2 * 3600_000).toISOString();
    expect(Date.parse(inTransitAt)).toBeLessThan(Date.parse(outAt));
    expect((await carrier({ eventId: `o-${tn}`, trackingNumber: tn, status: 'out_for_delivery', location: 'Bengaluru', occurredAt: outAt })).status).toBe(200);
    expect((await carrier({ eventId: `t-${tn}`, trackingNumber: tn, status: 'in_transit', location: 'Mumbai hub', occurredAt: inTransitAt })).status).toBe(200);
    const live = await order(o.orderId);
    const tracking = (await json(`/v1/orders/${o.orderId}/tracking`, { headers: bearer(o.c.accessToken) })).body;
    const times = (tracking.timeline as Array<{ at: string }>).map((t) => Date.parse(t.at));
    expect({
      parcelStatus: live.shipments[0].status,
      shipmentOrder: (tracking.timeline as Array<{ kind: string; status: string }>).filter((t) => t.kind === 'shipment').map((t) => t.status),
      timelineSorted: JSON.stringify(times) === JSON.stringify([...times].sort((x, y) => x - y)),
    }).toEqual({ parcelStatus: 'out_for_delivery', shipmentOrder: ['label_created', 'in_transit', 'out_for_delivery'], timelineSorted: true });
  });

  it('two fulfilments with one tracking number: either the second is refused or a delivery of that parcel delivers both (the order must not be stuck in SHIPPED)', async () => {
    const p = await stockedProduct(2);
    const o = await paidOrder([[p, 2]]);
    const { token, warehouseId } = await staffSession();
    const tn = `TRK-${crypto.randomUUID().slice(0, 12)}`;
    const s1 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { trackingNumber: tn });
    expect(s1.status).toBe(201);
    const s2 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { trackingNumber: tn });
    if (s2.status === 201) {
      await eventually(() => rows(sql`select 1 from order_shipments where tracking_number = ${tn}`), (r) => r.length === 2, 10_000);
      const d = await carrier({ eventId: `d-${tn}`, trackingNumber: tn, status: 'delivered', occurredAt: new Date().toISOString() });
      expect(d.status).toBe(200);
      const live = await order(o.orderId);
      expect({ status: live.status, parcels: live.shipments.map((x: { status: string }) => x.status) }).toEqual({ status: 'DELIVERED', parcels: ['delivered', 'delivered'] });
    } else {
      expect([409, 422]).toContain(s2.status);
      expect((await order(o.orderId)).shipments).toHaveLength(1);
    }
  });

  it('a shipment whose carrier is not a webhook slug (e.g. "DHL") is either refused at fulfilment or reachable by /v1/shipping/webhooks/dhl', async () => {
    const p = await stockedProduct(1);
    const o = await paidOrder([[p, 1]]);
    const { token, warehouseId } = await staffSession();
    const s = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }], { carrier: 'DHL' });
    if (s.status === 201) {
      const tn = s.body.shipments[0].trackingNumber as string;
      await projectedParcel(tn);
      const d = await carrier({ eventId: `d-${tn}`, trackingNumber: tn, status: 'delivered', occurredAt: new Date().toISOString() }, { carrier: 'dhl' });
      expect({ webhook: d.status, order: (await order(o.orderId)).status }, JSON.stringify(d.body)).toEqual({ webhook: 200, order: 'DELIVERED' });
    } else {
      expect(s.status).toBe(400);
    }
  });
});

describe('after shipping: cancel, refund, stock', () => {
  it('cancel after a partial shipment is 409 and moves nothing; refund after delivery is allowed (PARTIALLY_REFUNDED, then REFUNDED) and puts no units back; the shipped units were committed exactly once', async () => {
    const p = await stockedProduct(5, 1000);
    const { token, warehouseId } = await staffSession();
    const o = await paidOrder([[p, 3]]);
    expect(await eventually(() => level(p.sku, warehouseId), (l) => l.onHand === 2 && l.reserved === 0, 5_000)).toEqual({ onHand: 2, reserved: 0 });
    expect(await available(p.sku)).toBe(2);

    const s1 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 1 }]);
    expect(s1.status).toBe(201);
    const before = await order(o.orderId);
    for (const who of [bearer(o.c.accessToken), await admin()]) {
      const cancel = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', { reason: 'too late' }, who));
      expect([cancel.res.status, cancel.body.code]).toEqual([409, 'ORDER_NOT_CANCELLABLE']);
    }
    expect(await order(o.orderId)).toMatchObject({ status: 'PARTIALLY_SHIPPED', version: before.version, refunds: [] });

    const s2 = await ship(o.orderId, token, warehouseId, [{ itemId: 'itm_1', quantity: 2 }]);
    expect(s2.body.status).toBe('SHIPPED');
    expect(await level(p.sku, warehouseId)).toEqual({ onHand: 2, reserved: 0 });
    for (const sh of s2.body.shipments as Array<{ trackingNumber: string }>) {
      await projectedParcel(sh.trackingNumber);
      expect((await carrier({ eventId: `d-${sh.trackingNumber}`, trackingNumber: sh.trackingNumber, status: 'delivered', occurredAt: new Date().toISOString() })).status).toBe(200);
    }
    expect((await order(o.orderId)).status).toBe('DELIVERED');
    const cancelDelivered = await json(`/v1/orders/${o.orderId}/cancel`, jsonInit('POST', {}, bearer(o.c.accessToken)));
    expect([cancelDelivered.res.status, cancelDelivered.body.code]).toEqual([409, 'ORDER_NOT_CANCELLABLE']);

    const h = await admin();
    const r1 = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1000, reason: 'one arrived broken' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(r1.res.status, JSON.stringify(r1.body)).toBe(201);
    expect((await eventually(() => order(o.orderId), (x) => x.status === 'PARTIALLY_REFUNDED', 10_000)).status).toBe('PARTIALLY_REFUNDED');
    const r2 = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 2000, reason: 'all of it' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(r2.res.status, JSON.stringify(r2.body)).toBe(201);
    const done = await eventually(() => order(o.orderId), (x) => x.status === 'REFUNDED', 10_000);
    expect(done).toMatchObject({ status: 'REFUNDED', fulfilmentStatus: 'delivered', payment: { amountRefunded: { amount: 3000 } } });
    const more = await json(`/v1/admin/orders/${o.orderId}/refunds`, jsonInit('POST', { amount: 1, reason: 'more' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(more.res.status).toBe(422);
    // A late carrier event after the refunds changes no status.
    const tn = (s2.body.shipments as Array<{ trackingNumber: string }>)[0]!.trackingNumber;
    expect((await carrier({ eventId: `late-${tn}`, trackingNumber: tn, status: 'in_transit', occurredAt: new Date(Date.now() - 3600_000).toISOString() })).status).toBe(200);
    expect(await order(o.orderId)).toMatchObject({ status: 'REFUNDED', fulfilmentStatus: 'delivered' });
    // The stock: committed once at payment; shipping, delivery and refunds moved no unit.
    expect(await level(p.sku, warehouseId)).toEqual({ onHand: 2, reserved: 0 });
    expect(await available(p.sku)).toBe(2);
    const { row } = await projected(o.orderId);
    expect(row.status).toBe('REFUNDED');
  });
});
