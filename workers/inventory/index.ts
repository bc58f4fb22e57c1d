import type { Context } from 'hono';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { adjustStockRoute, availabilityRoute, warehouseStockRoute } from './inventory.routes';
import type { InventoryService } from './inventory.service';

/** Inventory's public surface: availability, warehouse stock and adjustments (routes and service). */
export { makeInventoryService, type InventoryDeps, type InventoryService } from './inventory.service';

export function inventoryRouter(service: (c: Context<AppEnv>) => InventoryService) {
  const app = createRouter();
  app.openapi(availabilityRoute, async (c) => c.json(await service(c).availability(c.req.valid('param').sku), 200, { 'Cache-Control': 'no-store' }));
  app.openapi(warehouseStockRoute, async (c) =>
    c.json(await service(c).warehouseStock(c.req.valid('param').id, c.req.valid('query'), requestMeta(c)), 200, { 'Cache-Control': 'no-store' }),
  );
  app.openapi(adjustStockRoute, async (c) =>
    c.json(
      await service(c).adjust(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c)),
      201,
    ),
  );
  return app;
}
