import type { Context } from 'hono';
import { createRouter } from '../../shared/http/router';
import type { AppEnv } from '../../shared/http/context';
import { registerCatalogHandlers } from './catalog.handlers';
import type { CatalogService } from './service';

/** The catalog's public surface: its service, its types and its router. */
export { makeCatalogService, type CatalogService } from './service';
export { CATALOG_NAMESPACE, type CatalogDeps } from './service/deps';
export type { CreateProductInput, UpdateProductInput, Product, ProductList } from './catalog.schemas';
/** The catalog's follower of inventory.updated (registered in workers/gateway/queues.ts). */
export { syncVariantAvailability, VARIANT_AVAILABILITY_CONSUMER, type VariantAvailabilityOutcome } from './catalog.consumer';

export function catalogRouter(service: (c: Context<AppEnv>) => CatalogService) {
  const app = createRouter();
  registerCatalogHandlers(app, service);
  return app;
}
