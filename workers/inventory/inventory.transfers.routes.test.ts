import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rows } from '../../test/support/db';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';

/**
 * Warehouse-to-warehouse transfers and staff adjustments through the real Worker: the SKU's
 * object holds the units (in transit between dispatch and receipt), Postgres keeps the record
 * and the audit trail, once per Idempotency-Key.
 */
interface Ctx {
  admin: string;
  staff: string;
  source: string;
  other: string;
  sku: string;
}

/** A warehouse the staff member is not bound to (read from the table: walking the catalog for one grew with every product other files create). */
async function otherWarehouse(mine: string): Promise<string> {
  const [other] = await rows<{ id: string }>(sql`select id from warehouses where id <> ${mine} order by id limit 1`);
  if (!other) throw new Error('no other warehouse found');
  return other.id;
}

/** A fresh SKU with `units` received into the staff member's warehouse. */
async function setup(units: number): Promise<Ctx> {
  const admin = (await login('admin@agora.dev')).accessToken;
  const staffSession = await login('staff@agora.dev');
  const source = staffSession.user.warehouseIds[0]!;
  const { body: list } = await json('/v1/products?limit=1');
  const tag = crypto.randomUUID().slice(0, 8);
  const sku = `TRF-${tag}`;
  const created = await json(
    '/v1/admin/products',
    jsonInit(
      'POST',
      {
        slug: `transfer-${tag}`,
        name: `Transfer Boot ${tag}`,
        brandSlug: list.items[0].brand.slug,
        categorySlug: list.items[0].category.slug,
        variants: [{ sku, name: 'One size', price: 4900, attributes: { size: 'one' } }],
      },
      bearer(admin),
    ),
  );
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  const stocked = await json(
    `/v1/warehouses/${source}/stock/adjustments`,
    jsonInit('POST', { sku, delta: units, reason: 'receipt' }, { ...bearer(staffSession.accessToken), 'idempotency-key': `stock-${tag}` }),
  );
  expect(stocked.res.status, JSON.stringify(stocked.body)).toBe(201);
  return { admin, staff: staffSession.accessToken, source, other: await otherWarehouse(source), sku };
}

const send = (c: Ctx, body: Record<string, unknown>, key: string, token = c.staff, from = c.source) =>
  json(`/v1/warehouses/${from}/stock/transfers`, jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, ...body }, { ...bearer(token), 'idempotency-key': key }));

const availableIn = async (sku: string) => {
  const { body } = await json(`/v1/inventory/${sku}`);
  return { total: body.available as number, by: Object.fromEntries((body.warehouses as { warehouseId: string; available: number }[]).map((w) => [w.warehouseId, w.available])) };
};

const audited = async (c: Ctx, action: string) =>
  (await json(`/v1/admin/audit-log?action=${action}&targetId=${c.sku}&limit=100`, { headers: bearer(c.admin) })).body.items as { data: Record<string, unknown> }[];

describe('warehouse transfers', () => {
  it('takes units out of the source (in transit, available nowhere), puts them into the destination on receipt, once, audited once', async () => {
    const c = await setup(10);
    const sent = await send(c, { quantity: 4, note: 'weekend promo' }, 'move-1');
    expect(sent.res.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.body).toMatchObject({ sku: c.sku, fromWarehouseId: c.source, toWarehouseId: c.other, quantity: 4, status: 'in_transit', note: 'weekend promo' });
    const transferId = sent.body.transferId as string;

    // Retried: the same transfer, nothing moves twice; the key with another body is refused.
    const again = await send(c, { quantity: 4, note: 'weekend promo' }, 'move-1');
    expect(again.res.status).toBe(201);
    expect(again.body.transferId).toBe(transferId);
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 5 }, { ...bearer(c.staff), 'idempotency-key': 'move-1' }));

    // In transit: counted nowhere as available.
    let a = await availableIn(c.sku);
    expect(a.total).toBe(6);
    expect(a.by[c.source]).toBe(6);
    expect(a.by[c.other] ?? 0).toBe(0);
    const mine = await json(`/v1/warehouses/${c.source}/stock/transfers?direction=out&status=in_transit`, { headers: bearer(c.staff) });
    expect(mine.body.items.map((t: { transferId: string }) => t.transferId)).toContain(transferId);
    expect((await json(`/v1/warehouses/${c.source}/stock/transfers/${transferId}`, { headers: bearer(c.staff) })).body.status).toBe('in_transit');

    // Only the destination receives: the staff member is bound to the source, not the destination.
    await problem(`/v1/warehouses/${c.other}/stock/transfers/${transferId}/receive`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(c.staff) });
    await problem(`/v1/warehouses/${c.source}/stock/transfers/${transferId}/receive`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(c.staff) });
    const received = await json(`/v1/warehouses/${c.other}/stock/transfers/${transferId}/receive`, { method: 'POST', headers: bearer(c.admin) });
    expect(received.res.status, JSON.stringify(received.body)).toBe(200);
    expect(received.body).toMatchObject({ status: 'received', cancelledAt: null });
    expect(received.body.receivedAt).not.toBeNull();
    expect((await json(`/v1/warehouses/${c.other}/stock/transfers/${transferId}/receive`, { method: 'POST', headers: bearer(c.admin) })).body.status).toBe('received');
    await problem(`/v1/warehouses/${c.source}/stock/transfers/${transferId}/cancel`, 409, 'CONFLICT', { method: 'POST', headers: bearer(c.staff) });

    a = await availableIn(c.sku);
    expect(a.total).toBe(10);
    expect(a.by[c.other]).toBe(4);

    expect(await audited(c, 'inventory.transfer.dispatched')).toHaveLength(1);
    expect(await audited(c, 'inventory.transfer.received')).toHaveLength(1);
  });

  it('a cancel returns the units to the source; refuses what cannot be', async () => {
    const c = await setup(5);
    const sent = await send(c, { quantity: 2 }, 'move-2');
    const transferId = sent.body.transferId as string;
    expect((await availableIn(c.sku)).total).toBe(3);
    const cancelled = await json(`/v1/warehouses/${c.source}/stock/transfers/${transferId}/cancel`, { method: 'POST', headers: bearer(c.staff) });
    expect(cancelled.res.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await availableIn(c.sku)).total).toBe(5);
    await problem(`/v1/warehouses/${c.other}/stock/transfers/${transferId}/receive`, 409, 'CONFLICT', { method: 'POST', headers: bearer(c.admin) });
    expect(await audited(c, 'inventory.transfer.cancelled')).toHaveLength(1);

    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 409, 'INSUFFICIENT_STOCK', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 6 }, { ...bearer(c.staff), 'idempotency-key': 'too-many' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 422, 'UNPROCESSABLE', jsonInit('POST', { sku: c.sku, toWarehouseId: c.source, quantity: 1 }, { ...bearer(c.staff), 'idempotency-key': 'to-self' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 404, 'NOT_FOUND', jsonInit('POST', { sku: c.sku, toWarehouseId: `wh_${'0'.repeat(26)}`, quantity: 1 }, { ...bearer(c.staff), 'idempotency-key': 'nowhere' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 404, 'NOT_FOUND', jsonInit('POST', { sku: 'NO-SUCH-SKU', toWarehouseId: c.other, quantity: 1 }, { ...bearer(c.staff), 'idempotency-key': 'no-sku' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 400, 'VALIDATION_FAILED', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 0 }, { ...bearer(c.staff), 'idempotency-key': 'zero' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 400, 'VALIDATION_FAILED', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 1 }, bearer(c.staff)));
    await problem(`/v1/warehouses/${c.source}/stock/transfers/trf_${'0'.repeat(32)}`, 404, 'NOT_FOUND', { headers: bearer(c.staff) });
  });

  it('keeps staff to the warehouses they are bound to, and customers out', async () => {
    const c = await setup(3);
    await problem(`/v1/warehouses/${c.other}/stock/transfers`, 403, 'FORBIDDEN', jsonInit('POST', { sku: c.sku, toWarehouseId: c.source, quantity: 1 }, { ...bearer(c.staff), 'idempotency-key': 'not-mine' }));
    await problem(`/v1/warehouses/${c.other}/stock/transfers`, 403, 'FORBIDDEN', { headers: bearer(c.staff) });
    const customer = await newCustomer();
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 403, 'FORBIDDEN', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 1 }, { ...bearer(customer.accessToken), 'idempotency-key': 'cust' }));
    await problem(`/v1/warehouses/${c.source}/stock/transfers`, 401, 'UNAUTHENTICATED', jsonInit('POST', { sku: c.sku, toWarehouseId: c.other, quantity: 1 }, { 'idempotency-key': 'anon' }));
    // An admin may send from any warehouse.
    expect((await send(c, { quantity: 1, sku: c.sku, toWarehouseId: c.source }, 'admin-move', c.admin, c.other)).res.status).toBe(409);
  });
});

describe('staff adjustments', () => {
  it('a replayed Idempotency-Key writes no second audit row', async () => {
    const c = await setup(2);
    const init = () => jsonInit('POST', { sku: c.sku, delta: 3, reason: 'return_to_stock' }, { ...bearer(c.staff), 'idempotency-key': 'return-once' });
    const first = await json(`/v1/warehouses/${c.source}/stock/adjustments`, init());
    const again = await json(`/v1/warehouses/${c.source}/stock/adjustments`, init());
    expect(first.res.status).toBe(201);
    expect(again.body.level).toEqual(first.body.level);
    const rows = (await audited(c, 'inventory.stock.adjusted')).filter((r) => r.data.idempotencyKey === 'return-once');
    expect(rows).toHaveLength(1);
    expect((await availableIn(c.sku)).total).toBe(5);
  });
});
