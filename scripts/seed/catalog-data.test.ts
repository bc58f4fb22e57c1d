import { describe, expect, it } from 'vitest';
import { type IdKind, isId } from '../../shared/kernel/ids.ts';
import { searchKeywords, searchTerms, tokenize } from '../../workers/catalog/catalog.search-fields.ts';
import { PRODUCT_COUNT, SEED_REFERENCE_DATE, generateCatalog } from './catalog-data.ts';
import { CATEGORY_TREE, type LeafCategory } from './catalog-taxonomy.ts';

const catalog = generateCatalog();
const { categories, brands, warehouses, products, productVariants: variants, stockLevels } = catalog;

const DAY_MS = 86_400_000;
const leafSpecs = new Map<string, LeafCategory>(CATEGORY_TREE.flatMap((top) => top.children.map((leaf) => [leaf.name, leaf])));

function byId<T extends { id: string }>(rows: T[]): Map<string, T> {
  return new Map(rows.map((row) => [row.id, row]));
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

function unique(values: unknown[]): boolean {
  return new Set(values).size === values.length;
}

function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) groups.set(key(row), [...(groups.get(key(row)) ?? []), row]);
  return groups;
}

const categoriesById = byId(categories);
const brandsById = byId(brands);
const variantsByProduct = groupBy(variants, (v) => v.productId);
const stockBySku = groupBy(stockLevels, (s) => s.sku);

describe('generateCatalog', () => {
  it('returns the same catalog, ids included, on every call', () => {
    expect(generateCatalog()).toEqual(catalog);
  });

  it('has the promised sizes', () => {
    expect(products).toHaveLength(PRODUCT_COUNT);
    expect(products.length).toBeGreaterThanOrEqual(320);
    expect(categories.filter((c) => c.parentId === null).length).toBeGreaterThanOrEqual(8);
    expect(brands.length).toBeGreaterThanOrEqual(18);
    expect(warehouses.map((w) => w.code)).toEqual(['AMS1', 'NJ1', 'BLR1']);
    expect(variants.length).toBeGreaterThan(products.length);
  });

  it('builds a two-level category tree with products only in its leaves', () => {
    const tops = categories.filter((c) => c.parentId === null);
    for (const top of tops) {
      const children = categories.filter((c) => c.parentId === top.id);
      expect(children.length, top.name).toBeGreaterThanOrEqual(2);
      expect(children.length, top.name).toBeLessThanOrEqual(4);
      expect(children.map((c) => c.position).sort()).toEqual(children.map((_, i) => i));
    }
    for (const child of categories.filter((c) => c.parentId !== null)) {
      expect(categoriesById.get(child.parentId ?? '')?.parentId, child.name).toBeNull();
    }
    const leafIds = new Set(categories.filter((c) => c.parentId !== null).map((c) => c.id));
    for (const p of products) expect(leafIds.has(p.categoryId), p.name).toBe(true);
    // Every leaf and every brand has something to show.
    expect(new Set(products.map((p) => p.categoryId)).size).toBe(leafIds.size);
    expect(new Set(products.map((p) => p.brandId)).size).toBe(brands.length);
  });

  it('gives every row a unique id of its kind and unique slugs, SKUs and codes', () => {
    const kinds: [IdKind, { id: string }[]][] = [
      ['category', categories],
      ['brand', brands],
      ['warehouse', warehouses],
      ['product', products],
      ['variant', variants],
    ];
    for (const [kind, rows] of kinds) {
      for (const row of rows) expect(isId(kind, row.id), row.id).toBe(true);
    }
    expect(unique(kinds.flatMap(([, rows]) => rows.map((r) => r.id)))).toBe(true);
    expect(unique(categories.map((c) => c.slug))).toBe(true);
    expect(unique(brands.map((b) => b.slug))).toBe(true);
    expect(unique(products.map((p) => p.slug))).toBe(true);
    expect(unique(variants.map((v) => v.sku))).toBe(true);
    for (const v of variants) expect(v.sku).toMatch(/^AG-[A-Z]{3}-\d{4}-[1-4]$/);
    for (const slug of [...categories, ...brands, ...products].map((r) => r.slug)) expect(slug).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it('creates products at distinct times over the year before the reference date, ids in the same order', () => {
    const times = products.map((p) => p.createdAt.getTime());
    const from = SEED_REFERENCE_DATE.getTime() - 365 * DAY_MS;
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(from);
      expect(t).toBeLessThan(SEED_REFERENCE_DATE.getTime());
    }
    for (let i = 1; i < products.length; i++) {
      const [prev, cur] = [required(products[i - 1], 'product'), required(products[i], 'product')];
      expect(cur.createdAt.getTime()).toBeGreaterThan(prev.createdAt.getTime());
      expect(cur.id > prev.id, cur.id).toBe(true);
    }
  });

  it('names products brand + model word + a type of their category', () => {
    for (const p of products) {
      const brand = required(brandsById.get(p.brandId), 'brand');
      const leaf = required(leafSpecs.get(required(categoriesById.get(p.categoryId), 'category').name), 'leaf');
      const model = required(p.attributes.model, `model of ${p.name}`);
      expect(model).toMatch(/^[A-Z][a-z]{5,}$/);
      expect(leaf.types.map((type) => `${brand.name} ${model} ${type}`)).toContain(p.name);
    }
  });

  it('uses a model word that no other product mentions for at least 90% of products', () => {
    const models = products.map((p) => required(p.attributes.model, 'model').toLowerCase());
    expect(new Set(models).size / models.length).toBeGreaterThanOrEqual(0.9);
    // Searchable text of every product: its word must lead to it alone.
    const mentions = new Map<string, Set<string>>();
    for (const p of products) {
      for (const word of tokenize(`${p.name} ${p.searchKeywords} ${p.description}`)) {
        mentions.set(word, (mentions.get(word) ?? new Set()).add(p.id));
      }
    }
    const singular = models.filter((m) => mentions.get(m)?.size === 1);
    expect(singular.length / models.length).toBeGreaterThanOrEqual(0.9);
  });

  it('prices variants inside their category range and products by their variants', () => {
    for (const p of products) {
      const own = required(variantsByProduct.get(p.id), `variants of ${p.name}`);
      const [min, max] = required(leafSpecs.get(required(categoriesById.get(p.categoryId), 'category').name), 'leaf').price;
      expect(own.length).toBeGreaterThanOrEqual(1);
      expect(own.length).toBeLessThanOrEqual(4);
      expect(own.map((v) => v.position)).toEqual(own.map((_, i) => i));
      for (const v of own) {
        expect(Number.isInteger(v.price)).toBe(true);
        expect(v.price).toBeGreaterThanOrEqual(min);
        expect(v.price).toBeLessThanOrEqual(max);
        if (v.compareAtPrice !== null) expect(v.compareAtPrice).toBeGreaterThan(v.price);
        expect(v.currency).toBe('USD');
        expect(v.name).toBe(Object.values(v.attributes).join(' / '));
      }
      expect(p.priceMin).toBe(Math.min(...own.map((v) => v.price)));
      expect(p.priceMax).toBe(Math.max(...own.map((v) => v.price)));
      expect(p.currency).toBe('USD');
    }
    expect(variants.some((v) => v.compareAtPrice !== null)).toBe(true);
  });

  it('stocks every variant in at least two warehouses with consistent availability', () => {
    const warehouseIds = new Set(warehouses.map((w) => w.id));
    expect(stockLevels.length).toBeGreaterThanOrEqual(2 * variants.length);
    expect(unique(stockLevels.map((s) => `${s.sku}@${s.warehouseId}`))).toBe(true);
    for (const s of stockLevels) {
      expect(warehouseIds.has(s.warehouseId)).toBe(true);
      expect(s.onHand).toBeGreaterThanOrEqual(0);
      expect(s.onHand).toBeLessThanOrEqual(120);
      expect(s.reserved).toBeGreaterThanOrEqual(0);
      expect(s.reserved).toBeLessThanOrEqual(Math.min(5, s.onHand));
    }
    for (const v of variants) {
      const stock = stockBySku.get(v.sku) ?? [];
      expect(stock.length, v.sku).toBeGreaterThanOrEqual(2);
      expect(v.availableQty).toBe(stock.reduce((sum, s) => sum + s.onHand - s.reserved, 0));
    }
    const soldOut = variants.filter((v) => v.availableQty === 0).length / variants.length;
    expect(soldOut).toBeGreaterThanOrEqual(0.05);
    expect(soldOut).toBeLessThanOrEqual(0.15);
  });

  it('mixes a few unrated drafts among rated, active products', () => {
    const drafts = products.filter((p) => p.status === 'draft');
    expect(drafts.length).toBeGreaterThan(0);
    expect(drafts.length / products.length).toBeLessThanOrEqual(0.05);
    expect(products.every((p) => p.status === 'active' || p.status === 'draft')).toBe(true);
    for (const p of products) {
      expect(p.ratingAvg).toBeGreaterThanOrEqual(0);
      expect(p.ratingAvg).toBeLessThanOrEqual(5);
      expect(Number(p.ratingAvg.toFixed(2))).toBe(p.ratingAvg);
      expect(p.ratingCount === 0).toBe(p.ratingAvg === 0);
    }
    expect(products.filter((p) => p.ratingCount === 0).length).toBeGreaterThan(drafts.length);
  });

  it('describes products in two or three sentences with images and attributes', () => {
    for (const p of products) {
      const sentences = p.description.split(/(?<=\.) /);
      expect(sentences.length, p.description).toBeGreaterThanOrEqual(2);
      expect(sentences.length, p.description).toBeLessThanOrEqual(3);
      expect(p.images.length).toBeGreaterThanOrEqual(2);
      expect(p.images.length).toBeLessThanOrEqual(3);
      p.images.forEach((image, n) => expect(image.url).toBe(`https://picsum.photos/seed/${p.slug}-${n + 1}/800/800`));
      expect(Object.keys(p.attributes).length).toBeGreaterThanOrEqual(2);
    }
  });

  it('derives search keywords and terms exactly as the catalog service does', () => {
    const terms = new Set<string>();
    for (const p of products) {
      const leaf = required(categoriesById.get(p.categoryId), 'category');
      const top = required(categoriesById.get(leaf.parentId ?? ''), 'parent category');
      const fields = {
        name: p.name,
        brandName: required(brandsById.get(p.brandId), 'brand').name,
        categoryPath: [top.name, leaf.name],
        attributes: p.attributes,
        variantAttributes: (variantsByProduct.get(p.id) ?? []).map((v) => v.attributes),
      };
      expect(p.searchKeywords).toBe(searchKeywords(fields));
      if (p.status === 'active') for (const term of searchTerms(fields)) terms.add(term);
    }
    expect(catalog.searchTerms.map((t) => t.term)).toEqual([...terms].sort());
  });
});
