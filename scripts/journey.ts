/**
 * `npm run journey [-- BASE_URL]`: walks a shopper's whole journey against a running `npm run dev`
 * with plain fetch, printing every step, and exits non-zero at the first thing that goes wrong.
 *
 *   register → log in → browse and search → cart → order (CARD) → pay at the Stripe emulator →
 *   PAID (its webhooks reached the Worker) → staff ship it → signed carrier update → tracking;
 *   then a second order: pay, cancel, refund.
 *
 * Base URL: the first argument, else AGORA_URL, else http://127.0.0.1:8787 (dev's HOST/PORT).
 * The Stripe emulator `npm run dev` started: STRIPE_EMULATOR_URL, else http://127.0.0.1:$STRIPE_EMULATOR_PORT
 * (default 12111). The carrier webhook secret: CARRIER_WEBHOOK_SECRET, else dev's default (scripts/dev.ts).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { DEFAULT_DEV_PASSWORD } from './dev-accounts.ts';

const BASE = (process.argv[2] ?? process.env.AGORA_URL ?? `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 8787}`).replace(/\/$/, '');
const STRIPE = (process.env.STRIPE_EMULATOR_URL ?? `http://127.0.0.1:${process.env.STRIPE_EMULATOR_PORT ?? 12111}`).replace(/\/$/, '');
/** The same default as scripts/dev.ts gives the Worker. */
const CARRIER_SECRET = process.env.CARRIER_WEBHOOK_SECRET ?? 'agora-dev-carrier-webhook-secret';
const DEV_PASSWORD = process.env.AGORA_DEV_PASSWORD || DEFAULT_DEV_PASSWORD;
/** One made-up client IP per run (the per-IP register/login limits; honoured where the runtime passes it on). */
const IP = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;

const started = Date.now();
let stepNo = 0;
const c = { dim: '\x1b[2m', green: '\x1b[32m', red: '\x1b[31m', cyan: '\x1b[36m', off: '\x1b[0m' };
const step = (title: string) => console.log(`\n${c.cyan}${String(++stepNo).padStart(2)}. ${title}${c.off}`);
const info = (msg: string) => console.log(`    ${msg}`);

class JourneyError extends Error {}

interface Answer<T> {
  status: number;
  body: T;
  ms: number;
}

/** One request; prints `METHOD path → status (ms)`; throws unless the status is expected. */
async function call<T = unknown>(method: string, url: string, opts: { body?: unknown; headers?: Record<string, string>; expect?: number[]; quiet?: boolean; raw?: string } = {}): Promise<Answer<T>> {
  const full = url.startsWith('http') ? url : `${BASE}${url}`;
  const headers: Record<string, string> = { 'cf-connecting-ip': IP, ...opts.headers };
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(full, { method, headers, body });
  } catch (err) {
    throw new JourneyError(`${method} ${full}: ${err instanceof Error ? err.message : String(err)} (is \`npm run dev\` running?)`);
  }
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  const expect = opts.expect ?? [200, 201];
  const ok = expect.includes(res.status);
  if (!opts.quiet || !ok) console.log(`    ${c.dim}${method} ${full.replace(BASE, '')} → ${res.status} (${ms.toFixed(0)} ms)${c.off}`);
  if (!ok) throw new JourneyError(`${method} ${full} answered ${res.status}, expected ${expect.join('/')}:\n${typeof parsed === 'string' ? parsed.slice(0, 1500) : JSON.stringify(parsed, null, 2).slice(0, 1500)}`);
  return { status: res.status, body: parsed as T, ms };
}

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new JourneyError(msg);
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new JourneyError(`${what}: not reached within ${ms / 1000}s; last seen: ${JSON.stringify(last).slice(0, 800)}`);
    await new Promise((r) => setTimeout(r, 250));
    last = await read();
  }
  return last;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const money = (m: { amount: number; currency: string }) => `${(m.amount / 100).toFixed(2)} ${m.currency}`;

interface Order {
  orderId: string;
  status: string;
  total: { amount: number; currency: string };
  items: Array<{ itemId: string; sku: string; name: string; quantity: number }>;
  payment: { method: string; status: string; clientAction: { type: string; clientSecret?: string } | null; amountCaptured: { amount: number; currency: string } };
  shipments: Array<{ shipmentId: string; warehouseId: string; trackingNumber: string; status: string }>;
  refunds: Array<{ refundId: string; amount: { amount: number; currency: string }; status: string }>;
}

/** Cart → order (CARD) → paid at the emulator → PAID. */
async function buyAndPay(token: string, product: { productId: string; variantId: string; name: string }, quantity: number): Promise<Order> {
  const cart = await call<{ id: string; status: string }>('POST', '/v1/carts', { headers: bearer(token) });
  info(`cart ${cart.body.id} (${cart.body.status})`);
  const added = await call<{ lines: unknown[]; totals: Array<{ currency: string; total: { amount: number; currency: string }; units: number }> }>('POST', `/v1/carts/${cart.body.id}/items`, {
    headers: { ...bearer(token), 'idempotency-key': randomUUID() },
    body: { productId: product.productId, variantId: product.variantId, quantity },
  });
  info(`added ${quantity} × ${product.name}: ${added.body.totals.map((t) => `${t.units} units, ${(t.total.amount / 100).toFixed(2)} ${t.total.currency}`).join('; ')}`);

  const placed = await call<Order>('POST', '/v1/orders', { headers: { ...bearer(token), 'idempotency-key': randomUUID() }, body: { cartId: cart.body.id, paymentMethod: 'CARD' }, expect: [201] });
  check(placed.body.status === 'PENDING', `a new order should be PENDING, is ${placed.body.status}`);
  const secret = placed.body.payment.clientAction?.clientSecret;
  check(secret, `the order carries no Stripe client secret: ${JSON.stringify(placed.body.payment)}`);
  const intent = secret.split('_secret_')[0]!;
  info(`order ${placed.body.orderId}: ${placed.body.status}, total ${money(placed.body.total)}, payment ${placed.body.payment.status} (PaymentIntent ${intent})`);

  await call('POST', `${STRIPE}/_emulator/payment_intents/${intent}/succeed`);
  info('the card was confirmed at the Stripe emulator (as Stripe.js would); its webhooks go to the Worker');
  const paid = await until(
    `order ${placed.body.orderId} PAID`,
    async () => (await call<Order>('GET', `/v1/orders/${placed.body.orderId}`, { headers: bearer(token), quiet: true })).body,
    (o) => o.status !== 'PENDING',
  );
  check(paid.status === 'PAID', `the order should be PAID, is ${paid.status} (payment ${paid.payment.status})`);
  info(`${c.green}PAID${c.off}: captured ${money(paid.payment.amountCaptured)}, payment ${paid.payment.status}`);
  return paid;
}

async function main() {
  console.log(`Agora journey against ${BASE} (Stripe emulator ${STRIPE})`);

  step('The Worker is up');
  const health = await call<{ status?: string }>('GET', '/healthz');
  info(`healthz: ${JSON.stringify(health.body).slice(0, 200)}`);

  step('Register a new customer');
  const email = `journey-${Date.now().toString(36)}@example.com`;
  const password = 'journey passphrase 2026 ok';
  const reg = await call<{ user: { id: string; email: string; roles: string[] } }>('POST', '/v1/auth/register', { body: { email, password }, expect: [201] });
  info(`${reg.body.user.email} → ${reg.body.user.id} (${reg.body.user.roles.join(', ')})`);

  step('Log in');
  const session = await call<{ accessToken: string; user: { id: string } }>('POST', '/v1/auth/login', { body: { email, password } });
  const token = session.body.accessToken;
  check(session.body.user.id === reg.body.user.id, 'login answered another user');
  info(`access token for ${session.body.user.id}`);
  const me = await call<{ email: string }>('GET', '/v1/me', { headers: bearer(token) });
  info(`GET /v1/me: ${me.body.email}`);

  step('Browse and search the catalog');
  const cats = await call<{ items?: unknown[] } | unknown[]>('GET', '/v1/categories');
  const catCount = Array.isArray(cats.body) ? cats.body.length : (cats.body.items?.length ?? 0);
  info(`${catCount} top-level categories`);
  const page = await call<{ items: Array<{ id: string; name: string }>; nextCursor: string | null }>('GET', '/v1/products?limit=5&sort=newest');
  info(`newest: ${page.body.items.map((p) => p.name).join(', ')}`);
  const term = page.body.items[0]?.name.split(/\s+/)[0] ?? 'desk';
  const search = await call<{ items: Array<{ id: string; name: string }>; facets?: unknown }>('GET', `/v1/products?q=${encodeURIComponent(term)}&inStock=true&limit=5`);
  info(`search "${term}" (in stock): ${search.body.items.length} hits${search.body.items[0] ? `, first: ${search.body.items[0].name}` : ''}`);

  step("Log in as staff@agora.dev (to learn the warehouse that will ship)");
  const staff = await call<{ accessToken: string; user: { warehouseIds: string[] } }>('POST', '/v1/auth/login', { body: { email: 'staff@agora.dev', password: DEV_PASSWORD } });
  const warehouseId = staff.body.user.warehouseIds[0];
  check(warehouseId, 'staff@agora.dev is bound to no warehouse');
  info(`staff warehouse ${warehouseId}`);

  step(`Pick an in-stock product whose stock is in ${warehouseId} only (the order's view does not say where its stock was reserved)`);
  type Listed = { id: string; name: string; variants?: Array<{ id: string; sku: string; inStock: boolean }> };
  let chosen: { productId: string; variantId: string; sku: string; name: string; fallback: boolean } | undefined;
  let fallback: typeof chosen;
  let cursor: string | null = null;
  for (let pageNo = 0; pageNo < 2 && !chosen; pageNo++) {
    const list: Answer<{ items: Listed[]; nextCursor: string | null }> = await call('GET', `/v1/products?inStock=true&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { quiet: true });
    for (const p of list.body.items) {
      const detail = p.variants ? p : (await call<Listed>('GET', `/v1/products/${p.id}`, { quiet: true })).body;
      for (const v of detail.variants ?? []) {
        if (!v.inStock) continue;
        const inv = await call<{ available: number; warehouses: Array<{ warehouseId: string; available: number }> }>('GET', `/v1/inventory/${encodeURIComponent(v.sku)}`, { quiet: true });
        const here = inv.body.warehouses.find((w) => w.warehouseId === warehouseId)?.available ?? 0;
        const elsewhere = inv.body.warehouses.filter((w) => w.warehouseId !== warehouseId).reduce((n, w) => n + w.available, 0);
        if (here >= 3 && elsewhere === 0) {
          chosen = { productId: detail.id, variantId: v.id, sku: v.sku, name: detail.name, fallback: false };
          break;
        }
        if (here >= 3 && !fallback) fallback = { productId: detail.id, variantId: v.id, sku: v.sku, name: detail.name, fallback: true };
      }
      if (chosen) break;
    }
    cursor = list.body.nextCursor;
    if (!cursor) break;
  }
  chosen ??= fallback;
  check(chosen, `no in-stock product with at least 3 units in ${warehouseId}`);
  info(`${chosen.name} (${chosen.sku})${chosen.fallback ? ` — also stocked elsewhere: the reservation may take another warehouse's units` : ''}`);
  const before = await call<{ available: number }>('GET', `/v1/inventory/${encodeURIComponent(chosen.sku)}`);
  info(`available before: ${before.body.available}`);

  step('Cart, order (CARD), pay at the Stripe emulator, wait until PAID');
  const order = await buyAndPay(token, chosen, 2);

  step(`Staff ship it from ${warehouseId}`);
  const trackingNumber = `JRN-${randomUUID().slice(0, 8).toUpperCase()}`;
  const shipped = await call<Order>('POST', `/v1/orders/${order.orderId}/fulfillments`, {
    headers: { ...bearer(staff.body.accessToken), 'idempotency-key': randomUUID() },
    body: { warehouseId, carrier: 'acme', trackingNumber, items: order.items.map((i) => ({ itemId: i.itemId, quantity: i.quantity })) },
    expect: [201],
  });
  check(shipped.body.status === 'SHIPPED', `after shipping every item the order should be SHIPPED, is ${shipped.body.status}`);
  info(`${c.green}SHIPPED${c.off}: shipment ${shipped.body.shipments[0]?.shipmentId} via acme, tracking ${trackingNumber}`);

  step('The carrier posts signed tracking updates (POST /v1/shipping/webhooks/acme)');
  const carrierPost = async (status: string, description: string, location: string) => {
    const raw = JSON.stringify({ eventId: `${trackingNumber}-${status}`, trackingNumber, status, description, location, occurredAt: new Date().toISOString() });
    const signature = createHmac('sha256', CARRIER_SECRET).update(raw).digest('hex');
    // The webhook finds the parcel through the order projection (a queue consumer): 404 until it has it.
    return until(
      `carrier update ${status} accepted`,
      () => call<{ applied?: number }>('POST', '/v1/shipping/webhooks/acme', { raw, headers: { 'content-type': 'application/json', 'x-carrier-signature': signature }, expect: [200, 404] }),
      (r) => r.status === 200,
    );
  };
  const transit = await carrierPost('in_transit', 'left the sorting centre', 'Utrecht');
  info(`in_transit: ${JSON.stringify(transit.body)}`);
  const delivered = await carrierPost('delivered', 'left at the door', 'Amsterdam');
  info(`delivered: ${JSON.stringify(delivered.body)}`);

  step('Tracking (GET /v1/orders/{id}/tracking)');
  const tracking = await call<{ status: string; timeline: Array<{ at: string; kind: string; status: string; description: string; location: string | null }> }>('GET', `/v1/orders/${order.orderId}/tracking`, { headers: bearer(token) });
  for (const t of tracking.body.timeline) info(`${t.at}  ${t.kind.padEnd(8)} ${t.status.padEnd(12)} ${t.description}${t.location ? ` (${t.location})` : ''}`);
  check(tracking.body.status === 'DELIVERED', `after the delivered update the order should be DELIVERED, is ${tracking.body.status}`);
  info(`${c.green}${tracking.body.status}${c.off}`);

  step('A second order: pay it, then cancel it');
  const second = await buyAndPay(token, chosen, 1);
  const cancelled = await call<Order & { cancelReason: string }>('POST', `/v1/orders/${second.orderId}/cancel`, { headers: bearer(token), body: { reason: 'changed my mind (journey)' } });
  check(cancelled.body.status === 'CANCELLED', `the cancelled order should be CANCELLED, is ${cancelled.body.status}`);
  check(cancelled.body.refunds.length === 1, `a paid order cancelled should carry one refund, has ${cancelled.body.refunds.length}`);
  info(`${c.green}CANCELLED${c.off} (${cancelled.body.cancelReason}); refund ${cancelled.body.refunds[0]!.refundId} of ${money(cancelled.body.refunds[0]!.amount)}: ${cancelled.body.refunds[0]!.status}`);

  step('The refund settles (Stripe refund webhook)');
  const settled = await until(
    'refund succeeded',
    async () => (await call<Order>('GET', `/v1/orders/${second.orderId}`, { headers: bearer(token), quiet: true })).body,
    (o) => o.refunds[0]?.status !== 'pending',
  );
  check(settled.refunds[0]!.status === 'succeeded', `the refund should succeed, is ${settled.refunds[0]!.status}`);
  info(`refund ${settled.refunds[0]!.status}; order ${settled.status}, payment ${settled.payment.status}`);

  step('My orders (GET /v1/orders, the projection)');
  const mine = await until(
    'both orders listed with their final status',
    async () => (await call<{ items: Array<{ orderId: string; status: string; total: { amount: number; currency: string } }> }>('GET', '/v1/orders', { headers: bearer(token), quiet: true })).body,
    (l) => l.items.some((o) => o.orderId === order.orderId && o.status === 'DELIVERED') && l.items.some((o) => o.orderId === second.orderId && o.status === 'CANCELLED'),
  );
  for (const o of mine.items) info(`${o.orderId}  ${o.status.padEnd(10)} ${money(o.total)}`);
  const after = await call<{ available: number }>('GET', `/v1/inventory/${encodeURIComponent(chosen.sku)}`);
  info(`${chosen.sku} available: ${before.body.available} before, ${after.body.available} now (2 shipped, 1 back from the cancellation)`);
  check(after.body.available === before.body.available - 2, `expected ${before.body.available - 2} available, found ${after.body.available}`);

  console.log(`\n${c.green}Journey complete${c.off} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(`\n${c.red}Journey FAILED at step ${stepNo}${c.off}: ${err instanceof JourneyError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
