import { fileURLToPath } from 'node:url';
import { DEFAULT_DEV_PASSWORD } from '../../scripts/dev-accounts.ts';
import { defineScenario, saturation, target, type SetupContext } from '../lib/scenario.ts';

/**
 * The flash sale: 10,000 reservation attempts from 256 concurrent connections against 1,000
 * units of one SKU, through the real gateway (bearer token, validation, the SKU's Durable
 * Object). Sold must equal 1,000 (201s), the rest 409 OUT_OF_STOCK, no errors. Unsharded, then
 * with the SKU split over 4 shards.
 */
const UNITS = 1000;
const ATTEMPTS = 10_000;

interface Sale {
  sku: string;
  token: string;
}

async function prepare(ctx: SetupContext, shards: number): Promise<Sale> {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}, method = 'POST') =>
    ctx.json<Record<string, unknown>>(path, { method, headers: { 'content-type': 'application/json', 'cf-connecting-ip': '198.19.2.1', ...headers }, body: JSON.stringify(body) });
  const admin = (await post('/v1/auth/login', { email: 'admin@agora.dev', password: DEFAULT_DEV_PASSWORD })) as { accessToken: string };
  const staff = (await post('/v1/auth/login', { email: 'staff@agora.dev', password: DEFAULT_DEV_PASSWORD })) as { user: { warehouseIds: string[] } };
  const auth = { authorization: `Bearer ${admin.accessToken}` };
  const list = await ctx.json<{ items: { brand: { slug: string }; category: { slug: string } }[] }>('/v1/products?limit=1');
  const tag = `${Date.now().toString(36)}${shards}`;
  const sku = `FLASH-${tag}`;
  await post(
    '/v1/admin/products',
    { slug: `flash-${tag}`, name: `Flash Sale ${tag}`, brandSlug: list.items[0]!.brand.slug, categorySlug: list.items[0]!.category.slug, variants: [{ sku, name: 'One size', price: 9900 }] },
    auth,
  );
  await post(`/v1/warehouses/${staff.user.warehouseIds[0]}/stock/adjustments`, { sku, delta: UNITS, reason: 'receipt' }, { ...auth, 'idempotency-key': `stock-${tag}` });
  if (shards > 1) await post(`/v1/admin/inventory/${sku}/shards`, { shards }, auth, 'PUT');
  await warmUp(ctx, post, auth, list.items[0]!, staff.user.warehouseIds[0]!, tag);
  const availability = await ctx.json<{ available: number }>(`/v1/inventory/${sku}`);
  if (availability.available !== UNITS) throw new Error(`expected ${UNITS} available, found ${availability.available}`);
  ctx.log(`SKU ${sku}: ${UNITS} units${shards > 1 ? ` over ${shards} shards` : ''}`);
  return { sku, token: admin.accessToken };
}

/**
 * The run has no warm-up (it would spend the sale's units), so setup warms the same route on a
 * SKU of its own instead: JIT, token verification, validation and the object's code paths are
 * warm when the sale starts, as they are in a running service. Without it the first 256
 * requests pay the cold start, which is most of the p99.
 */
async function warmUp(
  ctx: SetupContext,
  post: (path: string, body: unknown, headers?: Record<string, string>, method?: string) => Promise<Record<string, unknown>>,
  auth: Record<string, string>,
  product: { brand: { slug: string }; category: { slug: string } },
  warehouseId: string,
  tag: string,
): Promise<void> {
  const sku = `WARM-${tag}`;
  await post('/v1/admin/products', { slug: `warm-${tag}`, name: `Warm-up ${tag}`, brandSlug: product.brand.slug, categorySlug: product.category.slug, variants: [{ sku, name: 'One size', price: 100 }] }, auth);
  await post(`/v1/warehouses/${warehouseId}/stock/adjustments`, { sku, delta: 200, reason: 'receipt' }, { ...auth, 'idempotency-key': `warm-stock-${tag}` });
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < 1500) {
        const seq = next++;
        const res = await fetch(new URL(`/v1/inventory/${sku}/reservations`, ctx.baseUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth, 'idempotency-key': `warm-${seq}` },
          body: JSON.stringify({ quantity: 1, ref: { kind: 'checkout', id: `w${seq}` } }),
        });
        await res.arrayBuffer();
      }
    }),
  );
}

const attempt = (seq: number, { sku, token }: Sale) => ({
  method: 'POST',
  path: `/v1/inventory/${sku}/reservations`,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': `buyer-${seq}` },
  body: JSON.stringify({ quantity: 1, ref: { kind: 'checkout', id: `c${seq}` } }),
});

for (const shards of [1, 4]) {
  defineScenario<Sale>({
    name: shards === 1 ? 'inventory.flash-sale' : `inventory.flash-sale.sharded-${shards}`,
    title: shards === 1 ? 'flash sale: 10k attempts, 1,000 units, one SKU' : `flash sale, SKU over ${shards} shards`,
    tags: ['inventory', 'flash-sale', 'reserve'],
    setup: (ctx) => prepare(ctx, shards),
    request: attempt,
    expectStatus: [201, 409],
    // No warm-up: it would spend the units before the measured run.
    warmup: 0,
    runs: [saturation({ connections: 256, amount: ATTEMPTS })],
    targets: [target.statusCountIs(201, UNITS, 'units sold'), target.rpsAtLeast(2000)],
  });
}

/**
 * References: the same flash sale against the bare object (lib/bare-inventory-worker.ts: a minimal
 * Worker calling the SKU object's `reserve` RPC through the stub helpers, no gateway, auth,
 * validation, logging or Postgres). Where one object (or n shards) saturates on this machine; the
 * gateway scenarios above are read against these.
 */
for (const shards of [1, 4]) {
  defineScenario<{ sku: string; shards: number }>({
    name: shards === 1 ? 'inventory.flash-sale.bare-do' : `inventory.flash-sale.bare-do.sharded-${shards}`,
    title: shards === 1 ? 'flash sale, bare object (reference)' : `flash sale, bare object over ${shards} shards (reference)`,
    tags: ['inventory', 'flash-sale', 'reserve', 'reference'],
    script: fileURLToPath(new URL('../lib/bare-inventory-worker.ts', import.meta.url)),
    scriptDurableObjects: { INVENTORY: 'BareInventoryDurableObject' },
    setup: async (ctx) => {
      const sku = `BARE-${Date.now().toString(36)}${shards}`;
      await ctx.json(`/stock?sku=${sku}&units=${UNITS}&shards=${shards}`, { method: 'POST' });
      ctx.log(`SKU ${sku}: ${UNITS} units${shards > 1 ? ` over ${shards} shards` : ''} in the bare object`);
      return { sku, shards };
    },
    request: (seq, { sku, shards: n }) => ({ method: 'POST', path: `/reserve?sku=${sku}&shards=${n}&seq=${seq}` }),
    expectStatus: [201, 409],
    warmup: 0,
    runs: [saturation({ connections: 256, amount: ATTEMPTS })],
    targets: [target.statusCountIs(201, UNITS, 'units sold')],
  });
}
