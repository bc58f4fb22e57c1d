import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { getProductRoute, listCategoriesRoute, listProductsRoute } from './catalog.routes';
import type { CatalogService } from './service';

/** Glue only: valid input → one service verb → status + DTO. */
export function registerCatalogHandlers(app: OpenAPIHono<AppEnv>, service: (c: Context<AppEnv>) => CatalogService) {
  app.openapi(listProductsRoute, async (c) => {
    const { value, source } = await service(c).listProducts(c.req.valid('query'));
    c.header('x-cache', source);
    return c.json(value, 200);
  });

  app.openapi(getProductRoute, async (c) => {
    const { value, source } = await service(c).getProduct(c.req.valid('param').id);
    c.header('x-cache', source);
    return c.json(value, 200);
  });

  app.openapi(listCategoriesRoute, async (c) => {
    const { value, source } = await service(c).listCategories();
    c.header('x-cache', source);
    return c.json(value, 200);
  });
}
