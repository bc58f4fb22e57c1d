/**
 * The public contract (../shared/API.md) against the running Worker, for the cart, wishlist,
 * inventory, warehouse-staff, orders, payment-webhook and admin-order paths: documented statuses,
 * problem+json codes, field names and types, Idempotency-Key replays, list pagination (limit
 * bounds, cursor round trip, tampered cursors), x-request-id / traceparent, and that
 * /openapi.json declares every status these routes really answered (checked last, from what
 * every request of this file saw).
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/env';
import { toBase64Url, fromBase64Url } from '../../shared/kernel/base64';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { call } from '../../test/support/http';
import { rows } from '../../test/support/db';
import { admin, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);

// ---------------------------------------------------------------------------------------------
// One request helper: records (operation, status) for the OpenAPI check, and checks the
// conventions every answer shares (x-request-id; problem+json with every field on errors).
// ---------------------------------------------------------------------------------------------

type Answer = { status: number; body: any; headers: Headers };
const observed = new Map<string, Set<number>>();

async function req(op: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await call(path, init);
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* keep the text */
  }
  const where = `${op} (${path}) → ${res.status} ${text.slice(0, 300)}`;
  if (!observed.has(op)) observed.set(op, new Set());
  observed.get(op)!.add(res.status);
  // API.md: "Never a 500 for bad input." None of this file's requests should be a 5xx.
  expect(res.status, where).toBeLessThan(500);
  // API.md: "Every response carries x-request-id".
  expect(res.headers.get('x-request-id'), where).toBeTruthy();
  if (res.status >= 400) {
    // API.md: problem+json with type, title, status, detail, a stable UPPER_SNAKE code, requestId.
    expect(res.headers.get('content-type'), where).toBe('application/problem+json');
    expect(body, where).toMatchObject({ type: expect.any(String), title: expect.any(String), status: res.status, detail: expect.any(String), code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/) });
    expect(body.requestId, where).toBe(res.headers.get('x-request-id'));
    if (body.code === 'VALIDATION_FAILED') {
      expect(Array.isArray(body.errors) && body.errors.length > 0, `${where}: validation without errors[]`).toBe(true);
      for (const e of body.errors) expect(typeof e.path, where).toBe('string');
    }
  }
  return { status: res.status, body, headers: res.headers };
}

/** Asserts a refusal's status and code. */
async function refused(op: string, path: string, init: RequestInit, status: number, code: string): Promise<Answer> {
  const a = await req(op, path, init);
  expect({ status: a.status, code: a.body?.code }, `${op} ${path}: ${JSON.stringify(a.body)}`).toEqual({ status, code });
  return a;
}

const j = (method: string, body: unknown, headers: Record<string, string> = {}) => jsonInit(method, body, headers);
const key = () => crypto.randomUUID();
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const money = { amount: expect.any(Number), currency: expect.stringMatching(/^[A-Z]{3}$/) };

/** Decodes an opaque cursor, changes its position, encodes it again (what a curious client can do). */
function tamper(cursor: string, change: (p: Record<string, unknown>) => Record<string, unknown>): string {
  const parsed = JSON.parse(new TextDecoder().decode(fromBase64Url(cursor)!)) as { p: Record<string, unknown>; f: string };
  return toBase64Url(new TextEncoder().encode(JSON.stringify({ ...parsed, p: change(parsed.p) })));
}

let adminH: Record<string, string>;
let staff: { token: string; warehouseId: string };
let otherWh: string;

beforeAll(async () => {
  adminH = await admin();
  staff = await staffSession();
  otherWh = (await rows<{ id: string }>(sql`select id from warehouses where id <> ${staff.warehouseId} order by id limit 1`))[0]!.id;
});

// ---------------------------------------------------------------------------------------------
describe('cart', () => {
  it('POST /v1/carts (guest) 201 and GET 200 answer the Cart shape: crt_ id, ISO timestamps, no-store', async () => {
    const made = await req('POST /v1/carts', '/v1/carts', { method: 'POST' });
    expect(made.status).toBe(201);
    expect(made.body).toEqual({
      id: expect.stringMatching(/^crt_[0-9a-z]{26}$/),
      status: 'active',
      version: expect.any(Number),
      kind: 'guest',
      lines: [],
      totals: [],
      priceChanged: false,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
      expiresAt: expect.stringMatching(ISO),
      orderId: null,
    });
    expect(made.headers.get('cache-control')).toBe('no-store');
    const got = await req('GET /v1/carts/{id}', `/v1/carts/${made.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(made.body);
  });

  it('POST /v1/carts/{id}/items: 201 with lines as money objects; the same key and body → the first answer again (Idempotent-Replayed); another body → 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const p = await stockedProduct(20, 1999);
    const cart = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    const k = key();
    const url = `/v1/carts/${cart.id}/items`;
    const first = await req('POST /v1/carts/{id}/items', url, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, { 'idempotency-key': k }));
    expect(first.status).toBe(201);
    expect(first.body.lines).toEqual([
      {
        itemId: expect.stringMatching(/^itm_[0-9a-z]{26}$/),
        productId: p.productId,
        variantId: p.variantId,
        sku: p.sku,
        name: expect.any(String),
        variantName: expect.any(String),
        quantity: 2,
        unitPrice: { amount: 1999, currency: expect.stringMatching(/^[A-Z]{3}$/) },
        priceAtAdd: { amount: 1999, currency: expect.stringMatching(/^[A-Z]{3}$/) },
        priceChanged: false,
        lineTotal: { amount: 3998, currency: expect.stringMatching(/^[A-Z]{3}$/) },
        sellable: true,
        addedAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
      },
    ]);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await req('POST /v1/carts/{id}/items', url, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, { 'idempotency-key': k }));
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    await refused('POST /v1/carts/{id}/items', url, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 3 }, { 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect((await req('GET /v1/carts/{id}', `/v1/carts/${cart.id}`)).body.lines[0].quantity).toBe(2);
  });

  it('money shape: cart totals carry total as { amount, currency } (API.md), beside the deprecated bare subtotal', async () => {
    // API.md: "Money: integer minor units plus ISO currency ({ "amount": 399900, "currency": "INR" })."
    const p = await stockedProduct(5, 1250);
    const cart = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    const added = await req('POST /v1/carts/{id}/items', `/v1/carts/${cart.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }));
    expect(added.status).toBe(201);
    expect(added.body.totals).toHaveLength(1);
    // Until 0.3.13: { currency, subtotal: 2500, units: 2 }, the only money in the API not shaped { amount, currency }.
    const currency = added.body.lines[0].unitPrice.currency;
    expect(added.body.totals[0]).toEqual({ currency, subtotal: 2500, total: { amount: 2500, currency }, units: 2 });
  });

  it('PATCH and DELETE a line answer 200 with the cart; the documented refusals and codes', async () => {
    const p = await stockedProduct(3, 500);
    const cart = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    const items = `/v1/carts/${cart.id}/items`;
    const added = await req('POST /v1/carts/{id}/items', items, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }));
    const itemId = added.body.lines[0].itemId as string;
    const patched = await req('PATCH /v1/carts/{id}/items/{itemId}', `${items}/${itemId}`, j('PATCH', { quantity: 2 }));
    expect(patched.status).toBe(200);
    expect(patched.body.lines[0].quantity).toBe(2);

    await refused('GET /v1/carts/{id}', '/v1/carts/not-a-cart', {}, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/carts/{id}', `/v1/carts/crt_${'0'.repeat(26)}`, {}, 404, 'CART_NOT_FOUND');
    await refused('POST /v1/carts/{id}/items', items, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 1, unitPrice: 1 }), 400, 'VALIDATION_FAILED');
    await refused('POST /v1/carts/{id}/items', items, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"productId":' }, 400, 'MALFORMED_JSON');
    await refused('POST /v1/carts/{id}/items', items, j('POST', { productId: 'prd_nope', variantId: p.variantId }), 422, 'PRODUCT_NOT_FOUND');
    await refused('POST /v1/carts/{id}/items', items, j('POST', { productId: p.productId, variantId: 'var_nope' }), 422, 'VARIANT_NOT_FOUND');
    await refused('POST /v1/carts/{id}/items', items, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }), 409, 'INSUFFICIENT_STOCK');
    await refused('PATCH /v1/carts/{id}/items/{itemId}', `${items}/${itemId}`, j('PATCH', { quantity: 11 }), 422, 'QUANTITY_LIMIT_EXCEEDED');
    await refused('PATCH /v1/carts/{id}/items/{itemId}', `${items}/itm_${'0'.repeat(26)}`, j('PATCH', { quantity: 1 }), 404, 'CART_ITEM_NOT_FOUND');
    await refused('GET /v1/carts/{id}', `/v1/carts/${cart.id}`, { headers: bearer('not.a.token') }, 401, 'UNAUTHENTICATED');

    const removed = await req('DELETE /v1/carts/{id}/items/{itemId}', `${items}/${itemId}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect(removed.body.lines).toEqual([]);
    await refused('DELETE /v1/carts/{id}/items/{itemId}', `${items}/${itemId}`, { method: 'DELETE' }, 404, 'CART_ITEM_NOT_FOUND');
  });

  it("signed in: POST /v1/carts is 201 the first time, 200 after; another user's cart is 404 CART_NOT_FOUND; a checked-out cart 409 CART_CHECKED_OUT", async () => {
    const [a, b] = await Promise.all([newCustomer(), newCustomer()]);
    const first = await req('POST /v1/carts', '/v1/carts', { method: 'POST', headers: bearer(a.accessToken) });
    expect(first.status).toBe(201);
    expect(first.body.kind).toBe('user');
    const second = await req('POST /v1/carts', '/v1/carts', { method: 'POST', headers: bearer(a.accessToken) });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    await refused('GET /v1/carts/{id}', `/v1/carts/${first.body.id}`, { headers: bearer(b.accessToken) }, 404, 'CART_NOT_FOUND');
    await refused('GET /v1/carts/{id}', `/v1/carts/${first.body.id}`, {}, 404, 'CART_NOT_FOUND');

    const p = await stockedProduct(5, 700);
    await req('POST /v1/carts/{id}/items', `/v1/carts/${first.body.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, bearer(a.accessToken)));
    const order = await req('POST /v1/orders', '/v1/orders', j('POST', { cartId: first.body.id, paymentMethod: 'COD' }, { ...bearer(a.accessToken), 'idempotency-key': key() }));
    expect(order.status).toBe(201);
    await refused('POST /v1/carts/{id}/items', `/v1/carts/${first.body.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId }, bearer(a.accessToken)), 409, 'CART_CHECKED_OUT');
  });
});

// ---------------------------------------------------------------------------------------------
describe('wishlist', () => {
  it('POST 201 then 200, GET { items, nextCursor }, DELETE 204 then 404; refusals', async () => {
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    const p = await stockedProduct(1, 4200);
    const saved = await req('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: p.productId }, h));
    expect(saved.status).toBe(201);
    expect(saved.body).toEqual({ productId: p.productId, variantId: null, addedAt: expect.stringMatching(ISO), product: { name: expect.any(String), price: { amount: 4200, currency: expect.stringMatching(/^[A-Z]{3}$/) } } });
    const again = await req('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: p.productId, variantId: p.variantId }, h));
    expect(again.status).toBe(200);
    expect(again.body.variantId).toBe(p.variantId);
    const list = await req('GET /v1/me/wishlist', '/v1/me/wishlist', { headers: h });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [again.body], nextCursor: null });

    await refused('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: 'prd_nope' }, h), 422, 'PRODUCT_NOT_FOUND');
    await refused('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: p.productId, note: 'x' }, h), 400, 'VALIDATION_FAILED');
    const anon = await refused('GET /v1/me/wishlist', '/v1/me/wishlist', {}, 401, 'UNAUTHENTICATED');
    expect(anon.headers.get('www-authenticate')).toBe('Bearer');

    const del = await req('DELETE /v1/me/wishlist/{productId}', `/v1/me/wishlist/${p.productId}`, { method: 'DELETE', headers: h });
    expect(del.status).toBe(204);
    await refused('DELETE /v1/me/wishlist/{productId}', `/v1/me/wishlist/${p.productId}`, { method: 'DELETE', headers: h }, 404, 'NOT_FOUND');
  });

  it('GET /v1/me/wishlist pages: limit 1..100, nextCursor round trip, garbage, foreign and tampered cursors 400 INVALID_CURSOR', async () => {
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    const products = await Promise.all([stockedProduct(1), stockedProduct(1), stockedProduct(1)]);
    for (const p of products) expect((await req('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: p.productId }, h))).status).toBe(201);

    const page1 = await req('GET /v1/me/wishlist', '/v1/me/wishlist?limit=2', { headers: h });
    expect(page1.body.items).toHaveLength(2);
    expect(typeof page1.body.nextCursor).toBe('string');
    const page2 = await req('GET /v1/me/wishlist', `/v1/me/wishlist?limit=2&cursor=${page1.body.nextCursor}`, { headers: h });
    expect(page2.body.items).toHaveLength(1);
    expect(page2.body.nextCursor).toBeNull();
    expect(new Set([...page1.body.items, ...page2.body.items].map((i: { productId: string }) => i.productId))).toEqual(new Set(products.map((p) => p.productId)));
    expect((await req('GET /v1/me/wishlist', '/v1/me/wishlist?limit=100', { headers: h })).body.items).toHaveLength(3);

    await refused('GET /v1/me/wishlist', '/v1/me/wishlist?limit=101', { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/me/wishlist', '/v1/me/wishlist?limit=0', { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/me/wishlist', '/v1/me/wishlist?cursor=not-a-cursor', { headers: h }, 400, 'INVALID_CURSOR');
    const someoneElse = await newCustomer();
    await refused('GET /v1/me/wishlist', `/v1/me/wishlist?cursor=${page1.body.nextCursor}`, { headers: bearer(someoneElse.accessToken) }, 400, 'INVALID_CURSOR');
    await refused('GET /v1/me/wishlist', `/v1/me/wishlist?cursor=${tamper(page1.body.nextCursor, (p) => ({ ...p, t: 'yesterday' }))}`, { headers: h }, 400, 'INVALID_CURSOR');
  });
});

// ---------------------------------------------------------------------------------------------
describe('inventory and warehouse staff', () => {
  it('GET /v1/inventory/{sku}: 200 { sku, available, warehouses[] }; unknown 404; malformed 400', async () => {
    const p = await stockedProduct(7);
    const a = await req('GET /v1/inventory/{sku}', `/v1/inventory/${p.sku}`);
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ sku: p.sku, available: 7, warehouses: expect.arrayContaining([{ warehouseId: staff.warehouseId, code: expect.any(String), region: expect.any(String), available: 7 }]) });
    await refused('GET /v1/inventory/{sku}', '/v1/inventory/NO-SUCH-SKU-ANYWHERE', {}, 404, 'NOT_FOUND');
    await refused('GET /v1/inventory/{sku}', '/v1/inventory/bad%20sku!', {}, 400, 'VALIDATION_FAILED');
  });

  it('POST …/stock/adjustments: 201 with level; the same key and body → the first answer again; another body → 422; refusals', async () => {
    const p = await stockedProduct(4);
    const url = `/v1/warehouses/${staff.warehouseId}/stock/adjustments`;
    const h = bearer(staff.token);
    const k = key();
    const first = await req('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 3, reason: 'receipt' }, { ...h, 'idempotency-key': k }));
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ warehouseId: staff.warehouseId, sku: p.sku, delta: 3, reason: 'receipt', level: { sku: p.sku, onHand: 7, reserved: 0, available: 7, inTransitOut: 0, needsReconciliation: false } });
    const again = await req('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 3, reason: 'receipt' }, { ...h, 'idempotency-key': k }));
    expect({ status: again.status, body: again.body }).toEqual({ status: first.status, body: first.body });
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 4, reason: 'receipt' }, { ...h, 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: -100, reason: 'damage' }, { ...h, 'idempotency-key': key() }), 409, 'INSUFFICIENT_STOCK');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 2, reason: 'damage' }, { ...h, 'idempotency-key': key() }), 422, 'UNPROCESSABLE');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 1, reason: 'receipt' }, h), 400, 'VALIDATION_FAILED');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', `/v1/warehouses/${otherWh}/stock/adjustments`, j('POST', { sku: p.sku, delta: 1, reason: 'receipt' }, { ...h, 'idempotency-key': key() }), 403, 'FORBIDDEN');
    const customer = await newCustomer();
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 1, reason: 'receipt' }, { ...bearer(customer.accessToken), 'idempotency-key': key() }), 403, 'FORBIDDEN');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', url, j('POST', { sku: p.sku, delta: 1, reason: 'receipt' }, { 'idempotency-key': key() }), 401, 'UNAUTHENTICATED');
    await refused('POST /v1/warehouses/{id}/stock/adjustments', `/v1/warehouses/wh_${'0'.repeat(26)}/stock/adjustments`, j('POST', { sku: p.sku, delta: 1, reason: 'receipt' }, { ...adminH, 'idempotency-key': key() }), 404, 'NOT_FOUND');
  });

  it('GET /v1/warehouses/{id}/stock pages: limit 1..100, cursor round trip, 403 / 404; a cursor edited to a non-string sku is 400 INVALID_CURSOR', async () => {
    const h = bearer(staff.token);
    const base = `/v1/warehouses/${staff.warehouseId}/stock`;
    const page1 = await req('GET /v1/warehouses/{id}/stock', `${base}?limit=2`, { headers: h });
    expect(page1.status).toBe(200);
    expect(page1.body.warehouseId).toBe(staff.warehouseId);
    expect(page1.body.items).toHaveLength(2);
    for (const l of page1.body.items) expect(Object.keys(l).sort()).toEqual(['available', 'inTransitOut', 'needsReconciliation', 'onHand', 'reserved', 'sku']);
    expect(typeof page1.body.nextCursor).toBe('string');
    const page2 = await req('GET /v1/warehouses/{id}/stock', `${base}?limit=2&cursor=${page1.body.nextCursor}`, { headers: h });
    expect(page2.status).toBe(200);
    expect(page2.body.items[0].sku > page1.body.items[1].sku).toBe(true);
    expect((await req('GET /v1/warehouses/{id}/stock', `${base}?limit=100`, { headers: h })).status).toBe(200);
    await refused('GET /v1/warehouses/{id}/stock', `${base}?limit=101`, { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/warehouses/{id}/stock', `${base}?limit=0`, { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/warehouses/{id}/stock', `${base}?cursor=zzzz`, { headers: h }, 400, 'INVALID_CURSOR');
    await refused('GET /v1/warehouses/{id}/stock', `/v1/warehouses/${otherWh}/stock?cursor=${page1.body.nextCursor}`, { headers: adminH }, 400, 'INVALID_CURSOR');
    await refused('GET /v1/warehouses/{id}/stock', `/v1/warehouses/${otherWh}/stock`, { headers: h }, 403, 'FORBIDDEN');
    await refused('GET /v1/warehouses/{id}/stock', `/v1/warehouses/wh_${'0'.repeat(26)}/stock`, { headers: adminH }, 404, 'NOT_FOUND');
    // A cursor whose position was edited to a non-string: 400, not a page answered from it.
    await refused('GET /v1/warehouses/{id}/stock', `${base}?cursor=${tamper(page1.body.nextCursor, () => ({ sku: { $gt: '' } }))}`, { headers: h }, 400, 'INVALID_CURSOR');
  });

  it('transfers: 201, replay, 422 / 409 refusals, list pages, get, receive, cancel after receipt 409; an edited list cursor (at: not a time) is 400 INVALID_CURSOR', async () => {
    const p = await stockedProduct(10);
    const h = bearer(staff.token);
    const url = `/v1/warehouses/${staff.warehouseId}/stock/transfers`;
    const k = key();
    const first = await req('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: otherWh, quantity: 2 }, { ...h, 'idempotency-key': k }));
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      transferId: expect.stringMatching(/^trf_[0-9a-f]{32}$/),
      sku: p.sku,
      fromWarehouseId: staff.warehouseId,
      toWarehouseId: otherWh,
      quantity: 2,
      status: 'in_transit',
      note: null,
      createdAt: expect.stringMatching(ISO),
      receivedAt: null,
      cancelledAt: null,
    });
    const again = await req('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: otherWh, quantity: 2 }, { ...h, 'idempotency-key': k }));
    expect({ status: again.status, body: again.body }).toEqual({ status: first.status, body: first.body });
    await refused('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: otherWh, quantity: 3 }, { ...h, 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    await refused('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: staff.warehouseId, quantity: 1 }, { ...h, 'idempotency-key': key() }), 422, 'UNPROCESSABLE');
    await refused('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: otherWh, quantity: 50 }, { ...h, 'idempotency-key': key() }), 409, 'INSUFFICIENT_STOCK');
    const second = await req('POST /v1/warehouses/{id}/stock/transfers', url, j('POST', { sku: p.sku, toWarehouseId: otherWh, quantity: 1 }, { ...h, 'idempotency-key': key() }));
    expect(second.status).toBe(201);

    const t = `${url}/${first.body.transferId}`;
    const got = await req('GET /v1/warehouses/{id}/stock/transfers/{transferId}', t, { headers: h });
    expect(got.body).toEqual(first.body);
    const page1 = await req('GET /v1/warehouses/{id}/stock/transfers', `${url}?limit=1`, { headers: h });
    expect(page1.body.items).toHaveLength(1);
    expect(page1.body.items[0].transferId).toBe(second.body.transferId);
    const page2 = await req('GET /v1/warehouses/{id}/stock/transfers', `${url}?limit=1&cursor=${page1.body.nextCursor}`, { headers: h });
    expect(page2.body.items[0].transferId).toBe(first.body.transferId);
    await refused('GET /v1/warehouses/{id}/stock/transfers', `${url}?limit=101`, { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/warehouses/{id}/stock/transfers', `${url}?cursor=${page1.body.nextCursor}&direction=in`, { headers: h }, 400, 'INVALID_CURSOR');

    const received = await req('POST /v1/warehouses/{id}/stock/transfers/{transferId}/receive', `/v1/warehouses/${otherWh}/stock/transfers/${first.body.transferId}/receive`, { method: 'POST', headers: adminH });
    expect(received.status).toBe(200);
    expect(received.body).toMatchObject({ status: 'received', receivedAt: expect.stringMatching(ISO) });
    await refused('POST /v1/warehouses/{id}/stock/transfers/{transferId}/cancel', `${t}/cancel`, { method: 'POST', headers: h }, 409, 'CONFLICT');
    await refused('POST /v1/warehouses/{id}/stock/transfers/{transferId}/receive', `${url}/${second.body.transferId}/receive`, { method: 'POST', headers: h }, 403, 'FORBIDDEN');
    // A cursor whose position was edited (valid base64url JSON, the right query): 400, never 500.
    await refused('GET /v1/warehouses/{id}/stock/transfers', `${url}?limit=1&cursor=${tamper(page1.body.nextCursor, (q) => ({ ...q, at: 'not a time' }))}`, { headers: h }, 400, 'INVALID_CURSOR');
  });
});

// ---------------------------------------------------------------------------------------------
describe('orders', () => {
  const place = (body: unknown, token: string, k: string | null = key()) =>
    req('POST /v1/orders', '/v1/orders', j('POST', body, { ...bearer(token), ...(k ? { 'idempotency-key': k } : {}) }));

  it("POST /v1/orders takes the original design's body and answers 201 { orderId, status: PENDING, … } with money objects", async () => {
    const p = await stockedProduct(5, 1500);
    const c = await newCustomer();
    const r = await place({ userId: c.user.id, items: [{ productId: p.productId, qty: 2 }], paymentMethod: 'CARD' }, c.accessToken, null);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      orderId: expect.stringMatching(/^ord_[0-9a-z]{26}$/),
      status: 'PENDING',
      userId: c.user.id,
      subtotal: { amount: 3000, currency: expect.stringMatching(/^[A-Z]{3}$/) },
      total: { amount: 3000, currency: expect.stringMatching(/^[A-Z]{3}$/) },
      payment: { method: 'CARD', amountCaptured: money, amountRefunded: money, clientAction: { type: 'stripe_client_secret', clientSecret: expect.any(String) } },
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(r.body.items[0]).toMatchObject({ productId: p.productId, variantId: p.variantId, sku: p.sku, quantity: 2, unitPrice: { amount: 1500 }, lineTotal: { amount: 3000 } });
    expect(r.headers.get('cache-control')).toBe('no-store');
    // "the caller must be that user, or a pos_agent/admin acting for them"
    const other = await newCustomer();
    await refused('POST /v1/orders', '/v1/orders', j('POST', { userId: other.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)), 403, 'FORBIDDEN');
    const forOther = await req('POST /v1/orders', '/v1/orders', j('POST', { userId: other.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'COD' }, adminH));
    expect(forOther.status).toBe(201);
    expect(forOther.body.userId).toBe(other.user.id);
  });

  it('idempotent replay: POST /v1/orders answers a replay 200 without Idempotent-Replayed; API.md: the first response (201) again', async () => {
    // API.md: "the same key with the same body returns the first response again; with a different body, 422."
    const p = await stockedProduct(5, 900);
    const c = await newCustomer();
    const k = key();
    const body = { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' };
    const first = await place(body, c.accessToken, k);
    expect(first.status).toBe(201);
    const again = await place(body, c.accessToken, k);
    expect(again.body.orderId).toBe(first.body.orderId);
    await refused('POST /v1/orders', '/v1/orders', j('POST', { ...body, paymentMethod: 'CARD' }, { ...bearer(c.accessToken), 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    // The cart's add (the other replayable write of this area) answers a replay with the first
    // status and `Idempotent-Replayed: true`; placing an order answers 200 without the header.
    expect({ status: again.status, replayed: again.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: 'true' });
  });

  it('POST /v1/orders refusals: 400 bad body, 404 unknown cart, 409 OUT_OF_STOCK, 422 unknown product / POS method, 401 anonymous', async () => {
    const p = await stockedProduct(1, 900);
    const c = await newCustomer();
    await refused('POST /v1/orders', '/v1/orders', j('POST', { paymentMethod: 'CARD' }, bearer(c.accessToken)), 400, 'VALIDATION_FAILED');
    await refused('POST /v1/orders', '/v1/orders', j('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, { ...bearer(c.accessToken), 'idempotency-key': 'has space' }), 400, 'VALIDATION_FAILED');
    await refused('POST /v1/orders', '/v1/orders', j('POST', { cartId: `crt_${'0'.repeat(26)}`, paymentMethod: 'CARD' }, bearer(c.accessToken)), 404, 'CART_NOT_FOUND');
    await refused('POST /v1/orders', '/v1/orders', j('POST', { items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'CARD' }, bearer(c.accessToken)), 409, 'OUT_OF_STOCK');
    await refused('POST /v1/orders', '/v1/orders', j('POST', { items: [{ productId: 'prd_nope', quantity: 1 }], paymentMethod: 'CARD' }, bearer(c.accessToken)), 422, 'PRODUCT_NOT_FOUND');
    await refused('POST /v1/orders', '/v1/orders', j('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'POS_CASH' }, bearer(c.accessToken)), 422, 'PAYMENT_METHOD_NOT_ALLOWED');
    const anon = await refused('POST /v1/orders', '/v1/orders', j('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }), 401, 'UNAUTHENTICATED');
    expect(anon.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('GET /v1/orders/{id} and /tracking: 200 for the owner, 404 for anyone else, 400 malformed; cancel 200 (again 200)', async () => {
    const p = await stockedProduct(3, 800);
    const [c, other] = await Promise.all([newCustomer(), newCustomer()]);
    const placed = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, c.accessToken);
    const id = placed.body.orderId as string;
    const got = await req('GET /v1/orders/{id}', `/v1/orders/${id}`, { headers: bearer(c.accessToken) });
    expect(got.status).toBe(200);
    expect(got.body.orderId).toBe(id);
    expect(got.headers.get('cache-control')).toBe('no-store');
    const tracking = await req('GET /v1/orders/{id}/tracking', `/v1/orders/${id}/tracking`, { headers: bearer(c.accessToken) });
    expect(tracking.status).toBe(200);
    expect(tracking.body).toMatchObject({ orderId: id, status: 'PENDING', fulfilmentStatus: 'unfulfilled', shipments: [] });
    for (const e of tracking.body.timeline) expect(e).toEqual({ at: expect.stringMatching(ISO), kind: expect.stringMatching(/^(order|shipment)$/), status: expect.any(String), description: expect.any(String), shipmentId: null, location: null });
    await refused('GET /v1/orders/{id}', `/v1/orders/${id}`, { headers: bearer(other.accessToken) }, 404, 'NOT_FOUND');
    await refused('GET /v1/orders/{id}/tracking', `/v1/orders/${id}/tracking`, { headers: bearer(other.accessToken) }, 404, 'NOT_FOUND');
    await refused('GET /v1/orders/{id}', '/v1/orders/not-an-order', { headers: bearer(c.accessToken) }, 400, 'VALIDATION_FAILED');
    await refused('POST /v1/orders/{id}/cancel', `/v1/orders/${id}/cancel`, j('POST', {}, bearer(other.accessToken)), 404, 'NOT_FOUND');
    const cancelled = await req('POST /v1/orders/{id}/cancel', `/v1/orders/${id}/cancel`, j('POST', { reason: 'changed my mind' }, bearer(c.accessToken)));
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ orderId: id, status: 'CANCELLED', cancelReason: 'changed my mind' });
    const twice = await req('POST /v1/orders/{id}/cancel', `/v1/orders/${id}/cancel`, { method: 'POST', headers: bearer(c.accessToken) });
    // Cancelling again is idempotent: the same cancelled order.
    expect([twice.status, twice.body.status]).toEqual([200, 'CANCELLED']);
  });

  it('GET /v1/orders pages (mine, newest first): limit 1..100, cursor round trip, garbage cursor 400; an edited cursor (c: not a time) is 400 INVALID_CURSOR', async () => {
    const p = await stockedProduct(6, 300);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, c.accessToken)).body.orderId);
    const all = await eventually(() => req('GET /v1/orders', '/v1/orders?limit=100', { headers: h }), (a) => a.body.items?.length === 3);
    expect(all.body.items.map((o: { orderId: string }) => o.orderId).sort()).toEqual([...ids].sort());
    expect(all.body.items[0]).toEqual({ orderId: expect.stringMatching(/^ord_/), status: 'PENDING', fulfilmentStatus: 'unfulfilled', total: { amount: 300, currency: expect.stringMatching(/^[A-Z]{3}$/) }, itemCount: 1, paymentMethod: 'COD', createdAt: expect.stringMatching(ISO), updatedAt: expect.stringMatching(ISO) });
    const page1 = await req('GET /v1/orders', '/v1/orders?limit=2', { headers: h });
    expect(page1.body.items).toHaveLength(2);
    const page2 = await req('GET /v1/orders', `/v1/orders?limit=2&cursor=${page1.body.nextCursor}`, { headers: h });
    expect(page2.body).toMatchObject({ items: [all.body.items[2]], nextCursor: null });
    await refused('GET /v1/orders', '/v1/orders?limit=101', { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/orders', '/v1/orders?limit=0', { headers: h }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/orders', '/v1/orders?cursor=%3D%3D', { headers: h }, 400, 'INVALID_CURSOR');
    await refused('GET /v1/orders', `/v1/orders?status=PAID&cursor=${page1.body.nextCursor}`, { headers: h }, 400, 'INVALID_CURSOR');
    // A cursor whose position was edited (valid base64url JSON, the right query): 400, never 500.
    await refused('GET /v1/orders', `/v1/orders?cursor=${tamper(page1.body.nextCursor, (q) => ({ ...q, c: 'not a time' }))}`, { headers: h }, 400, 'INVALID_CURSOR');
  });

  it('GET /v1/admin/orders: admins only, filters, pages; an edited cursor is 400 INVALID_CURSOR', async () => {
    const p = await stockedProduct(4, 350);
    const c = await newCustomer();
    for (let i = 0; i < 2; i++) await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'COD' }, c.accessToken);
    await refused('GET /v1/admin/orders', '/v1/admin/orders', { headers: bearer(c.accessToken) }, 403, 'FORBIDDEN');
    await refused('GET /v1/admin/orders', '/v1/admin/orders', {}, 401, 'UNAUTHENTICATED');
    const page1 = await eventually(() => req('GET /v1/admin/orders', `/v1/admin/orders?sku=${p.sku}&limit=1`, { headers: adminH }), (a) => typeof a.body.nextCursor === 'string');
    expect(page1.body.items).toHaveLength(1);
    const page2 = await req('GET /v1/admin/orders', `/v1/admin/orders?sku=${p.sku}&limit=1&cursor=${page1.body.nextCursor}`, { headers: adminH });
    expect(page2.body.items).toHaveLength(1);
    expect(page2.body.nextCursor).toBeNull();
    expect(page2.body.items[0].orderId).not.toBe(page1.body.items[0].orderId);
    await refused('GET /v1/admin/orders', `/v1/admin/orders?limit=101`, { headers: adminH }, 400, 'VALIDATION_FAILED');
    await refused('GET /v1/admin/orders', `/v1/admin/orders?userId=${c.user.id}&cursor=${page1.body.nextCursor}`, { headers: adminH }, 400, 'INVALID_CURSOR');
    await refused('GET /v1/admin/orders', `/v1/admin/orders?sku=${p.sku}&limit=1&cursor=${tamper(page1.body.nextCursor, (q) => ({ ...q, c: 'garbage' }))}`, { headers: adminH }, 400, 'INVALID_CURSOR');
  });

  it('POST /v1/orders/{id}/fulfillments (COD order): 201, 422 / 400 / 403 refusals; a replay answers 201 again, marked Idempotent-Replayed', async () => {
    const p = await stockedProduct(3, 600);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 2 }], paymentMethod: 'COD' }, c.accessToken);
    const id = placed.body.orderId as string;
    const itemId = placed.body.items[0].itemId as string;
    const url = `/v1/orders/${id}/fulfillments`;
    const h = bearer(staff.token);
    const k = key();
    const body = { warehouseId: staff.warehouseId, carrier: 'acme', trackingNumber: `TN-${k.slice(0, 8)}`, items: [{ itemId, quantity: 1 }] };
    const first = await req('POST /v1/orders/{id}/fulfillments', url, j('POST', body, { ...h, 'idempotency-key': k }));
    expect(first.status).toBe(201);
    expect(first.body.shipments).toEqual([{ shipmentId: expect.any(String), warehouseId: staff.warehouseId, carrier: 'acme', trackingNumber: body.trackingNumber, status: expect.any(String), lines: [{ itemId, quantity: 1 }], createdAt: expect.stringMatching(ISO), events: expect.any(Array) }]);
    const again = await req('POST /v1/orders/{id}/fulfillments', url, j('POST', body, { ...h, 'idempotency-key': k }));
    expect(again.body.shipments).toHaveLength(1);
    await refused('POST /v1/orders/{id}/fulfillments', url, j('POST', { ...body, trackingNumber: 'OTHER' }, { ...h, 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    await refused('POST /v1/orders/{id}/fulfillments', url, j('POST', { ...body, trackingNumber: 'T3', items: [{ itemId, quantity: 5 }] }, { ...h, 'idempotency-key': key() }), 422, 'SHIPMENT_EXCEEDS_ORDER');
    await refused('POST /v1/orders/{id}/fulfillments', url, j('POST', body, h), 400, 'VALIDATION_FAILED');
    await refused('POST /v1/orders/{id}/fulfillments', url, j('POST', { ...body, warehouseId: otherWh }, { ...h, 'idempotency-key': key() }), 403, 'FORBIDDEN');
    await refused('POST /v1/orders/{id}/fulfillments', url, j('POST', body, { ...bearer(c.accessToken), 'idempotency-key': key() }), 403, 'FORBIDDEN');
    // Same rule as POST /v1/orders: API.md's "returns the first response again".
    expect(again.status).toBe(first.status);
  });

  it('POST /v1/admin/orders/{id}/refunds: 201, 409 / 422 / 403 / 404 refusals; a replay answers 201 again, marked Idempotent-Replayed', async () => {
    const p = await stockedProduct(2, 1000);
    const c = await newCustomer();
    const placed = await place({ items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, c.accessToken);
    const id = placed.body.orderId as string;
    const url = `/v1/admin/orders/${id}/refunds`;
    await refused('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 100, reason: 'early' }, { ...adminH, 'idempotency-key': key() }), 409, 'NOTHING_TO_REFUND');
    const pi = paymentIntentOf(placed.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);
    await eventually(() => req('GET /v1/orders/{id}', `/v1/orders/${id}`, { headers: bearer(c.accessToken) }), (a) => a.body.status === 'PAID');
    const k = key();
    const first = await req('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 400, reason: 'damaged box' }, { ...adminH, 'idempotency-key': k }));
    expect(first.status).toBe(201);
    expect(first.body.refunds).toEqual([{ refundId: expect.any(String), amount: { amount: 400, currency: first.body.total.currency }, status: expect.any(String), reason: 'damaged box', createdAt: expect.stringMatching(ISO) }]);
    const again = await req('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 400, reason: 'damaged box' }, { ...adminH, 'idempotency-key': k }));
    expect(again.body.refunds).toHaveLength(1);
    await refused('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 401, reason: 'damaged box' }, { ...adminH, 'idempotency-key': k }), 422, 'IDEMPOTENCY_KEY_REUSED');
    await refused('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 601, reason: 'too much' }, { ...adminH, 'idempotency-key': key() }), 422, 'REFUND_EXCEEDS_CAPTURED');
    await refused('POST /v1/admin/orders/{id}/refunds', url, j('POST', { amount: 1, reason: 'x' }, { ...bearer(c.accessToken), 'idempotency-key': key() }), 403, 'FORBIDDEN');
    await refused('POST /v1/admin/orders/{id}/refunds', `/v1/admin/orders/ord_${'0'.repeat(26)}/refunds`, j('POST', { amount: 1, reason: 'x' }, { ...adminH, 'idempotency-key': key() }), 404, 'NOT_FOUND');
    expect(again.status).toBe(first.status);
  });
});

// ---------------------------------------------------------------------------------------------
describe('payment webhooks', () => {
  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
  async function hmac(secret: string, text: string) {
    const k = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return hex(await crypto.subtle.sign('HMAC', k, new TextEncoder().encode(text)));
  }

  it('stripe: 400 WEBHOOK_SIGNATURE_INVALID without or with a wrong signature; a signed event we do not use is 200 { received, duplicate, ignored, delivered }, once', async () => {
    const url = '/v1/payments/webhooks/stripe';
    const body = JSON.stringify({ id: `evt_${key().replaceAll('-', '')}`, object: 'event', type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: { id: 'cus_1', object: 'customer' } } });
    await refused('POST /v1/payments/webhooks/stripe', url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, 400, 'WEBHOOK_SIGNATURE_INVALID');
    await refused('POST /v1/payments/webhooks/stripe', url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=1,v1=${'0'.repeat(64)}` }, body }, 400, 'WEBHOOK_SIGNATURE_INVALID');
    const t = Math.floor(Date.now() / 1000);
    const signed = { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${await hmac(config.STRIPE_WEBHOOK_SECRET!, `${t}.${body}`)}` }, body };
    const first = await req('POST /v1/payments/webhooks/stripe', url, signed);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false, ignored: true, delivered: expect.any(Boolean) });
    const again = await req('POST /v1/payments/webhooks/stripe', url, signed);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ received: true, ignored: true });
  });

  it('razorpay: 400 WEBHOOK_SIGNATURE_INVALID without or with a wrong signature; a signed event we do not use is 200', async () => {
    const url = '/v1/payments/webhooks/razorpay';
    const body = JSON.stringify({ entity: 'event', event: 'invoice.paid', contains: [], payload: {}, created_at: Math.floor(Date.now() / 1000) });
    await refused('POST /v1/payments/webhooks/razorpay', url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, 400, 'WEBHOOK_SIGNATURE_INVALID');
    await refused('POST /v1/payments/webhooks/razorpay', url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-razorpay-signature': '0'.repeat(64) }, body }, 400, 'WEBHOOK_SIGNATURE_INVALID');
    const signed = { method: 'POST', headers: { 'content-type': 'application/json', 'x-razorpay-signature': await hmac(config.RAZORPAY_WEBHOOK_SECRET!, body), 'x-razorpay-event-id': `ev_${key()}` }, body };
    const first = await req('POST /v1/payments/webhooks/razorpay', url, signed);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false, ignored: true, delivered: expect.any(Boolean) });
  });
});

// ---------------------------------------------------------------------------------------------
describe('conventions', () => {
  it('traceparent is honoured and propagated; x-request-id is echoed', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const a = await req('POST /v1/carts', '/v1/carts', { method: 'POST', headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01`, 'x-request-id': 'contract-probe-1' } });
    expect(a.headers.get('traceparent')).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-0[01]$`));
    expect(a.headers.get('x-request-id')).toBe('contract-probe-1');
  });

  it('a wrong method on a known path is 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const a = await refused('PUT /v1/carts/{id}', `/v1/carts/crt_${'0'.repeat(26)}`, { method: 'PUT' }, 405, 'METHOD_NOT_ALLOWED');
    expect(a.headers.get('allow')).toContain('GET');
    observed.delete('PUT /v1/carts/{id}'); // not an operation of the document
  });
});


// ---------------------------------------------------------------------------------------------
describe('statuses the OpenAPI document is checked against', () => {
  it('a guest cart merged at login: GET 200 closed, add 410 CART_CLOSED, POST /v1/orders from it 410 CART_CLOSED (docs/orders.md step 6)', async () => {
    const p = await stockedProduct(5, 700);
    const guest = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    await req('POST /v1/carts/{id}/items', `/v1/carts/${guest.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }));
    const c = await newCustomer();
    const lg = await call('/v1/auth/login', j('POST', { email: c.email, password: c.password, cartId: guest.id }));
    expect(lg.status).toBe(200);
    const session = (await lg.json()) as { accessToken: string; cart: { id: string; merge: { status: string } } };
    expect(session.cart.merge.status).toBe('merged');
    const g = await req('GET /v1/carts/{id}', `/v1/carts/${guest.id}`);
    expect([g.status, g.body.status]).toEqual([200, 'closed']);
    await refused('POST /v1/carts/{id}/items', `/v1/carts/${guest.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }), 410, 'CART_CLOSED');
    // docs/orders.md: "the answer is the cart's refusal (409 CART_VERSION_MISMATCH or CART_CHECKED_OUT, 410 CART_CLOSED or CART_EXPIRED, 404 CART_NOT_FOUND)".
    await refused('POST /v1/orders', '/v1/orders', j('POST', { cartId: guest.id, paymentMethod: 'COD' }, { ...bearer(session.accessToken), 'idempotency-key': key() }), 410, 'CART_CLOSED');
  });

  it('POST /v1/me/wishlist/{productId}/move-to-cart: 200 with the cart, then 404 NOT_FOUND', async () => {
    const p = await stockedProduct(5, 700);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    expect((await req('POST /v1/me/wishlist', '/v1/me/wishlist', j('POST', { productId: p.productId }, h))).status).toBe(201);
    const moved = await req('POST /v1/me/wishlist/{productId}/move-to-cart', `/v1/me/wishlist/${p.productId}/move-to-cart`, j('POST', { variantId: p.variantId, quantity: 2 }, h));
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ id: expect.stringMatching(/^crt_/), kind: 'user', status: 'active', lines: [{ variantId: p.variantId, quantity: 2 }] });
    await refused('POST /v1/me/wishlist/{productId}/move-to-cart', `/v1/me/wishlist/${p.productId}/move-to-cart`, j('POST', { variantId: p.variantId }, h), 404, 'NOT_FOUND');
  });

  it('an integration client without orders:read: GET /v1/orders/{id} and /tracking answer 403 FORBIDDEN', async () => {
    const created = await call('/v1/admin/clients', j('POST', { name: 'contract probe', role: 'integration', scopes: ['audit:read'] }, adminH));
    expect(created.status).toBe(201);
    const cl = (await created.json()) as { id: string; clientSecret: string };
    const tok = await call('/v1/auth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${cl.id}:${cl.clientSecret}`)}` }, body: 'grant_type=client_credentials' });
    const t = ((await tok.json()) as { access_token: string }).access_token;
    await refused('GET /v1/orders/{id}', `/v1/orders/ord_${'0'.repeat(26)}`, { headers: bearer(t) }, 403, 'FORBIDDEN');
    await refused('GET /v1/orders/{id}/tracking', `/v1/orders/ord_${'0'.repeat(26)}/tracking`, { headers: bearer(t) }, 403, 'FORBIDDEN');
  });

  it('a JSON body sent as text/plain is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const cart = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    await refused('POST /v1/carts/{id}/items', `/v1/carts/${cart.id}/items`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"productId":"a","variantId":"b"}' }, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('CORS: a browser storefront cannot read Idempotent-Replayed (not in Access-Control-Expose-Headers)', async () => {
    // docs/cart.md: "Same key and body: the first answer again (`Idempotent-Replayed: true`)". The
    // storefronts of API.md are browsers on other origins: a header not in
    // Access-Control-Expose-Headers is invisible to their script.
    const p = await stockedProduct(5, 700);
    const cart = (await req('POST /v1/carts', '/v1/carts', { method: 'POST' })).body;
    const k = key();
    const add = () => req('POST /v1/carts/{id}/items', `/v1/carts/${cart.id}/items`, j('POST', { productId: p.productId, variantId: p.variantId }, { origin: 'https://shop.example', 'idempotency-key': k }));
    await add();
    const again = await add();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const exposed = (again.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(',').map((h) => h.trim());
    expect(exposed).toContain('idempotent-replayed');
  });
});

// ---------------------------------------------------------------------------------------------
describe('the OpenAPI document', () => {
  let doc: { paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { schemas: Record<string, { description?: string }> } };
  beforeAll(async () => {
    doc = (await (await call('/openapi.json')).json()) as typeof doc;
  });

  it('declares every status the routes above answered (POST /v1/orders 410, GET /v1/orders/{id}[/tracking] 403, 415 are missing)', () => {
    const undeclared: string[] = [];
    for (const [op, seen] of observed) {
      const [method, path] = op.split(' ') as [string, string];
      const declared = doc.paths[path]?.[method.toLowerCase()]?.responses;
      expect(declared, `${op} missing from /openapi.json`).toBeDefined();
      for (const s of seen) if (s < 500 && !declared![String(s)]) undeclared.push(`${op} → ${s}`);
    }
    expect(undeclared).toEqual([]);
  });

  it("the shared Money component carries the catalog's 'Lowest variant price' description", () => {
    // Two schemas register the component name 'Money' (workers/catalog/catalog.schemas.ts:9 and
    // workers/orders/orders.schemas.ts:59); the document keeps the catalog's description on the
    // component every order amount refers to.
    expect(doc.components.schemas.Money!.description ?? '').not.toMatch(/Lowest variant price/);
  });
});

