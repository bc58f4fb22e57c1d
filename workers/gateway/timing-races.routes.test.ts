/**
 * Time-driven behaviour racing with requests: an unpaid order's deadline (the order object's
 * alarm) against its payment, a stock hold's TTL (the inventory object's alarm) against the
 * payment's commit, a cart's idle expiry (the cart object's alarm) against adds, checkout and the
 * login merge, and alarms run twice. Time is moved by swapping an object's `clock` through
 * runInDurableObject and the alarm is fired with runDurableObjectAlarm (or the handler called
 * directly, to run it twice). Outcomes are read live: GET /v1/orders/{id}, GET /v1/inventory/{sku},
 * GET /v1/carts/{id}, the objects' own views.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { CartDurableObject } from '../../durable-objects/cart/cart.do';
import { cartFor } from '../../durable-objects/cart/cart.stub';
import type { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import type { OrderDurableObject } from '../../durable-objects/order/order.do';
import type { PlaceInput } from '../../durable-objects/order/order.schemas';
import { orderFor } from '../../durable-objects/order/order.stub';
import { ConfigSchema, readConfig } from '../../shared/env';
import { newId } from '../../shared/kernel/ids';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { answer, type Answer } from '../../test/support/concurrency';
import { call, json } from '../../test/support/http';
import { admin, available, emulator, eventually, paymentIntentOf, signStripe, stockedProduct } from '../../test/support/orders';
import { productWith, type FixtureProduct } from '../../test/support/products';

const config = readConfig(env);
const DEADLINE_MS = config.ORDER_PAYMENT_TIMEOUT_SECONDS * 1000;
/** The hold's TTL as the saga asks for it (docs/orders.md: payment deadline + 15 min). */
const HOLD_TTL_MS = DEADLINE_MS + 15 * 60_000;
const CART_TTL_MS = config.CART_IDLE_TTL_SECONDS * 1000;
const STRIPE_HOOK = '/v1/payments/webhooks/stripe';

type Delivery = { type: string; headers: Record<string, string>; body: string };
type Clocked = { clock: { now: () => Date } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const place = (body: unknown, token: string, key: string = crypto.randomUUID()) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key }));
const order = async (id: string) => (await json(`/v1/orders/${id}`, { headers: await admin() })).body;
const webhookInit = (d: { headers: Record<string, string>; body: string }): RequestInit => ({ method: 'POST', headers: d.headers, body: d.body });
const deliveriesOf = async (pi: string): Promise<Delivery[]> => ((await emulator(`/_emulator/webhooks?match=${encodeURIComponent(pi)}`)) as { deliveries: Delivery[] }).deliveries;
const refundsOwed = (o: any) => (o.refunds as Array<{ amount: { amount: number }; status: string }>).filter((r) => r.status !== 'failed').reduce((s, r) => s + r.amount.amount, 0);
const inventory = async (sku: string) => (await json(`/v1/inventory/${sku}`)).body;

/** Moves an object's clock `ms` ahead of the real one (from now on, for that object). */
async function shiftClock(stub: DurableObjectStub, ms: number) {
  await runInDurableObject(stub, (o: unknown) => {
    (o as Clocked).clock = { now: () => new Date(Date.now() + ms) };
  });
}

/** A placed CARD order of `quantity` units (of `units` in stock), not paid yet. */
async function cardOrder(units: number, quantity: number, price = 1000) {
  const p = await stockedProduct(units, price);
  const c = await newCustomer();
  const placed = await place({ items: [{ productId: p.productId, quantity }], paymentMethod: 'CARD' }, c.accessToken);
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  const orderId = placed.body.orderId as string;
  return { p, c, orderId, pi: paymentIntentOf(placed.body), total: quantity * price, stub: orderFor(env, orderId) };
}

/** The shopper pays at the emulator; the succeeded webhook (not delivered yet). */
async function payAtStripe(pi: string): Promise<Delivery> {
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  const succeeded = (await deliveriesOf(pi)).find((d) => d.type === 'payment_intent.succeeded');
  expect(succeeded).toBeDefined();
  return succeeded!;
}

/** Posts every webhook the emulator has for `pi` (refunds included), each once more than before is harmless. */
async function deliverAll(pi: string) {
  for (const d of await deliveriesOf(pi)) expect((await call(STRIPE_HOOK, webhookInit(d))).status).toBe(200);
}

const history = async (orderId: string) => ((await orderFor(env, orderId).view())?.history ?? []).map((h) => h.to);

describe('unpaid deadline (order alarm) vs the payment', () => {
  it('T1 paid at Stripe, webhook not in yet, the deadline alarm fires: PAID (the provider was asked), stock committed once, no refund; the late webhook changes nothing', async () => {
    const o = await cardOrder(5, 2);
    const hook = await payAtStripe(o.pi);
    await shiftClock(o.stub, DEADLINE_MS + 1_000);
    expect(await runDurableObjectAlarm(o.stub)).toBe(true);
    await call(STRIPE_HOOK, webhookInit(hook));
    const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 5_000);
    expect(live).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: { amount: 2000 } }, refunds: [] });
    expect(await history(o.orderId)).toEqual(['PENDING', 'PAID']);
    expect(await eventually(() => available(o.p.sku), (n) => n === 3, 2_000)).toBe(3);
    expect((await inventoryFor(env, o.p.sku).levels()).needsReconciliation).toBeNull();
    expect(await o.stub.pendingSteps()).toEqual([]);
  });

  it('T2 the deadline alarm and the succeeded webhook at once: PAID once, stock committed once, no refund', async () => {
    for (let round = 0; round < 3; round++) {
      const o = await cardOrder(4, 1);
      const hook = await payAtStripe(o.pi);
      await shiftClock(o.stub, DEADLINE_MS + 1_000);
      const hookP = call(STRIPE_HOOK, webhookInit(hook));
      if (round > 0) await sleep(round * 4);
      const [h] = await Promise.all([hookP, runDurableObjectAlarm(o.stub)]);
      expect(h.status).toBe(200);
      const live = await eventually(() => order(o.orderId), (x) => x.status !== 'PENDING', 5_000);
      expect(live, `round ${round}`).toMatchObject({ status: 'PAID', refunds: [], payment: { amountCaptured: { amount: 1000 } } });
      expect(await history(o.orderId)).toEqual(['PENDING', 'PAID']);
      expect(await eventually(() => available(o.p.sku), (n) => n === 3, 2_000)).toBe(3);
      expect(await o.stub.pendingSteps()).toEqual([]);
    }
  });

  it('T3 the payment completes at Stripe between the deadline\'s provider check and its cancel: CANCELLED, the capture refunded in full, the stock back once; the webhook after changes nothing', async () => {
    const o = await cardOrder(5, 2);
    // The provider check answers "open"; the shopper's payment then goes through before the
    // object's cancel reaches Stripe.
    await runInDurableObject(o.stub, (x: OrderDurableObject) => {
      const real = x.ports.payments;
      x.ports = {
        ...x.ports,
        payments: {
          ...real,
          retrieve: async (input) => {
            const r = await real.retrieve(input);
            await emulator(`/_emulator/payment_intents/${o.pi}/succeed`, { method: 'POST' });
            return r;
          },
        },
      };
    });
    await shiftClock(o.stub, DEADLINE_MS + 1_000);
    expect(await runDurableObjectAlarm(o.stub)).toBe(true);
    await deliverAll(o.pi);
    const live = await eventually(() => order(o.orderId), (x) => x.refunds.length > 0 && x.refunds.every((r: any) => r.status !== 'pending'), 8_000);
    expect(live.status).toBe('CANCELLED');
    expect(live.cancelReason).toBe('payment_timeout');
    expect(live.payment.amountCaptured.amount).toBe(2000);
    expect(refundsOwed(live), JSON.stringify(live.refunds)).toBe(2000);
    expect(live.refunds.every((r: any) => r.status === 'succeeded'), JSON.stringify(live.refunds)).toBe(true);
    expect(await eventually(() => available(o.p.sku), (n) => n === 5, 2_000)).toBe(5);
    expect(await history(o.orderId)).toEqual(['PENDING', 'CANCELLED']);
    // Delivering everything again (Stripe retries) changes nothing.
    const version = live.version;
    await deliverAll(o.pi);
    expect(await order(o.orderId)).toMatchObject({ version, status: 'CANCELLED' });
    expect(await available(o.p.sku)).toBe(5);
  });

  it('T4 the deadline alarm run twice at once and again (runtime retries): one cancellation, one release, one order.cancelled event', async () => {
    const o = await cardOrder(3, 3);
    expect(await available(o.p.sku)).toBe(0);
    await shiftClock(o.stub, DEADLINE_MS + 1_000);
    const published = await runInDurableObject(o.stub, async (x: OrderDurableObject) => {
      const sent: string[] = [];
      const real = x.ports.publish;
      x.ports = { ...x.ports, publish: async (events) => { for (const e of events) sent.push(e.type); return real(events); } };
      await Promise.all([x.alarm(), x.alarm()]);
      await x.alarm();
      return sent;
    });
    await runDurableObjectAlarm(o.stub);
    const live = await eventually(() => order(o.orderId), (x) => x.status === 'CANCELLED' && x.payment.status === 'cancelled', 5_000);
    expect(live).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_timeout', refunds: [] });
    expect(await history(o.orderId)).toEqual(['PENDING', 'CANCELLED']);
    expect(published.filter((t) => t === 'order.cancelled')).toEqual(['order.cancelled']);
    expect(await available(o.p.sku)).toBe(3);
    expect((await inventoryFor(env, o.p.sku).levels()).needsReconciliation).toBeNull();
    expect(await o.stub.pendingSteps()).toEqual([]);
  });

  it('T5 every ORDER_PAYMENT_TIMEOUT_SECONDS the config accepts still lets a card order reserve its stock (1 h deadline: hold TTL 1 h 15 min)', async () => {
    // shared/env.ts accepts up to 7 days; the saga asks inventory for a hold of deadline + 15 min.
    expect(ConfigSchema.shape.ORDER_PAYMENT_TIMEOUT_SECONDS.safeParse('3600').success).toBe(true);
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const orderId = newId('order');
    const input: PlaceInput = {
      orderId,
      requestHash: 'h1',
      userId: c.user.id,
      placedBy: { kind: 'user', id: c.user.id, role: 'customer' },
      channel: 'web',
      storeId: null,
      cartId: null,
      currency: 'USD',
      lines: [{ itemId: 'itm_1', productId: p.productId, variantId: p.variantId, sku: p.sku, name: 'x', quantity: 1, unitPrice: p.price, lineTotal: p.price }],
      shippingAddress: null,
      paymentMethod: 'CARD',
      shards: { [p.sku]: 1 },
      correlationId: 'timing-races',
    };
    const r = await runInDurableObject(orderFor(env, orderId), async (x: OrderDurableObject) => {
      x.ports = { ...x.ports, config: { paymentTimeoutMs: 3600_000 } };
      return x.place(input);
    });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, order: { status: 'PENDING' } });
    expect(await available(p.sku)).toBe(2);
  });
});

describe('stock hold TTL (inventory alarm) vs the payment', () => {
  it('T6 the hold lapses (inventory alarm) before the payment lands: PAID, the units taken once (lapsed-hold rule), no refund, nothing pending, not flagged', async () => {
    const o = await cardOrder(5, 2);
    const sku = inventoryFor(env, o.p.sku);
    await shiftClock(sku, HOLD_TTL_MS + 60_000);
    expect(await runDurableObjectAlarm(sku)).toBe(true);
    expect(await available(o.p.sku)).toBe(5);
    const hook = await payAtStripe(o.pi);
    // The inventory alarm re-runs while the payment commits: still one effect.
    const [h] = await Promise.all([call(STRIPE_HOOK, webhookInit(hook)), runInDurableObject(sku, (x: InventoryDurableObject) => x.alarm())]);
    expect(h.status).toBe(200);
    const live = await eventually(() => order(o.orderId), (x) => x.status === 'PAID', 5_000);
    expect(live).toMatchObject({ status: 'PAID', refunds: [] });
    expect(await eventually(() => o.stub.pendingSteps(), (s) => s.length === 0, 5_000)).toEqual([]);
    expect((await o.stub.view())?.stock.status).toBe('committed');
    const inv = await sku.levels();
    expect({ available: inv.totals.available, flagged: inv.needsReconciliation }).toEqual({ available: 3, flagged: null });
    // Re-delivering and re-running the alarms takes nothing more.
    await call(STRIPE_HOOK, webhookInit(hook));
    await runInDurableObject(sku, (x: InventoryDurableObject) => x.alarm());
    expect(await available(o.p.sku)).toBe(3);
  });

  it('T7 a payment made after the deadline, landing after the hold lapsed and its units were sold to another order (the order\'s own deadline alarm late): refunded, never oversold', async () => {
    // docs/orders.md: "A payment that lands after a cancellation (or after the deadline) is
    // refunded at once: the platform never keeps money for an order it gave up."
    const a = await cardOrder(2, 2);
    const sku = inventoryFor(env, a.p.sku);
    const LATE = HOLD_TTL_MS + 60_000;
    await shiftClock(sku, LATE);
    await shiftClock(a.stub, LATE);
    expect(await runDurableObjectAlarm(sku)).toBe(true);
    expect(await available(a.p.sku)).toBe(2);
    // The released units go to another shopper, who pays (cash on delivery: committed at once).
    const b = await newCustomer();
    const other = await place({ items: [{ productId: a.p.productId, quantity: 2 }], paymentMethod: 'COD' }, b.accessToken);
    expect(other.res.status, JSON.stringify(other.body)).toBe(201);
    expect(await eventually(() => available(a.p.sku), (n) => n === 0, 2_000)).toBe(0);
    // A's PaymentIntent was never cancelled (the deadline alarm has not run): the shopper pays
    // now, after the deadline; Stripe's event says so (created = now on the shifted clock).
    const hook = await payAtStripe(a.pi);
    const ev = JSON.parse(hook.body);
    ev.created = Math.floor((Date.now() + LATE) / 1000);
    const body = JSON.stringify(ev);
    expect((await call(STRIPE_HOOK, { method: 'POST', headers: await signStripe(body), body })).status).toBe(200);
    await runDurableObjectAlarm(a.stub);
    await deliverAll(a.pi);
    const live = await eventually(() => order(a.orderId), (x) => x.status !== 'PENDING' && x.refunds.every((r: any) => r.status !== 'pending'), 5_000);
    const inv = await inventory(a.p.sku);
    const obj = await sku.levels();
    const observed = { status: live.status, refunded: refundsOwed(live), onHand: obj.totals.onHand, available: obj.totals.available, publicAvailable: inv.available, flagged: obj.needsReconciliation !== null };
    expect(observed, JSON.stringify({ live: { status: live.status, refunds: live.refunds, history: await history(a.orderId) }, levels: obj })).toEqual({
      status: 'CANCELLED',
      refunded: 2000,
      onHand: 0,
      available: 0,
      publicAvailable: 0,
      flagged: false,
    });
  });

  it('T8 the inventory expiry alarm run twice at once and again: the hold expires once (units back once, one expire movement)', async () => {
    const o = await cardOrder(4, 3);
    const sku = inventoryFor(env, o.p.sku);
    await shiftClock(sku, HOLD_TTL_MS + 60_000);
    await runInDurableObject(sku, async (x: InventoryDurableObject) => {
      await Promise.all([x.alarm(), x.alarm()]);
      await x.alarm();
    });
    await runDurableObjectAlarm(sku);
    const levels = await sku.levels();
    expect(levels.totals).toMatchObject({ onHand: 4, reserved: 0, available: 4 });
    const expires = await runInDurableObject(sku, (_x: InventoryDurableObject, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM movements WHERE kind = 'expire'").one().n);
    expect(expires).toBe(1);
    // Then the order's own deadline: cancelled, the release finds the hold expired (no second return).
    await shiftClock(o.stub, HOLD_TTL_MS + 60_000);
    await runDurableObjectAlarm(o.stub);
    const live = await eventually(() => order(o.orderId), (x) => x.status === 'CANCELLED', 5_000);
    expect(live.status).toBe('CANCELLED');
    expect(await eventually(() => o.stub.pendingSteps(), (s) => s.length === 0, 5_000)).toEqual([]);
    expect((await sku.levels()).totals).toMatchObject({ onHand: 4, reserved: 0, available: 4 });
  });
});

// -------------------------------------------------------------------------------------------------
// Carts
// -------------------------------------------------------------------------------------------------

type Cart = { id: string; status: string; version: number; lines: Array<{ itemId: string; variantId: string; quantity: number }> };
const h = (token?: string) => (token ? bearer(token) : {});
const item = (p: FixtureProduct, i = 0, quantity = 1) => ({ productId: p.productId, variantId: p.variants[i]!.id, quantity });
async function newCart(token?: string): Promise<Cart> {
  const a = await answer('/v1/carts', { method: 'POST', headers: h(token) });
  expect([200, 201]).toContain(a.status);
  return a.body;
}
const add = (cartId: string, body: unknown, token?: string) => answer(`/v1/carts/${cartId}/items`, jsonInit('POST', body, h(token)));
async function addOk(cartId: string, body: unknown, token?: string) {
  const a = await add(cartId, body, token);
  expect(a.status, JSON.stringify(a.body)).toBe(201);
  return a.body as Cart;
}
const qty = (c: Cart, p: FixtureProduct, i: number) => c.lines.find((l) => l.variantId === p.variants[i]!.id)?.quantity ?? 0;
const loginWith = (c: { email: string; password: string }, cartId?: string) => answer('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password, ...(cartId ? { cartId } : {}) }));

/** The cart's object, with cart.abandoned sends captured (types of the envelopes sent). */
async function capturedCart(cartId: string) {
  const stub = cartFor(env, cartId);
  const sent: any[] = [];
  await runInDurableObject(stub, (x: CartDurableObject) => {
    x.eventsQueue = { send: async (body: unknown) => { sent.push(body); } };
  });
  return { stub, sent };
}

/** When the cart's idle expiry falls due (last activity + TTL), from its object. */
const dueAt = (stub: ReturnType<typeof cartFor>) =>
  runInDurableObject(stub, (_x: CartDurableObject, state) => {
    const r = state.storage.sql.exec<{ t: number }>('SELECT last_activity_at + idle_ttl_ms AS t FROM cart WHERE id = 1').one();
    return r.t;
  });

/** A refusal of an expired cart: 410 CART_EXPIRED (before the alarm deleted it) or 404 CART_NOT_FOUND (after), as problem+json. */
async function expectExpiredRefusal(a: Answer, path: string, init: RequestInit) {
  expect([[410, 'CART_EXPIRED'], [404, 'CART_NOT_FOUND']], JSON.stringify(a.body)).toContainEqual([a.status, a.body.code]);
  const res = await call(path, init);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = await res.json<any>();
  expect([410, 404]).toContain(res.status);
  expect(body).toMatchObject({ status: res.status, requestId: res.headers.get('x-request-id') });
}

describe('cart idle expiry (cart alarm) vs requests', () => {
  it('C1 an add-item and the expiry alarm at the boundary: the add wins (201, cart active with the units, no cart.abandoned) or the expiry wins (clear 4xx problem+json, cart.abandoned once with the lines before)', async () => {
    const p = await productWith([{ price: 700, stock: 100 }]);
    const outcomes: string[] = [];
    // The cart's clock crosses the expiry `lead` ms after the add and the alarm start (negative: already past).
    for (const lead of [-10, 0, 2, 5, 10, 25]) {
      const cart = await newCart();
      await addOk(cart.id, item(p, 0, 1));
      const { stub, sent } = await capturedCart(cart.id);
      const due = await dueAt(stub);
      await shiftClock(stub, due - Date.now() - lead);
      const [a] = await Promise.all([add(cart.id, item(p, 0, 1)), runDurableObjectAlarm(stub)]);
      // The alarm again (re-armed after an early run, or a runtime retry): never a second effect.
      await runDurableObjectAlarm(stub);
      await runInDurableObject(stub, (x: CartDurableObject) => x.alarm());
      outcomes.push(`${lead}:${a.status}`);
      if (a.status === 201) {
        expect(sent, `lead ${lead}`).toEqual([]);
        const now = (await answer(`/v1/carts/${cart.id}`)).body as Cart;
        expect([now.status, qty(now, p, 0)]).toEqual(['active', 2]);
      } else {
        await expectExpiredRefusal(a, `/v1/carts/${cart.id}/items`, jsonInit('POST', item(p, 0, 1)));
        expect(sent.map((e) => e.type), `lead ${lead}`).toEqual(['cart.abandoned']);
        expect(sent[0].data.lines.map((l: any) => l.quantity)).toEqual([1]);
      }
    }
    console.log('C1', outcomes.join(' '));
  });

  it('C2 a signed-in cart past its idle TTL, before and after the alarm: writes refused with 410 CART_EXPIRED then 404 CART_NOT_FOUND (problem+json); cart.abandoned once; POST /v1/carts opens a fresh cart', async () => {
    const p = await productWith([{ price: 500, stock: 50 }]);
    const me = await newCustomer();
    const cart = await newCart(me.accessToken);
    await addOk(cart.id, item(p, 0, 2), me.accessToken);
    const { stub, sent } = await capturedCart(cart.id);
    await shiftClock(stub, CART_TTL_MS + 60_000);
    const before = await add(cart.id, item(p, 0, 1), me.accessToken);
    expect([before.status, before.body.code]).toEqual([410, 'CART_EXPIRED']);
    await expectExpiredRefusal(before, `/v1/carts/${cart.id}/items`, jsonInit('POST', item(p, 0, 1), bearer(me.accessToken)));
    // The alarm, twice (a runtime retry): one event.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (x: CartDurableObject) => x.alarm());
    expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
    expect(sent[0].data).toMatchObject({ cartId: cart.id, userId: me.user.id });
    const after = await add(cart.id, item(p, 0, 1), me.accessToken);
    expect([after.status, after.body.code]).toEqual([404, 'CART_NOT_FOUND']);
    const fresh = await answer('/v1/carts', { method: 'POST', headers: bearer(me.accessToken) });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(cart.id);
    expect(fresh.body.lines).toEqual([]);
  });

  it('C3 checkout from a cart whose idle expiry fires while the order is being placed: the order refused (410/404, problem+json), its stock released, cart.abandoned once with the lines', async () => {
    const p = await productWith([{ price: 1200, stock: 6 }]);
    const me = await newCustomer();
    const cart = await newCart(me.accessToken);
    await addOk(cart.id, item(p, 0, 2), me.accessToken);
    const { stub, sent } = await capturedCart(cart.id);
    const orderP = answer('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'CARD' }, { ...bearer(me.accessToken), 'idempotency-key': crypto.randomUUID() }));
    // Once the order holds the stock (the snapshot is taken), the TTL passes and the alarm runs.
    await eventually(() => available(p.variants[0]!.sku), (n) => n === 4, 5_000);
    await shiftClock(stub, CART_TTL_MS + 60_000);
    await runDurableObjectAlarm(stub);
    const o = await orderP;
    if (o.status === 201) {
      // The order closed the cart first: no cart.abandoned for a checked-out cart.
      expect(sent).toEqual([]);
      expect(await available(p.variants[0]!.sku)).toBe(4);
    } else {
      expect([[410, 'CART_EXPIRED'], [404, 'CART_NOT_FOUND']], JSON.stringify(o.body)).toContainEqual([o.status, o.body.code]);
      expect(await eventually(() => available(p.variants[0]!.sku), (n) => n === 6, 5_000)).toBe(6);
      expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
      expect(sent[0].data.lines.map((l: any) => l.quantity)).toEqual([2]);
    }
  });

  it('C4 a checked-out cart reaching its idle TTL: the alarm (run twice) emits no cart.abandoned', async () => {
    const p = await productWith([{ price: 800, stock: 10 }]);
    const me = await newCustomer();
    const cart = await newCart(me.accessToken);
    await addOk(cart.id, item(p, 0, 1), me.accessToken);
    const o = await answer('/v1/orders', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, { ...bearer(me.accessToken), 'idempotency-key': crypto.randomUUID() }));
    expect(o.status, JSON.stringify(o.body)).toBe(201);
    const { stub, sent } = await capturedCart(cart.id);
    await shiftClock(stub, 6 * 86_400_000);
    await runDurableObjectAlarm(stub);
    await runInDurableObject(stub, (x: CartDurableObject) => x.alarm());
    expect(sent).toEqual([]);
    expect(((await answer(`/v1/carts/${cart.id}`, { headers: bearer(me.accessToken) })).body as Cart).status).toBe('checked_out');
  });

  it("C5 a login merge while the user's cart expires under it (the expiry alarm runs between the merge opening it and adding the guest lines): the guest lines are not lost", async () => {
    const p = await productWith([{ price: 900, stock: 50 }, { price: 400, stock: 50 }]);
    const me = await newCustomer();
    const mine = await newCart(me.accessToken);
    await addOk(mine.id, item(p, 0, 1), me.accessToken);
    const guest = await newCart();
    await addOk(guest.id, item(p, 1, 2));
    const { stub, sent } = await capturedCart(mine.id);
    // The login's merge reads the user's cart (openForUser: active), and right after that read the
    // TTL passes and the cart's expiry alarm runs; then the merge closes the guest cart and adds
    // its lines to the cart it read.
    await runInDurableObject(stub, (u: CartDurableObject) => {
      const x = u as unknown as { state: (...a: unknown[]) => unknown };
      const real = x.state.bind(u);
      let armed = true;
      x.state = (...a: unknown[]) => {
        const r = real(...a);
        if (armed) {
          armed = false;
          u.clock = { now: () => new Date(Date.now() + CART_TTL_MS + 60_000) };
          void u.alarm();
        }
        return r;
      };
    });
    const l = await loginWith(me, guest.id);
    expect(l.status).toBe(200);
    expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
    const active = await newCart(me.accessToken);
    const guestNow = (await answer(`/v1/carts/${guest.id}`)).body as Cart;
    expect(
      { merge: l.body.cart?.merge?.status, cartId: l.body.cart?.id, guest: guestNow.status, guestUnitsInUserCart: qty(active, p, 1) },
      JSON.stringify({ login: l.body.cart, guest: guestNow }),
    ).toEqual({ merge: 'merged', cartId: active.id, guest: 'closed', guestUnitsInUserCart: 2 });
  });
});
