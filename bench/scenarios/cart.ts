import { DEFAULT_DEV_PASSWORD } from '../../scripts/dev-accounts.ts';
import { defineScenario, fixedRate, saturation, target, type SetupContext } from '../lib/scenario.ts';

/**
 * Carts (issue 5): adding items at a fixed 500 requests/s spread over 1,000 guest carts (each add
 * checks the catalog, reads live availability and goes through the cart's Durable Object), and
 * reading carts at saturation, compared with the trivial /livez ceiling of the same run.
 */
const CARTS = 1000;
const PARALLEL = 32;

interface Carts {
  carts: string[];
  variants: { productId: string; variantId: string }[];
}

/**
 * A product of the scenario's own with `want` variants, each stocked with plenty of units
 * (through the admin API and a staff adjustment), so the run never depends on seeded stock.
 */
async function sellableVariants(ctx: SetupContext, want: number): Promise<Carts['variants']> {
  const send = <T>(path: string, body: unknown, headers: Record<string, string> = {}) =>
    ctx.json<T>(path, { method: 'POST', headers: { 'content-type': 'application/json', 'cf-connecting-ip': '198.19.5.1', ...headers }, body: JSON.stringify(body) });
  const admin = await send<{ accessToken: string }>('/v1/auth/login', { email: 'admin@agora.dev', password: DEFAULT_DEV_PASSWORD });
  const staff = await send<{ user: { warehouseIds: string[] } }>('/v1/auth/login', { email: 'staff@agora.dev', password: DEFAULT_DEV_PASSWORD });
  const auth = { authorization: `Bearer ${admin.accessToken}` };
  const ref = (await ctx.json<{ items: { brand: { slug: string }; category: { slug: string } }[] }>('/v1/products?limit=1')).items[0]!;
  const tag = Date.now().toString(36);
  const product = await send<{ id: string; variants: { id: string; sku: string }[] }>(
    '/v1/admin/products',
    {
      slug: `bench-cart-${tag}`,
      name: `Bench Cart ${tag}`,
      brandSlug: ref.brand.slug,
      categorySlug: ref.category.slug,
      variants: Array.from({ length: want }, (_, i) => ({ sku: `BCART-${tag}-${i}`, name: `Variant ${i}`, price: 1000 + i })),
    },
    auth,
  );
  for (const v of product.variants) {
    await send(`/v1/warehouses/${staff.user.warehouseIds[0]}/stock/adjustments`, { sku: v.sku, delta: 1_000_000, reason: 'receipt' }, { ...auth, 'idempotency-key': `bench-${v.sku}` });
  }
  // One read before any concurrency fills the catalog cache (and proves the product is for sale).
  await ctx.json(`/v1/products/${product.id}`);
  return product.variants.map((v) => ({ productId: product.id, variantId: v.id }));
}

async function inBatches<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += PARALLEL) out.push(...(await Promise.all(Array.from({ length: Math.min(PARALLEL, n - i) }, (_, j) => make(i + j)))));
  return out;
}

const post = (path: string, body?: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  path,
});

async function openCarts(ctx: SetupContext, fill: number): Promise<Carts> {
  const variants = await sellableVariants(ctx, 40);
  const carts = await inBatches(CARTS, async () => (await ctx.json<{ id: string }>('/v1/carts', post('/v1/carts'))).id);
  for (let k = 0; k < fill; k++) {
    await inBatches(CARTS, (i) => {
      const v = variants[(i + k) % variants.length]!;
      return ctx.json(`/v1/carts/${carts[i]}/items`, post(`/v1/carts/${carts[i]}/items`, { ...v, quantity: 1 }));
    });
  }
  ctx.log(`${CARTS} guest carts${fill ? ` with ${fill} lines each` : ''}; ${variants.length} stocked variants`);
  return { carts, variants };
}

defineScenario<Carts>({
  name: 'cart.add-item',
  title: 'add item to cart (1,000 guest carts)',
  tags: ['cart', 'write'],
  setup: (ctx) => openCarts(ctx, 0),
  // Cart seq % 1000; the variant moves on every 1,000 requests, so a cart gets a new line (or one
  // more unit of a line) each time and stays far below the limits.
  request: (seq, { carts, variants }) => {
    const cart = carts[seq % carts.length]!;
    const v = variants[Math.floor(seq / carts.length) % variants.length]!;
    return post(`/v1/carts/${cart}/items`, { ...v, quantity: 1 });
  },
  runs: [fixedRate(500)],
  targets: [target.p99Under(10, { rate: 500 })],
});

defineScenario<Carts>({
  name: 'cart.get',
  title: 'get cart, 3 lines at current prices',
  tags: ['cart', 'read'],
  setup: (ctx) => openCarts(ctx, 3),
  request: (seq, { carts }) => ({ path: `/v1/carts/${carts[seq % carts.length]}` }),
  runs: [saturation(), fixedRate(1000)],
  targets: [target.ceilingFractionAtLeast(0.4)],
});
