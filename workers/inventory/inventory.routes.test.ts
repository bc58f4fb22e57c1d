import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { reservationIdFor } from '../../durable-objects/order/order.do';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';
import { admin as adminHeaders, available, stockedProduct } from '../../test/support/orders';

/** Inventory through the real Worker and the real per-SKU Durable Objects. */
let staff: { token: string; warehouseId: string } | undefined;
async function staffSession() {
  if (!staff) {
    const s = await login('staff@agora.dev');
    staff = { token: s.accessToken, warehouseId: s.user.warehouseIds[0]! };
  }
  return staff;
}

/**
 * A warehouse the staff member is not bound to, from the warehouses table. (Reading it from the
 * first in-stock products' availability failed once other tests had listed enough new products
 * stocked only in the staff member's warehouse.)
 */
async function otherWarehouse(mine: string): Promise<string> {
  const db = new DbProvider(readConfig(env)).http();
  const { rows } = (await db.execute(sql`select id from warehouses where id <> ${mine} order by id limit 1`)) as unknown as { rows: { id: string }[] };
  if (!rows[0]) throw new Error('no other warehouse found');
  return rows[0].id;
}

const adjust = (warehouseId: string, body: unknown, token: string, key: string = crypto.randomUUID()) =>
  jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key });

describe('inventory', () => {
  it("answers a SKU's availability per warehouse, and a staff adjustment shows at once", async () => {
    const { token, warehouseId } = await staffSession();
    const stock = await json(`/v1/warehouses/${warehouseId}/stock?limit=5`, { headers: bearer(token) });
    expect(stock.res.status, JSON.stringify(stock.body)).toBe(200);
    expect(stock.body.items.length).toBe(5);
    const sku = stock.body.items[0].sku as string;

    const before = await json(`/v1/inventory/${sku}`);
    expect(before.res.status).toBe(200);
    const here = (b: { warehouses: { warehouseId: string; available: number }[] }) => b.warehouses.find((w) => w.warehouseId === warehouseId)?.available ?? 0;

    const made = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, adjust(warehouseId, { sku, delta: 7, reason: 'receipt' }, token));
    expect(made.res.status, JSON.stringify(made.body)).toBe(201);
    const after = await json(`/v1/inventory/${sku}`);
    expect(here(after.body)).toBe(here(before.body) + 7);
    expect(after.body.available).toBe(before.body.available + 7);
  });

  it('has one effect per Idempotency-Key, and refuses the key with another body', async () => {
    const { token, warehouseId } = await staffSession();
    const sku = (await json(`/v1/warehouses/${warehouseId}/stock?limit=2`, { headers: bearer(token) })).body.items[1].sku as string;
    const key = crypto.randomUUID();
    const first = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, adjust(warehouseId, { sku, delta: 3, reason: 'return_to_stock' }, token, key));
    const again = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, adjust(warehouseId, { sku, delta: 3, reason: 'return_to_stock' }, token, key));
    expect(again.body.level).toEqual(first.body.level);
    await problem(`/v1/warehouses/${warehouseId}/stock/adjustments`, 422, 'IDEMPOTENCY_KEY_REUSED', adjust(warehouseId, { sku, delta: 4, reason: 'return_to_stock' }, token, key));
  });

  it('refuses what cannot be: removing more than is on hand, a reason against its sign, unknown SKU or warehouse, bad input', async () => {
    const { token, warehouseId } = await staffSession();
    const sku = (await json(`/v1/warehouses/${warehouseId}/stock?limit=3`, { headers: bearer(token) })).body.items[2].sku as string;
    const url = `/v1/warehouses/${warehouseId}/stock/adjustments`;
    await problem(url, 409, 'INSUFFICIENT_STOCK', adjust(warehouseId, { sku, delta: -1_000_000, reason: 'damage' }, token));
    await problem(url, 422, 'UNPROCESSABLE', adjust(warehouseId, { sku, delta: 5, reason: 'damage' }, token));
    await problem(url, 404, 'NOT_FOUND', adjust(warehouseId, { sku: 'NO-SUCH-SKU', delta: 5, reason: 'receipt' }, token));
    await problem(url, 400, 'VALIDATION_FAILED', adjust(warehouseId, { sku, delta: 0, reason: 'receipt' }, token));
    await problem(url, 400, 'VALIDATION_FAILED', adjust(warehouseId, { sku, delta: 1, reason: 'theft' }, token));
    await problem(url, 400, 'VALIDATION_FAILED', jsonInit('POST', { sku, delta: 1, reason: 'receipt' }, bearer(token)));
    await problem(`/v1/warehouses/wh_${'0'.repeat(26)}/stock`, 403, 'FORBIDDEN', { headers: bearer(token) });
    await problem('/v1/inventory/NO-SUCH-SKU', 404, 'NOT_FOUND');
    await problem('/v1/inventory/bad%20sku', 400, 'VALIDATION_FAILED');
  });

  it("shows a sharded SKU's stock summed over its shards", async () => {
    const { token, warehouseId } = await staffSession();
    const admin = (await login('admin@agora.dev')).accessToken;
    // A seeded SKU far down the list (other tests use the first few).
    const page = (await json(`/v1/warehouses/${warehouseId}/stock?limit=60`, { headers: bearer(token) })).body.items as { sku: string; onHand: number }[];
    const pick = page.filter((l) => l.onHand >= 8).at(-1)!;
    expect(pick).toBeDefined();
    const line = async () =>
      ((await json(`/v1/warehouses/${warehouseId}/stock?limit=60`, { headers: bearer(token) })).body.items as { sku: string; onHand: number; available: number }[]).find(
        (l) => l.sku === pick.sku,
      )!;
    const before = await line();
    const sharded = await json(`/v1/admin/inventory/${pick.sku}/shards`, jsonInit('PUT', { shards: 4 }, bearer(admin)));
    expect(sharded.res.status, JSON.stringify(sharded.body)).toBe(200);
    expect(sharded.body.moves.some((m: { moved: number }) => m.moved > 0)).toBe(true);
    const after = await line();
    expect(after.onHand).toBe(before.onHand);
    expect(after.available).toBe(before.available);
  });

  it('keeps staff to their own warehouses and customers out', async () => {
    const { token, warehouseId } = await staffSession();
    const other = await otherWarehouse(warehouseId);
    await problem(`/v1/warehouses/${other}/stock`, 403, 'FORBIDDEN', { headers: bearer(token) });
    await problem(`/v1/warehouses/${other}/stock/adjustments`, 403, 'FORBIDDEN', adjust(other, { sku: 'X', delta: 1, reason: 'receipt' }, token));
    const customer = await newCustomer();
    await problem(`/v1/warehouses/${warehouseId}/stock`, 403, 'FORBIDDEN', { headers: bearer(customer.accessToken) });
    await problem(`/v1/warehouses/${warehouseId}/stock`, 401, 'UNAUTHENTICATED');
    // An admin may look at any warehouse.
    const admin = await login('admin@agora.dev');
    expect((await json(`/v1/warehouses/${other}/stock?limit=1`, { headers: bearer(admin.accessToken) })).res.status).toBe(200);
  });
});

/** A new integration client with `inventory:write` (made by an admin), and its bearer header. */
async function integration(): Promise<Record<string, string>> {
  const created = await json('/v1/admin/clients', jsonInit('POST', { name: `inv ${crypto.randomUUID().slice(0, 6)}`, role: 'integration', scopes: ['inventory:write'] }, await adminHeaders()));
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  const tok = await json('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.id, client_secret: created.body.clientSecret }).toString(),
  });
  expect(tok.res.status, JSON.stringify(tok.body)).toBe(200);
  return bearer(tok.body.access_token);
}

const keyed = (h: Record<string, string>, body: unknown, key: string) => jsonInit('POST', body, { ...h, 'idempotency-key': key });

describe('reservations belong to whoever placed them', () => {
  it("only the caller who placed a hold releases it: another integration and an admin get 404 (as for an unknown id), an order's hold is 404 to everyone; nothing is freed", async () => {
    const p = await stockedProduct(5);
    const [holder, stranger] = await Promise.all([integration(), integration()]);
    const admin = await adminHeaders();
    const held = await json(`/v1/inventory/${p.sku}/reservations`, keyed(holder, { quantity: 1, ref: { kind: 'checkout', id: 'chk-own' } }, crypto.randomUUID()));
    expect(held.res.status, JSON.stringify(held.body)).toBe(201);
    // An unpaid CARD order: the saga holds its units under an id anyone can compute from the order id.
    const c = await newCustomer();
    const card = await json('/v1/orders', keyed(bearer(c.accessToken), { items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], paymentMethod: 'CARD' }, crypto.randomUUID()));
    expect(card.res.status, JSON.stringify(card.body)).toBe(201);
    expect(await available(p.sku)).toBe(2);

    const release = (id: string, q = '') => `/v1/inventory/${p.sku}/reservations/${id}/release${q}`;
    const orderHold = reservationIdFor(card.body.orderId);
    for (const h of [stranger, admin]) await problem(release(held.body.reservationId), 404, 'NOT_FOUND', { method: 'POST', headers: h });
    for (const h of [stranger, admin, holder]) {
      await problem(release(orderHold), 404, 'NOT_FOUND', { method: 'POST', headers: h });
      await problem(release(orderHold, '?shard=0'), 404, 'NOT_FOUND', { method: 'POST', headers: h });
    }
    expect(await available(p.sku)).toBe(2);

    // The holder releases its own (again: the same answer); the order's hold stands.
    const mine = await json(release(held.body.reservationId), { method: 'POST', headers: holder });
    expect(mine.res.status, JSON.stringify(mine.body)).toBe(200);
    expect(mine.body).toMatchObject({ reservationId: held.body.reservationId, status: 'released', quantity: 1 });
    const again = await json(release(held.body.reservationId), { method: 'POST', headers: holder });
    expect([again.res.status, again.body]).toEqual([200, mine.body]);
    // A stranger's refusal used nothing up, and after the release it still answers 404.
    await problem(release(held.body.reservationId), 404, 'NOT_FOUND', { method: 'POST', headers: stranger });
    expect(await available(p.sku)).toBe(3);
    expect((await json(`/v1/orders/${card.body.orderId}`, { headers: bearer(c.accessToken) })).body.status).toBe('PENDING');
  });
});

describe('Idempotent-Replayed on stock writes', () => {
  it('a replayed adjustment, transfer or reservation answers the first body again, marked; the first answer is not', async () => {
    const p = await stockedProduct(10);
    const { token, warehouseId } = await staffSession();
    const other = await otherWarehouse(warehouseId);
    const admin = await adminHeaders();
    const sends: Array<[string, string, RequestInit]> = [
      ['adjust', `/v1/warehouses/${warehouseId}/stock/adjustments`, keyed(bearer(token), { sku: p.sku, delta: 2, reason: 'receipt' }, crypto.randomUUID())],
      ['transfer', `/v1/warehouses/${warehouseId}/stock/transfers`, keyed(bearer(token), { sku: p.sku, toWarehouseId: other, quantity: 3 }, crypto.randomUUID())],
      ['reserve', `/v1/inventory/${p.sku}/reservations`, keyed(admin, { quantity: 1, ref: { kind: 'checkout', id: 'chk-replay' } }, crypto.randomUUID())],
    ];
    for (const [name, url, init] of sends) {
      const first = await json(url, { ...init });
      const again = await json(url, { ...init });
      expect([first.res.status, again.res.status], name).toEqual([201, 201]);
      expect(again.body, name).toEqual(first.body);
      expect([first.res.headers.get('idempotent-replayed'), again.res.headers.get('idempotent-replayed')], name).toEqual([null, 'true']);
      expect(again.res.headers.get('cache-control'), name).toBe('no-store');
    }
    expect(await available(p.sku)).toBe(10 + 2 - 3 - 1);
  });

  it('a sharded SKU too: a reservation replayed through its shards is marked', async () => {
    const p = await stockedProduct(8);
    const admin = await adminHeaders();
    expect((await json(`/v1/admin/inventory/${p.sku}/shards`, jsonInit('PUT', { shards: 2 }, admin))).res.status).toBe(200);
    const init = keyed(admin, { quantity: 2, ref: { kind: 'checkout', id: 'chk-sharded' } }, crypto.randomUUID());
    const first = await json(`/v1/inventory/${p.sku}/reservations`, { ...init });
    const again = await json(`/v1/inventory/${p.sku}/reservations`, { ...init });
    expect([first.res.status, again.res.status]).toEqual([201, 201]);
    expect(again.body).toEqual(first.body);
    expect([first.res.headers.get('idempotent-replayed'), again.res.headers.get('idempotent-replayed')]).toEqual([null, 'true']);
    expect(await available(p.sku)).toBe(6);
  });
});
