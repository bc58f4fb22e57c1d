/**
 * The same write sent several times at once (a double-click, a client retrying before the first
 * answer, two tabs): one effect, clear answers for the others, never a 5xx. On PGlite every
 * connection shares one session, so these races only really run against PostgreSQL (CI runs the
 * suite on both).
 */
import { describe, expect, it } from 'vitest';
import { bearer, jsonInit, login, newCustomer, STRONG_PASSWORD } from '../../test/support/auth';
import { json } from '../../test/support/http';
import { allAtOnce, firstAndReplays, statuses, times } from '../../test/support/concurrency';
import { admin, staffSession, stockedProduct } from '../../test/support/orders';

const AT_ONCE = 6;

/** `n` copies of one request at once (none a 5xx). */
const atOnce = (n: number, path: string, init: () => RequestInit) => allAtOnce(times(n, (): [string, RequestInit] => [path, init()]));

describe('the same write at once', () => {
  it('registering one email: one account, the others 409', async () => {
    const email = `race-${crypto.randomUUID()}@example.com`;
    const answers = await atOnce(AT_ONCE, '/v1/auth/register', () => jsonInit('POST', { email, password: STRONG_PASSWORD }));
    expect(statuses(answers)).toEqual([201, ...Array(AT_ONCE - 1).fill(409)]);
  });

  it('creating one product slug: one product, the others 409', async () => {
    const h = await admin();
    const { body: list } = await json('/v1/products?limit=1');
    const tag = crypto.randomUUID().slice(0, 8);
    const answers = await atOnce(AT_ONCE, '/v1/admin/products', () =>
      jsonInit(
        'POST',
        { slug: `race-${tag}`, name: `Race ${tag}`, brandSlug: list.items[0].brand.slug, categorySlug: list.items[0].category.slug, variants: [{ sku: `RACE-${tag}`, name: 'One', price: 100 }] },
        h,
      ),
    );
    expect(statuses(answers)).toEqual([201, ...Array(AT_ONCE - 1).fill(409)]);
  });

  it('creating products that share a SKU: one product, the others 409', async () => {
    const h = await admin();
    const { body: list } = await json('/v1/products?limit=1');
    const tag = crypto.randomUUID().slice(0, 8);
    const answers = await Promise.all(
      Array.from({ length: AT_ONCE }, (_, i) =>
        json(
          '/v1/admin/products',
          jsonInit(
            'POST',
            { slug: `race-sku-${tag}-${i}`, name: `Race ${tag} ${i}`, brandSlug: list.items[0].brand.slug, categorySlug: list.items[0].category.slug, variants: [{ sku: `RACE-SKU-${tag}`, name: 'One', price: 100 }] },
            h,
          ),
        ),
      ),
    );
    for (const a of answers) expect(a.res.status, JSON.stringify(a.body)).toBeLessThan(500);
    expect(answers.map((a) => a.res.status).sort()).toEqual([201, ...Array(AT_ONCE - 1).fill(409)]);
  });

  it('a stock adjustment with one Idempotency-Key: applied once, the same answer for every copy', async () => {
    const p = await stockedProduct(10);
    const { token, warehouseId } = await staffSession();
    const key = crypto.randomUUID();
    const answers = await atOnce(AT_ONCE, `/v1/warehouses/${warehouseId}/stock/adjustments`, () =>
      jsonInit('POST', { sku: p.sku, delta: 5, reason: 'receipt' }, { ...bearer(token), 'idempotency-key': key }),
    );
    const ok = answers.filter((a) => a.status === 201);
    expect(ok.length).toBeGreaterThan(0);
    for (const a of answers) expect([201, 409]).toContain(a.status);
    const { body } = await json(`/v1/inventory/${p.sku}`);
    expect(body.available).toBe(15);
  });

  it('placing an order with one Idempotency-Key: one order, one reservation', async () => {
    const p = await stockedProduct(10);
    const c = await newCustomer();
    const key = crypto.randomUUID();
    const body = { items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], paymentMethod: 'COD' };
    const answers = await atOnce(AT_ONCE, '/v1/orders', () => jsonInit('POST', body, { ...bearer(c.accessToken), 'idempotency-key': key }));
    // The first is 201; a replay answers the same order with 201 too, marked Idempotent-Replayed.
    expect(statuses(answers), JSON.stringify(answers)).toEqual(Array(AT_ONCE).fill(201));
    expect(firstAndReplays(answers)).toEqual({ first: 1, replays: AT_ONCE - 1 });
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(1);
    const { body: stock } = await json(`/v1/inventory/${p.sku}`);
    expect(stock.available).toBe(8);
  });

  it("opening a signed-in user's cart: one cart", async () => {
    const c = await newCustomer();
    const answers = await atOnce(AT_ONCE, '/v1/carts', () => jsonInit('POST', {}, bearer(c.accessToken)));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
  });

  it('adding one product to the wishlist: one entry', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    await atOnce(AT_ONCE, '/v1/me/wishlist', () => jsonInit('POST', { productId: p.productId }, bearer(c.accessToken)));
    const { body } = await json('/v1/me/wishlist', { headers: bearer(c.accessToken) });
    expect(body.items.map((i: { productId: string }) => i.productId)).toEqual([p.productId]);
  });

  it('adding addresses, each as the default: one default, within the limit', async () => {
    const c = await newCustomer();
    const address = (i: number) => ({ label: `A${i}`, name: 'N', line1: `${i} Main St`, city: 'Town', postalCode: '12345', country: 'US', isDefault: true });
    const answers = await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => json('/v1/me/addresses', jsonInit('POST', address(i), bearer(c.accessToken)))));
    for (const a of answers) expect(a.res.status, JSON.stringify(a.body)).toBe(201);
    const { body } = await json('/v1/me/addresses', { headers: bearer(c.accessToken) });
    expect(body.items).toHaveLength(AT_ONCE);
    expect(body.items.filter((a: { isDefault: boolean }) => a.isDefault)).toHaveLength(1);
  });

  it('logging in with one password at once: every login works', async () => {
    const c = await newCustomer();
    const answers = await atOnce(4, '/v1/auth/login', () => jsonInit('POST', { email: c.email, password: c.password }));
    expect(statuses(answers)).toEqual([200, 200, 200, 200]);
  });

  it('changing one admin user at once: the last write stands, no error', async () => {
    const c = await newCustomer();
    const h = bearer((await login('admin@agora.dev')).accessToken);
    await atOnce(AT_ONCE, `/v1/admin/users/${c.user.id}`, () => jsonInit('PATCH', { status: 'disabled' }, h));
    const { body } = await json(`/v1/admin/users/${c.user.id}`, { headers: h });
    expect(body.status).toBe('disabled');
  });
});
