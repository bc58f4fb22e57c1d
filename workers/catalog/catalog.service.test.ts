import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyDb } from '../../shared/db/client';
import * as schema from '../../shared/db/schema';
import { MemoryCache } from '../../shared/adapters/cache/memory-cache';
import { InMemoryGenerationStore, ManualClock } from '../../shared/testing/fakes';
import { provisionTestDatabase, type TestDatabase } from '../../test/provision.ts';
import { makeCatalogService, type CatalogService } from './index';

// The catalog's verbs against real Postgres (PGlite, or DATABASE_URL's server), seeded.
let db: TestDatabase;
let pool: pg.Pool;
let catalog: CatalogService;
const generations = new InMemoryGenerationStore();
const meta = { requestId: 'req_test', traceparent: '', actor: null };

beforeAll(async () => {
  db = await provisionTestDatabase({ seed: true });
  pool = new pg.Pool({ connectionString: db.databaseUrl, max: 2 });
  const orm = drizzle({ client: pool, schema }) as unknown as AnyDb;
  catalog = makeCatalogService({
    readDb: () => orm,
    writeDb: () => orm,
    cache: [new MemoryCache(100)],
    generations,
    cacheTtlSeconds: 60,
    currency: 'USD',
    clock: new ManualClock(),
    background: () => undefined,
  });
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.teardown();
});

const base = {
  description: 'A lamp that folds flat for travel.',
  brandSlug: '',
  categorySlug: '',
  attributes: { material: 'Aluminium' },
  images: [{ url: 'https://picsum.photos/seed/q/800/800', alt: 'Vexquirt lamp' }],
};

async function refs() {
  const { value } = await catalog.listProducts({ limit: 1 } as never);
  return { brandSlug: value.facets.brands[0]!.slug, categorySlug: value.facets.categories[0]!.slug };
}

describe('catalog writes', () => {
  it('creates a product that is searchable at once, with derived price range', async () => {
    const r = await refs();
    const before = await catalog.listProducts({ q: 'vexquirt', limit: 20 } as never);
    expect(before.value.total).toBe(0);

    const created = await catalog.createProduct(
      {
        ...base,
        ...r,
        slug: 'vexquirt-folding-lamp',
        name: 'Vexquirt Folding Lamp',
        variants: [
          { sku: 'QL-1', name: 'Black', attributes: { color: 'Black' }, price: 4599, compareAtPrice: null },
          { sku: 'QL-2', name: 'Sand', attributes: { color: 'Sand' }, price: 3999, compareAtPrice: 4999 },
        ],
      },
      meta,
    );
    expect(created.price).toEqual({ amount: 3999, currency: 'USD' });
    expect(created.priceMax).toEqual({ amount: 4599, currency: 'USD' });
    expect(created.variants.map((v) => v.sku)).toEqual(['QL-1', 'QL-2']);

    const found = await catalog.listProducts({ q: 'vexqiurt', limit: 20 } as never);
    expect(found.source).toBe('miss'); // the write bumped the generation
    expect(found.value.items[0]?.id).toBe(created.id);
    expect(found.value.correctedQuery).toBe('vexquirt');
  });

  it('updates prices and variants, and invalidates cached reads', async () => {
    const first = await catalog.getProduct('vexquirt-folding-lamp');
    expect((await catalog.getProduct('vexquirt-folding-lamp')).source).toBe('memory');
    const updated = await catalog.updateProduct(
      first.value.id,
      { variants: [{ sku: 'QL-1', name: 'Black', attributes: { color: 'Black' }, price: 2999 }] },
      meta,
    );
    expect(updated.price.amount).toBe(2999);
    expect(updated.variants).toHaveLength(1);
    const again = await catalog.getProduct('vexquirt-folding-lamp');
    expect(again.source).toBe('miss');
    expect(again.value.variants[0]!.id).toBe(first.value.variants[0]!.id); // the kept SKU keeps its id
  });

  it('archives a product so the storefront no longer shows it', async () => {
    const p = await catalog.getProduct('vexquirt-folding-lamp');
    await catalog.archiveProduct(p.value.id, meta);
    await expect(catalog.getProduct('vexquirt-folding-lamp')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await catalog.listProducts({ q: 'vexquirt', limit: 20 } as never)).value.total).toBe(0);
  });

  it('refuses duplicates and unknown references without writing anything', async () => {
    const r = await refs();
    const valid = { ...base, ...r, slug: 'xantic-desk', name: 'Xantic Desk', variants: [{ sku: 'XD-1', name: 'Oak', price: 19900 }] };
    await catalog.createProduct(valid, meta);
    await expect(catalog.createProduct(valid, meta)).rejects.toMatchObject({ code: 'CONFLICT', status: 409 });
    await expect(catalog.createProduct({ ...valid, slug: 'xantic-desk-2' }, meta)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      catalog.createProduct({ ...valid, slug: 'xantic-desk-3', brandSlug: 'no-such-brand', variants: [{ sku: 'XD-3', name: 'x', price: 1 }] }, meta),
    ).rejects.toMatchObject({ code: 'UNPROCESSABLE', status: 422 });
    await expect(
      catalog.createProduct({ ...valid, slug: 'Bad Slug', variants: [] } as never, meta),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    const { rows } = await pool.query("select count(*)::int as n from products where slug like 'xantic-desk%'");
    expect(rows[0].n).toBe(1);
  });

  it('creates drafts that the storefront does not show and whose words stay out of the dictionary', async () => {
    const r = await refs();
    const draft = await catalog.createProduct(
      { ...base, ...r, slug: 'zorbelline-draft', name: 'Zorbelline Lamp', status: 'draft', variants: [{ sku: 'ZB-1', name: 'x', price: 100 }] },
      meta,
    );
    expect(draft.status).toBe('draft');
    await expect(catalog.getProduct('zorbelline-draft')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await catalog.listProducts({ q: 'zorbelline', limit: 5 } as never)).value.total).toBe(0);
    const { rows } = await pool.query("select count(*)::int as n from catalog_search_terms where term = 'zorbelline'");
    expect(rows[0].n).toBe(0);
    const published = await catalog.updateProduct(draft.id, { status: 'active' }, meta);
    expect(published.status).toBe('active');
    expect((await catalog.listProducts({ q: 'zorbeline', limit: 5 } as never)).value.items[0]?.id).toBe(draft.id);
  });

  it('refuses to update an unknown product', async () => {
    await expect(catalog.updateProduct('prd_00000000000000000000000000', { name: 'x' }, meta)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
