import { defineScenario, fixedRate, saturation, target, type SetupContext } from '../lib/scenario.ts';

interface Page {
  items: { id: string; name: string }[];
  nextCursor: string | null;
}

/** Every active product (id and name), read through the API once per benchmark. */
let catalog: Promise<{ id: string; name: string }[]> | undefined;
function allProducts(ctx: SetupContext) {
  return (catalog ??= (async () => {
    const out: { id: string; name: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await ctx.json(`/v1/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      out.push(...page.items.map(({ id, name }) => ({ id, name })));
      cursor = page.nextCursor;
    } while (cursor);
    if (!out.length) throw new Error('the catalog is empty: was the database seeded?');
    return out;
  })());
}

/**
 * A price bound above every product (so results match the unfiltered list) that differs
 * per request, so each request has its own cache key and misses every cache layer.
 */
const distinctMaxPrice = (seq: number) => 1_000_000_000 - seq;

defineScenario({
  name: 'catalog.list.cached',
  title: 'product list, cached',
  tags: ['products', 'list', 'catalog'],
  request: { path: '/v1/products' },
  tallyHeader: 'x-cache',
  runs: [saturation(), fixedRate(1000)],
  targets: [target.ceilingFractionAtLeast(0.5), target.p99Under(20, { rate: 1000 })],
});

defineScenario({
  name: 'catalog.list.uncached',
  title: 'product list, uncached',
  tags: ['products', 'list', 'catalog', 'db'],
  request: (seq) => ({ path: `/v1/products?maxPrice=${distinctMaxPrice(seq)}` }),
  tallyHeader: 'x-cache',
  runs: [fixedRate(100), saturation()],
  targets: [target.headerShareAtLeast('x-cache', 'miss', 0.99)],
});

defineScenario({
  name: 'catalog.product.by-id',
  title: 'product by id',
  tags: ['products', 'catalog'],
  setup: async (ctx) => {
    const ids = (await allProducts(ctx)).map((p) => p.id);
    // Read each once, so the runs measure the warm path (the warm-up alone may not reach every id).
    for (const id of ids) await ctx.json(`/v1/products/${id}`);
    ctx.log(`${ids.length} product ids, each read once`);
    return { ids };
  },
  request: (seq, { ids }) => ({ path: `/v1/products/${ids[seq % ids.length]}` }),
  tallyHeader: 'x-cache',
  runs: [saturation(), fixedRate(1000)],
});

defineScenario({
  name: 'catalog.search.uncached',
  title: 'search, uncached',
  tags: ['products', 'search', 'catalog', 'db'],
  setup: async (ctx) => {
    const words = new Set<string>();
    for (const { name } of await allProducts(ctx)) {
      for (const w of name.toLowerCase().split(/[^\p{L}]+/u)) if (w.length >= 4) words.add(w);
    }
    if (!words.size) throw new Error('no search words in the product names');
    ctx.log(`${words.size} distinct words from product names`);
    return { words: [...words] };
  },
  request: (seq, { words }) => ({
    path: `/v1/products?q=${encodeURIComponent(words[seq % words.length]!)}&maxPrice=${distinctMaxPrice(seq)}`,
  }),
  tallyHeader: 'x-cache',
  runs: [fixedRate(100), saturation()],
  targets: [target.p99Under(50, { rate: 100 }), target.headerShareAtLeast('x-cache', 'miss', 0.99)],
});
