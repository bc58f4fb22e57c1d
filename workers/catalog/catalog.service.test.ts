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

  it('a change of some fields leaves the others as they were: a draft stays a draft, an archived product archived, description, attributes and images kept', async () => {
    const r = await refs();
    const draft = await catalog.createProduct({ ...base, ...r, slug: 'quillfen-draft', name: 'Quillfen Lamp', status: 'draft', variants: [{ sku: 'QF-1', name: 'x', price: 100 }] }, meta);
    const renamed = await catalog.updateProduct(draft.id, { name: 'Quillfen Desk Lamp' }, meta);
    expect({ status: renamed.status, description: renamed.description, attributes: renamed.attributes, images: renamed.images }).toEqual({
      status: 'draft',
      description: base.description,
      attributes: base.attributes,
      images: base.images,
    });
    await catalog.archiveProduct(draft.id, meta);
    expect((await catalog.updateProduct(draft.id, { variants: [{ sku: 'QF-1', name: 'x', price: 200 }] }, meta)).status).toBe('archived');
  });

  it('refuses to update an unknown product', async () => {
    await expect(catalog.updateProduct('prd_00000000000000000000000000', { name: 'x' }, meta)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('catalog writes keep stock, prices and the dictionary in step', () => {
  /** What the inventory projection answers per SKU (read in the save's transaction). */
  const projection = new Map<string, number>();
  let stocked: CatalogService;
  beforeAll(() => {
    const orm = drizzle({ client: pool, schema }) as unknown as AnyDb;
    stocked = makeCatalogService({
      readDb: () => orm,
      writeDb: () => orm,
      cache: [new MemoryCache(100)],
      generations,
      cacheTtlSeconds: 60,
      currency: 'USD',
      sellableUnits: async (_tx, sku) => projection.get(sku) ?? 0,
      clock: new ManualClock(),
      background: () => undefined,
    });
  });
  const qty = async (sku: string) => (await pool.query('select available_qty as q from product_variants where sku = $1', [sku])).rows[0]?.q;
  const known = async (term: string) => (await pool.query('select count(*)::int as n from catalog_search_terms where term = $1', [term])).rows[0].n === 1;

  it('a SKU added or put back starts from the units the inventory projection has; a kept SKU keeps its own', async () => {
    const r = await refs();
    projection.set('RB-1', 4).set('RB-2', 0);
    const p = await stocked.createProduct({ ...base, ...r, slug: 'rembrook-kettle', name: 'Rembrook Kettle', variants: [{ sku: 'RB-1', name: 'Steel', price: 2500 }, { sku: 'RB-2', name: 'Copper', price: 2700 }] }, meta);
    expect({ variants: p.variants.map((v) => [v.sku, v.inStock]), inStock: p.inStock }).toEqual({ variants: [['RB-1', true], ['RB-2', false]], inStock: true });
    // The follower moved RB-2 since (the projection is not asked again for a SKU the product keeps).
    await pool.query("update product_variants set available_qty = 7 where sku = 'RB-2'");
    await stocked.updateProduct(p.id, { variants: [{ sku: 'RB-2', name: 'Copper', price: 2700 }] }, meta);
    expect([await qty('RB-1'), await qty('RB-2')]).toEqual([undefined, 7]);
    const back = await stocked.updateProduct(p.id, { variants: [{ sku: 'RB-1', name: 'Steel', price: 2500 }, { sku: 'RB-2', name: 'Copper', price: 2700 }] }, meta);
    expect({ variants: back.variants.map((v) => [v.sku, v.inStock]), units: [await qty('RB-1'), await qty('RB-2')] }).toEqual({ variants: [['RB-1', true], ['RB-2', true]], units: [4, 7] });
  });

  it('lists the lowest price one can pay and counts only stock one can buy: a variant priced 0 sets neither', async () => {
    const r = await refs();
    projection.set('PZ-0', 5).set('PZ-1', 0);
    const p = await stocked.createProduct({ ...base, ...r, slug: 'pruzzle-sampler', name: 'Pruzzle Sampler', variants: [{ sku: 'PZ-0', name: 'Sample', price: 0 }, { sku: 'PZ-1', name: 'Full', price: 1800 }] }, meta);
    expect({ price: p.price.amount, max: p.priceMax.amount, inStock: p.inStock, sampleInStock: p.variants[0]!.inStock }).toEqual({ price: 1800, max: 1800, inStock: false, sampleInStock: true });
    const listed = await stocked.listProducts({ q: 'pruzzle', inStock: true, limit: 5 } as never);
    expect(listed.value.total).toBe(0);
    const free = await stocked.updateProduct(p.id, { variants: [{ sku: 'PZ-0', name: 'Sample', price: 0 }] }, meta);
    expect({ price: free.price.amount, max: free.priceMax.amount }).toEqual({ price: 0, max: 0 });
  });

  it('keeps a word in the dictionary while some active product has it, and drops it with the last one (archived, renamed or re-keyworded)', async () => {
    const r = await refs();
    const a = await catalog.createProduct({ ...base, ...r, slug: 'glimworth-a', name: 'Glimworth Vase', attributes: { finish: 'Trombalt' }, variants: [{ sku: 'GW-A', name: 'x', price: 900 }] }, meta);
    const b = await catalog.createProduct({ ...base, ...r, slug: 'glimworth-b', name: 'Glimworth Bowl', variants: [{ sku: 'GW-B', name: 'x', price: 900 }] }, meta);
    await catalog.archiveProduct(a.id, meta);
    expect({ shared: await known('glimworth'), own: await known('trombalt') }).toEqual({ shared: true, own: false });
    await catalog.updateProduct(b.id, { name: 'Plinkett Bowl' }, meta);
    expect({ old: await known('glimworth'), new: await known('plinkett') }).toEqual({ old: false, new: true });
    expect((await catalog.listProducts({ q: 'glimwroth', limit: 5 } as never)).value.correctedQuery).toBeNull();
    // Back on sale: its words are back.
    await catalog.updateProduct(a.id, { status: 'active' }, meta);
    expect({ shared: await known('glimworth'), own: await known('trombalt') }).toEqual({ shared: true, own: true });
    await catalog.updateProduct(a.id, { attributes: {} }, meta);
    expect(await known('trombalt')).toBe(false);
  });

  it('finds accented names typed with or without their accents (name, keywords and description)', async () => {
    const r = await refs();
    const p = await catalog.createProduct({ ...base, ...r, slug: 'creme-ruhl-torch', name: 'Crème Brûlée Ruhlståd Torch', description: 'Für Crêpes und Ærøskøbing', attributes: { finish: 'Émail' }, variants: [{ sku: 'CB-1', name: 'x', price: 900 }] }, meta);
    const hits = async (q: string) => (await catalog.listProducts({ q, limit: 5 } as never)).value.items.map((i) => i.id);
    expect({
      accented: await hits('crème ruhlståd'),
      plain: await hits('creme ruhlstad'),
      keyword: await hits('email ruhlstad'),
      description: await hits('crepes fur ruhlstad'),
      undecomposed: await hits('ærøskøbing ruhlstad'),
    }).toEqual({ accented: [p.id], plain: [p.id], keyword: [p.id], description: [p.id], undecomposed: [p.id] });
  });
});
