/**
 * Catalog changes under carts and orders, and money arithmetic (issues: cart 5, checkout 7).
 * Prices moved, products archived, variants deleted or priced 0 while they sit in a cart or a
 * wishlist; what the cart shows, what the order charges (read back at the Stripe emulator),
 * what is refused and that a refusal holds nothing. Then the limits at their boundaries, the
 * biggest prices the catalog takes, currencies, and partial refunds to the minor unit.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import { orderFor } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { call, json, problem } from '../../test/support/http';
import { rows } from '../../test/support/db';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, stockedProduct } from '../../test/support/orders';
import { adminSession, productWith, reprice, type FixtureProduct } from '../../test/support/products';

const config = readConfig(env);

type Line = {
  itemId: string;
  variantId: string;
  sku: string;
  quantity: number;
  unitPrice: { amount: number; currency: string };
  priceAtAdd: { amount: number; currency: string };
  priceChanged: boolean;
  lineTotal: { amount: number; currency: string };
  sellable: boolean;
};
type Cart = { id: string; status: string; version: number; priceChanged: boolean; totals: { currency: string; subtotal: number; total: { amount: number; currency: string }; units: number }[]; lines: Line[] };

const item = (p: FixtureProduct, i = 0, quantity = 1) => ({ productId: p.productId, variantId: p.variants[i]!.id, quantity });

async function userCart(token: string): Promise<Cart> {
  const { res, body } = await json<Cart>('/v1/carts', { method: 'POST', headers: bearer(token) });
  expect([200, 201], JSON.stringify(body)).toContain(res.status);
  return body;
}

async function addOk(cartId: string, body: unknown, token: string, key?: string): Promise<Cart> {
  const { res, body: cart } = await json<Cart>(`/v1/carts/${cartId}/items`, jsonInit('POST', body, bearer(token, key ? { 'idempotency-key': key } : {})));
  expect(res.status, JSON.stringify(cart)).toBe(201);
  return cart;
}

const getCart = async (cartId: string, token: string) => (await json<Cart>(`/v1/carts/${cartId}`, { headers: bearer(token) })).body;

/** A PaymentIntent as the emulator holds it (the amount Stripe would charge). */
const paymentIntent = (pi: string) => emulator(`/v1/payment_intents/${pi}?expand[]=latest_charge`, { headers: { authorization: `Bearer ${config.STRIPE_SECRET_KEY}` } });

/** The id a keyed order gets (workers/orders/orders.service.ts orderIdFor), to look for its object. */
async function keyedOrderId(actorId: string, key: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`order|${actorId}|${key}`)));
  const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
  let body = '';
  for (let i = 0; i < 26; i++) body += ALPHABET[h[i]! & 31];
  return `ord_${body}`;
}

/** Admin PATCH of a product's variants (replaces them: a variant left out is deleted). */
async function setVariants(p: FixtureProduct, variants: { sku: string; name: string; price: number }[]) {
  const { token } = await adminSession();
  const r = await json(`/v1/admin/products/${p.productId}`, jsonInit('PATCH', { variants }, bearer(token)));
  expect(r.res.status, JSON.stringify(r.body)).toBe(200);
}

async function archive(productId: string) {
  const r = await json(`/v1/admin/products/${productId}`, { method: 'DELETE', headers: await admin() });
  expect(r.res.status, JSON.stringify(r.body)).toBe(200);
}

const placeInit = (body: unknown, token: string, key: string = crypto.randomUUID()) => jsonInit('POST', body, bearer(token, { 'idempotency-key': key }));

function baseProduct(tag: string, variants: unknown[]) {
  return { slug: `money-${tag}`, name: `Money ${tag}`, brandSlug: BRAND.brand, categorySlug: BRAND.category, variants };
}
const BRAND = { brand: '', category: '' };
async function refs() {
  if (!BRAND.brand) {
    const { body } = await json('/v1/products?limit=1');
    BRAND.brand = body.items[0].brand.slug;
    BRAND.category = body.items[0].category.slug;
  }
}

describe('a price moved between add-to-cart and checkout', () => {
  it('the cart shows the current price and flags the moved line; the order charges the catalog price at placement, totals = Σ lines, and so does the PaymentIntent', async () => {
    const p = await productWith([
      { price: 1999, stock: 10 },
      { price: 333, stock: 10 },
      { price: 7, stock: 10 },
    ]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    await addOk(cart.id, item(p, 0, 3), c.accessToken);
    await addOk(cart.id, item(p, 1, 2), c.accessToken);
    await addOk(cart.id, item(p, 2, 9), c.accessToken);
    await reprice(p, (old, i) => [2499, 301, 7][i]!);
    const seen = await getCart(cart.id, c.accessToken);
    expect(seen.priceChanged).toBe(true);
    expect(seen.lines.map((l) => [l.unitPrice.amount, l.priceAtAdd.amount, l.priceChanged, l.lineTotal.amount])).toEqual([
      [2499, 1999, true, 3 * 2499],
      [301, 333, true, 2 * 301],
      [7, 7, false, 63],
    ]);
    expect(seen.totals).toEqual([{ currency: 'USD', subtotal: 3 * 2499 + 2 * 301 + 63, total: { amount: 3 * 2499 + 2 * 301 + 63, currency: 'USD' }, units: 14 }]);

    // Moved again after the customer looked: the order takes the price of the moment it is placed.
    await reprice(p, (old, i) => [2501, 299, 11][i]!);
    const placed = await json('/v1/orders', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const total = 3 * 2501 + 2 * 299 + 9 * 11;
    expect(placed.body.items.map((i: any) => [i.sku, i.quantity, i.unitPrice.amount, i.lineTotal.amount])).toEqual([
      [p.variants[0]!.sku, 3, 2501, 3 * 2501],
      [p.variants[1]!.sku, 2, 299, 2 * 299],
      [p.variants[2]!.sku, 9, 11, 99],
    ]);
    expect(placed.body).toMatchObject({ subtotal: { amount: total, currency: 'USD' }, total: { amount: total, currency: 'USD' } });
    const pi = await paymentIntent(paymentIntentOf(placed.body));
    expect({ amount: pi.amount, currency: pi.currency }).toEqual({ amount: total, currency: 'usd' });
    expect(await Promise.all(p.variants.map((v) => available(v.sku)))).toEqual([7, 8, 1]);
  });
});

describe('a product or variant no longer sold while it is in a cart', () => {
  it('archived: the line shows sellable: false outside the totals; adding more is refused; checkout names the line, reserves nothing and makes no order', async () => {
    const keep = await productWith([{ price: 1500, stock: 5 }]);
    const gone = await productWith([{ price: 800, stock: 5 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    await addOk(cart.id, item(keep, 0, 1), c.accessToken);
    const before = await addOk(cart.id, item(gone, 0, 2), c.accessToken);
    const goneLine = before.lines.find((l) => l.variantId === gone.variants[0]!.id)!;
    await archive(gone.productId);

    const seen = await getCart(cart.id, c.accessToken);
    expect(seen.lines.map((l) => [l.sku, l.sellable, l.quantity])).toEqual([
      [keep.variants[0]!.sku, true, 1],
      [gone.variants[0]!.sku, false, 2],
    ]);
    expect(seen.totals).toEqual([{ currency: 'USD', subtotal: 1500, total: { amount: 1500, currency: 'USD' }, units: 1 }]);
    await problem(`/v1/carts/${cart.id}/items`, 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', item(gone, 0, 1), bearer(c.accessToken)));

    const key = crypto.randomUUID();
    const refused = await problem('/v1/orders', 422, 'PRODUCT_NOT_SELLABLE', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken, key));
    expect(refused.errors).toEqual([expect.objectContaining({ path: 'cart.lines.1', code: goneLine.itemId, message: expect.stringContaining(gone.variants[0]!.sku) })]);
    expect(await available(keep.variants[0]!.sku)).toBe(5);
    expect(await available(gone.variants[0]!.sku)).toBe(5);
    expect(await orderFor(env, await keyedOrderId(c.user.id, key)).view()).toBeNull();
    const after = await getCart(cart.id, c.accessToken);
    expect({ status: after.status, version: after.version }).toEqual({ status: 'active', version: seen.version });

    // Removing the dead line lets the rest through at the right total.
    const removed = await call(`/v1/carts/${cart.id}/items/${goneLine.itemId}`, { method: 'DELETE', headers: bearer(c.accessToken) });
    expect(removed.status).toBeLessThan(300);
    const placed = await json('/v1/orders', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body.total).toEqual({ amount: 1500, currency: 'USD' });
    expect(await available(keep.variants[0]!.sku)).toBe(4);
    expect(await available(gone.variants[0]!.sku)).toBe(5);
  });

  it('a variant deleted and a variant repriced to 0 (not for sale): both lines flagged, adding either refused, checkout names both lines and holds nothing', async () => {
    const p = await productWith([
      { price: 1000, stock: 5 },
      { price: 2000, stock: 5 },
      { price: 3000, stock: 5 },
    ]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    for (const i of [0, 1, 2]) await addOk(cart.id, item(p, i, 1), c.accessToken);
    // Variant 1 left out (deleted), variant 2 priced 0.
    await setVariants(p, [
      { sku: p.variants[0]!.sku, name: 'Size 0', price: 1000 },
      { sku: p.variants[2]!.sku, name: 'Size 2', price: 0 },
    ]);
    const seen = await getCart(cart.id, c.accessToken);
    expect(seen.lines.map((l) => [l.sku, l.sellable])).toEqual([
      [p.variants[0]!.sku, true],
      [p.variants[1]!.sku, false],
      [p.variants[2]!.sku, false],
    ]);
    expect(seen.totals).toEqual([{ currency: 'USD', subtotal: 1000, total: { amount: 1000, currency: 'USD' }, units: 1 }]);
    await problem(`/v1/carts/${cart.id}/items`, 422, 'VARIANT_NOT_FOUND', jsonInit('POST', item(p, 1, 1), bearer(c.accessToken)));
    await problem(`/v1/carts/${cart.id}/items`, 422, 'PRODUCT_NOT_SELLABLE', jsonInit('POST', item(p, 2, 1), bearer(c.accessToken)));
    const refused = await problem('/v1/orders', 422, 'PRODUCT_NOT_SELLABLE', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken));
    expect(refused.errors!.map((e: any) => e.code).sort()).toEqual([seen.lines[1]!.itemId, seen.lines[2]!.itemId].sort());
    // The deleted variant's SKU is no longer the catalog's (GET /v1/inventory/{sku} is 404): ask its object.
    expect([await available(p.variants[0]!.sku), (await inventoryFor(env, p.variants[1]!.sku).availability()).available, await available(p.variants[2]!.sku)]).toEqual([5, 5, 5]);
    expect((await getCart(cart.id, c.accessToken)).status).toBe('active');
  });

  it('a line whose product was archived cannot grow by a change of quantity (adding more of it is refused); it can still shrink', async () => {
    const gone = await productWith([{ price: 800, stock: 10 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    const line = (await addOk(cart.id, item(gone, 0, 2), c.accessToken)).lines[0]!.itemId;
    await archive(gone.productId);
    const url = `/v1/carts/${cart.id}/items/${line}`;
    const shrink = await json<Cart>(url, jsonInit('PATCH', { quantity: 1 }, bearer(c.accessToken)));
    expect(shrink.res.status, JSON.stringify(shrink.body)).toBe(200);
    const grow = await json<Cart>(url, jsonInit('PATCH', { quantity: 9 }, bearer(c.accessToken)));
    expect({ status: grow.res.status, code: (grow.body as any).code, quantity: (await getCart(cart.id, c.accessToken)).lines[0]!.quantity }, JSON.stringify(grow.body).slice(0, 300)).toEqual({
      status: 422,
      code: 'PRODUCT_NOT_SELLABLE',
      quantity: 1,
    });
  });

  it('an order from items (no cart) of a variant priced 0 is refused PRODUCT_NOT_SELLABLE, as the cart refuses it: CARD and COD', async () => {
    const p = await productWith([{ price: 0, stock: 5 }]);
    const c = await newCustomer();
    const seen: Record<string, unknown> = {};
    for (const paymentMethod of ['CARD', 'COD']) {
      const key = crypto.randomUUID();
      const { res, body } = await json('/v1/orders', placeInit({ items: [{ productId: p.productId, variantId: p.variants[0]!.id, quantity: 2 }], paymentMethod }, c.accessToken, key));
      const live = await orderFor(env, await keyedOrderId(c.user.id, key)).view();
      seen[paymentMethod] = { status: res.status, code: body.code, order: live && { status: live.status, total: live.total, payment: live.payment.status, stock: live.stock.status }, available: await available(p.variants[0]!.sku) };
    }
    expect(seen).toEqual({
      CARD: { status: 422, code: 'PRODUCT_NOT_SELLABLE', order: null, available: 5 },
      COD: { status: 422, code: 'PRODUCT_NOT_SELLABLE', order: null, available: 5 },
    });
  });

  it('the wishlist keeps an archived product (product: null), and moving it to the cart is refused with the entry left in place', async () => {
    const p = await productWith([{ price: 1200, stock: 5 }]);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    const saved = await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId, variantId: p.variants[0]!.id }, h));
    expect(saved.res.status, JSON.stringify(saved.body)).toBe(201);
    await archive(p.productId);
    const list = await json('/v1/me/wishlist', { headers: h });
    expect(list.body.items).toEqual([expect.objectContaining({ productId: p.productId, variantId: p.variants[0]!.id, product: null })]);
    await problem(`/v1/me/wishlist/${p.productId}/move-to-cart`, 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', { variantId: p.variants[0]!.id, quantity: 1 }, h));
    expect((await json('/v1/me/wishlist', { headers: h })).body.items.map((i: any) => i.productId)).toEqual([p.productId]);
    const cart = await userCart(c.accessToken);
    expect(cart.lines).toEqual([]);
    expect(await available(p.variants[0]!.sku)).toBe(5);
  });
});

describe('currencies', () => {
  it('a variant sent with its own currency is refused (400), not silently priced in the store currency', async () => {
    await refs();
    const tag = crypto.randomUUID().slice(0, 8);
    const { res, body } = await json('/v1/admin/products', jsonInit('POST', baseProduct(tag, [{ sku: `CUR-${tag}`, name: 'Default', price: 1000, currency: 'EUR' }]), await admin()));
    expect({ status: res.status, code: body.code, saved: body.variants?.[0]?.price }).toEqual({ status: 400, code: 'VALIDATION_FAILED', saved: undefined });
  });

  it('lines of two currencies (the store currency changed): totals per currency, never summed; checkout refused CURRENCY_MISMATCH holding nothing', async () => {
    const usd = await productWith([{ price: 1000, stock: 5 }]);
    const other = await productWith([{ price: 2000, stock: 5 }]);
    // Products saved before a STORE_CURRENCY change keep their currency; the API cannot make one, the database can.
    await rows(sql`update product_variants set currency = 'EUR' where product_id = ${other.productId}`);
    await rows(sql`update products set currency = 'EUR' where id = ${other.productId}`);
    // A no-op admin change bumps the catalog cache generation (variants not sent: kept as stored).
    const bump = await json(`/v1/admin/products/${other.productId}`, jsonInit('PATCH', { description: 'priced in euros' }, await admin()));
    expect(bump.res.status, JSON.stringify(bump.body)).toBe(200);
    expect(bump.body.variants[0].price).toEqual({ amount: 2000, currency: 'EUR' });

    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    await addOk(cart.id, item(usd, 0, 2), c.accessToken);
    const both = await addOk(cart.id, item(other, 0, 3), c.accessToken);
    expect(both.totals).toEqual([
      { currency: 'EUR', subtotal: 6000, total: { amount: 6000, currency: 'EUR' }, units: 3 },
      { currency: 'USD', subtotal: 2000, total: { amount: 2000, currency: 'USD' }, units: 2 },
    ]);
    expect(both.lines.map((l) => l.lineTotal)).toEqual([
      { amount: 2000, currency: 'USD' },
      { amount: 6000, currency: 'EUR' },
    ]);
    const key = crypto.randomUUID();
    await problem('/v1/orders', 422, 'CURRENCY_MISMATCH', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken, key));
    await problem('/v1/orders', 422, 'CURRENCY_MISMATCH', placeInit({ items: [item(usd, 0, 1), item(other, 0, 1)], paymentMethod: 'CARD' }, c.accessToken));
    expect(await available(usd.variants[0]!.sku)).toBe(5);
    expect(await available(other.variants[0]!.sku)).toBe(5);
    expect(await orderFor(env, await keyedOrderId(c.user.id, key)).view()).toBeNull();
    expect((await getCart(cart.id, c.accessToken)).status).toBe('active');
  });
});

describe('limits and big numbers', () => {
  it('line limit: exactly 10 accepted, 11 refused, on add and on change of quantity', async () => {
    const p = await productWith([{ price: 100, stock: 30 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    const url = `/v1/carts/${cart.id}/items`;
    const first = await addOk(cart.id, item(p, 0, 10), c.accessToken);
    const line = first.lines[0]!.itemId;
    const over = await problem(url, 422, 'QUANTITY_LIMIT_EXCEEDED', jsonInit('POST', item(p, 0, 1), bearer(c.accessToken)));
    expect(over.errors).toEqual([expect.objectContaining({ path: 'body.quantity', code: 'maxLineQuantity' })]);
    await problem(`${url}/${line}`, 422, 'QUANTITY_LIMIT_EXCEEDED', jsonInit('PATCH', { quantity: 11 }, bearer(c.accessToken)));
    const set = await json<Cart>(`${url}/${line}`, jsonInit('PATCH', { quantity: 10 }, bearer(c.accessToken)));
    expect(set.res.status).toBe(200);
    expect(set.body.totals).toEqual([{ currency: 'USD', subtotal: 1000, total: { amount: 1000, currency: 'USD' }, units: 10 }]);
  });

  it('unit limit (100) and line limit (50): the exact limit accepted, one more refused naming the limit', async () => {
    // 51 variants: the first 10 with 10 units each, the others with 1.
    const p = await productWith(Array.from({ length: 51 }, (_, i) => ({ price: 1 + i, stock: i < 10 ? 10 : 1 })));
    const a = await newCustomer();
    const unitsCart = await userCart(a.accessToken);
    for (let i = 0; i < 10; i++) await addOk(unitsCart.id, item(p, i, 10), a.accessToken);
    const over = await problem(`/v1/carts/${unitsCart.id}/items`, 422, 'QUANTITY_LIMIT_EXCEEDED', jsonInit('POST', item(p, 10, 1), bearer(a.accessToken)));
    expect(over.errors![0]).toMatchObject({ code: 'maxUnits' });
    const full = await getCart(unitsCart.id, a.accessToken);
    expect(full.totals).toEqual([{ currency: 'USD', subtotal: 10 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10), total: { amount: 10 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10), currency: 'USD' }, units: 100 }]);

    const b = await newCustomer();
    const linesCart = await userCart(b.accessToken);
    for (let i = 0; i < 50; i++) await addOk(linesCart.id, item(p, i, 1), b.accessToken);
    const more = await problem(`/v1/carts/${linesCart.id}/items`, 422, 'QUANTITY_LIMIT_EXCEEDED', jsonInit('POST', item(p, 50, 1), bearer(b.accessToken)));
    expect(more.errors![0]).toMatchObject({ code: 'maxLines' });
    const fifty = await getCart(linesCart.id, b.accessToken);
    expect(fifty.lines).toHaveLength(50);
    expect(fifty.totals).toEqual([{ currency: 'USD', subtotal: (50 * 51) / 2, total: { amount: (50 * 51) / 2, currency: 'USD' }, units: 50 }]);
  });

  it('quantities that are not positive integers are 400 VALIDATION_FAILED on add and on change, and change nothing', async () => {
    const p = await productWith([{ price: 100, stock: 5 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    const url = `/v1/carts/${cart.id}/items`;
    const line = (await addOk(cart.id, item(p, 0, 2), c.accessToken)).lines[0]!.itemId;
    for (const quantity of [0, -1, 1.5, '2', null, true, [2], { n: 2 }, 1e21, 10_001, Number.MAX_SAFE_INTEGER + 1]) {
      await problem(url, 400, 'VALIDATION_FAILED', jsonInit('POST', { ...item(p, 0), quantity }, bearer(c.accessToken)));
      await problem(`${url}/${line}`, 400, 'VALIDATION_FAILED', jsonInit('PATCH', { quantity }, bearer(c.accessToken)));
    }
    const after = await getCart(cart.id, c.accessToken);
    expect(after.lines.map((l) => l.quantity)).toEqual([2]);
    expect(after.version).toBe(cart.version + 1);
  });

  it('Idempotency-Key on add: 255 characters accepted, 256 refused; the same body (quantity defaulted or explicit) replays, another body is 422', async () => {
    const p = await productWith([{ price: 250, stock: 10 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    const url = `/v1/carts/${cart.id}/items`;
    const long = 'k'.repeat(255);
    const first = await json<Cart>(url, jsonInit('POST', { productId: p.productId, variantId: p.variants[0]!.id }, bearer(c.accessToken, { 'idempotency-key': long })));
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    const again = await json<Cart>(url, jsonInit('POST', item(p, 0, 1), bearer(c.accessToken, { 'idempotency-key': long })));
    expect(again.res.status).toBe(201);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    await problem(url, 422, 'IDEMPOTENCY_KEY_REUSED', jsonInit('POST', item(p, 0, 2), bearer(c.accessToken, { 'idempotency-key': long })));
    await problem(url, 400, 'VALIDATION_FAILED', jsonInit('POST', item(p, 0, 1), bearer(c.accessToken, { 'idempotency-key': 'k'.repeat(256) })));
    await problem(url, 400, 'VALIDATION_FAILED', jsonInit('POST', item(p, 0, 1), bearer(c.accessToken, { 'idempotency-key': 'k'.repeat(100_000) })));
    expect((await getCart(cart.id, c.accessToken)).lines.map((l) => l.quantity)).toEqual([1]);
  });

  it('a retried add (same Idempotency-Key and body) after the product was archived answers the first response again, not 422', async () => {
    const p = await productWith([{ price: 250, stock: 10 }]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    const key = crypto.randomUUID();
    await addOk(cart.id, item(p, 0, 2), c.accessToken, key);
    await archive(p.productId);
    const retry = await json<Cart>(`/v1/carts/${cart.id}/items`, jsonInit('POST', item(p, 0, 2), bearer(c.accessToken, { 'idempotency-key': key })));
    expect({ status: retry.res.status, replayed: retry.res.headers.get('idempotent-replayed') }, JSON.stringify(retry.body)).toEqual({ status: 201, replayed: 'true' });
  });

  it('the biggest price the catalog stores (2^31 − 1 minor units): cart and order totals exact past 2^31 and the PaymentIntent asks exactly that', async () => {
    const MAX = 2 ** 31 - 1;
    const p = await productWith([
      { price: MAX, stock: 20 },
      { price: MAX - 1, stock: 20 },
    ]);
    const c = await newCustomer();
    const cart = await userCart(c.accessToken);
    await addOk(cart.id, item(p, 0, 10), c.accessToken);
    const both = await addOk(cart.id, item(p, 1, 7), c.accessToken);
    const total = 10 * MAX + 7 * (MAX - 1);
    expect(both.totals).toEqual([{ currency: 'USD', subtotal: total, total: { amount: total, currency: 'USD' }, units: 17 }]);
    const placed = await json('/v1/orders', placeInit({ cartId: cart.id, paymentMethod: 'CARD' }, c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect(placed.body.total).toEqual({ amount: total, currency: 'USD' });
    expect(placed.body.items.map((i: any) => i.lineTotal.amount)).toEqual([10 * MAX, 7 * (MAX - 1)]);
    expect((await paymentIntent(paymentIntentOf(placed.body))).amount).toBe(total);
    // Items orders go to 1000 units of a line: 1000 × (2^31 − 1) is still exact.
    const d = await newCustomer();
    const big = await json('/v1/orders', placeInit({ items: [{ productId: p.productId, variantId: p.variants[0]!.id, quantity: 10 }], paymentMethod: 'CARD' }, d.accessToken));
    expect(big.res.status, JSON.stringify(big.body)).toBe(201);
    expect(big.body.total.amount).toBe(10 * MAX);
  });

  it('a price past what the catalog stores (2^31 and up) is a 4xx problem, never a 500; nothing is created', async () => {
    await refs();
    const h = await admin();
    const answers: Record<string, number> = {};
    for (const price of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
      const tag = crypto.randomUUID().slice(0, 8);
      const r = await call('/v1/admin/products', jsonInit('POST', baseProduct(tag, [{ sku: `BIG-${tag}`, name: 'Default', price }]), h));
      answers[`create ${price}`] = r.status;
      const made = await rows<{ n: number }>(sql`select count(*)::int as n from products where slug = ${`money-${tag}`}`);
      expect(made).toEqual([{ n: 0 }]);
    }
    const p = await productWith([{ price: 100, stock: 0 }]);
    const patched = await call(`/v1/admin/products/${p.productId}`, jsonInit('PATCH', { variants: [{ sku: p.variants[0]!.sku, name: 'Size 0', price: 100, compareAtPrice: 2 ** 31 }] }, h));
    answers['patch compareAtPrice 2^31'] = patched.status;
    expect(answers).toEqual({ [`create ${2 ** 31}`]: 400, [`create ${Number.MAX_SAFE_INTEGER}`]: 400, 'patch compareAtPrice 2^31': 400 });
  });
});

describe('partial refunds to the minor unit', () => {
  async function paidOrder() {
    const p = await stockedProduct(3, 1001);
    const c = await newCustomer();
    const placed = await json('/v1/orders', placeInit({ items: [{ productId: p.productId, quantity: 3 }], paymentMethod: 'CARD' }, c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);
    return { orderId: placed.body.orderId as string, pi, total: 3003 };
  }

  it('refunds summing exactly to the total end REFUNDED with Σ = captured at the provider; one minor unit over is refused; bad amounts and other fields are 400', async () => {
    const o = await paidOrder();
    const h = await admin();
    const url = `/v1/admin/orders/${o.orderId}/refunds`;
    const refund = (body: unknown, key: string = crypto.randomUUID()) => json(url, jsonInit('POST', body, { ...h, 'idempotency-key': key }));
    for (const bad of [
      { amount: 0, reason: 'zero' },
      { amount: -1, reason: 'negative' },
      { amount: 1.5, reason: 'fraction' },
      { amount: '100', reason: 'string' },
      { amount: 2 ** 53, reason: 'unsafe' },
      { amount: 100, reason: 'currency', currency: 'EUR' },
      { amount: { amount: 100, currency: 'USD' }, reason: 'money object' },
      { amount: 100, reason: 'items', items: [{ itemId: 'itm_1', quantity: 1 }] },
    ]) {
      await problem(url, 400, 'VALIDATION_FAILED', jsonInit('POST', bad, { ...h, 'idempotency-key': crypto.randomUUID() }));
    }
    const a = await refund({ amount: 1000, reason: 'part a' });
    expect(a.res.status, JSON.stringify(a.body)).toBe(201);
    const b = await refund({ amount: 1000, reason: 'part b' });
    expect(b.res.status, JSON.stringify(b.body)).toBe(201);
    const over = await problem(url, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 1004, reason: 'one over' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect(over.detail).toContain('1003');
    const last = await refund({ amount: 1003, reason: 'the rest' });
    expect(last.res.status, JSON.stringify(last.body)).toBe(201);
    const final = await eventually(
      async () => (await json(`/v1/orders/${o.orderId}`, { headers: h })).body,
      (x) => x.status === 'REFUNDED',
      10_000,
    );
    expect(final).toMatchObject({ status: 'REFUNDED', total: { amount: 3003 }, payment: { amountCaptured: { amount: 3003, currency: 'USD' }, amountRefunded: { amount: 3003, currency: 'USD' } } });
    expect(final.refunds.map((r: any) => [r.amount.amount, r.status])).toEqual([
      [1000, 'succeeded'],
      [1000, 'succeeded'],
      [1003, 'succeeded'],
    ]);
    const pi = await paymentIntent(o.pi);
    expect({ received: pi.amount_received, refunded: pi.latest_charge.amount_refunded, currency: pi.currency }).toEqual({ received: 3003, refunded: 3003, currency: 'usd' });
    await problem(url, 422, 'REFUND_EXCEEDS_CAPTURED', jsonInit('POST', { amount: 1, reason: 'nothing left' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    expect((await json(`/v1/orders/${o.orderId}`, { headers: h })).body.refunds).toHaveLength(3);
  });

  it('nothing captured yet (PENDING card order): a refund of any amount is 409 NOTHING_TO_REFUND and records nothing', async () => {
    const p = await stockedProduct(2, 500);
    const c = await newCustomer();
    const placed = await json('/v1/orders', placeInit({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, c.accessToken));
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const h = await admin();
    await problem(`/v1/admin/orders/${placed.body.orderId}/refunds`, 409, 'NOTHING_TO_REFUND', jsonInit('POST', { amount: 1, reason: 'early' }, { ...h, 'idempotency-key': crypto.randomUUID() }));
    const live = (await json(`/v1/orders/${placed.body.orderId}`, { headers: h })).body;
    expect({ status: live.status, refunds: live.refunds }).toEqual({ status: 'PENDING', refunds: [] });
  });
});

