import { notFound } from '../../../shared/kernel/app-error';
import { readThrough, type CachedRead } from '../../../shared/ports/cache';
import { productDetailQuery, readMany, type DetailRow } from '../catalog.repo';
import type { Product } from '../catalog.schemas';
import { cacheKey, type CatalogDeps } from './deps';
import { toProduct } from './mappers';

/** One active product with its variants, by id or slug. */
export async function getProduct(idOrSlug: string, deps: CatalogDeps): Promise<CachedRead<Product>> {
  const key = await cacheKey(deps, 'product', idOrSlug);
  const read = await readThrough<Product | null>(
    deps.cache,
    key,
    deps.cacheTtlSeconds,
    async () => {
      const [rows] = await readMany<[DetailRow[]]>(deps.readDb(), [productDetailQuery(idOrSlug)]);
      return rows[0] ? toProduct(rows[0]) : null;
    },
    deps.background,
  );
  if (!read.value) throw notFound('Product', idOrSlug);
  return read as CachedRead<Product>;
}
