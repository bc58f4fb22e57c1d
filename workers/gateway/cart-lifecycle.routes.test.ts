/**
 * A cart's life from guest to signed-in to gone, through the real Worker (docs/cart.md): the merge
 * at login over time (once per guest cart, also days later), the merge's op id beside the
 * client's Idempotency-Keys, the merge against what is available, user carts presented as guest
 * carts, a merged or expired guest cart as every route sees it, the price
 * snapshot and its flag after re-adding or changing a quantity, the idle expiry alarm and
 * cart.abandoned, Idempotency-Key replays of refusals and across carts, and the wishlist at its
 * 500-item limit and when a move to the cart is refused (also while another device fills it). Time is moved by swapping a cart
 * object's `clock` (runInDurableObject); alarms are fired with runDurableObjectAlarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { CLOSED_RETENTION_MS, IDEMPOTENCY_RETENTION_MS, type CartDurableObject } from '../../durable-objects/cart/cart.do';
import { cartFor } from '../../durable-objects/cart/cart.stub';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { AppError } from '../../shared/kernel/app-error';
import { newId } from '../../shared/kernel/ids';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { allAtOnce, answer, statuses } from '../../test/support/concurrency';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { adminSession, productWith, reprice, type FixtureProduct } from '../../test/support/products';
import { makeWishlistService, WISHLIST_MAX_ITEMS, type WishlistService } from '../wishlist';

const config = readConfig(env);
const TTL_MS = config.CART_IDLE_TTL_SECONDS * 1000;
const HOUR = 3_600_000;

type Line = { itemId: string; variantId: string; quantity: number; unitPrice: { amount: number }; priceAtAdd: { amount: number }; priceChanged: boolean };
type Cart = { id: string; status: string; version: number; kind: string; lines: Line[]; priceChanged: boolean; expiresAt: string };
type Merge = { status: string; reason?: string; lines: { variantId: string; requested: number; merged: number; clampedBy: string | null }[] };

const h = (token?: string, extra: Record<string, string> = {}) => (token ? bearer(token, extra) : extra);
const item = (p: FixtureProduct, i = 0, quantity = 1) => ({ productId: p.productId, variantId: p.variants[i]!.id, quantity });
const addInit = (body: unknown, token?: string, key?: string) => jsonInit('POST', body, h(token, key ? { 'idempotency-key': key } : {}));
const add = (cartId: string, body: unknown, token?: string, key?: string) => answer(`/v1/carts/${cartId}/items`, addInit(body, token, key));

async function newCart(token?: string): Promise<Cart> {
  const a = await answer('/v1/carts', { method: 'POST', headers: h(token) });
  expect([200, 201], JSON.stringify(a.body)).toContain(a.status);
  return a.body as Cart;
}
async function addOk(cartId: string, body: unknown, token?: string, key?: string): Promise<Cart> {
  const a = await add(cartId, body, token, key);
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  return a.body as Cart;
}
const read = async (cartId: string, token?: string) => (await answer(`/v1/carts/${cartId}`, { headers: h(token) })).body as Cart;
const qty = (c: Cart, p: FixtureProduct, i: number) => c.lines.find((l) => l.variantId === p.variants[i]!.id)?.quantity ?? 0;
const loginWith = async (c: { email: string; password: string }, cartId?: string) => {
  const a = await answer('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password, ...(cartId ? { cartId } : {}) }));
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  return a.body as { accessToken: string; cart?: { id: string | null; merge: Merge } };
};

/** Moves a cart object's clock to real time + `ms` (absolute, not cumulative). */
const shiftClock = (cartId: string, ms: number) =>
  runInDurableObject(cartFor(env, cartId), (x: CartDurableObject) => {
    x.clock = { now: () => new Date(Date.now() + ms) };
  });
/** cart.abandoned sends of a cart's object, captured. */
async function captureEvents(cartId: string): Promise<any[]> {
  const sent: any[] = [];
  await runInDurableObject(cartFor(env, cartId), (x: CartDurableObject) => {
    x.eventsQueue = { send: async (body: unknown) => void sent.push(body) };
  });
  return sent;
}
const tablesOf = (cartId: string) =>
  runInDurableObject(cartFor(env, cartId), (_x: CartDurableObject, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'").toArray().map((r) => r.name),
  );

describe('merge at login over time', () => {
  it('merges a guest cart once, also when the same guest id comes back with a login a day later (the guest cart is still kept, closed)', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }, { price: 700, stock: 50 }, { price: 300, stock: 50 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 0, 1), me.accessToken);
    const guest = await newCart();
    await addOk(guest.id, item(p, 1, 2));
    const first = await loginWith(me, guest.id);
    expect(first.cart).toMatchObject({ id: mine.id, merge: { status: 'merged', lines: [{ requested: 2, merged: 2 }] } });
    expect(qty(await read(mine.id, me.accessToken), p, 1)).toBe(2);

    // A day and an hour later (the closed guest cart is kept CLOSED_RETENTION_MS = 7 days), the
    // shopper adds to their cart with an Idempotency-Key as storefronts do, then signs in again on
    // a device that still remembers the guest cart's id.
    expect(CLOSED_RETENTION_MS).toBeGreaterThan(IDEMPOTENCY_RETENTION_MS + HOUR);
    await shiftClock(mine.id, IDEMPOTENCY_RETENTION_MS + HOUR);
    await addOk(mine.id, item(p, 2, 1), me.accessToken, crypto.randomUUID());
    expect((await read(guest.id)).status).toBe('closed');
    const again = await loginWith(me, guest.id);
    const after = await read(mine.id, me.accessToken);
    // docs/cart.md: the guest cart's lines are added to the user's cart once per guest cart.
    expect({ units: qty(after, p, 1), merge: again.cart?.merge.lines.map((l) => l.merged) }, JSON.stringify(again.cart)).toEqual({ units: 2, merge: [2] });
  });

  it("an Idempotency-Key the shopper chose on their own cart never makes a later merge drop the guest cart's lines", async () => {
    const p = await productWith([{ price: 1000, stock: 50 }, { price: 700, stock: 50 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    const guest = await newCart();
    await addOk(guest.id, item(p, 1, 2));
    // Any printable key is a valid Idempotency-Key, this one included.
    await addOk(mine.id, item(p, 0, 1), me.accessToken, `merge:${guest.id}`);
    const l = await loginWith(me, guest.id);
    const after = await read(mine.id, me.accessToken);
    const guestNow = await read(guest.id);
    // Either the lines moved (the normal case), or the guest cart is left open with them: never closed and emptied into nothing.
    const where = guestNow.status === 'active' ? qty(guestNow, p, 1) : qty(after, p, 1);
    expect({ merge: l.cart?.merge.status, guestUnitsKept: where }, JSON.stringify({ login: l.cart, guest: guestNow.status })).toEqual({ merge: 'merged', guestUnitsKept: 2 });
  });

  it('a merged guest cart: reads show it closed, every write is 410 CART_CLOSED, a keyed add replays; another user gets nothing from it; an unknown id is skipped and creates no storage', async () => {
    const p = await productWith([{ price: 900, stock: 50 }, { price: 400, stock: 50 }]);
    const me = await newCustomer();
    const guest = await newCart();
    const key = crypto.randomUUID();
    const added = await addOk(guest.id, item(p, 0, 3), undefined, key);
    const itemId = added.lines[0]!.itemId;
    const l = await loginWith(me, guest.id);
    expect(l.cart?.merge.status).toBe('merged');

    const closed = await read(guest.id);
    expect(closed).toMatchObject({ status: 'closed', kind: 'guest', lines: [{ quantity: 3 }] });
    await problem(`/v1/carts/${guest.id}/items/${itemId}`, 410, 'CART_CLOSED', jsonInit('PATCH', { quantity: 1 }));
    await problem(`/v1/carts/${guest.id}/items/${itemId}`, 410, 'CART_CLOSED', jsonInit('PATCH', { quantity: 5 }));
    await problem(`/v1/carts/${guest.id}/items/${itemId}`, 410, 'CART_CLOSED', { method: 'DELETE' });
    await problem(`/v1/carts/${guest.id}/items`, 410, 'CART_CLOSED', addInit(item(p, 1, 1), undefined, crypto.randomUUID()));
    // The retry of the add that went in before the merge answers as it did then.
    const replay = await add(guest.id, item(p, 0, 3), undefined, key);
    expect([replay.status, replay.replayed]).toEqual([201, true]);
    expect((await read(guest.id)).version).toBe(closed.version);

    // Another user presenting the same guest id: skipped, nothing moves into their cart.
    const other = await newCustomer();
    const theirs = await loginWith(other, guest.id);
    expect(theirs.cart?.merge).toMatchObject({ status: 'skipped', reason: 'already closed', lines: [] });
    expect((await read(theirs.cart!.id!, other.accessToken)).lines).toEqual([]);
    expect(qty(await newCart(me.accessToken), p, 0)).toBe(3);

    // A well-formed id nobody opened: skipped, and probing it created no cart object.
    const nobody = newId('cart');
    const probe = await loginWith(other, nobody);
    expect(probe.cart?.merge).toMatchObject({ status: 'skipped', reason: 'no such cart' });
    expect(await tablesOf(nobody)).toEqual([]);
    await problem(`/v1/carts/${nobody}`, 404, 'CART_NOT_FOUND');
  });

  it('a merge respects what is available as an add does: a line capped to it, one with nothing left not added, one already at it kept; the report says why (0.3.15)', async () => {
    const p = await productWith([{ price: 1000, stock: 5 }, { price: 700, stock: 4 }, { price: 300, stock: 50 }, { price: 200, stock: 3 }]);
    const { token, warehouseId } = await adminSession();
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 0, 2), me.accessToken);
    await addOk(mine.id, item(p, 3, 2), me.accessToken);
    const guest = await newCart();
    for (const [i, q] of [[0, 4], [1, 3], [2, 2], [3, 1]] as const) await addOk(guest.id, item(p, i, q));
    // Units go between the guest's adds and the login: 3 of variant 0 left, none of 1, 1 of 3.
    for (const [i, delta] of [[0, -2], [1, -4], [3, -2]] as const) {
      const r = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, jsonInit('POST', { sku: p.variants[i]!.sku, delta, reason: 'damage' }, bearer(token, { 'idempotency-key': crypto.randomUUID() })));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
    }
    // What an add answers now, and what the merge must not get past.
    await problem(`/v1/carts/${guest.id}/items`, 409, 'OUT_OF_STOCK', addInit(item(p, 1, 1)));
    const l = await loginWith(me, guest.id);
    const v = (i: number) => ({ variantId: p.variants[i]!.id, sku: p.variants[i]!.sku });
    expect(l.cart).toEqual({
      id: mine.id,
      merge: {
        status: 'merged',
        lines: [
          { ...v(0), requested: 4, merged: 1, clampedBy: 'insufficient_stock' },
          { ...v(1), requested: 3, merged: 0, clampedBy: 'out_of_stock' },
          { ...v(2), requested: 2, merged: 2, clampedBy: null },
          { ...v(3), requested: 1, merged: 0, clampedBy: 'insufficient_stock' },
        ],
      },
    });
    const after = await read(mine.id, me.accessToken);
    expect(after.lines.map((x) => [x.variantId, x.quantity])).toEqual([
      [p.variants[0]!.id, 3],
      [p.variants[3]!.id, 2],
      [p.variants[2]!.id, 2],
    ]);
    // A retried login replays the same report and adds nothing.
    expect((await loginWith(me, guest.id)).cart).toEqual(l.cart);
    expect((await read(mine.id, me.accessToken)).version).toBe(after.version);
  });

  it("a user's cart presented as the guest cart (another user's, or an older one of mine) answers exactly as an id nobody opened, and is never merged (0.3.15)", async () => {
    const p = await productWith([{ price: 900, stock: 50 }]);
    const me = await newCustomer();
    const other = await newCustomer();
    const theirs = await newCart(other.accessToken);
    await addOk(theirs.id, item(p, 0, 2), other.accessToken);
    const older = await newCart(me.accessToken);
    await addOk(older.id, item(p, 0, 1), me.accessToken);
    const order = await answer('/v1/orders', jsonInit('POST', { cartId: older.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
    expect(order.status, JSON.stringify(order.body)).toBe(201);

    const unknown = (await loginWith(me, newId('cart'))).cart;
    expect(unknown?.merge).toEqual({ status: 'skipped', reason: 'no such cart', lines: [] });
    const asTheirs = (await loginWith(me, theirs.id)).cart;
    const asOlder = (await loginWith(me, older.id)).cart;
    expect({ theirs: asTheirs, older: asOlder }).toEqual({ theirs: unknown, older: unknown });
    expect((await read(unknown!.id!, me.accessToken)).lines).toEqual([]);
    expect(await read(theirs.id, other.accessToken)).toMatchObject({ status: 'active', lines: [{ quantity: 2 }] });
  });

  it('a merged guest cart whose product was archived since: raising a line is 410 CART_CLOSED like every other write, not a 422 that says the quantity can go down', async () => {
    const p = await productWith([{ price: 900, stock: 50 }]);
    const me = await newCustomer();
    const guest = await newCart();
    const itemId = (await addOk(guest.id, item(p, 0, 2))).lines[0]!.itemId;
    expect((await loginWith(me, guest.id)).cart?.merge.status).toBe('merged');
    const { token } = await adminSession();
    expect((await answer(`/v1/admin/products/${p.productId}`, { method: 'DELETE', headers: bearer(token) })).status).toBe(200);
    const url = `/v1/carts/${guest.id}/items/${itemId}`;
    await problem(url, 410, 'CART_CLOSED', jsonInit('PATCH', { quantity: 1 }));
    const up = await answer(url, jsonInit('PATCH', { quantity: 5 }));
    expect([up.status, up.body.code], JSON.stringify(up.body)).toEqual([410, 'CART_CLOSED']);
  });

  it('a merged guest cart reaching its idle TTL emits no cart.abandoned (its lines live on in the user cart) and is gone after the retention', async () => {
    const p = await productWith([{ price: 900, stock: 50 }]);
    const me = await newCustomer();
    const guest = await newCart();
    await addOk(guest.id, item(p, 0, 2));
    const before = await newCart(me.accessToken);
    const l = await loginWith(me, guest.id);
    const mine = await read(l.cart!.id!, me.accessToken);
    expect(qty(mine, p, 0)).toBe(2);
    // The merge is activity on the user's cart: its expiry moved forward.
    expect(Date.parse(mine.expiresAt)).toBeGreaterThanOrEqual(Date.parse(before.expiresAt));
    const sent = await captureEvents(guest.id);
    await shiftClock(guest.id, TTL_MS + CLOSED_RETENTION_MS + HOUR);
    expect(await runDurableObjectAlarm(cartFor(env, guest.id))).toBe(true);
    await runInDurableObject(cartFor(env, guest.id), (x: CartDurableObject) => x.alarm());
    expect(sent).toEqual([]);
    await problem(`/v1/carts/${guest.id}`, 404, 'CART_NOT_FOUND');
    expect(await tablesOf(guest.id)).toEqual([]);
    expect(qty(await read(mine.id, me.accessToken), p, 0)).toBe(2);
  });
});

describe('expiry', () => {
  it('an idle guest cart: shown expired, writes 410 CART_EXPIRED, not merged at login; the alarm (twice) emits one cart.abandoned, then everything answers as for an unknown cart', async () => {
    const p = await productWith([{ price: 1500, stock: 50 }, { price: 250, stock: 50 }]);
    const guest = await newCart();
    await addOk(guest.id, item(p, 0, 2));
    const last = await addOk(guest.id, item(p, 1, 3));
    const itemId = last.lines[0]!.itemId;
    expect(Date.parse(last.expiresAt) - Date.now()).toBeGreaterThan(TTL_MS - 60_000);
    const sent = await captureEvents(guest.id);
    await shiftClock(guest.id, TTL_MS + 60_000);

    expect(await read(guest.id)).toMatchObject({ status: 'expired', lines: [{ quantity: 2 }, { quantity: 3 }] });
    await problem(`/v1/carts/${guest.id}/items`, 410, 'CART_EXPIRED', addInit(item(p, 0, 1)));
    await problem(`/v1/carts/${guest.id}/items/${itemId}`, 410, 'CART_EXPIRED', jsonInit('PATCH', { quantity: 1 }));
    await problem(`/v1/carts/${guest.id}/items/${itemId}`, 410, 'CART_EXPIRED', { method: 'DELETE' });
    const me = await newCustomer();
    const l = await loginWith(me, guest.id);
    expect(l.cart?.merge).toMatchObject({ status: 'skipped', reason: 'expired', lines: [] });
    expect((await read(l.cart!.id!, me.accessToken)).lines).toEqual([]);
    expect(sent).toEqual([]);

    expect(await runDurableObjectAlarm(cartFor(env, guest.id))).toBe(true);
    await runInDurableObject(cartFor(env, guest.id), (x: CartDurableObject) => x.alarm());
    expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
    expect(sent[0].data).toMatchObject({
      cartId: guest.id,
      userId: null,
      lines: [{ sku: p.variants[0]!.sku, quantity: 2, unitPrice: 1500 }, { sku: p.variants[1]!.sku, quantity: 3, unitPrice: 250 }],
      totals: [{ currency: 'USD', amount: 2 * 1500 + 3 * 250, units: 5 }],
    });
    expect(await tablesOf(guest.id)).toEqual([]);
    await problem(`/v1/carts/${guest.id}`, 404, 'CART_NOT_FOUND');
    await problem(`/v1/carts/${guest.id}/items`, 404, 'CART_NOT_FOUND', addInit(item(p, 0, 1)));
    expect((await loginWith(me, guest.id)).cart?.merge).toMatchObject({ status: 'skipped', reason: 'no such cart' });
  });
});

describe('price snapshot and its flag', () => {
  it('re-adding a moved line takes the current price (flag off); lowering the quantity keeps the flag', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }, { price: 2000, stock: 50 }]);
    const cart = await newCart();
    await addOk(cart.id, item(p, 0, 3));
    await addOk(cart.id, item(p, 1, 1));
    await reprice(p, (old) => old + 200);
    const moved = await read(cart.id);
    expect(moved.lines.map((l) => [l.unitPrice.amount, l.priceAtAdd.amount, l.priceChanged])).toEqual([[1200, 1000, true], [2200, 2000, true]]);
    const lowered = await answer(`/v1/carts/${cart.id}/items/${moved.lines[0]!.itemId}`, jsonInit('PATCH', { quantity: 2 }));
    expect(lowered.body.lines[0]).toMatchObject({ quantity: 2, priceAtAdd: { amount: 1000 }, priceChanged: true });
    const readded = await addOk(cart.id, item(p, 1, 1));
    expect(readded.lines.map((l) => [l.quantity, l.priceAtAdd.amount, l.priceChanged])).toEqual([[2, 1000, true], [2, 2200, false]]);
    expect(readded.priceChanged).toBe(true);
    // Back to the snapshot price: no longer flagged.
    await reprice(p, (old, i) => (i === 0 ? 1000 : old + 200));
    expect((await read(cart.id)).lines[0]).toMatchObject({ unitPrice: { amount: 1000 }, priceChanged: false });
  });

  it('raising a moved line\'s quantity adds units at the price shown: the snapshot follows, as for an add (docs/cart.md: "changing a line\'s quantity upwards is adding units")', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }]);
    const cart = await newCart();
    const added = await addOk(cart.id, item(p, 0, 1));
    await reprice(p, () => 1300);
    expect((await read(cart.id)).lines[0]!.priceChanged).toBe(true);
    const raised = await answer(`/v1/carts/${cart.id}/items/${added.lines[0]!.itemId}`, jsonInit('PATCH', { quantity: 4 }));
    expect(raised.status).toBe(200);
    expect(raised.body.lines[0]).toMatchObject({ quantity: 4, unitPrice: { amount: 1300 }, priceAtAdd: { amount: 1300 }, priceChanged: false });
  });
});

describe('Idempotency-Key on add-item', () => {
  it('a replayed refusal is marked Idempotent-Replayed like a replayed success, and stays the first answer after a restock', async () => {
    const p = await productWith([{ price: 500, stock: 2 }]);
    const cart = await newCart();
    const key = crypto.randomUUID();
    const url = `/v1/carts/${cart.id}/items`;
    const first = await answer(url, addInit(item(p, 0, 3), undefined, key));
    expect([first.status, first.body.code, first.replayed]).toEqual([409, 'INSUFFICIENT_STOCK', false]);
    const { token, warehouseId } = await adminSession();
    const restock = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, jsonInit('POST', { sku: p.variants[0]!.sku, delta: 10, reason: 'receipt' }, bearer(token, { 'idempotency-key': crypto.randomUUID() })));
    expect(restock.res.status).toBe(201);
    const again = await answer(url, addInit(item(p, 0, 3), undefined, key));
    // docs/cart.md: "Same key and body: the first answer again (Idempotent-Replayed: true), refusals included".
    expect({ status: again.status, code: again.body.code, replayed: again.replayed }).toEqual({ status: 409, code: 'INSUFFICIENT_STOCK', replayed: true });
    expect((await read(cart.id)).lines).toEqual([]);
    // A new key sees the stock.
    expect((await addOk(cart.id, item(p, 0, 3), undefined, crypto.randomUUID())).lines[0]!.quantity).toBe(3);
  });

  it('one key on two carts adds to each (a key never replays another cart\'s answer); on a guest cart it replays for any caller', async () => {
    const p = await productWith([{ price: 600, stock: 50 }]);
    const me = await newCustomer();
    const [a, b] = [await newCart(), await newCart()];
    const key = crypto.randomUUID();
    const ra = await addOk(a.id, item(p, 0, 2), undefined, key);
    const rb = await add(b.id, item(p, 0, 2), undefined, key);
    expect([rb.status, rb.replayed, rb.body.id]).toEqual([201, false, b.id]);
    expect([qty(await read(a.id), p, 0), qty(await read(b.id), p, 0)]).toEqual([2, 2]);
    // The same guest cart, the same key and body, sent by a signed-in shopper: the first answer.
    const signed = await add(a.id, item(p, 0, 2), me.accessToken, key);
    expect([signed.status, signed.replayed, signed.body.version]).toEqual([201, true, ra.version]);
    const other = await add(a.id, item(p, 0, 5), me.accessToken, key);
    expect([other.status, other.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    // A user's cart: the key of the guest cart is new there.
    const mine = await newCart(me.accessToken);
    expect((await add(mine.id, item(p, 0, 2), me.accessToken, key)).replayed).toBe(false);
    expect(qty(await read(a.id), p, 0)).toBe(2);
  });
});

describe('wishlist', () => {
  const wish = (token: string, body: unknown) => answer('/v1/me/wishlist', jsonInit('POST', body, bearer(token)));
  type Page = { items: { productId: string; variantId: string | null; addedAt: string }[]; nextCursor: string | null };

  it('holds at most 500 items: the 500th saves, re-saving one is fine, the 501st is refused, also when several are saved at once', async () => {
    const me = await newCustomer();
    const userId = me.user.id;
    const tag = crypto.randomUUID().slice(0, 8);
    const prefix = `prd_wl${tag}`;
    const active = (await json<{ items: { id: string }[] }>('/v1/products?limit=13')).body.items.map((x) => x.id);
    expect(active).toHaveLength(13);
    try {
      // 499 saved items (draft products made for this test, saved an hour ago).
      await rows(sql`insert into products (id, slug, name, brand_id, category_id, status, currency, price_min, price_max)
                     select ${prefix} || lpad(g::text, 4, '0'), ${`wl-${tag}-`} || g, 'wl ' || g, p.brand_id, p.category_id, 'draft', p.currency, 100, 100
                       from (select brand_id, category_id, currency from products limit 1) p, generate_series(1, 499) g`);
      await rows(sql`insert into wishlist_items (user_id, product_id, created_at)
                     select ${userId}, ${prefix} || lpad(g::text, 4, '0'), now() - interval '1 hour' from generate_series(1, 499) g`);
      const count = async () => Number((await rows<{ n: number }>(sql`select count(*)::int as n from wishlist_items where user_id = ${userId}`))[0]!.n);
      expect(await count()).toBe(499);

      expect((await wish(me.accessToken, { productId: active[0] })).status).toBe(201);
      expect((await wish(me.accessToken, { productId: active[0] })).status).toBe(200);
      const full = await wish(me.accessToken, { productId: active[1] });
      expect([full.status, full.body.code]).toEqual([422, 'UNPROCESSABLE']);
      expect(await count()).toBe(500);

      // One place left, twelve products saved at once: one takes it, the others are refused (a few rounds: it is a race).
      for (const id of active) expect((await answer(`/v1/products/${id}`)).status).toBe(200);
      const rounds: unknown[] = [];
      for (let round = 0; round < 4; round++) {
        await rows(sql`delete from wishlist_items where user_id = ${userId} and product_id not like ${`${prefix}%`}`);
        const at = await allAtOnce(active.slice(1).map((productId) => ['/v1/me/wishlist', jsonInit('POST', { productId }, bearer(me.accessToken))] as [string, RequestInit]));
        rounds.push({ statuses: statuses(at), items: await count() });
      }
      expect(rounds).toEqual(Array(4).fill({ statuses: [201, ...Array(11).fill(422)], items: 500 }));
    } finally {
      await rows(sql`delete from wishlist_items where user_id = ${userId}`);
      await rows(sql`delete from products where id like ${`${prefix}%`}`);
    }
  });

  it('a refused move whose place was taken meanwhile by a save from another device: never 501 items, and the answer says the entry was not put back (0.3.15)', async () => {
    const me = await newCustomer();
    const userId = me.user.id;
    const tag = crypto.randomUUID().slice(0, 8);
    const prefix = `prd_wm${tag}`;
    const id = (n: number) => `${prefix}${String(n).padStart(4, '0')}`;
    const count = async () => Number((await rows<{ n: number }>(sql`select count(*)::int as n from wishlist_items where user_id = ${userId}`))[0]!.n);
    const db = new DbProvider(config);
    try {
      // 501 draft products made for this test; 500 saved, the last one saved from another device during the move.
      await rows(sql`insert into products (id, slug, name, brand_id, category_id, status, currency, price_min, price_max)
                     select ${prefix} || lpad(g::text, 4, '0'), ${`wm-${tag}-`} || g, 'wm ' || g, p.brand_id, p.category_id, 'draft', p.currency, 100, 100
                       from (select brand_id, category_id, currency from products limit 1) p, generate_series(1, 501) g`);
      await rows(sql`insert into wishlist_items (user_id, product_id, created_at)
                     select ${userId}, ${prefix} || lpad(g::text, 4, '0'), now() - interval '1 hour' from generate_series(1, 500) g`);
      expect(await count()).toBe(500);
      const meta = { requestId: 'req_test', traceparent: '', actor: { kind: 'user' as const, id: userId, roles: ['customer' as const], scopes: [], warehouseIds: [], storeId: null, sessionId: null } };
      // The service with its real repository; the cart refuses the move, after a save on another
      // device took the place the moving entry left (deterministically, inside the cart call).
      const service: WishlistService = makeWishlistService({
        readDb: () => db.http(),
        writeDb: () => db.pool(),
        catalog: { product: async (productId) => ({ id: productId, name: productId, variants: [{ id: `var_${productId}`, sku: `SKU-${productId}`, price: { amount: 100, currency: 'USD' } }] }) },
        cart: {
          async addToMyCart() {
            expect((await service.add({ productId: id(501) }, meta)).created).toBe(true);
            throw new AppError('OUT_OF_STOCK', 'This item is out of stock');
          },
        },
        accounts: { accountStatus: async () => 'active' },
      });
      const refused = await service.moveToCart(id(7), { variantId: `var_${id(7)}`, quantity: 1 }, meta).then(
        () => null,
        (e: unknown) => e,
      );
      expect(await count()).toBe(WISHLIST_MAX_ITEMS);
      expect(refused).toBeInstanceOf(AppError);
      const e = refused as AppError;
      expect({ code: e.code, status: e.status, errors: e.errors }).toEqual({
        code: 'OUT_OF_STOCK',
        status: 409,
        errors: [{ path: 'wishlist', code: 'wishlist_full', message: expect.stringContaining('could not be put back') }],
      });
      const held = await rows<{ product_id: string }>(sql`select product_id from wishlist_items where user_id = ${userId} and product_id in (${id(7)}, ${id(501)})`);
      expect(held.map((r) => r.product_id)).toEqual([id(501)]);
    } finally {
      await db.close();
      await rows(sql`delete from wishlist_items where user_id = ${userId}`);
      await rows(sql`delete from products where id like ${`${prefix}%`}`);
    }
  });

  it('a move the cart refuses over the line limit puts the entry back exactly as it was (variant, date, place); a move that fits then works', async () => {
    const [a, p, c] = [await productWith([{ price: 100, stock: 20 }]), await productWith([{ price: 800, stock: 30 }, { price: 900, stock: 30 }]), await productWith([{ price: 100, stock: 20 }])];
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 1, 9), me.accessToken);
    for (const body of [{ productId: a.productId }, { productId: p.productId, variantId: p.variants[0]!.id }, { productId: c.productId }]) expect((await wish(me.accessToken, body)).status).toBe(201);
    const before = (await json<Page>('/v1/me/wishlist', { headers: bearer(me.accessToken) })).body.items;
    expect(before.map((i) => i.productId)).toEqual([c.productId, p.productId, a.productId]);

    const move = (quantity: number, variantId = p.variants[1]!.id) => answer(`/v1/me/wishlist/${p.productId}/move-to-cart`, jsonInit('POST', { variantId, quantity }, bearer(me.accessToken)));
    const over = await move(2);
    expect([over.status, over.body.code]).toEqual([422, 'QUANTITY_LIMIT_EXCEEDED']);
    const wrong = await move(1, a.variants[0]!.id);
    expect([wrong.status, wrong.body.code]).toEqual([422, 'VARIANT_NOT_FOUND']);
    expect((await json<Page>('/v1/me/wishlist', { headers: bearer(me.accessToken) })).body.items).toEqual(before);
    expect(qty(await read(mine.id, me.accessToken), p, 1)).toBe(9);

    const ok = await move(1);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect([ok.body.id, qty(ok.body, p, 1)]).toEqual([mine.id, 10]);
    expect((await json<Page>('/v1/me/wishlist', { headers: bearer(me.accessToken) })).body.items.map((i) => i.productId)).toEqual([c.productId, a.productId]);
  });
});
