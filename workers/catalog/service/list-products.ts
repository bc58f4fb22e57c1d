import type { SQL } from 'drizzle-orm';
import { decodeCursor, encodeCursor, fingerprint } from '../../../shared/kernel/cursor';
import { readThrough, type CachedRead } from '../../../shared/ports/cache';
import {
  correctionsQuery,
  listQuery,
  PRICE_BUCKETS,
  readMany,
  type FacetRow,
  type Position,
  type ProductFilter,
  type SummaryRow,
} from '../catalog.repo';
import type { ProductList, ProductListQuery, Sort } from '../catalog.schemas';
import { buildTsQuery, correctable, correctedQuery, pickCorrections, searchWords, type QueryWord } from '../catalog.search';
import { cacheKey, type CatalogDeps } from './deps';
import { toSummary } from './mappers';

/** Search, filter, sort and facet the active catalog; cached read-through. */
export async function listProducts(input: ProductListQuery, deps: CatalogDeps): Promise<CachedRead<ProductList>> {
  const sort: Sort = input.sort ?? (input.q ? 'relevance' : 'newest');
  const identity = { ...normalise(input), sort };
  const queryPrint = fingerprint({ ...identity, limit: undefined, cursor: undefined });
  const position = input.cursor ? decodePosition(input.cursor, queryPrint, sort, sort === 'relevance' && !!input.q) : undefined;
  const key = await cacheKey(deps, 'list', identity);
  return readThrough(deps.cache, key, deps.cacheTtlSeconds, () => load(input, sort, position, queryPrint, deps), deps.background);
}

function normalise(q: ProductListQuery) {
  return {
    q: q.q ? q.q.toLowerCase().replace(/\s+/g, ' ') : undefined,
    category: q.category?.slice().sort(),
    brand: q.brand?.slice().sort(),
    minPrice: q.minPrice,
    maxPrice: q.maxPrice,
    inStock: q.inStock,
    attr: q.attr?.slice().sort(),
    limit: q.limit,
    cursor: q.cursor,
  };
}

/**
 * Cursors are opaque to clients but not secret (the fingerprint is a plain hash), so every
 * field of a decoded cursor is checked against what its sort can hold before it reaches SQL.
 */
function decodePosition(cursor: string, print: string, sort: Sort, byRelevance: boolean): Position {
  const p = decodeCursor<{ o?: unknown; k?: unknown; i?: unknown }>(cursor, print);
  // An offset cursor from before keyset relevance paging (0.3.15) still reads its next page.
  if (byRelevance && typeof p.o === 'number' && Number.isSafeInteger(p.o) && p.o >= 0 && p.o <= 100_000) return { kind: 'offset', offset: p.o };
  if (typeof p.k === 'string' && typeof p.i === 'string' && /^[a-z]{2,4}_[0-9a-z]{1,40}$/.test(p.i)) {
    const validKey = byRelevance
      ? RANK.test(p.k)
      : sort === 'newest' || sort === 'relevance'
        ? !Number.isNaN(Date.parse(p.k))
        : /^\d{1,12}(\.\d{1,4})?$/.test(p.k);
    if (validKey && p.k.length <= 40) return { kind: 'key', key: p.k, id: p.i };
  }
  return decodeCursor('', print); // throws INVALID_CURSOR
}

/** A relevance key as Postgres prints a ts_rank_cd float4 (not negative): `0.0607927`, `1e-05`, `2.5`. */
const RANK = /^\d{1,20}(\.\d{1,20})?(e[+-]?\d{1,2})?$/;

async function load(
  input: ProductListQuery,
  sort: Sort,
  position: Position | undefined,
  print: string,
  deps: CatalogDeps,
): Promise<ProductList> {
  const db = deps.readDb();
  const filter: ProductFilter = {
    categorySlugs: input.category,
    brandSlugs: input.brand,
    minPrice: input.minPrice,
    maxPrice: input.maxPrice,
    inStock: input.inStock,
    attributes: groupAttributes(input.attr),
  };

  /** The page and the facets for the current filter, after any extra queries, in one round trip. */
  const run = (...before: SQL[]) => readMany<unknown[]>(db, [...before, listQuery(filter, sort, position, input.limit)]);

  let words: QueryWord[] = [];
  let results: unknown[];
  if (!input.q) {
    results = await run();
  } else {
    const typed = searchWords(input.q);
    if (typed.length === 0) return emptyList();
    words = typed.map((word) => ({ word, corrections: [] }));
    filter.tsQuery = buildTsQuery(words);
    const toCheck = typed.filter(correctable);
    // The dictionary lookup travels with the search for the words as typed; only when a word
    // needs correcting is the search run again, with the corrections.
    results = toCheck.length ? await run(correctionsQuery(toCheck)) : await run();
    if (toCheck.length) {
      words = correct(typed, results.shift() as { word: string; term: string }[]);
      if (words.some((w) => w.corrections.length)) {
        filter.tsQuery = buildTsQuery(words);
        results = await run();
      }
    }
  }
  const [{ items: rows, facets: facetRows }] = results[0] as [{ items: SummaryRow[]; facets: FacetRow[] }];

  const hasMore = rows.length > input.limit;
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  let nextCursor: string | null = null;
  // Every sort pages by (key, id); for relevance the key is the last product's rank.
  if (hasMore && last) nextCursor = encodeCursor({ k: String(last.sort_key), i: last.id }, print);

  return {
    items: page.map(toSummary),
    facets: facets(facetRows),
    total: Number(facetRows.find((r) => r.kind === 'total')?.count ?? 0),
    nextCursor,
    correctedQuery: correctedQuery(words),
  };
}

/** Applies the dictionary's candidates to each typed word; known words stay as they are. */
function correct(words: string[], rows: { word: string; term: string }[]): QueryWord[] {
  const candidates = new Map<string, string[]>();
  for (const r of rows) candidates.set(r.word, [...(candidates.get(r.word) ?? []), r.term]);
  return words.map((word) => ({ word, corrections: pickCorrections(word, candidates.get(word) ?? []) }));
}

function groupAttributes(attrs: string[] | undefined): Record<string, string[]> | undefined {
  if (!attrs?.length) return undefined;
  const out: Record<string, string[]> = {};
  for (const a of attrs) {
    const i = a.indexOf(':');
    (out[a.slice(0, i)] ??= []).push(a.slice(i + 1));
  }
  return out;
}

function facets(rows: FacetRow[]): ProductList['facets'] {
  const byCount = (a: { count: number; name: string }, b: { count: number; name: string }) =>
    b.count - a.count || a.name.localeCompare(b.name);
  const values = (kind: FacetRow['kind']) =>
    rows
      .filter((r) => r.kind === kind)
      .map((r) => ({ slug: r.slug!, name: r.name!, count: Number(r.count) }))
      .sort(byCount);
  const priceCounts = new Map(rows.filter((r) => r.kind === 'price').map((r) => [Number(r.key), Number(r.count)]));
  return {
    categories: values('category'),
    brands: values('brand'),
    price: PRICE_BUCKETS.map((min, i) => ({
      min,
      max: PRICE_BUCKETS[i + 1] ?? null,
      count: priceCounts.get(i) ?? 0,
    })),
  };
}

function emptyList(): ProductList {
  return {
    items: [],
    facets: { categories: [], brands: [], price: PRICE_BUCKETS.map((min, i) => ({ min, max: PRICE_BUCKETS[i + 1] ?? null, count: 0 })) },
    total: 0,
    nextCursor: null,
    correctedQuery: null,
  };
}
