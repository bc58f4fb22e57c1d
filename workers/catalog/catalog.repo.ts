import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { catalogSearchTerms, products, productTermsText, productVariants } from '../../shared/db/schema';
import type { Sort } from './catalog.schemas';
import { rowsOf } from '../../shared/db/rows';
import { lockForTransaction, skuStockLockKey } from '../../shared/db/locks';

/** Catalog queries. Only this file touches the catalog's tables. */

export interface ProductFilter {
  categorySlugs?: string[];
  brandSlugs?: string[];
  minPrice?: number;
  maxPrice?: number;
  inStock?: boolean;
  /** Attribute name → accepted values (OR within a name, AND across names). */
  attributes?: Record<string, string[]>;
  /** A to_tsquery('english', …) expression. */
  tsQuery?: string;
}

export type Position =
  /** Relevance cursors issued before keyset relevance paging (0.3.15): still honoured. */
  | { kind: 'offset'; offset: number }
  | { kind: 'key'; key: string | number; id: string };

export interface SummaryRow {
  id: string;
  slug: string;
  name: string;
  currency: string;
  price_min: number;
  price_max: number;
  images: { url: string; alt: string }[];
  rating_avg: string | number;
  rating_count: number;
  created_at: string | Date;
  brand_id: string;
  brand_slug: string;
  brand_name: string;
  category_id: string;
  category_slug: string;
  category_name: string;
  in_stock: boolean;
  sort_key: string | number | null;
}

export interface DetailRow extends SummaryRow {
  status: 'active' | 'draft' | 'archived';
  description: string;
  attributes: Record<string, string>;
  updated_at: string | Date;
  variants: {
    id: string;
    sku: string;
    name: string;
    attributes: Record<string, string>;
    price: number;
    compare_at_price: number | null;
    currency: string;
    available_qty: number;
  }[];
}

export interface FacetRow {
  kind: 'category' | 'brand' | 'price' | 'total';
  key: string | null;
  slug: string | null;
  name: string | null;
  count: string | number;
}

/** Price bucket lower bounds in minor units; the last bucket is open-ended. */
export const PRICE_BUCKETS = [0, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000] as const;

const bucketExpr = sql.raw(
  `(case ${PRICE_BUCKETS.slice(1)
    .map((b, i) => `when p.price_min < ${b} then ${i}`)
    .join(' ')} else ${PRICE_BUCKETS.length - 1} end)`,
);

function categoryCond(slugs: string[]): SQL {
  return sql`p.category_id in (
    with recursive tree as (
      select id from categories where slug in ${slugs}
      union all
      select c.id from categories c join tree on c.parent_id = tree.id
    ) select id from tree)`;
}

const brandCond = (slugs: string[]) => sql`p.brand_id in (select id from brands where slug in ${slugs})`;

function priceCond(f: ProductFilter): SQL | undefined {
  const parts: SQL[] = [];
  if (f.minPrice !== undefined) parts.push(sql`p.price_min >= ${f.minPrice}`);
  if (f.maxPrice !== undefined) parts.push(sql`p.price_min <= ${f.maxPrice}`);
  return parts.length ? and(...parts) : undefined;
}

/**
 * Some variant has sellable stock: units, and a price above 0 (a variant priced 0 is not for sale,
 * docs/cart.md; its units never make the product "in stock").
 */
const SELLABLE_STOCK = sql`exists (select 1 from product_variants v where v.product_id = p.id and v.available_qty > 0 and v.price > 0)`;

/** Conditions that every facet honours: visibility, text, stock and attributes. */
function baseConds(f: ProductFilter): SQL[] {
  const conds: SQL[] = [sql`p.status = 'active'`];
  if (f.tsQuery) conds.push(sql`p.search_vector @@ to_tsquery('english', ${f.tsQuery})`);
  if (f.inStock !== undefined) {
    const exists = SELLABLE_STOCK;
    conds.push(f.inStock ? exists : sql`not ${exists}`);
  }
  for (const [name, values] of Object.entries(f.attributes ?? {})) {
    conds.push(sql`(p.attributes ->> ${name} in ${values} or exists (
      select 1 from product_variants v where v.product_id = p.id and v.attributes ->> ${name} in ${values}))`);
  }
  return conds;
}

const SORT_SQL: Record<Exclude<Sort, 'relevance'>, { key: SQL; dir: 'asc' | 'desc' }> = {
  price_asc: { key: sql`p.price_min`, dir: 'asc' },
  price_desc: { key: sql`p.price_min`, dir: 'desc' },
  newest: { key: sql`p.created_at`, dir: 'desc' },
  rating: { key: sql`p.rating_avg`, dir: 'desc' },
};

const SUMMARY_COLUMNS = sql`
  p.id, p.slug, p.name, p.currency, p.price_min, p.price_max, p.images, p.rating_avg, p.rating_count,
  p.created_at, b.id as brand_id, b.slug as brand_slug, b.name as brand_name,
  c.id as category_id, c.slug as category_slug, c.name as category_name,
  ${SELLABLE_STOCK} as in_stock`;

/**
 * One page of product summaries (plus one extra row, to tell whether another page exists),
 * the facet counts and the total, in one statement over one scan of the matching products.
 * Each facet applies every filter except its own (disjunctive faceting); the page and the
 * total apply them all. Answers one row: `{ items: SummaryRow[], facets: FacetRow[] }`.
 */
export function listQuery(filter: ProductFilter, sort: Sort, position: Position | undefined, limit: number): SQL {
  const mc = filter.categorySlugs?.length ? categoryCond(filter.categorySlugs) : sql`true`;
  const mb = filter.brandSlugs?.length ? brandCond(filter.brandSlugs) : sql`true`;
  const mp = priceCond(filter) ?? sql`true`;

  const pageWhere = [sql`base.mc and base.mb and base.mp`];
  let keyExpr: SQL;
  let order: SQL;
  let offset = 0;
  if (sort === 'relevance' && filter.tsQuery) {
    // Keyset on (rank, id) like the other sorts, so a product archived or added between pages never
    // shifts the next page (an offset skipped or repeated one). ts_rank_cd is a float4 that is the
    // same for an unchanged document and the same query on every page; the cursor carries it as
    // text, which round-trips exactly (shortest exact output since PostgreSQL 12).
    keyExpr = sql`ts_rank_cd(p.search_vector, to_tsquery('english', ${filter.tsQuery}))`;
    order = sql`${keyExpr} desc, p.id asc`;
    if (position?.kind === 'offset') offset = position.offset;
    if (position?.kind === 'key') {
      const rank = sql`${String(position.key)}::real`;
      pageWhere.push(sql`(${keyExpr} < ${rank} or (${keyExpr} = ${rank} and p.id > ${position.id}))`);
    }
  } else {
    const s = SORT_SQL[sort === 'relevance' ? 'newest' : sort];
    keyExpr = s.key;
    const dir = sql.raw(s.dir);
    order = sql`${s.key} ${dir}, p.id ${dir}`;
    if (position?.kind === 'key') {
      const cmp = sql.raw(s.dir === 'asc' ? '>' : '<');
      const key = sort === 'newest' ? sql`${position.key}::timestamptz` : sql`${position.key}::numeric`;
      pageWhere.push(sql`(${s.key}, p.id) ${cmp} (${key}, ${position.id})`);
    }
  }

  return sql`
    with base as materialized (
      select p.id, p.category_id, p.brand_id, ${bucketExpr} as bucket, (${mc}) as mc, (${mb}) as mb, (${mp}) as mp
      from products p
      where ${and(...baseConds(filter))}
    ),
    page as (
      select ${SUMMARY_COLUMNS}, (${keyExpr})::text as sort_key, row_number() over (order by ${order}) as ord
      from base
      join products p on p.id = base.id
      join brands b on b.id = p.brand_id
      join categories c on c.id = p.category_id
      where ${and(...pageWhere)}
      order by ${order}
      limit ${limit + 1} offset ${offset}
    ),
    cat as (select category_id as key, count(*) as n from base where mb and mp group by category_id),
    brd as (select brand_id as key, count(*) as n from base where mc and mp group by brand_id),
    prc as (select bucket::text as key, count(*) as n from base where mc and mb group by bucket),
    facets as (
      select 'category' as kind, c.id as key, c.slug, c.name, cat.n as count from cat join categories c on c.id = cat.key
      union all
      select 'brand', b.id, b.slug, b.name, brd.n from brd join brands b on b.id = brd.key
      union all
      select 'price', prc.key, null, null, prc.n from prc
      union all
      select 'total', null, null, null, count(*) from base where mc and mb and mp
    )
    select
      (select coalesce(json_agg(page order by page.ord), '[]'::json) from page) as items,
      (select json_agg(facets) from facets) as facets`;
}

/** One product with its variants; only active ones unless `anyStatus` (admin reads). */
export function productDetailQuery(idOrSlug: string, opts: { anyStatus?: boolean } = {}): SQL {
  const visible = opts.anyStatus ? sql`true` : sql`p.status = 'active'`;
  return sql`
    select ${SUMMARY_COLUMNS}, null as sort_key, p.status, p.description, p.attributes, p.updated_at,
      coalesce((
        select json_agg(json_build_object(
          'id', v.id, 'sku', v.sku, 'name', v.name, 'attributes', v.attributes, 'price', v.price,
          'compare_at_price', v.compare_at_price, 'currency', v.currency, 'available_qty', v.available_qty
        ) order by v.position, v.id)
        from product_variants v where v.product_id = p.id), '[]'::json) as variants
    from products p
    join brands b on b.id = p.brand_id
    join categories c on c.id = p.category_id
    where (p.id = ${idOrSlug} or p.slug = ${idOrSlug}) and ${visible}
    limit 1`;
}

/**
 * For each word, dictionary candidates: the word itself when it is known (then nothing else),
 * otherwise words with trigram similarity and words of nearby length within Levenshtein
 * distance 3. The final choice is made by
 * `pickCorrections`, which counts a swap of two letters as one typo.
 */
export function correctionsQuery(words: string[]): SQL {
  return sql`
    select w.word, s.term
    from unnest(${sql`array[${sql.join(
      words.map((w) => sql`${w}`),
      sql`, `,
    )}]::text[]`}) as w(word)
    cross join lateral (
      select w.word as term
      where exists (select 1 from catalog_search_terms e where e.term = w.word)
      union all
      select f.term from (
        select t.term
        from catalog_search_terms t
        where t.term % w.word
           or (length(t.term) between length(w.word) - 1 and length(w.word) + 1
               and levenshtein_less_equal(t.term, w.word, 3) <= 3)
        order by levenshtein_less_equal(t.term, w.word, 3), similarity(t.term, w.word) desc, t.term
        limit 10
      ) f
      -- a known word is never corrected, so the fuzzy scan is skipped for it
      where not exists (select 1 from catalog_search_terms e where e.term = w.word)
    ) s`;
}

export const categoryTreeQuery = sql`
  select c.id, c.slug, c.name, c.parent_id, c.position,
    (select count(*) from products p where p.category_id = c.id and p.status = 'active') as direct_count
  from categories c
  order by c.position, c.name`;

/** Runs read queries in one round trip where the driver can (a Neon HTTP batch for several). */
export async function readMany<T extends unknown[]>(db: AnyDb | HttpDb, queries: SQL[]): Promise<T> {
  if (queries.length > 1 && 'batch' in db && typeof db.batch === 'function') {
    const results = await (db as HttpDb).batch(queries.map((q) => (db as HttpDb).execute(q)) as never);
    return (results as unknown[]).map(rowsOf) as T;
  }
  const results = await Promise.all(queries.map((q) => (db as AnyDb).execute(q)));
  return results.map(rowsOf) as T;
}


// ---- writes (always inside a transaction) ----

type Tx = Parameters<Parameters<AnyDb['transaction']>[0]>[0];

/** A brand or category is looked up by its slug (from input) or id (from a stored product). */
export type RefKey = { slug: string } | { id: string };

const refCond = (key: RefKey) => ('slug' in key ? sql`slug = ${key.slug}` : sql`id = ${key.id}`);

export async function findBrand(tx: Tx, key: RefKey): Promise<{ id: string; name: string } | undefined> {
  const [row] = rowsOf(await tx.execute(sql`select id, name from brands where ${refCond(key)} limit 1`)) as {
    id: string;
    name: string;
  }[];
  return row;
}

/** The category and its ancestors' names, root first; undefined when it does not exist. */
export async function findCategoryPath(tx: Tx, key: RefKey): Promise<{ id: string; path: string[] } | undefined> {
  const rows = rowsOf(
    await tx.execute(sql`
    with recursive up as (
      select id, name, parent_id, 0 as depth from categories where ${refCond(key)}
      union all
      select c.id, c.name, c.parent_id, up.depth + 1 from categories c join up on c.id = up.parent_id
    ) select id, name, depth from up order by depth desc`),
  ) as { id: string; name: string; depth: number }[];
  const own = rows.find((r) => Number(r.depth) === 0);
  return own ? { id: own.id, path: rows.map((r) => r.name) } : undefined;
}

export async function findProductForUpdate(tx: Tx, id: string) {
  const [row] = await tx.select().from(products).where(eq(products.id, id)).for('update').limit(1);
  return row;
}

export async function findVariants(tx: Tx, productId: string) {
  return tx.select().from(productVariants).where(eq(productVariants.productId, productId));
}

export async function skusTakenByOthers(tx: Tx, skus: string[], productId: string | null): Promise<string[]> {
  if (!skus.length) return [];
  const rows = await tx
    .select({ sku: productVariants.sku, productId: productVariants.productId })
    .from(productVariants)
    .where(inArray(productVariants.sku, skus));
  return rows.filter((r) => r.productId !== productId).map((r) => r.sku);
}

export async function slugTaken(tx: Tx, slug: string): Promise<boolean> {
  const [row] = await tx.select({ id: products.id }).from(products).where(eq(products.slug, slug)).limit(1);
  return row !== undefined;
}

export async function insertProduct(tx: Tx, row: typeof products.$inferInsert) {
  await tx.insert(products).values(row);
}

export async function updateProductRow(tx: Tx, id: string, patch: Partial<typeof products.$inferInsert>) {
  await tx.update(products).set(patch).where(eq(products.id, id));
}

/** Units of a SKU that can be sold as the inventory projection has them, read in the caller's transaction. */
export type SellableUnits = (tx: AnyDb, sku: string) => Promise<number>;

/**
 * The product's variants become `rows` (by SKU: a kept SKU keeps its variant id and its projected
 * stock). A SKU the product did not have (new, or removed earlier and put back) starts at the units
 * `sellableUnits` reads from the inventory projection, not at 0: the SKU's stock need not move again
 * for the catalog to learn it. That read is made under the SKU's stock lock (the lock the projection
 * and the catalog's follower take, catalog.consumer.ts), so a projection committed before it is
 * included and one committed after it is followed by its own follower run, which sees this row.
 * The locks are taken in SKU order before any variant row is written: the follower holds one such
 * lock while it updates a variant row, so writing first and locking after could deadlock with it.
 *
 * Answers the SKUs it could not write because another product holds them (a concurrent save won the
 * SKU after the caller's check): the caller refuses the change, which rolls the transaction back.
 */
export async function replaceVariants(
  tx: Tx,
  productId: string,
  rows: (typeof productVariants.$inferInsert)[],
  sellableUnits?: SellableUnits,
): Promise<string[]> {
  const keep = rows.map((r) => r.sku);
  const units = new Map<string, number>();
  if (sellableUnits) {
    const had = new Set((await findVariants(tx, productId)).map((v) => v.sku));
    for (const sku of [...new Set(keep)].filter((s) => !had.has(s)).sort()) {
      await lockForTransaction(tx, skuStockLockKey(sku));
      units.set(sku, Math.max(0, Math.trunc(await sellableUnits(tx, sku))));
    }
  }
  await tx
    .delete(productVariants)
    .where(and(eq(productVariants.productId, productId), sql`${productVariants.sku} not in ${keep}`));
  const taken: string[] = [];
  for (const row of rows) {
    const written = await tx
      .insert(productVariants)
      .values({ ...row, availableQty: units.get(row.sku) ?? 0 })
      .onConflictDoUpdate({
        target: productVariants.sku,
        set: {
          name: row.name,
          attributes: row.attributes,
          price: row.price,
          compareAtPrice: row.compareAtPrice,
          currency: row.currency,
          position: row.position,
        },
        // Only this product's own variant is updated in place; another product's is left alone.
        setWhere: eq(productVariants.productId, productId),
      })
      .returning({ id: productVariants.id });
    if (written.length === 0) taken.push(row.sku);
  }
  return taken;
}

/** Adds an active product's words to the typo dictionary (a known word stays as it is). */
export async function addSearchTerms(tx: Tx, terms: string[]): Promise<void> {
  if (!terms.length) return;
  await tx
    .insert(catalogSearchTerms)
    .values(terms.map((term) => ({ term })))
    .onConflictDoNothing();
}

/**
 * Removes from the typo dictionary the `terms` a save took away from product `productId` (renamed,
 * re-keyworded, archived or made draft) that no other active product still has, so a correction
 * never names a word nothing on sale carries (docs/search.md "Typo tolerance").
 *
 * "Still has" is checked on each product's name and keywords folded as the words were cut from them
 * (`productTermsText`: lower case, accents stripped; the words are letters and digits only, so they
 * need no LIKE escaping): containing the word is necessary for having it, so a word some active
 * product has is never removed; one that only occurs inside a longer word stays too (harmless: it
 * still finds that product by prefix). One statement, only for saves that take words away, through
 * the partial trigram index on that expression (migration 0013).
 *
 * Not serialised with other saves: a product created with the word while this transaction runs is
 * invisible to it, so the word can go missing until that product is saved again (admin writes only).
 */
export async function dropOrphanSearchTerms(tx: Tx, terms: string[], productId: string): Promise<void> {
  if (!terms.length) return;
  await tx.execute(sql`
    delete from catalog_search_terms t
    where t.term in ${terms}
      and not exists (
        select 1 from products p
        where p.status = 'active' and p.id <> ${productId}
          and ${sql.raw(productTermsText)} like '%' || t.term || '%')`);
}


