/**
 * A deterministic demo catalog: the same seeds give the same rows, ids included, on every
 * run and machine. Pure: no clock, no Math.random, no I/O.
 */
import type {
  brands,
  catalogSearchTerms,
  categories,
  productVariants,
  products,
  stockLevels,
  warehouses,
} from '../../shared/db/schema/index.ts';
import { ID_PREFIXES, type IdKind } from '../../shared/kernel/ids.ts';
import { type SearchFieldsInput, searchKeywords, searchTerms } from '../../workers/catalog/catalog.search-fields.ts';
import { BRANDS, CATEGORY_TREE, type LeafCategory, type TopCategory, WAREHOUSES } from './catalog-taxonomy.ts';
import { Random } from './random.ts';

export type CategoryRow = Required<typeof categories.$inferInsert>;
export type BrandRow = Required<typeof brands.$inferInsert>;
export type ProductRow = Required<typeof products.$inferInsert>;
export type VariantRow = Required<typeof productVariants.$inferInsert>;
export type WarehouseRow = Required<typeof warehouses.$inferInsert>;
/** A seeded level: version 0 (loaded, not from an event; the column default). */
export type StockLevelRow = Required<Omit<typeof stockLevels.$inferInsert, 'version' | 'inTransitOut'>>;
export type SearchTermRow = Required<typeof catalogSearchTerms.$inferInsert>;

/** Rows for every seeded table, in an order that satisfies the foreign keys. */
export interface SeedCatalog {
  categories: CategoryRow[];
  brands: BrandRow[];
  warehouses: WarehouseRow[];
  products: ProductRow[];
  productVariants: VariantRow[];
  stockLevels: StockLevelRow[];
  /** Dictionary words of active products, as the catalog service records them. */
  searchTerms: SearchTermRow[];
}

/** "Now" for the seed: products were created during the year before it. */
export const SEED_REFERENCE_DATE = new Date('2026-11-01T00:00:00Z');
export const PRODUCT_COUNT = 360;

const CONTENT_SEED = 0x5eed_ca7a;
/** Ids draw from their own stream so content changes do not reshuffle every id. */
const ID_SEED = 0x1d5_5eed;
const CURRENCY = 'USD';
const DAY_MS = 86_400_000;
/** Categories, brands and warehouses were set up a little before the first product. */
const SETUP_TIME = SEED_REFERENCE_DATE.getTime() - 400 * DAY_MS;
const CATALOG_SPAN_MS = 365 * DAY_MS;

const DRAFT_SHARE = 0.03;
const UNRATED_SHARE = 0.15;
const ON_SALE_SHARE = 0.25;
const SOLD_OUT_SHARE = 0.1;
const MAX_VARIANTS = 4;

interface Leaf {
  id: string;
  spec: LeafCategory;
  top: TopCategory;
  brands: BrandRow[];
}

export function generateCatalog(): SeedCatalog {
  const rng = new Random(CONTENT_SEED);
  const newSeedId = seededIds(new Random(ID_SEED));
  // Setup rows are one second apart, in the order they are made.
  let setupRows = 0;
  const nextSetupTime = () => SETUP_TIME + setupRows++ * 1000;

  const categoryRows: CategoryRow[] = [];
  const leaves: Leaf[] = [];
  const brandRows = BRANDS.map((b): BrandRow => {
    const createdAt = new Date(nextSetupTime());
    return { id: newSeedId('brand', createdAt.getTime()), slug: slugify(b.name), name: b.name, createdAt };
  });

  // Top-level categories first so each parent precedes its children.
  const topRows = CATEGORY_TREE.map((top, i) => categoryRow(top.name, null, i));
  categoryRows.push(...topRows);
  CATEGORY_TREE.forEach((top, t) => {
    const parent = topRows[t];
    if (!parent) throw new Error(`no row for category ${top.name}`);
    top.children.forEach((spec, i) => {
      const row = categoryRow(spec.name, parent.id, i);
      categoryRows.push(row);
      const sellers = brandRows.filter((_, b) => BRANDS[b]?.sells.includes(top.code));
      leaves.push({ id: row.id, spec, top, brands: sellers });
    });
  });

  const warehouseRows = WAREHOUSES.map((w): WarehouseRow => {
    const createdAt = new Date(nextSetupTime());
    return { id: newSeedId('warehouse', createdAt.getTime()), ...w, createdAt };
  });
  const warehouseIds = warehouseRows.map((w) => w.id);

  // Spread the products evenly over the leaves, then shuffle so creation order mixes categories.
  const slots = rng.shuffle(
    leaves.flatMap((leaf, i) => {
      const count = Math.floor(PRODUCT_COUNT / leaves.length) + (i < PRODUCT_COUNT % leaves.length ? 1 : 0);
      return Array.from({ length: count }, () => leaf);
    }),
  );

  const modelWords = new ModelWords(rng);
  const productRows: ProductRow[] = [];
  const variantRows: VariantRow[] = [];
  const stockRows: StockLevelRow[] = [];
  const terms = new Set<string>();
  const firstDay = SEED_REFERENCE_DATE.getTime() - CATALOG_SPAN_MS;
  const spacing = CATALOG_SPAN_MS / slots.length;

  slots.forEach((leaf, index) => {
    // Distinct, increasing times, so ids (which embed them) sort by creation like real ones.
    const createdAt = new Date(firstDay + Math.floor((index + 0.1 + 0.8 * rng.next()) * spacing));
    const brand = rng.pick(leaf.brands);
    const model = modelWords.next();
    const type = rng.pick(leaf.spec.types);
    const name = `${brand.name} ${model} ${type}`;
    const slug = slugify(name);
    const productId = newSeedId('product', createdAt.getTime());
    const attributes = { model, ...pickAttributes(rng, leaf.top.attributes), ...pickAttributes(rng, leaf.spec.attributes) };
    const status = rng.chance(DRAFT_SHARE) ? 'draft' : 'active';

    const variants = buildVariants(rng, leaf).map((option, position): VariantRow => {
      const sku = `AG-${leaf.top.code}-${String(index + 1).padStart(4, '0')}-${position + 1}`;
      const stock = buildStock(rng, sku, warehouseIds);
      stockRows.push(...stock);
      return {
        id: newSeedId('variant', createdAt.getTime() + position),
        productId,
        sku,
        name: option.name,
        attributes: option.attributes,
        price: option.price,
        compareAtPrice: option.compareAtPrice,
        currency: CURRENCY,
        availableQty: stock.reduce((sum, s) => sum + s.onHand - s.reserved, 0),
        position,
        createdAt,
      };
    });
    variantRows.push(...variants);

    const fields: SearchFieldsInput = {
      name,
      brandName: brand.name,
      categoryPath: [leaf.top.name, leaf.spec.name],
      attributes,
      variantAttributes: variants.map((v) => v.attributes),
    };
    if (status === 'active') for (const term of searchTerms(fields)) terms.add(term);

    const prices = variants.map((v) => v.price);
    productRows.push({
      id: productId,
      slug,
      name,
      description: describeProduct(rng, { brand: brand.name, model, type, leaf, attributes }),
      brandId: brand.id,
      categoryId: leaf.id,
      status,
      currency: CURRENCY,
      priceMin: Math.min(...prices),
      priceMax: Math.max(...prices),
      attributes,
      images: Array.from({ length: rng.int(2, 3) }, (_, n) => ({
        url: `https://picsum.photos/seed/${slug}-${n + 1}/800/800`,
        alt: `${name}, ${IMAGE_VIEWS[n]}`,
      })),
      // Drafts have not been on sale yet, so nobody has rated them.
      ...(status === 'draft' ? { ratingAvg: 0, ratingCount: 0 } : rating(rng)),
      searchKeywords: searchKeywords(fields),
      createdAt,
      updatedAt: createdAt,
    });
  });

  return {
    categories: categoryRows,
    brands: brandRows,
    warehouses: warehouseRows,
    products: productRows,
    productVariants: variantRows,
    stockLevels: stockRows,
    searchTerms: [...terms].sort().map((term) => ({ term })),
  };

  function categoryRow(name: string, parentId: string | null, position: number): CategoryRow {
    const createdAt = new Date(nextSetupTime());
    return { id: newSeedId('category', createdAt.getTime()), slug: slugify(name), name, parentId, position, createdAt };
  }
}

/** URL-safe lower-case slug: "Home & Kitchen" → "home-and-kitchen", "Men's Clothing" → "mens-clothing". */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/['’]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Ids shaped like `newId()`'s (10 chars of time, 16 random), with the random part from a seeded PRNG. */
function seededIds(rng: Random): (kind: IdKind, timeMs: number) => string {
  return (kind, timeMs) => {
    let time = '';
    for (let i = 0, t = timeMs; i < 10; i++, t = Math.floor(t / 32)) time = ID_ALPHABET.charAt(t % 32) + time;
    let random = '';
    for (let i = 0; i < 16; i++) random += ID_ALPHABET.charAt(rng.int(0, 31));
    return `${ID_PREFIXES[kind]}_${time}${random}`;
  };
}

const CONSONANTS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z'];
const ONSETS = [...CONSONANTS, 'br', 'dr', 'kr', 'tr', 'st', 'th'];
const VOWELS = ['a', 'e', 'i', 'o', 'u'];
/** Endings no English stemmer strips, so every model word stays a search lexeme of its own. */
const ENDINGS = [
  'rix', 'vex', 'dor', 'lan', 'tar', 'mak', 'zon', 'nor', 'ven', 'kar',
  'lux', 'rin', 'thor', 'vyn', 'ram', 'dex', 'lon', 'mar', 'tek', 'van',
];
/** Syllable runs a shop should not print on a product. */
const BLOCKED = ['nig', 'tit', 'dik', 'fag', 'pis', 'pen', 'rap', 'kok', 'fuk'];
/** Two words may not share this many leading letters, so none is a prefix or near-copy of another. */
const DISTINCT_PREFIX = 5;

/** Pronounceable invented model names ("Kalorix", "Trevador"), each used once. */
class ModelWords {
  private readonly prefixes = new Set<string>();
  private readonly rng: Random;

  constructor(rng: Random) {
    this.rng = rng;
  }

  next(): string {
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const word = [ONSETS, VOWELS, CONSONANTS, VOWELS, ENDINGS].map((options) => this.rng.pick(options)).join('');
      const prefix = word.slice(0, DISTINCT_PREFIX);
      if (this.prefixes.has(prefix) || BLOCKED.some((b) => word.includes(b))) continue;
      this.prefixes.add(prefix);
      return word.charAt(0).toUpperCase() + word.slice(1);
    }
    throw new Error('ran out of distinct model words');
  }
}

/** One value for each attribute key. */
function pickAttributes(rng: Random, options: Readonly<Record<string, readonly string[]>>): Record<string, string> {
  return Object.fromEntries(Object.entries(options).map(([key, values]) => [key, rng.pick(values)]));
}

interface VariantOption {
  name: string;
  attributes: Record<string, string>;
  price: number;
  compareAtPrice: number | null;
}

/**
 * 1–4 variants: a few values of each axis, crossed ("Black / 128 GB", "Black / 256 GB", ...).
 * Prices grow along priced axes and stay inside the leaf's price range.
 */
function buildVariants(rng: Random, leaf: Leaf): VariantOption[] {
  let combos: { values: string[]; attributes: Record<string, string>; factor: number }[] = [{ values: [], attributes: {}, factor: 1 }];
  for (const axis of leaf.spec.axes) {
    const count = rng.int(1, Math.min(axis.values.length, Math.floor(MAX_VARIANTS / combos.length)));
    const chosen = rng.sample(axis.values, count);
    combos = combos.flatMap((combo) =>
      chosen.map((value) => ({
        values: [...combo.values, value],
        attributes: { ...combo.attributes, [axis.key]: value },
        factor: combo.factor * (1 + axis.priceStep * axis.values.indexOf(value)),
      })),
    );
  }

  const [min, max] = leaf.spec.price;
  const maxFactor = Math.max(...combos.map((c) => c.factor));
  // Log-uniform base price, so cheap items are as common as dear ones within a range.
  const base = Math.exp(Math.log(min) + rng.next() * (Math.log(max / maxFactor) - Math.log(min)));
  const discount = rng.chance(ON_SALE_SHARE) ? 0.15 + rng.next() * 0.25 : 0;

  return combos.map((combo) => {
    const price = roundTo99(base * combo.factor);
    return {
      name: combo.values.join(' / '),
      attributes: combo.attributes,
      price,
      compareAtPrice: discount > 0 ? price + Math.max(100, Math.round((price * discount) / 100) * 100) : null,
    };
  });
}

/** Nearest price ending in 99 cents; stays within [min, max] when both bounds end in 99. */
function roundTo99(cents: number): number {
  return Math.round(cents / 100) * 100 - 1;
}

/**
 * Stock for one SKU in two or three warehouses. About one SKU in ten is sold out everywhere
 * (every unit on hand is reserved); the others have sellable units in at least one place.
 */
function buildStock(rng: Random, sku: string, warehouseIds: string[]): StockLevelRow[] {
  const stocked = rng.chance(0.6) ? warehouseIds : rng.sample(warehouseIds, 2);
  const soldOut = rng.chance(SOLD_OUT_SHARE);
  const main = rng.int(0, stocked.length - 1);
  return stocked.map((warehouseId, i) => {
    if (soldOut) {
      const onHand = rng.int(0, 3);
      return { sku, warehouseId, onHand, reserved: onHand, updatedAt: SEED_REFERENCE_DATE };
    }
    const onHand = i === main ? rng.int(6, 120) : rng.int(0, 120);
    return { sku, warehouseId, onHand, reserved: rng.int(0, Math.min(5, onHand)), updatedAt: SEED_REFERENCE_DATE };
  });
}

function rating(rng: Random): { ratingAvg: number; ratingCount: number } {
  if (rng.chance(UNRATED_SHARE)) return { ratingAvg: 0, ratingCount: 0 };
  // Log-uniform 1..2499 reviews; a single review is a whole number of stars.
  const ratingCount = Math.floor(Math.exp(rng.next() * Math.log(2500)));
  const ratingAvg = ratingCount === 1 ? rng.int(3, 5) : Math.round((2.8 + 2.2 * Math.sqrt(rng.next())) * 100) / 100;
  return { ratingAvg, ratingCount };
}

const IMAGE_VIEWS = ['front view', 'side view', 'detail'];

const FEATURE_LEADS = ['It comes with', 'Highlights include', 'Expect'];
const CLOSINGS = ['Every order ships in recyclable packaging.', 'Free returns within 30 days.', 'A thoughtful gift that is easy to love.'];

interface DescribeInput {
  brand: string;
  model: string;
  type: string;
  leaf: Leaf;
  attributes: Record<string, string>;
}

/** Two or three sentences: what it is and who it is for, its features, sometimes a closing line. */
function describeProduct(rng: Random, p: DescribeInput): string {
  const useCase = rng.pick(p.leaf.top.useCases);
  const intro = rng.pick([
    `Meet the ${p.brand} ${p.model} ${p.type}, made for ${useCase}.`,
    `The ${p.model} ${p.type} from ${p.brand} is designed for ${useCase}.`,
    `${p.brand} built the ${p.model} ${p.type} for ${useCase}.`,
  ]);
  const features = rng.shuffle(p.leaf.spec.features).slice(0, rng.int(2, 3));
  const sentences = [intro, `${rng.pick(FEATURE_LEADS)} ${joinList(features)}.`];
  if (rng.chance(0.7)) {
    const warranty = p.attributes.warranty;
    sentences.push(warranty ? `Covered by a manufacturer warranty of ${warranty}.` : rng.pick(CLOSINGS));
  }
  return sentences.join(' ');
}

/** Two or more items as "a, b and c". */
function joinList(items: string[]): string {
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
