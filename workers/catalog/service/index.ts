import type { RequestMeta } from '../../../shared/http/context';
import type { CreateProductInput, ProductListQuery, UpdateProductInput } from '../catalog.schemas';
import type { CatalogDeps } from './deps';
import { getProduct } from './get-product';
import { listCategories } from './list-categories';
import { listProducts } from './list-products';
import { archiveProduct, createProduct, updateProduct } from './save-product';

/** The catalog's verbs bound to their dependencies. */
export function makeCatalogService(deps: CatalogDeps) {
  return {
    listProducts: (input: ProductListQuery) => listProducts(input, deps),
    getProduct: (idOrSlug: string) => getProduct(idOrSlug, deps),
    listCategories: () => listCategories(deps),
    createProduct: (input: CreateProductInput, meta: RequestMeta) => createProduct(input, meta, deps),
    updateProduct: (id: string, input: UpdateProductInput, meta: RequestMeta) => updateProduct(id, input, meta, deps),
    archiveProduct: (id: string, meta: RequestMeta) => archiveProduct(id, meta, deps),
  };
}

export type CatalogService = ReturnType<typeof makeCatalogService>;
