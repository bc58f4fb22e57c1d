/**
 * Cart flows under concurrency: the same or conflicting cart requests at once (two devices, a
 * double click, a login racing a checkout). Never a 5xx; quantities neither lost nor doubled;
 * limits never exceeded; a guest cart merged exactly once, never lost.
 */
import { describe, expect, it } from 'vitest';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { answer as call, type Answer } from '../../test/support/concurrency';
import { productWith, type FixtureProduct } from '../../test/support/products';

type Line = { itemId: string; variantId: string; quantity: number };
type Cart = { id: string; status: string; version: number; kind: string; lines: Line[]; totals: { currency: string; subtotal: number; total: { amount: number; currency: string }; units: number }[] };

const h = (token?: string, extra: Record<string, string> = {}) => (token ? bearer(token, extra) : extra);
const item = (p: FixtureProduct, i = 0, quantity = 1) => ({ productId: p.productId, variantId: p.variants[i]!.id, quantity });

async function newCart(token?: string): Promise<Cart> {
  const a = await call('/v1/carts', { method: 'POST', headers: h(token) });
  expect([200, 201]).toContain(a.status);
  return a.body;
}

const add = (cartId: string, body: unknown, token?: string, key?: string) => call(`/v1/carts/${cartId}/items`, jsonInit('POST', body, h(token, key ? { 'idempotency-key': key } : {})));

async function addOk(cartId: string, body: unknown, token?: string) {
  const a = await add(cartId, body, token);
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  return a.body as Cart;
}

const read = async (cartId: string, token?: string) => (await call(`/v1/carts/${cartId}`, { headers: h(token) })).body as Cart;
const qty = (c: Cart, p: FixtureProduct, i: number) => c.lines.find((l) => l.variantId === p.variants[i]!.id)?.quantity ?? 0;
const units = (c: Cart) => c.lines.reduce((n, l) => n + l.quantity, 0);
const loginWith = (c: { email: string; password: string }, cartId?: string) => call('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password, ...(cartId ? { cartId } : {}) }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cart: concurrent requests', () => {
  it('P1 one guest cart passed to two logins of one user at once: merged once, guest closed', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }, { price: 700, stock: 50 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 0, 2), me.accessToken);
    const guest = await newCart();
    await addOk(guest.id, item(p, 0, 3));
    await addOk(guest.id, item(p, 1, 4));
    const answers = await Promise.all([loginWith(me, guest.id), loginWith(me, guest.id), loginWith(me, guest.id)]);
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    for (const a of answers) expect(a.body.cart, JSON.stringify(a.body.cart)).toMatchObject({ id: mine.id, merge: { status: 'merged' } });
    const after = await read(mine.id, me.accessToken);
    expect([qty(after, p, 0), qty(after, p, 1)]).toEqual([5, 4]);
    expect((await read(guest.id)).status).toBe('closed');
  });

  it('P1b one guest cart, two logins at once, the user having no cart yet: one user cart, merged once', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }]);
    const me = await newCustomer();
    const guest = await newCart();
    await addOk(guest.id, item(p, 0, 3));
    const answers = await Promise.all([loginWith(me, guest.id), loginWith(me, guest.id), loginWith(me, guest.id)]);
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    const ids = new Set(answers.map((a) => a.body.cart?.id));
    expect(ids.size, JSON.stringify(answers.map((a) => a.body.cart))).toBe(1);
    for (const a of answers) expect(a.body.cart.merge.status, JSON.stringify(a.body.cart)).toBe('merged');
    const active = await newCart(me.accessToken);
    expect(active.id).toBe([...ids][0]);
    expect(qty(active, p, 0)).toBe(3);
  });

  it('P2 a guest cart merged while items are being added to it: every 201 add ends up in the user cart, the rest 410', async () => {
    const p = await productWith([{ price: 500, stock: 100 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    const guest = await newCart();
    await addOk(guest.id, item(p, 0, 1));
    const adds: Promise<Answer>[] = [];
    const loginP = loginWith(me, guest.id);
    for (let i = 0; i < 8; i++) {
      adds.push(add(guest.id, item(p, 0, 1)));
      await sleep(15);
    }
    const [lg, ...added] = await Promise.all([loginP, ...adds]);
    expect(lg.status).toBe(200);
    const ok = added.filter((a) => a.status === 201).length;
    for (const a of added) expect([201, 410], JSON.stringify(a.body)).toContain(a.status);
    const after = await read(mine.id, me.accessToken);
    console.log('P2', JSON.stringify(added.map((a) => a.status)));
    expect(qty(after, p, 0), JSON.stringify({ ok, merge: lg.body.cart })).toBe(1 + ok);
    expect((await read(guest.id)).status).toBe('closed');
  });

  it('P3 two different guest carts merged into one user cart at once: quantities combined, line limit respected', async () => {
    const p = await productWith([{ price: 1000, stock: 50 }, { price: 300, stock: 50 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 0, 7), me.accessToken);
    const [g1, g2] = [await newCart(), await newCart()];
    await addOk(g1.id, item(p, 0, 6));
    await addOk(g1.id, item(p, 1, 2));
    await addOk(g2.id, item(p, 0, 6));
    await addOk(g2.id, item(p, 1, 3));
    const [a, b] = await Promise.all([loginWith(me, g1.id), loginWith(me, g2.id)]);
    for (const x of [a, b]) expect(x.body.cart, JSON.stringify(x.body.cart)).toMatchObject({ id: mine.id, merge: { status: 'merged' } });
    const merged0 = [a, b].reduce((n, x) => n + x.body.cart.merge.lines.find((l: any) => l.variantId === p.variants[0]!.id).merged, 0);
    expect(merged0).toBe(3);
    const after = await read(mine.id, me.accessToken);
    expect([qty(after, p, 0), qty(after, p, 1)]).toEqual([10, 5]);
    expect(after.totals).toEqual([{ currency: 'USD', subtotal: 10 * 1000 + 5 * 300, total: { amount: 10 * 1000 + 5 * 300, currency: 'USD' }, units: 15 }]);
  });

  it('P3b two guest carts merged at once near the per-cart unit limit (100): never above it', async () => {
    const p = await productWith(Array.from({ length: 11 }, () => ({ price: 100, stock: 30 })));
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    for (let i = 0; i < 9; i++) await addOk(mine.id, item(p, i, 10), me.accessToken);
    const [g1, g2] = [await newCart(), await newCart()];
    await addOk(g1.id, item(p, 9, 8));
    await addOk(g2.id, item(p, 10, 8));
    const [a, b] = await Promise.all([loginWith(me, g1.id), loginWith(me, g2.id)]);
    const report = [a, b].map((x) => x.body.cart);
    const after = await read(mine.id, me.accessToken);
    expect(units(after), JSON.stringify(report)).toBe(100);
    expect(report.flatMap((r: any) => r.merge.lines).reduce((n: number, l: any) => n + l.merged, 0)).toBe(10);
  });

  it('P4 add-item with one Idempotency-Key and two different bodies at once: one applied, the other 422', async () => {
    const p = await productWith([{ price: 300, stock: 50 }]);
    const cart = await newCart();
    const key = crypto.randomUUID();
    const answers = await Promise.all([add(cart.id, item(p, 0, 2), undefined, key), add(cart.id, item(p, 0, 3), undefined, key), add(cart.id, item(p, 0, 2), undefined, key), add(cart.id, item(p, 0, 3), undefined, key)]);
    const statuses = answers.map((a) => a.status);
    const after = await read(cart.id);
    const q = qty(after, p, 0);
    expect([2, 3], JSON.stringify(answers.map((a) => [a.status, a.body.code]))).toContain(q);
    // The winning body: its copies 201 (one replayed); the other body's copies 422.
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 422)).toHaveLength(2);
    for (const a of answers.filter((x) => x.status === 422)) expect(a.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(after.version).toBe(2);
  });

  it('P5 adds that together cross the per-cart unit limit at once: exactly the limit, the rest 422', async () => {
    const p = await productWith(Array.from({ length: 15 }, () => ({ price: 100, stock: 30 })));
    const cart = await newCart();
    for (let i = 0; i < 9; i++) await addOk(cart.id, item(p, i, 10));
    const answers = await Promise.all(Array.from({ length: 6 }, (_, k) => add(cart.id, item(p, 9 + k, 5))));
    const ok = answers.filter((a) => a.status === 201).length;
    expect(ok).toBe(2);
    for (const a of answers.filter((x) => x.status !== 201)) expect([a.status, a.body.code]).toEqual([422, 'QUANTITY_LIMIT_EXCEEDED']);
    const after = await read(cart.id);
    expect(units(after)).toBe(100);
    expect(after.lines).toHaveLength(11);
  });

  it('P6 PATCH quantity and DELETE of the same line at once: consistent answers and end state', async () => {
    const p = await productWith([{ price: 300, stock: 50 }]);
    for (let round = 0; round < 3; round++) {
      const cart = await newCart();
      const added = await addOk(cart.id, item(p, 0, 2));
      const itemId = added.lines[0]!.itemId;
      const url = `/v1/carts/${cart.id}/items/${itemId}`;
      const [patch, del, patch2] = await Promise.all([call(url, jsonInit('PATCH', { quantity: 5 })), call(url, { method: 'DELETE' }), call(url, jsonInit('PATCH', { quantity: 4 }))]);
      expect(del.status, JSON.stringify(del.body)).toBe(200);
      for (const x of [patch, patch2]) expect([200, 404], JSON.stringify(x.body)).toContain(x.status);
      for (const x of [patch, patch2]) if (x.status === 404) expect(x.body.code).toBe('CART_ITEM_NOT_FOUND');
      expect((await read(cart.id)).lines).toEqual([]);
    }
  });

  it('P7 POST /v1/carts from two devices while the cart is checked out: the order gets the cart, a new cart is not the checked-out one', async () => {
    const p = await productWith([{ price: 900, stock: 50 }]);
    const me = await newCustomer();
    const other = await login(me.email, me.password);
    const cart = await newCart(me.accessToken);
    await addOk(cart.id, item(p, 0, 2), me.accessToken);
    const order = call('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
    const opens: Promise<Answer>[] = [];
    for (let i = 0; i < 6; i++) {
      opens.push(call('/v1/carts', { method: 'POST', headers: bearer(i % 2 ? other.accessToken : me.accessToken) }));
      await sleep(10);
    }
    const [o, ...opened] = await Promise.all([order, ...opens]);
    expect(o.status, JSON.stringify(o.body)).toBe(201);
    expect(o.body.items).toMatchObject([{ sku: p.variants[0]!.sku, quantity: 2 }]);
    console.log('P7', JSON.stringify(opened.map((a) => [a.status, a.body.id === cart.id ? 'old' : 'new'])));
    for (const a of opened) if (a.status === 201) expect(a.body.id).not.toBe(cart.id);
    const newIds = new Set(opened.filter((a) => a.body.id !== cart.id).map((a) => a.body.id));
    expect(newIds.size, JSON.stringify(opened.map((a) => [a.status, a.body.id]))).toBeLessThanOrEqual(1);
    const now = await newCart(other.accessToken);
    expect(now.id).not.toBe(cart.id);
    expect(now.status).toBe('active');
    if (newIds.size === 1) expect(now.id).toBe([...newIds][0]);
  });

  it('P8 adding to a cart while it is checked out: every 201 add is in the order, or the order is refused', async () => {
    const p = await productWith([{ price: 900, stock: 50 }, { price: 400, stock: 50 }]);
    const me = await newCustomer();
    for (let round = 0; round < 4; round++) {
      const cart = await newCart(me.accessToken);
      await addOk(cart.id, item(p, 0, 1), me.accessToken);
      const order = call('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
      const adds: Promise<Answer>[] = [];
      // The last round starts adding once the checkout is well under way.
      if (round === 3) await sleep(25);
      for (let i = 0; i < 6; i++) {
        adds.push(add(cart.id, item(p, 1, 1), me.accessToken));
        await sleep([5, 30, 60, 8][round]!);
      }
      const [o, ...added] = await Promise.all([order, ...adds]);
      for (const a of added) expect([201, 409], JSON.stringify(a.body)).toContain(a.status);
      for (const a of added) if (a.status === 409) expect(a.body.code).toBe('CART_CHECKED_OUT');
      const ok = added.filter((a) => a.status === 201).length;
      console.log('P8', round, o.status, o.body.code ?? '', JSON.stringify(added.map((a) => a.status)));
      if (o.status === 201) {
        const units1 = o.body.items.find((x: any) => x.sku === p.variants[1]!.sku)?.quantity ?? 0;
        expect(units1, JSON.stringify({ round, ok, items: o.body.items })).toBe(ok);
      } else {
        expect([o.status, o.body.code], JSON.stringify(o.body)).toEqual([409, 'CART_VERSION_MISMATCH']);
        const c = await read(cart.id, me.accessToken);
        expect(c.status).toBe('active');
        expect(qty(c, p, 1)).toBe(ok);
        // Leave no active cart with lines behind for the next round: check it out.
        const o2 = await call('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
        expect(o2.status, JSON.stringify(o2.body)).toBe(201);
      }
    }
  });

  it("P9 a guest cart merged at login while the user's cart is being checked out: the guest lines are never lost", async () => {
    // The login's merge reads the user's cart (openForUser), closes the guest cart, then adds its
    // lines (mergeFrom). Rounds bisect the delay between the login and the checkout of the user's
    // cart: too early, the merge opens a new cart; too late, it lands in the cart before the order
    // closes it. In between, the order closes the cart under the merge.
    const p = await productWith([{ price: 900, stock: 300 }, { price: 400, stock: 300 }]);
    const me = await newCustomer();
    const t0 = Date.now();
    await loginWith(me);
    let lo = 0;
    let hi = Math.max(60, (Date.now() - t0) * 2);
    const failures: unknown[] = [];
    const outcomes: unknown[] = [];
    for (let round = 0; round < 12; round++) {
      // Once the bounds meet, spread around them (the timing jitters by a few ms).
      const delay = Math.max(0, Math.round((lo + hi) / 2) + (hi - lo < 8 ? ((round % 5) - 2) * 3 : 0));
      const cart = await newCart(me.accessToken);
      await addOk(cart.id, item(p, 0, 1), me.accessToken);
      const guest = await newCart();
      await addOk(guest.id, item(p, 1, 2));
      const lg = loginWith(me, guest.id);
      await sleep(delay);
      const o = await call('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
      const l = await lg;
      expect(l.status).toBe(200);
      const guestNow = await read(guest.id);
      const active = await newCart(me.accessToken);
      const inOrder = o.status === 201 ? (o.body.items.find((x: any) => x.sku === p.variants[1]!.sku)?.quantity ?? 0) : 0;
      const inActive = qty(active, p, 1);
      const where = guestNow.status === 'active' ? qty(guestNow, p, 1) : inOrder + inActive;
      const into = l.body.cart?.id === cart.id ? 'into-ordered-cart' : 'into-new-cart';
      outcomes.push([delay, o.status, l.body.cart?.merge?.status, l.body.cart?.merge?.reason ?? '', into]);
      if (where !== 2) {
        // A retried login cannot recover the lines either.
        const retry = await loginWith(me, guest.id);
        failures.push({ delay, order: [o.status, o.body.code ?? o.body.status], orderedCart: cart.id, merge: l.body.cart, guest: guestNow.status, inOrder, inActive, retry: retry.body.cart });
      } else if (into === 'into-new-cart') lo = delay;
      else hi = delay;
      // Clean up (a refused order leaves its cart active with the merged lines): check out whatever
      // is active so the next round starts from a fresh cart.
      if (active.lines.length > 0) await call('/v1/orders', jsonInit('POST', { cartId: active.id, paymentMethod: 'COD' }, bearer(me.accessToken)));
    }
    console.log('P9', JSON.stringify(outcomes));
    expect(failures.slice(0, 2), `${failures.length} of 12 rounds lost the guest lines`).toEqual([]);
  });
});
