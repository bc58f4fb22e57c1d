import type { Context } from 'hono';
import { createRouter } from '../../shared/http/router';
import type { AppEnv, RequestMeta } from '../../shared/http/context';
import { registerCatalogHandlers } from './catalog.handlers';
import type { CreateProductInput, ProductListQuery, UpdateProductInput } from './catalog.schemas';
import type { CatalogDeps } from './service/deps';
import { getProduct } from './service/get-product';
import { listCategories } from './service/list-categories';
import { listProducts } from './service/list-products';
import { archiveProduct, createProduct, updateProduct } from './service/save-product';

export type { CatalogDeps } from './service/deps';
export { CATALOG_NAMESPACE } from './service/deps';

/** The catalog's public surface: its service and its router. */
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

export function catalogRouter(service: (c: Context<AppEnv>) => CatalogService) {
  const app = createRouter();
  registerCatalogHandlers(app, service);
  return app;
}
