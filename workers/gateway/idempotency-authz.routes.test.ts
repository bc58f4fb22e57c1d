/**
 * Probe: what a demanding integrator relies on, through the real Worker.
 *
 * A. `Idempotency-Key` (../shared/API.md: "the same key with the same body returns the first
 *    response again; with a different body, 422") on every write with a money or stock effect:
 *    orders, cart adds, refunds, fulfilments, stock adjustments, transfers and reservations. Same
 *    key and body: the first answer again and no second effect; another body: 422; the key's scope
 *    (per caller: docs/orders.md "derived from (caller, key)", docs/inventory.md "(caller, key)");
 *    malformed keys; copies at once; replays after the object changed; and what each route does
 *    with a refusal (documented per route, compared across routes).
 * B. The authorisation matrix (docs/security.md): bad, expired, forged and refresh tokens, tokens
 *    of disabled and erased accounts, customer A against customer B's orders, carts and addresses
 *    (404, never 403: docs/cart.md "Ownership", security.md "simply 404"), warehouse staff of the
 *    order's warehouse against another's, POS agents, integration clients per scope.
 *
 * Each `// BUG:` test fails because of the bug it names; every other assertion is the current,
 * intended behaviour kept as a regression test.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { reservationIdFor } from '../../durable-objects/order/order.do';
import { readConfig } from '../../shared/env';
import { fromBase64Url, toBase64Url } from '../../shared/kernel/base64';
import { issueAccessToken } from '../auth/tokens/access-token';
import { formatSigningKeysSecret, generateSigningKey, loadSigningKeys } from '../auth/tokens/signing-keys';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { allAtOnce, answer, times } from '../../test/support/concurrency';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, stockedProduct } from '../../test/support/orders';

type H = Record<string, string>;
type Product = Awaited<ReturnType<typeof stockedProduct>>;
type Customer = Awaited<ReturnType<typeof newCustomer>>;

const config = readConfig(env);
const key = () => crypto.randomUUID();
const withKey = (h: H, k: string | null) => (k === null ? h : { ...h, 'idempotency-key': k });
const post = (h: H, body: unknown, k: string | null = key()) => jsonInit('POST', body, withKey(h, k));
const codBody = (p: Product, quantity: number, extra: Record<string, unknown> = {}) => ({ items: [{ productId: p.productId, variantId: p.variantId, quantity }], paymentMethod: 'COD', ...extra });
const adjustUrl = (w: string) => `/v1/warehouses/${w}/stock/adjustments`;
const transferUrl = (w: string) => `/v1/warehouses/${w}/stock/transfers`;
const refundUrl = (orderId: string) => `/v1/admin/orders/${orderId}/refunds`;
const fulfilUrl = (orderId: string) => `/v1/orders/${orderId}/fulfillments`;

let warehouses: string[] = [];
let staff: { token: string; warehouseId: string };
let otherWarehouse: string;

beforeAll(async () => {
  warehouses = (await rows<{ id: string }>(sql`select id from warehouses order by id`)).map((w) => w.id);
  staff = await staffSession();
  otherWarehouse = warehouses.find((w) => w !== staff.warehouseId)!;
  expect(otherWarehouse, JSON.stringify(warehouses)).toBeDefined();
});

async function placeCod(p: Product, quantity: number, c: Customer, k: string | null = key()) {
  const r = await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, quantity), k));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.orderId as string;
}

/** A CARD order paid at the Stripe emulator, its webhooks delivered: PAID. */
async function paidCardOrder(p: Product, quantity: number) {
  const c = await newCustomer();
  const placed = await json('/v1/orders', post(bearer(c.accessToken), { items: [{ productId: p.productId, variantId: p.variantId, quantity }], paymentMethod: 'CARD' }));
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  const pi = paymentIntentOf(placed.body);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  const now = await json(`/v1/orders/${placed.body.orderId}`, { headers: await admin() });
  expect(now.body.status).toBe('PAID');
  return { c, orderId: placed.body.orderId as string, pi };
}

/** A fresh account with `roles` (and `warehouseIds` for staff), signed in. */
async function accountWith(roles: string[], warehouseIds?: string[]) {
  const c = await newCustomer('Probe Account');
  const changed = await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { roles, ...(warehouseIds ? { warehouseIds } : {}) }, await admin()));
  expect(changed.res.status, JSON.stringify(changed.body)).toBe(200);
  const s = await login(c.email, c.password);
  return { token: s.accessToken, id: c.user.id, h: bearer(s.accessToken) };
}

/** A new OAuth client made by an admin, and a token for it. */
async function client(body: Record<string, unknown>): Promise<{ id: string; h: H }> {
  const created = await json('/v1/admin/clients', jsonInit('POST', { name: `probe ${crypto.randomUUID().slice(0, 6)}`, ...body }, await admin()));
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  const { res, body: tok } = await json('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.id, client_secret: created.body.clientSecret }).toString(),
  });
  expect(res.status, JSON.stringify(tok)).toBe(200);
  return { id: created.body.id, h: bearer(tok.access_token) };
}

const myOrderIds = async (c: Customer) => ((await json('/v1/orders?limit=100', { headers: bearer(c.accessToken) })).body.items as Array<{ orderId: string }>).map((o) => o.orderId);
/** My orders as GET /v1/orders lists them (from the projection: waits until at least `n` are listed). */
const listed = (c: Customer, n: number) => eventually(() => myOrderIds(c), (ids) => ids.length >= n, 10_000);

// =============================================================================================
describe('A. Idempotency-Key', () => {
  it('POST /v1/orders: same key and body → the first answer again (201, marked), one reservation; another body → 422; the key is per caller; a replay after a cancel answers the order as it stands and holds nothing again', async () => {
    const p = await stockedProduct(10);
    const [a, b] = await Promise.all([newCustomer(), newCustomer()]);
    const k = key();
    const first = await answer('/v1/orders', post(bearer(a.accessToken), codBody(p, 2), k));
    expect([first.status, first.replayed], JSON.stringify(first.body)).toEqual([201, false]);
    const again = await answer('/v1/orders', post(bearer(a.accessToken), codBody(p, 2), k));
    expect([again.status, again.replayed]).toEqual([201, true]);
    expect(again.body).toEqual(first.body);
    expect(await available(p.sku)).toBe(8);

    // Another body under the key: 422, nothing held.
    await problem('/v1/orders', 422, 'IDEMPOTENCY_KEY_REUSED', post(bearer(a.accessToken), codBody(p, 3), k));
    expect(await available(p.sku)).toBe(8);

    // Customer B sending A's key (and body) gets an order of their own: neither A's answer nor a refusal.
    const theirs = await answer('/v1/orders', post(bearer(b.accessToken), codBody(p, 2), k));
    expect([theirs.status, theirs.replayed]).toEqual([201, false]);
    expect(theirs.body.orderId).not.toBe(first.body.orderId);
    expect(theirs.body.userId).toBe(b.user.id);
    expect(await available(p.sku)).toBe(6);
    expect(await listed(a, 1)).toEqual([first.body.orderId]);

    // Cancel takes no key: cancelling twice is one cancellation (the second answers the CANCELLED order).
    const cancelled = await answer(`/v1/orders/${first.body.orderId}/cancel`, jsonInit('POST', { reason: 'probe' }, bearer(a.accessToken)));
    const cancelledAgain = await answer(`/v1/orders/${first.body.orderId}/cancel`, jsonInit('POST', { reason: 'probe' }, withKey(bearer(a.accessToken), key())));
    expect([cancelled.status, cancelledAgain.status]).toEqual([200, 200]);
    expect(cancelledAgain.body).toEqual(cancelled.body);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect(await available(p.sku)).toBe(8);

    // A replay after the order changed: docs/orders.md and the OpenAPI answer "the order as it
    // stands" (201, marked), not the first body byte for byte (API.md's wording); and it holds
    // nothing again.
    const late = await answer('/v1/orders', post(bearer(a.accessToken), codBody(p, 2), k));
    expect([late.status, late.replayed]).toEqual([201, true]);
    expect(late.body).toMatchObject({ orderId: first.body.orderId, status: 'CANCELLED' });
    expect(await available(p.sku)).toBe(8);
  });

  it('POST /v1/orders: a replay after the product was archived answers the order placed (as carts do since 0.3.13)', async () => {
    const p = await stockedProduct(5);
    const c = await newCustomer();
    const k = key();
    const first = await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, 1), k));
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const archived = await json(`/v1/admin/products/${p.productId}`, { method: 'DELETE', headers: await admin() });
    expect(archived.res.status, JSON.stringify(archived.body)).toBe(200);
    const replay = await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, 1), k));
    // BUG: expected the order placed again (201, Idempotent-Replayed: true; docs/orders.md step 2),
    // actual 422 PRODUCT_NOT_FOUND: orders.service.ts place() resolves the lines against the
    // catalog (resolveLines) before it asks the order object for the key's stored answer, and only
    // the cart-checkout branch falls back to `replay`. A client retrying a lost answer is told its
    // order failed although it exists and holds stock.
    expect([replay.status, replay.replayed, replay.body.orderId ?? replay.body.code]).toEqual([201, true, first.body.orderId]);
  });

  it('five copies at once (place, cart add, adjustment, transfer): exactly one effect, every copy the same answer', async () => {
    const p = await stockedProduct(20);
    const c = await newCustomer();
    const cart = (await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)))).body.id as string;
    const [kOrder, kCart, kAdjust, kTransfer] = [key(), key(), key(), key()];
    const [orders, adds, adjusts, transfers] = await Promise.all([
      allAtOnce(times(5, () => ['/v1/orders', post(bearer(c.accessToken), codBody(p, 1), kOrder)])),
      allAtOnce(times(5, () => [`/v1/carts/${cart}/items`, post(bearer(c.accessToken), { productId: p.productId, variantId: p.variantId, quantity: 2 }, kCart)])),
      allAtOnce(times(5, () => [adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, delta: 3, reason: 'receipt' }, kAdjust)])),
      allAtOnce(times(5, () => [transferUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, toWarehouseId: otherWarehouse, quantity: 4 }, kTransfer)])),
    ]);
    for (const group of [orders, adds, adjusts, transfers]) expect(group.map((a) => a.status), JSON.stringify(group.map((a) => a.body))).toEqual([201, 201, 201, 201, 201]);
    expect(orders.filter((a) => !a.replayed)).toHaveLength(1);
    expect(new Set(orders.map((a) => a.body.orderId)).size).toBe(1);
    expect(new Set(adds.map((a) => JSON.stringify(a.body.lines))).size).toBe(1);
    expect(adds[0]!.body.lines).toEqual([expect.objectContaining({ variantId: p.variantId, quantity: 2 })]);
    expect(new Set(adjusts.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(new Set(transfers.map((a) => a.body.transferId)).size).toBe(1);
    // 20 + 3 (once) − 1 ordered (once) − 4 sent away (once).
    expect(await available(p.sku)).toBe(18);
    expect(await listed(c, 1)).toHaveLength(1);
  });

  it('malformed keys (too long, empty, non-ASCII, a space) are a clear 400 naming the header on every keyed route, after authentication and before any effect; a missing key is 400 where it is required', async () => {
    const p = await stockedProduct(10);
    const c = await newCustomer();
    const orderId = await placeCod(p, 1, c);
    const cart = (await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)))).body.id as string;
    const adminH = await admin();
    const staffH = bearer(staff.token);
    const routes: Array<{ name: string; url: string; h: H; body: unknown; max: number; required: boolean }> = [
      { name: 'place', url: '/v1/orders', h: bearer(c.accessToken), body: codBody(p, 1), max: 100, required: false },
      { name: 'cart add', url: `/v1/carts/${cart}/items`, h: bearer(c.accessToken), body: { productId: p.productId, variantId: p.variantId, quantity: 1 }, max: 255, required: false },
      { name: 'adjust', url: adjustUrl(staff.warehouseId), h: staffH, body: { sku: p.sku, delta: 1, reason: 'receipt' }, max: 100, required: true },
      { name: 'transfer', url: transferUrl(staff.warehouseId), h: staffH, body: { sku: p.sku, toWarehouseId: otherWarehouse, quantity: 1 }, max: 100, required: true },
      { name: 'reserve', url: `/v1/inventory/${p.sku}/reservations`, h: adminH, body: { quantity: 1, ref: { kind: 'checkout', id: 'chk-probe' } }, max: 100, required: true },
      { name: 'refund', url: refundUrl(orderId), h: adminH, body: { amount: 1, reason: 'probe' }, max: 100, required: true },
      { name: 'fulfil', url: fulfilUrl(orderId), h: staffH, body: { warehouseId: staff.warehouseId, carrier: 'acme', trackingNumber: 'TRK-PROBE-1', items: [{ itemId: 'itm_1', quantity: 1 }] }, max: 100, required: true },
    ];
    const before = { available: await available(p.sku), order: (await json(`/v1/orders/${orderId}`, { headers: adminH })).body };
    for (const r of routes) {
      for (const bad of ['k'.repeat(r.max + 1), '', 'cl\u00e9-1', 'has space']) {
        const body = await problem(r.url, 400, 'VALIDATION_FAILED', post(r.h, r.body, bad));
        expect(body.errors?.map((e) => e.path).join(','), `${r.name} ${JSON.stringify(bad.slice(0, 12))}`).toMatch(/idempotency-key/i);
      }
      // Anonymous with a bad key: 401 first (nothing about the payload rules leaks); not for the
      // cart, whose guest carts need no token (a user's cart is 404 to anyone else).
      if (r.name !== 'cart add') await problem(r.url, 401, 'UNAUTHENTICATED', post({}, r.body, ''));
      if (r.required) await problem(r.url, 400, 'VALIDATION_FAILED', post(r.h, r.body, null));
    }
    // The longest key each route takes is accepted (the cart takes printable ASCII up to 255;
    // orders and stock letters, digits and . _ : - up to 100: a base64 key with '+' or '/' is a 400 there).
    expect((await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, 1), 'k'.repeat(100)))).status).toBe(201);
    expect((await answer(`/v1/carts/${cart}/items`, post(bearer(c.accessToken), routes[1]!.body, `k+/=${'k'.repeat(251)}`))).status).toBe(201);
    await problem('/v1/orders', 400, 'VALIDATION_FAILED', post(bearer(c.accessToken), codBody(p, 1), 'a+b/c='));
    expect(await available(p.sku)).toBe(before.available - 1);
    expect((await json(`/v1/orders/${orderId}`, { headers: adminH })).body).toEqual(before.order);
    expect(await listed(c, 2)).toHaveLength(2);
  });

  it('stock writes (adjustment, transfer, reservation) replayed answer the first body and mark it Idempotent-Replayed like orders, refunds, fulfilments and cart adds', async () => {
    const p = await stockedProduct(10);
    const staffH = bearer(staff.token);
    const sends: Array<[string, string, RequestInit]> = [
      ['adjust', adjustUrl(staff.warehouseId), post(staffH, { sku: p.sku, delta: 2, reason: 'receipt' }, key())],
      ['transfer', transferUrl(staff.warehouseId), post(staffH, { sku: p.sku, toWarehouseId: otherWarehouse, quantity: 3 }, key())],
      ['reserve', `/v1/inventory/${p.sku}/reservations`, post(await admin(), { quantity: 1, ref: { kind: 'checkout', id: 'chk-replay' } }, key())],
    ];
    const marked: Record<string, [boolean, boolean]> = {};
    for (const [name, url, init] of sends) {
      const first = await answer(url, { ...init });
      const again = await answer(url, { ...init });
      expect([first.status, again.status], name).toEqual([201, 201]);
      expect(again.body, name).toEqual(first.body);
      marked[name] = [first.replayed, again.replayed];
    }
    expect(await available(p.sku)).toBe(10 + 2 - 3 - 1);
    // BUG: expected `Idempotent-Replayed: true` on the second answer, as POST /v1/orders, the
    // refunds, the fulfilments and the cart adds send it (API.md's one convention; the CORS config
    // exposes the header); actual: no header on any stock write. workers/inventory/index.ts returns
    // `c.json(..., 201)` for adjust/reserve/transfer, and the service verbs (inventory.service.ts
    // adjust/transfer/reserve) do not say whether the object replayed the op id, so a client cannot
    // tell a retry that did nothing from a second receipt.
    expect(marked).toEqual({ adjust: [false, true], transfer: [false, true], reserve: [false, true] });
  });

  it('stock keys are per caller: staff and an admin sending one key and body make two adjustments; an admin and an integration one key, two holds', async () => {
    const p = await stockedProduct(10);
    const k = key();
    const body = { sku: p.sku, delta: 2, reason: 'receipt' };
    const mine = await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), body, k));
    const theirs = await answer(adjustUrl(staff.warehouseId), post(await admin(), body, k));
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect([mine.body.level.onHand, theirs.body.level.onHand]).toEqual([12, 14]);
    const erp = await client({ role: 'integration', scopes: ['inventory:write'] });
    const hold = { quantity: 1, ref: { kind: 'checkout', id: 'chk-scope' } };
    const byAdmin = await answer(`/v1/inventory/${p.sku}/reservations`, post(await admin(), hold, k));
    const byErp = await answer(`/v1/inventory/${p.sku}/reservations`, post(erp.h, hold, k));
    expect([byAdmin.status, byErp.status]).toEqual([201, 201]);
    expect(byErp.body.reservationId).not.toBe(byAdmin.body.reservationId);
    expect(await available(p.sku)).toBe(12);
  });

  it('refund keys are per order, not per caller (a refund is the shop\'s act, as Stripe scopes keys per account): a second admin reusing a key on the same order gets that refund back, or 422 for another body; one refund', async () => {
    const p = await stockedProduct(3, 1000);
    const o = await paidCardOrder(p, 2);
    const second = await accountWith(['admin']);
    const k = key();
    const first = await answer(refundUrl(o.orderId), post(await admin(), { amount: 500, reason: 'dent' }, k));
    expect([first.status, first.replayed], JSON.stringify(first.body)).toEqual([201, false]);
    const otherAmount = await answer(refundUrl(o.orderId), post(second.h, { amount: 700, reason: 'scratch' }, k));
    const sameAmount = await answer(refundUrl(o.orderId), post(second.h, { amount: 500, reason: 'dent' }, k));
    const refunds = (await json(`/v1/orders/${o.orderId}`, { headers: await admin() })).body.refunds as Array<{ refundId: string }>;
    // Chosen (docs/orders.md, "Refunds"): two admins retrying one refund request from a shared
    // console must not refund twice, so the refund id comes from (order, key).
    expect({ other: [otherAmount.status, otherAmount.body.code], same: [sameAmount.status, sameAmount.replayed], refunds: refunds.length }).toEqual({
      other: [422, 'IDEMPOTENCY_KEY_REUSED'],
      same: [201, true],
      refunds: 1,
    });
    expect(sameAmount.body).toEqual(first.body);
    // Not left an admin: other files count the shop's admins (the last admin's demotion and erasure).
    const back = await json(`/v1/admin/users/${second.id}`, jsonInit('PATCH', { roles: ['customer'] }, await admin()));
    expect(back.res.status, JSON.stringify(back.body)).toBe(200);
  });

  it('refusals under a key, route by route (documented, and not consistent): an order and a cart add keep a stock refusal for the key (the cart marks its replay), adjustments, transfers, reservations and refunds decide again', async () => {
    const p = await stockedProduct(1);
    const c = await newCustomer();
    const adminH = await admin();
    const restock = async (n: number) => expect((await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, delta: n, reason: 'receipt' }))).status).toBe(201);
    const seen: Record<string, string> = {};
    const show = (a: { status: number; body: any; replayed: boolean }) => `${a.status} ${a.body.code ?? 'ok'}${a.replayed ? ' replayed' : ''}`;

    const kOrder = key();
    seen.placeRefused = show(await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, 2), kOrder)));
    const kAdjust = key();
    seen.adjustRefused = show(await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, delta: -5, reason: 'damage' }, kAdjust)));
    // A reservation on a SKU with nothing left (q's one unit held by someone else).
    const q = await stockedProduct(1);
    expect((await answer(`/v1/inventory/${q.sku}/reservations`, post(adminH, { quantity: 1, ref: { kind: 'checkout', id: 'chk-first' } }))).status).toBe(201);
    const kTransfer = key();
    const send = { sku: p.sku, toWarehouseId: otherWarehouse, quantity: 5 };
    seen.transferRefused = show(await answer(transferUrl(staff.warehouseId), post(bearer(staff.token), send, kTransfer)));
    const kHold = key();
    const hold = { quantity: 1, ref: { kind: 'checkout', id: 'chk-refused' } };
    seen.reserveRefused = show(await answer(`/v1/inventory/${q.sku}/reservations`, post(adminH, hold, kHold)));
    const cart = (await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)))).body.id as string;
    const kCart = key();
    const addBody = { productId: p.productId, variantId: p.variantId, quantity: 3 };
    seen.cartRefused = show(await answer(`/v1/carts/${cart}/items`, post(bearer(c.accessToken), addBody, kCart)));

    await restock(20);
    // A receipt (not the release, which leaves the isolate's 250 ms sold-out mark) frees q.
    expect((await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: q.sku, delta: 2, reason: 'receipt' }))).status).toBe(201);
    seen.placeRetried = show(await answer('/v1/orders', post(bearer(c.accessToken), codBody(p, 2), kOrder)));
    seen.adjustRetried = show(await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, delta: -5, reason: 'damage' }, kAdjust)));
    seen.transferRetried = show(await answer(transferUrl(staff.warehouseId), post(bearer(staff.token), send, kTransfer)));
    seen.reserveRetried = show(await answer(`/v1/inventory/${q.sku}/reservations`, post(adminH, hold, kHold)));
    seen.cartRetried = show(await answer(`/v1/carts/${cart}/items`, post(bearer(c.accessToken), addBody, kCart)));

    // A refund refused (nothing captured yet) and retried with its key once the order is paid.
    const card = await json('/v1/orders', post(bearer(c.accessToken), { items: [{ productId: p.productId, variantId: p.variantId, quantity: 1 }], paymentMethod: 'CARD' }));
    expect(card.res.status, JSON.stringify(card.body)).toBe(201);
    const kRefund = key();
    seen.refundRefused = show(await answer(refundUrl(card.body.orderId), post(adminH, { amount: 100, reason: 'early' }, kRefund)));
    const pi = paymentIntentOf(card.body);
    await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
    await deliverWebhooks(pi);
    seen.refundRetried = show(await answer(refundUrl(card.body.orderId), post(adminH, { amount: 100, reason: 'early' }, kRefund)));

    // What the code does (docs/orders.md step 4 "the object remembers the refusal for replays",
    // docs/cart.md "refusals included"; inventory.do.ts keepUnlessShort and rememberRefusal: a
    // refusal for lack of stock does not spend an adjustment's, a transfer's or a reservation's op
    // id; the order object stores no refund refusal). A client must know per route whether a
    // refused key is spent; and a replayed refusal is marked only by the cart.
    expect(seen).toEqual({
      placeRefused: '409 OUT_OF_STOCK',
      adjustRefused: '409 INSUFFICIENT_STOCK',
      reserveRefused: '409 OUT_OF_STOCK',
      cartRefused: '409 INSUFFICIENT_STOCK',
      placeRetried: '409 OUT_OF_STOCK',
      adjustRetried: '201 ok',
      transferRefused: '409 INSUFFICIENT_STOCK',
      transferRetried: '201 ok',
      reserveRetried: '201 ok',
      cartRetried: '409 INSUFFICIENT_STOCK replayed',
      refundRefused: '409 NOTHING_TO_REFUND',
      refundRetried: '201 ok',
    });
  });

  it('a reservation refused because the SKU is short (not sold out) is tried again on a retry with its key, as one refused on a sold-out SKU is', async () => {
    const p = await stockedProduct(1);
    const h = await admin();
    const k = key();
    const hold = { quantity: 3, ref: { kind: 'checkout', id: 'chk-short' } };
    const refused = await answer(`/v1/inventory/${p.sku}/reservations`, post(h, hold, k));
    expect([refused.status, refused.body.code]).toEqual([409, 'OUT_OF_STOCK']);
    expect((await answer(adjustUrl(staff.warehouseId), post(bearer(staff.token), { sku: p.sku, delta: 5, reason: 'receipt' }))).status).toBe(201);
    const retried = await answer(`/v1/inventory/${p.sku}/reservations`, post(h, hold, k));
    // Found by this probe: the short refusal was stored under the op id (the object's read-only
    // fast path, soldOut(), skips storing only when nothing at all is reservable; a request for
    // more than the 1 unit left took the full path, whose onceBody stored it), so the retry was
    // 409 OUT_OF_STOCK for good although inventory.service.ts reserve() passes rememberRefusal:
    // false ("a retry tries again"). drainReservations now keeps an OUT_OF_STOCK only when the
    // caller asks for it.
    expect([retried.status, retried.body.code ?? retried.body.reservationId?.slice(0, 4)]).toEqual([201, 'rsv_']);
    expect(await available(p.sku)).toBe(3);
  });
});

// =============================================================================================
describe('B. Who may do what', () => {
  it('no token, a garbled one, another scheme, a refresh token, an expired one, one signed by another key, one with its role edited, alg none: 401 problem+json with a Bearer challenge on every protected route (and the cart); public reads ignore the header', async () => {
    const c = await newCustomer();
    const p = await stockedProduct(3);
    const orderId = await placeCod(p, 1, c);
    const keys = await loadSigningKeys(config.AUTH_SIGNING_KEYS);
    const issuer = config.AUTH_ISSUER;
    const audience = config.AUTH_AUDIENCE;
    const expired = (await issueAccessToken({ sub: c.user.id, kind: 'user', roles: ['customer'] }, { keys, issuer, audience, ttlSeconds: 60, now: new Date(Date.now() - 10 * 60_000) })).token;
    const strangerKey = await generateSigningKey(keys.active.kid);
    const strangerKeys = await loadSigningKeys(formatSigningKeysSecret({ active: strangerKey.kid!, keys: [strangerKey] }));
    const otherKey = (await issueAccessToken({ sub: c.user.id, kind: 'user', roles: ['admin'] }, { keys: strangerKeys, issuer, audience })).token;
    const [head, payload, sig] = c.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload)!));
    const edited = `${head}.${toBase64Url(new TextEncoder().encode(JSON.stringify({ ...claims, roles: ['admin'] })))}.${sig}`;
    const none = `${toBase64Url(new TextEncoder().encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' })))}.${toBase64Url(new TextEncoder().encode(JSON.stringify({ ...claims, roles: ['admin'] })))}.`;
    // The genuine token works where the edited one is tried.
    expect((await json(`/v1/orders/${orderId}`, { headers: bearer(c.accessToken) })).res.status).toBe(200);

    const guest = (await json('/v1/carts', jsonInit('POST', {}))).body.id as string;
    const bad: Record<string, string> = {
      garbled: 'Bearer not-a-token',
      scheme: `Basic ${btoa('a:b')}`,
      refresh: `Bearer ${c.refreshToken}`,
      expired: `Bearer ${expired}`,
      otherKey: `Bearer ${otherKey}`,
      edited: `Bearer ${edited}`,
      none: `Bearer ${none}`,
    };
    const routes: Array<[string, (auth: H) => RequestInit]> = [
      ['/v1/orders', (h) => ({ headers: h })],
      [`/v1/orders/${orderId}`, (h) => ({ headers: h })],
      ['/v1/orders', (h) => post(h, codBody(p, 1))],
      [`/v1/orders/${orderId}/cancel`, (h) => jsonInit('POST', {}, h)],
      [refundUrl(orderId), (h) => post(h, { amount: 1, reason: 'x' })],
      [adjustUrl(staff.warehouseId), (h) => post(h, { sku: p.sku, delta: 1, reason: 'receipt' })],
      ['/v1/admin/orders', (h) => ({ headers: h })],
      ['/v1/me', (h) => ({ headers: h })],
      [`/v1/carts/${guest}`, (h) => ({ headers: h })],
    ];
    for (const [name, value] of Object.entries(bad)) {
      for (const [url, init] of routes) {
        const res = await call(url, init({ authorization: value }));
        const body = (await res.json()) as { code: string };
        expect([res.status, body.code, res.headers.get('content-type'), res.headers.get('www-authenticate')?.startsWith('Bearer')], `${name} ${init({}).method ?? 'GET'} ${url}`).toEqual([
          401,
          'UNAUTHENTICATED',
          'application/problem+json',
          true,
        ]);
      }
      expect((await call('/v1/products?limit=1', { headers: { authorization: value } })).status, name).toBe(200);
    }
    for (const [url, init] of routes.filter(([u]) => !u.startsWith('/v1/carts'))) await problem(url, 401, 'UNAUTHENTICATED', init({}));
    expect((await json(`/v1/orders/${orderId}`, { headers: await admin() })).body.status).toBe('PENDING');
    expect(await available(p.sku)).toBe(2);
  });

  it('a disabled and an erased account: the tokens they held are refused at once on orders and carts (401), their orders stand', async () => {
    const p = await stockedProduct(4);
    const [disabled, erased] = await Promise.all([newCustomer(), newCustomer()]);
    const o1 = await placeCod(p, 1, disabled);
    const o2 = await placeCod(p, 1, erased);
    const off = await json(`/v1/admin/users/${disabled.user.id}`, jsonInit('PATCH', { status: 'disabled' }, await admin()));
    expect(off.res.status, JSON.stringify(off.body)).toBe(200);
    const gone = await call('/v1/me', { method: 'DELETE', headers: { ...bearer(erased.accessToken), 'content-type': 'application/json' }, body: JSON.stringify({ password: erased.password }) });
    expect(gone.status).toBe(204);
    for (const [who, c, orderId] of [['disabled', disabled, o1], ['erased', erased, o2]] as const) {
      const h = bearer(c.accessToken);
      for (const [url, init] of [
        [`/v1/orders/${orderId}`, { headers: h }],
        ['/v1/orders', { headers: h }],
        ['/v1/orders', post(h, codBody(p, 1))],
        [`/v1/orders/${orderId}/cancel`, jsonInit('POST', {}, h)],
        ['/v1/carts', jsonInit('POST', {}, h)],
      ] as Array<[string, RequestInit]>) {
        const r = await answer(url, init);
        expect([r.status, r.body.code], `${who} ${init.method ?? 'GET'} ${url}`).toEqual([401, 'UNAUTHENTICATED']);
      }
      expect((await json(`/v1/orders/${orderId}`, { headers: await admin() })).body.status, who).toBe('PENDING');
    }
    await problem('/v1/auth/login', 401, 'INVALID_CREDENTIALS', jsonInit('POST', { email: disabled.email, password: disabled.password }));
    expect(await available(p.sku)).toBe(2);
  });

  it("customer B against customer A's order, cart and address: 404 everywhere (the same answer as an id that does not exist), 403 only for what no customer may do; nothing of A's changes", async () => {
    const p = await stockedProduct(5);
    const [a, b] = await Promise.all([newCustomer(), newCustomer()]);
    const orderId = await placeCod(p, 1, a);
    const cart = (await json('/v1/carts', jsonInit('POST', {}, bearer(a.accessToken)))).body.id as string;
    const added = await json(`/v1/carts/${cart}/items`, post(bearer(a.accessToken), { productId: p.productId, variantId: p.variantId, quantity: 1 }));
    expect(added.res.status, JSON.stringify(added.body)).toBe(201);
    const itemId = added.body.lines[0].itemId as string;
    const address = await json('/v1/me/addresses', jsonInit('POST', { name: 'A Person', line1: '1 Main St', city: 'Amsterdam', postalCode: '1011AB', country: 'NL' }, bearer(a.accessToken)));
    expect(address.res.status, JSON.stringify(address.body)).toBe(201);
    const addressId = address.body.id as string;
    const cartBefore = (await json(`/v1/carts/${cart}`, { headers: bearer(a.accessToken) })).body;

    const bh = bearer(b.accessToken);
    const missingOrder = 'ord_00000000000000000000000000';
    for (const id of [orderId, missingOrder]) {
      await problem(`/v1/orders/${id}`, 404, 'NOT_FOUND', { headers: bh });
      await problem(`/v1/orders/${id}/tracking`, 404, 'NOT_FOUND', { headers: bh });
      await problem(`/v1/orders/${id}/cancel`, 404, 'NOT_FOUND', jsonInit('POST', {}, bh));
      // Roles no customer holds: 403 before the order is looked up (says nothing about it).
      await problem(refundUrl(id), 403, 'FORBIDDEN', post(bh, { amount: 1, reason: 'x' }));
      await problem(fulfilUrl(id), 403, 'FORBIDDEN', post(bh, { warehouseId: staff.warehouseId, carrier: 'acme', trackingNumber: 'T-1', items: [{ itemId: 'itm_1', quantity: 1 }] }));
    }
    await problem('/v1/admin/orders', 403, 'FORBIDDEN', { headers: bh });
    expect(await myOrderIds(b)).toEqual([]);

    for (const h of [bh, {}]) {
      await problem(`/v1/carts/${cart}`, 404, 'CART_NOT_FOUND', { headers: h });
      await problem(`/v1/carts/${cart}/items`, 404, 'CART_NOT_FOUND', post(h, { productId: p.productId, variantId: p.variantId, quantity: 1 }));
      await problem(`/v1/carts/${cart}/items/${itemId}`, 404, 'CART_NOT_FOUND', jsonInit('PATCH', { quantity: 2 }, h));
      await problem(`/v1/carts/${cart}/items/${itemId}`, 404, 'CART_NOT_FOUND', { method: 'DELETE', headers: h });
    }
    await problem(`/v1/me/addresses/${addressId}`, 404, 'NOT_FOUND', jsonInit('PATCH', { city: 'Elsewhere' }, bh));
    await problem(`/v1/me/addresses/${addressId}`, 404, 'NOT_FOUND', { method: 'DELETE', headers: bh });
    // An order placed "for" A by B with the original design's body: 403 (only agents order for others).
    await problem('/v1/orders', 403, 'FORBIDDEN', post(bh, { userId: a.user.id, items: [{ productId: p.productId, qty: 1 }], paymentMethod: 'COD' }));

    expect((await json(`/v1/orders/${orderId}`, { headers: bearer(a.accessToken) })).body.status).toBe('PENDING');
    expect((await json(`/v1/carts/${cart}`, { headers: bearer(a.accessToken) })).body).toEqual(cartBefore);
    const mine = (await json('/v1/me/addresses', { headers: bearer(a.accessToken) })).body;
    expect(JSON.stringify(mine)).toContain('Amsterdam');
    expect(JSON.stringify(mine)).not.toContain('Elsewhere');
    expect(await available(p.sku)).toBe(4);
  });

  it("warehouse staff: the order's warehouse reads and ships it, never cancels or refunds it; another warehouse's staff get 404 for it, 403 for the warehouse they are not bound to", async () => {
    const p = await stockedProduct(4);
    const c = await newCustomer();
    const orderId = await placeCod(p, 2, c);
    const elsewhere = await accountWith(['warehouse_staff'], [otherWarehouse]);
    const here = bearer(staff.token);
    const parcel = (warehouseId: string) => ({ warehouseId, carrier: 'acme', trackingNumber: `TRK-${crypto.randomUUID().slice(0, 8)}`, items: [{ itemId: 'itm_1', quantity: 1 }] });

    expect((await json(`/v1/orders/${orderId}`, { headers: here })).res.status).toBe(200);
    expect((await json(`/v1/orders/${orderId}/tracking`, { headers: here })).res.status).toBe(200);
    await problem(`/v1/orders/${orderId}/cancel`, 403, 'FORBIDDEN', jsonInit('POST', {}, here));
    await problem(refundUrl(orderId), 403, 'FORBIDDEN', post(here, { amount: 1, reason: 'x' }));

    await problem(`/v1/orders/${orderId}`, 404, 'NOT_FOUND', { headers: elsewhere.h });
    await problem(`/v1/orders/${orderId}/cancel`, 404, 'NOT_FOUND', jsonInit('POST', {}, elsewhere.h));
    await problem(fulfilUrl(orderId), 404, 'NOT_FOUND', post(elsewhere.h, parcel(otherWarehouse)));
    await problem(fulfilUrl(orderId), 403, 'FORBIDDEN', post(elsewhere.h, parcel(staff.warehouseId)));
    await problem(adjustUrl(staff.warehouseId), 403, 'FORBIDDEN', post(elsewhere.h, { sku: p.sku, delta: 5, reason: 'receipt' }));
    await problem(transferUrl(staff.warehouseId), 403, 'FORBIDDEN', post(elsewhere.h, { sku: p.sku, toWarehouseId: otherWarehouse, quantity: 1 }));
    await problem(`/v1/inventory/${p.sku}/reservations`, 403, 'FORBIDDEN', post(elsewhere.h, { quantity: 1, ref: { kind: 'checkout', id: 'chk-x' } }));
    expect((await json(`/v1/orders/${orderId}`, { headers: bearer(c.accessToken) })).body).toMatchObject({ status: 'PENDING', shipments: [] });

    // The order's warehouse ships one unit; the same key and parcel again is the same shipment.
    const k = key();
    const body = parcel(staff.warehouseId);
    const shipped = await answer(fulfilUrl(orderId), post(here, body, k));
    const again = await answer(fulfilUrl(orderId), post(here, body, k));
    expect([shipped.status, shipped.replayed, again.status, again.replayed], JSON.stringify(shipped.body)).toEqual([201, false, 201, true]);
    expect(again.body.shipments).toHaveLength(1);
    await problem(fulfilUrl(orderId), 422, 'IDEMPOTENCY_KEY_REUSED', post(here, { ...body, trackingNumber: 'TRK-OTHER' }, k));
    expect(await available(p.sku)).toBe(2);
  });

  it('POS agents and integration clients get exactly their role and scopes: 403 (problem+json) outside them, any warehouse with inventory:write (by design), never a 500', async () => {
    const p = await stockedProduct(6);
    const c = await newCustomer();
    const webOrder = await placeCod(p, 1, c);
    const pos = bearer((await login('pos@agora.dev')).accessToken);
    const [reader, writer, ordersReader, catalogOnly] = await Promise.all([
      client({ role: 'integration', scopes: ['inventory:read'] }),
      client({ role: 'integration', scopes: ['inventory:write'] }),
      client({ role: 'integration', scopes: ['orders:read'] }),
      client({ role: 'integration', scopes: ['catalog:write'] }),
    ]);
    const adjust = { sku: p.sku, delta: 1, reason: 'receipt' };
    const hold = { quantity: 1, ref: { kind: 'checkout', id: 'chk-int' } };
    const parcel = { warehouseId: staff.warehouseId, carrier: 'acme', trackingNumber: 'TRK-INT', items: [{ itemId: 'itm_1', quantity: 1 }] };

    // A POS agent: not the web order's store (404), no stock or money rights (403).
    await problem(`/v1/orders/${webOrder}`, 404, 'NOT_FOUND', { headers: pos });
    await problem(`/v1/orders/${webOrder}/cancel`, 404, 'NOT_FOUND', jsonInit('POST', {}, pos));
    await problem(refundUrl(webOrder), 403, 'FORBIDDEN', post(pos, { amount: 1, reason: 'x' }));
    await problem(fulfilUrl(webOrder), 403, 'FORBIDDEN', post(pos, parcel));
    await problem(adjustUrl(staff.warehouseId), 403, 'FORBIDDEN', post(pos, adjust));
    await problem(`/v1/inventory/${p.sku}/reservations`, 403, 'FORBIDDEN', post(pos, hold));

    // inventory:read reads stock, writes nothing.
    expect((await json(`/v1/warehouses/${staff.warehouseId}/stock?limit=1`, { headers: reader.h })).res.status).toBe(200);
    await problem(adjustUrl(staff.warehouseId), 403, 'FORBIDDEN', post(reader.h, adjust));
    await problem(`/v1/inventory/${p.sku}/reservations`, 403, 'FORBIDDEN', post(reader.h, hold));
    // inventory:write adjusts in any warehouse (assertWarehouseAccess lets integrations through) and holds; no orders, no money.
    expect((await answer(adjustUrl(otherWarehouse), post(writer.h, adjust))).status).toBe(201);
    expect((await answer(`/v1/inventory/${p.sku}/reservations`, post(writer.h, hold))).status).toBe(201);
    for (const h of [writer.h, reader.h, catalogOnly.h]) {
      await problem(`/v1/orders/${webOrder}`, 403, 'FORBIDDEN', { headers: h });
      await problem(fulfilUrl(webOrder), 403, 'FORBIDDEN', post(h, parcel));
      await problem(refundUrl(webOrder), 403, 'FORBIDDEN', post(h, { amount: 1, reason: 'x' }));
      await problem('/v1/me', 403, 'FORBIDDEN', { headers: h });
    }
    // orders:read reads every order (orders:admin's scope), cancels none, places none, has no "mine".
    expect((await json(`/v1/orders/${webOrder}`, { headers: ordersReader.h })).body.orderId).toBe(webOrder);
    await problem(`/v1/orders/${webOrder}/cancel`, 403, 'FORBIDDEN', jsonInit('POST', {}, ordersReader.h));
    await problem('/v1/orders', 403, 'FORBIDDEN', post(ordersReader.h, { userId: c.user.id, ...codBody(p, 1) }));
    await problem('/v1/orders', 403, 'FORBIDDEN', { headers: ordersReader.h });
    await problem(adjustUrl(staff.warehouseId), 403, 'FORBIDDEN', post(ordersReader.h, adjust));
    expect((await json(`/v1/orders/${webOrder}`, { headers: await admin() })).body.status).toBe('PENDING');
    // 6 − 1 ordered + 1 received elsewhere − 1 held.
    expect(await available(p.sku)).toBe(5);
  });

  it("a reservation answers only whoever holds it: another integration with inventory:write cannot release an integration's hold, nor the hold of a customer's order", async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const [holder, stranger] = await Promise.all([client({ role: 'integration', scopes: ['inventory:write'] }), client({ role: 'integration', scopes: ['inventory:write'] })]);
    const held = await answer(`/v1/inventory/${p.sku}/reservations`, post(holder.h, { quantity: 1, ref: { kind: 'checkout', id: 'chk-owner' } }));
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    // A CARD order, unpaid: its units are held for it (the hold's id derives from the order's id).
    const card = await json('/v1/orders', post(bearer(c.accessToken), { items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], paymentMethod: 'CARD' }));
    expect(card.res.status, JSON.stringify(card.body)).toBe(201);
    expect(await available(p.sku)).toBe(0);

    const releases = {
      integrationHold: (await answer(`/v1/inventory/${p.sku}/reservations/${held.body.reservationId}/release`, { method: 'POST', headers: stranger.h })).status,
      orderHold: (await answer(`/v1/inventory/${p.sku}/reservations/${reservationIdFor(card.body.orderId)}/release`, { method: 'POST', headers: stranger.h })).status,
    };
    const after = await available(p.sku);
    // BUG: expected 404 for both (a reservation is the holder's, as an order or a cart is:
    // docs/security.md "services scope every query by owner") and nothing freed; actual 200 for
    // both and the 3 units available again while the PENDING order still counts on 2 of them (a
    // second buyer can take them: oversold when the first pays). inventory.service.ts release()
    // checks only mustActor(meta) and releases any `rsv_…` on the SKU, and an order's reservation
    // id is a public function of its order id (order.do.ts reservationIdFor). Fix: record the
    // holder (actor id) with HTTP reservations and refuse others with 404; never let the public
    // route release a hold whose ref is an order (kind 'order' held by the order saga).
    expect({ ...releases, available: after }).toEqual({ integrationHold: 404, orderHold: 404, available: 0 });
  });
});
