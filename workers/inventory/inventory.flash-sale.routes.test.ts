import { describe, expect, it } from 'vitest';
import { bearer, jsonInit, login } from '../../test/support/auth';
import { call, json, problem } from '../../test/support/http';

/**
 * The flash sale through HTTP (integration, not timed): 100 units, 1,000 concurrent reservation
 * requests → exactly 100 succeed, 900 are 409 OUT_OF_STOCK, no 5xx, nothing left; then the same
 * with the SKU split over 4 shards.
 */
async function adminToken() {
  return (await login('admin@agora.dev')).accessToken;
}

/** A new product with one fresh SKU and `units` in the staff member's warehouse. */
async function freshSku(token: string, units: number): Promise<{ sku: string; warehouseId: string }> {
  const warehouseId = (await login('staff@agora.dev')).user.warehouseIds[0]!;
  const { body: list } = await json('/v1/products?limit=1');
  const tag = crypto.randomUUID().slice(0, 8);
  const sku = `FLASH-${tag}`;
  const created = await json(
    '/v1/admin/products',
    jsonInit(
      'POST',
      {
        slug: `flash-${tag}`,
        name: `Flash Sale Sneaker ${tag}`,
        brandSlug: list.items[0].brand.slug,
        categorySlug: list.items[0].category.slug,
        variants: [{ sku, name: 'One size', price: 9900, attributes: { size: 'one' } }],
      },
      bearer(token),
    ),
  );
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  const stocked = await json(
    `/v1/warehouses/${warehouseId}/stock/adjustments`,
    jsonInit('POST', { sku, delta: units, reason: 'receipt' }, { ...bearer(token), 'idempotency-key': `stock-${tag}` }),
  );
  expect(stocked.res.status, JSON.stringify(stocked.body)).toBe(201);
  return { sku, warehouseId };
}

const reserve = (sku: string, token: string, key: string, quantity = 1) =>
  call(`/v1/inventory/${sku}/reservations`, jsonInit('POST', { quantity, ref: { kind: 'checkout', id: key } }, { ...bearer(token), 'idempotency-key': key }));

async function flashSale(sku: string, token: string) {
  const responses = await Promise.all(Array.from({ length: 1000 }, (_, i) => reserve(sku, token, `buyer-${i}-${crypto.randomUUID()}`)));
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  for (const res of responses) {
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const body = (await res.json()) as { code?: string };
    if (body.code) codes.set(body.code, (codes.get(body.code) ?? 0) + 1);
  }
  return { statuses: Object.fromEntries(statuses), codes: Object.fromEntries(codes) };
}

describe('flash sale over HTTP', () => {
  it('sells exactly the 100 units there are', async () => {
    const token = await adminToken();
    const { sku } = await freshSku(token, 100);
    const outcome = await flashSale(sku, token);
    expect(outcome.statuses).toEqual({ 201: 100, 409: 900 });
    expect(outcome.codes).toEqual({ OUT_OF_STOCK: 900 });
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(0);
  }, 120_000);

  it('sells exactly the 100 units with the SKU split over 4 shards', async () => {
    const token = await adminToken();
    const { sku } = await freshSku(token, 100);
    const sharded = await json(`/v1/admin/inventory/${sku}/shards`, jsonInit('PUT', { shards: 4 }, bearer(token)));
    expect(sharded.res.status, JSON.stringify(sharded.body)).toBe(200);
    expect(sharded.body.shards).toBe(4);
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(100);
    const outcome = await flashSale(sku, token);
    expect(outcome.statuses).toEqual({ 201: 100, 409: 900 });
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(0);
  }, 180_000);

  it('answers a retried reservation with the same hold, refuses the key with another body, and gives units back on release', async () => {
    const token = await adminToken();
    const { sku } = await freshSku(token, 5);
    const first = await json(`/v1/inventory/${sku}/reservations`, jsonInit('POST', { quantity: 2, ref: { kind: 'checkout', id: 'c1' } }, { ...bearer(token), 'idempotency-key': 'k1' }));
    expect(first.res.status).toBe(201);
    const again = await json(`/v1/inventory/${sku}/reservations`, jsonInit('POST', { quantity: 2, ref: { kind: 'checkout', id: 'c1' } }, { ...bearer(token), 'idempotency-key': 'k1' }));
    expect(again.body.reservationId).toBe(first.body.reservationId);
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(3);
    await problem(`/v1/inventory/${sku}/reservations`, 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', { quantity: 3, ref: { kind: 'checkout', id: 'c1' } }, { ...bearer(token), 'idempotency-key': 'k1' }));
    await problem(`/v1/inventory/${sku}/reservations`, 409, 'OUT_OF_STOCK', jsonInit('POST', { quantity: 4, ref: { kind: 'checkout', id: 'c2' } }, { ...bearer(token), 'idempotency-key': 'k2' }));

    const released = await json(`/v1/inventory/${sku}/reservations/${first.body.reservationId}/release`, { method: 'POST', headers: bearer(token) });
    expect(released.body.status).toBe('released');
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(5);
    expect((await json(`/v1/inventory/${sku}/reservations/${first.body.reservationId}/release`, { method: 'POST', headers: bearer(token) })).res.status).toBe(200);
  });

  it('keeps reservations to those allowed, and refuses bad input', async () => {
    const token = await adminToken();
    const staff = (await login('staff@agora.dev')).accessToken;
    await problem('/v1/inventory/ANY/reservations', 401, 'UNAUTHENTICATED', jsonInit('POST', { quantity: 1, ref: { kind: 'checkout', id: 'x' } }, { 'idempotency-key': 'k' }));
    await problem('/v1/inventory/ANY/reservations', 403, 'FORBIDDEN', jsonInit('POST', { quantity: 1, ref: { kind: 'checkout', id: 'x' } }, { ...bearer(staff), 'idempotency-key': 'k' }));
    await problem('/v1/inventory/NO-SUCH-SKU/reservations', 404, 'NOT_FOUND', jsonInit('POST', { quantity: 1, ref: { kind: 'checkout', id: 'x' } }, { ...bearer(token), 'idempotency-key': 'k' }));
    await problem('/v1/inventory/ANY/reservations', 400, 'VALIDATION_FAILED', jsonInit('POST', { quantity: 0, ref: { kind: 'checkout', id: 'x' } }, { ...bearer(token), 'idempotency-key': 'k' }));
    await problem('/v1/inventory/ANY/reservations', 400, 'VALIDATION_FAILED', jsonInit('POST', { quantity: 1, ref: { kind: 'checkout', id: 'x' } }, bearer(token)));
    await problem(`/v1/inventory/ANY/reservations/rsv_${'0'.repeat(32)}/release`, 404, 'NOT_FOUND', { method: 'POST', headers: bearer(token) });
    await problem('/v1/admin/inventory/ANY/shards', 403, 'FORBIDDEN', jsonInit('PUT', { shards: 2 }, bearer(staff)));
    await problem('/v1/admin/inventory/ANY/shards', 400, 'VALIDATION_FAILED', jsonInit('PUT', { shards: 0 }, bearer(token)));
  });
});
