/**
 * Probe: identity's GDPR export and erasure (docs/security.md, "Personal data"; docs/orders.md,
 * "Personal data: export and erasure") meeting the commerce contexts: carts, wishlist, orders with
 * their payments, refunds and shipments, POS orders placed for a customer, the projection, the
 * audit trail and the payment provider. personal-data.routes.test.ts covers a PENDING order in the
 * export and the cancel path of the address; these go through the other paths.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readConfig } from '../../shared/env';
import { bearer, freshIp, jsonInit, login, newCustomer, STRONG_PASSWORD } from '../../test/support/auth';
import { allAtOnce } from '../../test/support/concurrency';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { admin, available, deliverWebhooks, emulator, eventually, paymentIntentOf, staffSession, STRIPE, stockedProduct } from '../../test/support/orders';
import { REVOCATION_MEMO_MS } from '../auth/service/authenticate';
import { buildServices } from './services';

const config = readConfig(env);

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const ADDRESS = { name: 'Meera Iyer', line1: '44 Residency Road', city: 'Bengaluru', postalCode: '560025', country: 'IN', phone: '+919812345678' };
/** What identifies the customer in an address: none of it may be left once the order is done. */
const IDENTIFYING = [ADDRESS.name, ADDRESS.line1, ADDRESS.postalCode, ADDRESS.phone];

type H = Record<string, string>;
type Product = Awaited<ReturnType<typeof stockedProduct>>;

const place = (body: unknown, h: H, key: string = crypto.randomUUID()) => json('/v1/orders', jsonInit('POST', body, { ...h, 'idempotency-key': key }));
const cardOrder = (p: Product, quantity = 1) => ({ items: [{ productId: p.productId, variantId: p.variantId, quantity }], paymentMethod: 'CARD', shippingAddress: ADDRESS });
const erase = (token: string, password: string) =>
  call('/v1/me', { method: 'DELETE', headers: { ...bearer(token), 'content-type': 'application/json', 'cf-connecting-ip': freshIp() }, body: JSON.stringify({ password }) });
const exportOf = async (token: string) => {
  const r = await json('/v1/me/export', { headers: bearer(token) });
  expect(r.res.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { cart: { id: string } | null; wishlist: Array<{ productId: string }>; orders: Array<Record<string, any>>; addresses: unknown[]; auditTrail: Array<{ action: string }> };
};
const asAdmin = async (orderId: string) => (await json(`/v1/orders/${orderId}`, { headers: await admin() })).body;

async function pay(order: { payment: { clientAction: { type: string; clientSecret?: string } | null } }): Promise<string> {
  const pi = paymentIntentOf(order);
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  await deliverWebhooks(pi);
  return pi;
}

/** Until the Postgres projection holds the order at the object's current version. */
async function projected(orderId: string) {
  const live = await asAdmin(orderId);
  const row = await eventually(() => rows<{ version: number }>(sql`select version::int as version from orders where id = ${orderId}`), (r) => r[0]?.version === live.version);
  expect(row[0]?.version, `projection of ${orderId}`).toBe(live.version);
}

/** Until the orders context has taken the user.erased event (it runs from the queue). */
async function orderContextKnows(userId: string) {
  const r = await eventually(() => rows(sql`select 1 as one from erased_customers where user_id = ${userId}`), (x) => x.length === 1);
  expect(r, 'orders.erase-customer never ran').toHaveLength(1);
}

async function ship(orderId: string, quantity: number, trackingNumber = `TRK-${crypto.randomUUID().slice(0, 12)}`) {
  const { token, warehouseId } = await staffSession();
  const r = await json(`/v1/orders/${orderId}/fulfillments`, jsonInit('POST', { warehouseId, carrier: 'acme', trackingNumber, items: [{ itemId: 'itm_1', quantity }] }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }));
  expect(r.res.status, JSON.stringify(r.body)).toBe(201);
  return trackingNumber;
}

async function carrierDelivered(trackingNumber: string) {
  const raw = JSON.stringify({ eventId: `d-${trackingNumber}`, trackingNumber, status: 'delivered', occurredAt: new Date().toISOString() });
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.CARRIER_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(raw)))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return call('/v1/shipping/webhooks/acme', { method: 'POST', headers: { 'content-type': 'application/json', 'x-carrier-signature': sig }, body: raw });
}

const refund = async (orderId: string, amount: number) =>
  json(`/v1/admin/orders/${orderId}/refunds`, jsonInit('POST', { amount, reason: 'damaged in transit' }, { ...(await admin()), 'idempotency-key': crypto.randomUUID() }));

/** Every text the projection and the audit trail hold about these orders, as one string. */
async function storedAbout(orderIds: string[]): Promise<string> {
  const list = sql.join(orderIds.map((id) => sql`${id}`), sql`, `);
  const parts = await Promise.all([
    rows(sql`select * from orders where id in (${list})`),
    rows(sql`select * from order_items where order_id in (${list})`),
    rows(sql`select * from order_payments where order_id in (${list})`),
    rows(sql`select * from order_refunds where order_id in (${list})`),
    rows(sql`select * from order_shipments where order_id in (${list})`),
    rows(sql`select * from audit_log where target_id in (${list})`),
  ]);
  return JSON.stringify(parts);
}

describe('GET /v1/me/export: the commerce parts', () => {
  it('E1 after a checkout from the cart, the export holds the order just placed as soon as it is projected (and no longer the closed cart)', async () => {
    const p = await stockedProduct(3, 1700);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, h))).body.id as string;
    expect((await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, h))).res.status).toBe(201);
    const placed = await place({ cartId, paymentMethod: 'CARD', shippingAddress: ADDRESS }, h);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);

    // "every order of the customer" (docs/orders.md), listed from the projection: once the
    // order-events queue has delivered it (a second or two; the doc says so).
    const exported = await eventually(() => exportOf(c.accessToken), (x) => x.orders.length > 0, 10_000);
    expect(exported.cart).toBeNull();
    expect(exported.orders.map((o) => o.orderId)).toEqual([placed.body.orderId]);
    expect(exported.orders[0]).toMatchObject({ status: 'PENDING', shippingAddress: ADDRESS });
  });

  it("E2 each order as GET /v1/orders/{id} shows it to its owner (items, payment, refunds, shipments), oldest first, an order a POS agent placed for me included; nobody else's, and not in the agent's export", async () => {
    const p = await stockedProduct(6, 1500);
    const c = await newCustomer();
    const other = await newCustomer();
    const first = await place(cardOrder(p, 2), bearer(c.accessToken));
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    await pay(first.body);
    await ship(first.body.orderId, 1);
    expect((await refund(first.body.orderId, 500)).res.status).toBe(201);
    await eventually(() => asAdmin(first.body.orderId), (o) => o.refunds?.[0]?.status === 'succeeded');
    const pos = await login('pos@agora.dev');
    const forMe = await place({ userId: c.user.id, ...cardOrder(p) }, bearer(pos.accessToken));
    expect(forMe.res.status, JSON.stringify(forMe.body)).toBe(201);
    const theirs = await place(cardOrder(p), bearer(other.accessToken));
    expect(theirs.res.status).toBe(201);
    for (const id of [first.body.orderId, forMe.body.orderId, theirs.body.orderId]) await projected(id);

    const mine = await exportOf(c.accessToken);
    expect(mine.orders.map((o) => o.orderId)).toEqual([first.body.orderId, forMe.body.orderId]);
    for (const o of mine.orders) {
      const shown = (await json(`/v1/orders/${o.orderId}`, { headers: bearer(c.accessToken) })).body;
      expect(o).toEqual(shown);
    }
    expect(mine.orders[0]).toMatchObject({ status: 'PARTIALLY_REFUNDED', shipments: [{ lines: [{ itemId: 'itm_1', quantity: 1 }] }], refunds: [{ amount: { amount: 500 }, status: 'succeeded' }], payment: { status: 'captured', amountCaptured: { amount: 3000 } } });
    expect((await exportOf(other.accessToken)).orders.map((o) => o.orderId)).toEqual([theirs.body.orderId]);
    const agents = (await exportOf(pos.accessToken)).orders.map((o) => o.orderId);
    expect(agents).not.toContain(forMe.body.orderId);
  });
});

describe('DELETE /v1/me: the orders that stay', () => {
  it('D1 a PENDING order keeps its stock and address while it can still be paid; when its payment then fails it drops the address and releases the stock', async () => {
    const p = await stockedProduct(3, 1900);
    const c = await newCustomer();
    const o = await place(cardOrder(p), bearer(c.accessToken));
    expect(o.res.status).toBe(201);
    await projected(o.body.orderId);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    await orderContextKnows(c.user.id);
    expect(await asAdmin(o.body.orderId)).toMatchObject({ status: 'PENDING', shippingAddress: ADDRESS });
    expect(await available(p.sku)).toBe(2);

    const pi = paymentIntentOf(o.body);
    await emulator(`/_emulator/payment_intents/${pi}/fail`, { method: 'POST' });
    await deliverWebhooks(pi);
    const failed = await eventually(() => asAdmin(o.body.orderId), (x) => x.status === 'PAYMENT_FAILED');
    expect(failed).toMatchObject({ status: 'PAYMENT_FAILED', shippingAddress: { country: 'IN' } });
    expect(failed.shippingAddress).toEqual({ country: 'IN' });
    expect(await eventually(() => available(p.sku), (n) => n === 3)).toBe(3);
  });

  it('D2 a shipped order keeps the address until the carrier delivers it, then keeps only the country; tracking, projection and audit rows never held who it was', async () => {
    const p = await stockedProduct(2, 2600);
    const c = await newCustomer();
    const o = await place(cardOrder(p), bearer(c.accessToken));
    await pay(o.body);
    const tn = await ship(o.body.orderId, 1);
    await projected(o.body.orderId);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    await orderContextKnows(c.user.id);
    expect(await asAdmin(o.body.orderId)).toMatchObject({ status: 'SHIPPED', shippingAddress: ADDRESS });

    const delivered = await carrierDelivered(tn);
    expect(delivered.status, await delivered.clone().text()).toBe(200);
    const done = await eventually(() => asAdmin(o.body.orderId), (x) => x.status === 'DELIVERED');
    expect(done.status).toBe('DELIVERED');
    expect(done.shippingAddress).toEqual({ country: 'IN' });
    // Accounting stays: lines, amounts, payment, shipment.
    expect(done).toMatchObject({ userId: c.user.id, total: { amount: 2600 }, payment: { status: 'captured', amountCaptured: { amount: 2600 } }, shipments: [{ trackingNumber: tn }] });
    const tracking = await json(`/v1/orders/${o.body.orderId}/tracking`, { headers: await admin() });
    expect(tracking.res.status).toBe(200);
    await projected(o.body.orderId);
    const stored = JSON.stringify(tracking.body) + (await storedAbout([o.body.orderId]));
    for (const s of IDENTIFYING) expect(stored, `"${s}" is still stored`).not.toContain(s);
  });

  it("D3 a PAID order not shipped yet: an admin's full refund ends it (REFUNDED, address down to the country); what Stripe holds of the payment and the refund names no email, name, phone or address", async () => {
    const p = await stockedProduct(2, 2200);
    const c = await newCustomer('Meera Iyer');
    await json('/v1/me', jsonInit('PATCH', { phone: ADDRESS.phone }, bearer(c.accessToken)));
    const o = await place(cardOrder(p), bearer(c.accessToken));
    const pi = await pay(o.body);
    await projected(o.body.orderId);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    await orderContextKnows(c.user.id);
    expect((await asAdmin(o.body.orderId)).shippingAddress).toEqual(ADDRESS);

    const r = await refund(o.body.orderId, 2200);
    expect(r.res.status, JSON.stringify(r.body)).toBe(201);
    const done = await eventually(() => asAdmin(o.body.orderId), (x) => x.status === 'REFUNDED');
    expect(done).toMatchObject({ status: 'REFUNDED', shippingAddress: { country: 'IN' }, refunds: [{ amount: { amount: 2200 }, status: 'succeeded' }] });
    expect(done.shippingAddress).toEqual({ country: 'IN' });
    await projected(o.body.orderId);
    const [ref] = await rows<{ provider_refund_ref: string }>(sql`select provider_refund_ref from order_refunds where order_id = ${o.body.orderId}`);
    const stripeGet = async (path: string) => (await fetch(`${STRIPE}${path}`, { headers: { authorization: `Bearer ${config.STRIPE_SECRET_KEY}` } })).json();
    const atStripe = JSON.stringify([await stripeGet(`/v1/payment_intents/${pi}`), await stripeGet(`/v1/refunds/${ref!.provider_refund_ref}`)]);
    expect(atStripe).toContain(o.body.orderId);
    for (const s of [c.email, ...IDENTIFYING]) expect(atStripe, `"${s}" is at Stripe`).not.toContain(s);
  });

  it('D4 a POS agent retrying, with the same Idempotency-Key, a sale made for the customer just before the erasure gets that sale back; a new sale for the erased account is refused with nothing reserved', async () => {
    const p = await stockedProduct(3, 1200);
    const c = await newCustomer();
    const pos = bearer((await login('pos@agora.dev')).accessToken);
    const key = crypto.randomUUID();
    const body = { userId: c.user.id, ...cardOrder(p) };
    const first = await place(body, pos, key);
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);

    // The till timed out and sends the very same request again (API.md: the same key and body return the first response).
    const again = await place(body, pos, key);
    expect({ status: again.res.status, orderId: again.body.orderId, code: again.body.code }, JSON.stringify(again.body)).toEqual({ status: 201, orderId: first.body.orderId, code: undefined });
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');

    const fresh = await place(body, pos);
    expect({ status: fresh.res.status, code: fresh.body.code }).toEqual({ status: 422, code: 'CUSTOMER_NOT_FOUND' });
    expect(await available(p.sku)).toBe(2);
  });

  it('D5 after the erasure an admin still finds the orders under the pseudonym, the account shows nothing of who it was and cannot be changed', async () => {
    const p = await stockedProduct(2, 1100);
    const c = await newCustomer('Meera Iyer');
    const o = await place(cardOrder(p), bearer(c.accessToken));
    await projected(o.body.orderId);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    const h = await admin();
    const user = await json(`/v1/admin/users/${c.user.id}`, { headers: h });
    expect(user.res.status).toBe(200);
    expect(user.body).toMatchObject({ id: c.user.id, status: 'erased', email: null, name: null });
    expect(JSON.stringify(user.body)).not.toContain('Meera');
    await problem(`/v1/admin/users/${c.user.id}`, 409, 'CONFLICT', jsonInit('PATCH', { status: 'active' }, h));
    const listed = await json(`/v1/admin/orders?userId=${c.user.id}`, { headers: h });
    expect(listed.body.items.map((i: { orderId: string }) => i.orderId)).toEqual([o.body.orderId]);
  });
});

describe('DELETE /v1/me: carts, wishlist, tokens, audit', () => {
  it("E3 a still-valid access token (a location the revocation has not reached) cannot put personal data back: no wishlist row, no cart for the erased account", async () => {
    const p = await stockedProduct(3, 900);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    expect((await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h))).res.status).toBe(201);
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, h))).body.id as string;
    expect((await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, h))).res.status).toBe(201);
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    const carts = buildServices(env, config, () => undefined).cart;
    // The user.erased consumers of cart and wishlist have run (from the queue).
    expect(await eventually(() => rows(sql`select 1 as one from wishlist_items where user_id = ${c.user.id}`), (r) => r.length === 0)).toEqual([]);
    expect(await eventually(() => carts.activeCartOf(c.user.id), (x) => x === null)).toBeNull();

    // Another location: its KV has not seen the revocation yet and its memo is older (docs/security.md).
    const get = env.CACHE_KV.get.bind(env.CACHE_KV);
    vi.spyOn(env.CACHE_KV, 'get').mockImplementation(((key: string, options?: unknown) => (key.startsWith('auth:revoked-before:') ? Promise.resolve(null) : get(key, options as never))) as typeof env.CACHE_KV.get);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + REVOCATION_MEMO_MS + 2_000 });
    // /v1/me routes refuse a token whose account is erased (docs/security.md): the profile does, so must the wishlist.
    const me = await call('/v1/me', { headers: h });
    const wish = await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
    const cart = await call('/v1/carts', jsonInit('POST', {}, h));
    vi.useRealTimers();
    vi.restoreAllMocks();
    const left = { wishlistRows: (await rows(sql`select product_id from wishlist_items where user_id = ${c.user.id}`)).length, cart: (await carts.activeCartOf(c.user.id))?.id ?? null };
    expect(me.status).toBe(401);
    expect({ wishlist: wish.res.status, left }).toEqual({ wishlist: 401, left: { wishlistRows: 0, cart: null } });
    expect(cart.status).toBe(401);
  });

  it('E4 two erasures at once with the same token: one 204, the other refused; one user.erased published, one audit row of success', async () => {
    const c = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    const init = () => ({ method: 'DELETE', headers: { ...bearer(c.accessToken), 'content-type': 'application/json', 'cf-connecting-ip': freshIp() }, body: JSON.stringify({ password: c.password }) });
    const answers = await allAtOnce([['/v1/me', init()], ['/v1/me', init()]]);
    expect(answers.map((a) => a.status).sort()).toEqual([204, 401]);
    const erasedEvents = sent.mock.calls.flatMap((call) => [...call[0]]).filter((m) => JSON.stringify(m.body).includes('"user.erased"'));
    expect(erasedEvents).toHaveLength(1);
    const audit = await rows<{ outcome: string }>(sql`select outcome from audit_log where action = 'user.erased' and target_id = ${c.user.id}`);
    expect(audit.map((a) => a.outcome)).toEqual(['success']);
    // Erasing again later: the token is gone, so is the account.
    await problem('/v1/me', 401, 'UNAUTHENTICATED', init());
  });

  it('E5 the same email registered again starts empty: no old order, cart, wishlist, address or audit entry, and the old order is not its to read', async () => {
    const p = await stockedProduct(3, 1300);
    const c = await newCustomer();
    const h = bearer(c.accessToken);
    await json('/v1/me/addresses', jsonInit('POST', { name: 'A', line1: 'L', city: 'C', postalCode: 'P', country: 'IN' }, h));
    await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
    const o = await place(cardOrder(p), h);
    await projected(o.body.orderId);
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, h))).body.id as string;
    await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, h));
    expect((await erase(c.accessToken, c.password)).status).toBe(204);
    await problem('/v1/auth/refresh', 401, 'UNAUTHENTICATED', jsonInit('POST', { refreshToken: c.refreshToken }));

    const again = await json('/v1/auth/register', jsonInit('POST', { email: c.email, password: STRONG_PASSWORD }));
    expect(again.res.status).toBe(201);
    const nh = bearer(again.body.accessToken);
    const mine = await exportOf(again.body.accessToken);
    expect({ cart: mine.cart, wishlist: mine.wishlist, orders: mine.orders, addresses: mine.addresses }).toEqual({ cart: null, wishlist: [], orders: [], addresses: [] });
    expect(mine.auditTrail.map((a) => a.action).sort()).toEqual(['auth.registered']);
    expect((await json('/v1/orders', { headers: nh })).body.items).toEqual([]);
    await problem(`/v1/orders/${o.body.orderId}`, 404, 'NOT_FOUND', { headers: nh });
    await problem(`/v1/carts/${cartId}`, 404, 'CART_NOT_FOUND', { headers: nh });
  });

  it("E6 the audit trail keeps the erasure and the orders' money rows under the pseudonym, and no audit row about the account or its orders holds its email, name, phone or address", async () => {
    const p = await stockedProduct(2, 1400);
    const c = await newCustomer('Meera Iyer');
    const h = bearer(c.accessToken);
    await json('/v1/me', jsonInit('PATCH', { phone: ADDRESS.phone }, h));
    expect((await json('/v1/me/addresses', jsonInit('POST', { ...ADDRESS }, h))).res.status).toBe(201);
    const o = await place(cardOrder(p), h);
    await pay(o.body);
    await exportOf(c.accessToken);
    await projected(o.body.orderId);
    await problem('/v1/me', 403, 'FORBIDDEN', { method: 'DELETE', headers: { ...h, 'content-type': 'application/json', 'cf-connecting-ip': freshIp() }, body: JSON.stringify({ password: 'not my password at all' }) });
    expect((await erase(c.accessToken, c.password)).status).toBe(204);

    const about = await rows<{ action: string; outcome: string; actor_id: string | null }>(sql`select action, outcome, actor_id from audit_log where target_id = ${c.user.id} order by occurred_at, id`);
    expect(about.map((a) => `${a.action}:${a.outcome}`)).toEqual(expect.arrayContaining(['auth.registered:success', 'user.exported:success', 'user.erased:failure', 'user.erased:success']));
    expect(about.find((a) => a.action === 'user.erased' && a.outcome === 'success')?.actor_id).toBe(c.user.id);
    const money = await rows<{ action: string }>(sql`select action from audit_log where target_id = ${o.body.orderId} order by occurred_at`);
    expect(money.map((m) => m.action)).toEqual(expect.arrayContaining(['order.placed', 'order.payment.captured']));
    const all = JSON.stringify(await rows(sql`select * from audit_log where target_id in (${c.user.id}, ${o.body.orderId}) or actor_id = ${c.user.id}`));
    for (const s of [c.email, ...IDENTIFYING]) expect(all, `"${s}" is on the audit trail`).not.toContain(s);
  });
});
