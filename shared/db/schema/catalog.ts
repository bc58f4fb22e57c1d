import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { tsvector } from './types';

/** Catalog context: categories (a tree), brands, products and their variants. */
export const categories = pgTable(
  'categories',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    parentId: text('parent_id').references((): AnyPgColumn => categories.id, { onDelete: 'restrict' }),
    position: integer('position').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('categories_slug_uq').on(t.slug), index('categories_parent_idx').on(t.parentId)],
);

export const brands = pgTable(
  'brands',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('brands_slug_uq').on(t.slug)],
);

export type ProductImage = { url: string; alt: string };

/**
 * `text` with its accents stripped exactly as the catalog strips them from what a shopper types and
 * from the dictionary's words (`searchWords()` in workers/catalog/catalog.search.ts, `tokenize()` in
 * catalog.search-fields.ts): NFKD, then the combining marks U+0300–U+036F removed. Core functions
 * only (IMMUTABLE since PostgreSQL 13, UTF8 databases), so it runs in a generated column and an index
 * the same on Neon, PostgreSQL 15+ and PGlite, with no extension (docs/search.md "Accents").
 */
const unaccented = (text: string) => `regexp_replace(normalize(${text}, NFKD), '[\\u0300-\\u036f]', '', 'g')`;

/**
 * A product's name and keywords folded as the typo dictionary's words are cut from them (lower case,
 * accents stripped): the dictionary drops a word once no active product's text contains it
 * (catalog.repo.ts `dropOrphanSearchTerms`). The trigram index below is on this exact expression.
 */
export const productTermsText = `lower(${unaccented("name || ' ' || search_keywords")})`;

export const products = pgTable(
  'products',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    brandId: text('brand_id')
      .notNull()
      .references(() => brands.id, { onDelete: 'restrict' }),
    categoryId: text('category_id')
      .notNull()
      .references(() => categories.id, { onDelete: 'restrict' }),
    status: text('status', { enum: ['active', 'draft', 'archived'] }).notNull().default('active'),
    currency: text('currency').notNull(),
    /** Lowest and highest variant price in minor units, kept by the catalog service. */
    priceMin: integer('price_min').notNull(),
    priceMax: integer('price_max').notNull(),
    attributes: jsonb('attributes').$type<Record<string, string>>().notNull().default({}),
    images: jsonb('images').$type<ProductImage[]>().notNull().default([]),
    ratingAvg: numeric('rating_avg', { precision: 3, scale: 2, mode: 'number' }).notNull().default(0),
    ratingCount: integer('rating_count').notNull().default(0),
    /** Brand, category path and attribute words, weighted B in search. Kept by the catalog service. */
    searchKeywords: text('search_keywords').notNull().default(''),
    searchVector: tsvector('search_vector')
      .notNull()
      .generatedAlwaysAs(
        // Accents stripped (migration 0013): "creme" and "crème" both find "Crème Brûlée Torch".
        sql.raw(
          `setweight(to_tsvector('english'::regconfig, ${unaccented("coalesce(name, '')")}), 'A') || setweight(to_tsvector('english'::regconfig, ${unaccented("coalesce(search_keywords, '')")}), 'B') || setweight(to_tsvector('english'::regconfig, ${unaccented("coalesce(description, '')")}), 'D')`,
        ),
      ),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('products_slug_uq').on(t.slug),
    index('products_category_idx').on(t.categoryId),
    index('products_brand_idx').on(t.brandId),
    index('products_price_idx').on(t.priceMin, t.id),
    index('products_created_idx').on(t.createdAt, t.id),
    index('products_rating_idx').on(t.ratingAvg, t.id),
    index('products_search_idx').using('gin', t.searchVector),
    index('products_terms_trgm_idx')
      .using('gin', sql.raw(`(${productTermsText}) gin_trgm_ops`))
      .where(sql`status = 'active'`),
    check('products_price_range_ck', sql`${t.priceMin} >= 0 and ${t.priceMax} >= ${t.priceMin}`),
  ],
);

export const productVariants = pgTable(
  'product_variants',
  {
    id: text('id').primaryKey(),
    productId: text('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    sku: text('sku').notNull(),
    name: text('name').notNull(),
    attributes: jsonb('attributes').$type<Record<string, string>>().notNull().default({}),
    price: integer('price').notNull(),
    compareAtPrice: integer('compare_at_price'),
    currency: text('currency').notNull(),
    /** The catalog's projection of sellable units across warehouses (fed by inventory events). */
    availableQty: integer('available_qty').notNull().default(0),
    position: integer('position').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('product_variants_sku_uq').on(t.sku),
    index('product_variants_product_idx').on(t.productId, t.position),
    index('product_variants_attributes_idx').using('gin', t.attributes),
    check('product_variants_price_ck', sql`${t.price} >= 0`),
  ],
);

/** Distinct words of names, brands and categories: the dictionary typo correction draws from. */
export const catalogSearchTerms = pgTable(
  'catalog_search_terms',
  {
    term: text('term').primaryKey(),
  },
  (t) => [index('catalog_search_terms_trgm_idx').using('gin', t.term.op('gin_trgm_ops'))],
);
