/**
 * The seed against real Postgres: PGlite by default, or a scratch database on the server in
 * DATABASE_URL (dropped afterwards), migrated and then seeded. The steps share that database
 * and run in order.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTestDatabase, type TestDatabase } from '../test/provision.ts';
import { seedDatabase } from './seed.ts';
import { generateCatalog } from './seed/catalog-data.ts';

const TABLES = ['categories', 'brands', 'warehouses', 'products', 'product_variants', 'stock_levels', 'catalog_search_terms'];

const catalog = generateCatalog();
let db: TestDatabase;
let client: pg.Client;
let databaseUrl: string;

/** Row count and a checksum of the full contents of each seeded table. */
async function snapshot(): Promise<Record<string, { rows: number; md5: string | null }>> {
  const out: Record<string, { rows: number; md5: string | null }> = {};
  for (const table of TABLES) {
    const { rows } = await client.query<{ rows: number; md5: string | null }>(
      `select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) as md5 from ${table} t`,
    );
    out[table] = rows[0] ?? { rows: -1, md5: null };
  }
  return out;
}

beforeAll(async () => {
  db = await provisionTestDatabase({ seed: false });
  databaseUrl = db.databaseUrl;
  client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client?.end();
  await db?.teardown();
});

describe('seedDatabase', () => {
  it('leaves nothing behind when a late insert fails', async () => {
    // Stock is inserted after categories, brands, products and variants; make it fail.
    await client.query('alter table stock_levels add constraint seed_test_no_stock check (on_hand < 0)');
    await expect(seedDatabase(databaseUrl)).rejects.toThrow();
    await client.query('alter table stock_levels drop constraint seed_test_no_stock');

    for (const [table, { rows }] of Object.entries(await snapshot())) expect(rows, table).toBe(0);
  });

  it('inserts the whole catalog into an empty database', async () => {
    const logged: string[] = [];
    const result = await seedDatabase(databaseUrl, { log: (m) => logged.push(m) });

    const expected = {
      categories: catalog.categories.length,
      brands: catalog.brands.length,
      warehouses: catalog.warehouses.length,
      products: catalog.products.length,
      product_variants: catalog.productVariants.length,
      stock_levels: catalog.stockLevels.length,
      catalog_search_terms: catalog.searchTerms.length,
    };
    expect(result).toEqual({ inserted: true, counts: expected });
    const stored = Object.fromEntries(Object.entries(await snapshot()).map(([table, s]) => [table, s.rows]));
    expect(stored).toEqual(expected);
    expect(logged).toHaveLength(TABLES.length);
  });

  it('changes nothing when run again', async () => {
    const before = await snapshot();
    const result = await seedDatabase(databaseUrl);
    expect(result.inserted).toBe(false);
    expect(result.counts).toEqual(Object.fromEntries(Object.entries(before).map(([table, s]) => [table, s.rows])));
    expect(await snapshot()).toEqual(before);
  });

  it('makes each product findable by its model word through the generated search vector', async () => {
    const product = catalog.products[0];
    const model = product?.attributes.model;
    if (!product || !model) throw new Error('the catalog has no product with a model word');
    const { rows } = await client.query<{ id: string }>(
      `select id from products where search_vector @@ plainto_tsquery('english', $1)`,
      [model],
    );
    expect(rows).toEqual([{ id: product.id }]);

    // And every other model word, in one query: each matches exactly its own product.
    const { rows: hits } = await client.query<{ id: string; hits: number }>(
      `select p.id, (select count(*)::int from products q
                      where q.search_vector @@ plainto_tsquery('english', p.attributes->>'model')) as hits
         from products p`,
    );
    const single = hits.filter((m) => m.hits === 1).length;
    expect(single / catalog.products.length).toBeGreaterThanOrEqual(0.9);
  });

  it('stores availability that matches the stock levels', async () => {
    const { rows } = await client.query<{ sku: string }>(
      `select v.sku from product_variants v
         left join (select sku, sum(on_hand - reserved)::int as available from stock_levels group by sku) s using (sku)
        where v.available_qty <> coalesce(s.available, -1)`,
    );
    expect(rows).toEqual([]);
  });
});
