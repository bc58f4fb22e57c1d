import { fileURLToPath } from 'node:url';
import { DEFAULT_DEV_PASSWORD } from '../../scripts/dev-accounts.ts';
import { JourneyFailure, type JourneyIO } from '../lib/journey.ts';
import { benchStripe } from '../lib/payments.ts';
import { defineScenario, fixedRate, saturation, target, type SetupContext } from '../lib/scenario.ts';

/**
 * Checkout (issue 7), through the real gateway, order and inventory objects, the payments
 * strategy (stripe SDK) against the Stripe emulator (lib/payments.ts, in the orchestrator) and
 * its signed webhooks pushed to the Worker:
 *
 * - `checkout.place-order`: POST /v1/orders {cartId, paymentMethod: CARD} with an Idempotency-Key
 *   at a fixed 50 orders/s, each from its own prepared cart (catalog re-read, reserve, PaymentIntent).
 * - `checkout.journey`: 16 buyers, each repeating cart → add item → place order → the card is paid
 *   at the emulator → GET the order until it is PAID (the webhooks reached the saga). Checkouts/s
 *   and end-to-end latency; the run prints the time of each step.
 *
 * Stock: SKUS fresh products with a million units each in the staff member's warehouse, so no one
 * SKU's object is the bottleneck. Buyers are registered in setup (one IP each: the register limit).
 */
const SKUS = 32;
const BUYERS = 16;
const UNITS = 1_000_000;
const ORDER_RATE = 50;
const PASSWORD = 'bench passphrase for buyers 7';
/** How long a buyer waits for PAID before the checkout counts as failed. */
const PAID_WITHIN_MS = 10_000;

interface Product {
  productId: string;
  variantId: string;
  sku: string;
}

interface Shop {
  stripe: string;
  products: Product[];
  tokens: string[];
}

interface PlaceOrderData extends Shop {
  carts: string[];
}

const json = (body: unknown, headers: Record<string, string> = {}, method = 'POST') => ({
  method,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function inBatches<T>(count: number, parallel: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await make(i);
      }
    }),
  );
  return out;
}

/** Products with plenty of stock, registered buyers, and the emulator's webhooks aimed at this Worker. */
async function openShop(ctx: SetupContext): Promise<Shop> {
  const stripe = await benchStripe(ctx.baseUrl);
  const login = (email: string, ip: string) =>
    ctx.json<{ accessToken: string; user: { warehouseIds: string[] } }>('/v1/auth/login', json({ email, password: DEFAULT_DEV_PASSWORD }, { 'cf-connecting-ip': ip }));
  const admin = await login('admin@agora.dev', '198.19.7.1');
  const staff = await login('staff@agora.dev', '198.19.7.2');
  const warehouseId = staff.user.warehouseIds[0]!;
  const list = await ctx.json<{ items: { brand: { slug: string }; category: { slug: string } }[] }>('/v1/products?limit=1');
  const tag = Date.now().toString(36);
  // One at a time: 4 in parallel on PGlite answered 404 (the new product not found) and 500 here.
  const products = await inBatches(SKUS, 1, async (i) => {
    const sku = `CHK-${tag}-${i}`;
    const created = await ctx.json<{ id: string; variants: { id: string }[] }>(
      '/v1/admin/products',
      json(
        { slug: `checkout-${tag}-${i}`, name: `Checkout ${tag} ${i}`, brandSlug: list.items[0]!.brand.slug, categorySlug: list.items[0]!.category.slug, variants: [{ sku, name: 'One size', price: 1900 + i }] },
        bearer(admin.accessToken),
      ),
    );
    await ctx.json(`/v1/warehouses/${warehouseId}/stock/adjustments`, json({ sku, delta: UNITS, reason: 'receipt' }, { ...bearer(staff.accessToken), 'idempotency-key': `stock-${sku}` }));
    return { productId: created.id, variantId: created.variants[0]!.id, sku };
  });
  // Read each product once, as a shopper would before buying: the catalog cache holds it during the
  // runs. (On PGlite, concurrent first reads under load came back without the product or its
  // variants, and that answer was cached: 422 PRODUCT_NOT_FOUND / VARIANT_NOT_FOUND for a minute.)
  for (const p of products) {
    for (let attempt = 1; ; attempt++) {
      const got = await ctx.json<{ variants: { id: string }[] }>(`/v1/products/${p.productId}`).catch(() => null);
      if (got?.variants.some((v) => v.id === p.variantId)) break;
      if (attempt >= 40) throw new Error(`product ${p.productId} is not readable with its variant ${p.variantId}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const tokens = await inBatches(BUYERS, 2, async (i) => {
    const s = await ctx.json<{ accessToken: string }>(
      '/v1/auth/register',
      json({ email: `buyer-${tag}-${i}@example.com`, password: PASSWORD }, { 'cf-connecting-ip': `198.19.8.${i + 1}` }),
    );
    return s.accessToken;
  });
  ctx.log(`${SKUS} SKUs with ${UNITS.toLocaleString('en-US')} units each in ${warehouseId}; ${BUYERS} buyers; Stripe emulator ${stripe.url}`);
  return { stripe: stripe.url, products, tokens };
}

/** Seconds of load the orchestrator will offer (warm-up + run), from its own flags. */
function plannedSeconds(): number {
  const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const quick = process.argv.includes('--quick');
  const duration = Number(flag('duration') ?? (quick ? 3 : 10));
  const warmup = Number(flag('warmup') ?? (quick ? 1 : 2));
  return duration + warmup;
}

defineScenario<PlaceOrderData>({
  name: 'checkout.place-order',
  title: 'place order from a cart (POST /v1/orders, CARD)',
  tags: ['checkout', 'orders', 'place-order'],
  setup: async (ctx) => {
    const shop = await openShop(ctx);
    // One guest cart (one line) per order the run will place, and some to spare.
    const count = Math.ceil(ORDER_RATE * plannedSeconds() * 1.1) + 20;
    const carts = await inBatches(count, 8, async (i) => {
      const p = shop.products[i % shop.products.length]!;
      const cart = await ctx.json<{ id: string }>('/v1/carts', { method: 'POST' });
      // On PGlite (one shared session) a product just created was sometimes read without its
      // variants (422 VARIANT_NOT_FOUND, cached): retry for a while, and say so.
      for (let attempt = 1; ; attempt++) {
        try {
          await ctx.json(`/v1/carts/${cart.id}/items`, json({ productId: p.productId, variantId: p.variantId, quantity: 1 }));
          return cart.id;
        } catch (err) {
          if (attempt >= 40 || !String(err).includes('VARIANT_NOT_FOUND')) throw err;
          if (attempt === 1) ctx.log(`add item to a cart: ${String(err).slice(0, 160)}; retrying`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    });
    ctx.log(`${carts.length} carts ready`);
    return { ...shop, carts };
  },
  request: (seq, d) => ({
    method: 'POST',
    path: '/v1/orders',
    // Past the prepared carts a request reuses a checked-out cart and fails (counted): no silent fallback.
    headers: { 'content-type': 'application/json', ...bearer(d.tokens[seq % d.tokens.length]!), 'idempotency-key': `bench-place-${seq}` },
    body: JSON.stringify({ cartId: d.carts[seq % d.carts.length], paymentMethod: 'CARD' }),
  }),
  expectStatus: [201],
  runs: [fixedRate(ORDER_RATE)],
  targets: [target.p99Under(50, { rate: ORDER_RATE })],
});

interface Order {
  orderId: string;
  status: string;
  payment: { clientAction: { type: string; clientSecret?: string } | null; status: string };
}

/** One buyer's checkout, each step timed under its own name. */
async function checkout(io: JourneyIO, user: number, seq: number, d: Shop): Promise<void> {
  const token = d.tokens[user % d.tokens.length]!;
  const auth = bearer(token);
  const p = d.products[seq % d.products.length]!;
  const cart = await io.call<{ id: string }>('1 open cart', { method: 'POST', path: '/v1/carts', headers: auth, expect: [200, 201] });
  await io.call('2 add item', { path: `/v1/carts/${cart.body.id}/items`, ...json({ productId: p.productId, variantId: p.variantId, quantity: 1 }, auth) });
  const placed = await io.call<Order>('3 place order', {
    path: '/v1/orders',
    ...json({ cartId: cart.body.id, paymentMethod: 'CARD' }, { ...auth, 'idempotency-key': `bench-checkout-${seq}` }),
    expect: [201],
  });
  const secret = placed.body.payment.clientAction?.clientSecret;
  if (!secret) throw new JourneyFailure('3 place order', 201, `no client secret: ${JSON.stringify(placed.body.payment)}`);
  const intent = secret.split('_secret_')[0]!;
  await io.call('4 pay (emulator confirms)', { method: 'POST', url: `${d.stripe}/_emulator/payment_intents/${intent}/succeed` });
  await io.stage('5 until PAID (webhooks)', async () => {
    const until = performance.now() + PAID_WITHIN_MS;
    for (let i = 0; ; i++) {
      const got = await io.call<Order>('5a GET order (poll)', { path: `/v1/orders/${placed.body.orderId}`, headers: auth });
      if (got.body.status === 'PAID') return;
      if (got.body.status !== 'PENDING') throw new JourneyFailure('5 until PAID (webhooks)', got.body.status, `payment ${got.body.payment.status}`);
      if (performance.now() > until || io.signal.aborted) throw new JourneyFailure('5 until PAID (webhooks)', 'timeout', `still ${got.body.status}/${got.body.payment.status}`);
      await new Promise((r) => setTimeout(r, Math.min(25, 2 + i * 5)));
    }
  });
}

defineScenario<Shop>({
  name: 'checkout.journey',
  title: `checkout: cart → order → paid, ${BUYERS} buyers`,
  tags: ['checkout', 'orders', 'journey'],
  setup: openShop,
  request: { path: '/livez' }, // unused: the saturation run drives `journey`
  journey: checkout,
  runs: [saturation({ connections: BUYERS })],
  targets: [target.rpsAtLeast(200)],
});

/**
 * References: the journey's skeleton on bare workerd (lib/bare-checkout-worker.ts): per checkout
 * the same six requests into the Worker as `checkout.journey` (open cart, add item, place order,
 * the payment webhook, two order reads), a new cart and a new order object each creating its
 * table, and the SKU object's availability, reservation and commit; no framework, auth,
 * validation, log lines, payment provider, queue or Postgres. What workerd allows for the journey
 * on this machine before Agora does anything more. The second row reuses one cart object per
 * buyer, so that only the order object is new.
 */
for (const reuseCart of [false, true]) {
  defineScenario<{ skus: string[] }>({
    name: reuseCart ? 'checkout.journey.bare.reused-cart' : 'checkout.journey.bare',
    title: reuseCart ? 'checkout skeleton, cart object reused (reference)' : `checkout skeleton, bare objects (reference), ${BUYERS} buyers`,
    tags: ['checkout', 'journey', 'reference'],
    reference: true,
    script: fileURLToPath(new URL('../lib/bare-checkout-worker.ts', import.meta.url)),
    scriptDurableObjects: { CART: 'BareCart', ORDER: 'BareOrder', STOCK: 'BareStock' },
    setup: async (ctx) => {
      const tag = Date.now().toString(36);
      const skus = Array.from({ length: SKUS }, (_, i) => `BARE-CHK-${tag}-${i}`);
      for (const sku of skus) await ctx.json(`/stock?sku=${sku}&units=${UNITS}`, { method: 'POST' });
      ctx.log(`${SKUS} SKUs with ${UNITS.toLocaleString('en-US')} units each in the bare SKU objects`);
      return { skus };
    },
    request: { path: '/' }, // unused: the saturation run drives `journey`
    journey: async (io, user, seq, { skus }) => {
      const sku = skus[seq % skus.length]!;
      const cart = await io.call<{ cartId: string }>('1 open cart', { method: 'POST', path: reuseCart ? `/carts?owner=${user}` : '/carts', expect: [201] });
      await io.call('2 add item', { path: `/carts/${cart.body.cartId}/items`, ...json({ sku, quantity: 1, price: 1900 }), expect: [201] });
      const placed = await io.call<{ orderId: string }>('3 place order', { path: '/orders', ...json({ cartId: cart.body.cartId }), expect: [201] });
      await io.call('4 payment webhook', { path: `/orders/${placed.body.orderId}/paid`, ...json({}) });
      for (let i = 0; i < 2; i++) {
        const got = await io.call<{ status: string }>('5a GET order', { path: `/orders/${placed.body.orderId}` });
        if (got.body.status !== 'PAID') throw new JourneyFailure('5a GET order', got.body.status, 'not PAID');
      }
    },
    runs: [saturation({ connections: BUYERS })],
  });
}
