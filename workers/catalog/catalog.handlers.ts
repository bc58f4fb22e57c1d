import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { requestMeta } from '../../shared/http/authorize';
import { jsonOnce } from '../../shared/http/json-text';
import {
  archiveProductRoute,
  createProductRoute,
  getProductRoute,
  listCategoriesRoute,
  listProductsRoute,
  updateProductRoute,
} from './catalog.routes';
import type { CatalogService } from './service';

/**
 * Glue only: valid input → one service verb → status + DTO. Cached reads answer with `jsonOnce`:
 * the same JSON as `c.json`, serialised once per cached object instead of once per request.
 */
export function registerCatalogHandlers(app: OpenAPIHono<AppEnv>, service: (c: Context<AppEnv>) => CatalogService) {
  app.openapi(listProductsRoute, async (c) => {
    const { value, source } = await service(c).listProducts(c.req.valid('query'));
    c.header('x-cache', source);
    return jsonOnce(c, value);
  });

  app.openapi(getProductRoute, async (c) => {
    const { value, source } = await service(c).getProduct(c.req.valid('param').id);
    c.header('x-cache', source);
    return jsonOnce(c, value);
  });

  app.openapi(listCategoriesRoute, async (c) => {
    const { value, source } = await service(c).listCategories();
    c.header('x-cache', source);
    return jsonOnce(c, value);
  });

  app.openapi(createProductRoute, async (c) => c.json(await service(c).createProduct(c.req.valid('json'), requestMeta(c)), 201));
  app.openapi(updateProductRoute, async (c) =>
    c.json(await service(c).updateProduct(c.req.valid('param').id, c.req.valid('json'), requestMeta(c)), 200),
  );
  app.openapi(archiveProductRoute, async (c) => c.json(await service(c).archiveProduct(c.req.valid('param').id, requestMeta(c)), 200));
}
