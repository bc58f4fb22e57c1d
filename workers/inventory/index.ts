import type { Context } from 'hono';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { NO_STORE, withHeaders, writeHeaders } from '../../shared/http/response-headers';
import {
  adjustStockRoute,
  availabilityRoute,
  cancelTransferRoute,
  getTransferRoute,
  listTransfersRoute,
  receiveTransferRoute,
  releaseRoute,
  reserveRoute,
  shardsRoute,
  transferRoute,
  warehouseStockRoute,
} from './inventory.routes';
import type { InventoryService } from './inventory.service';

/** Inventory's public surface: availability, reservations, warehouse stock, adjustments and transfers (routes and service). */
export { makeInventoryService, type InventoryDeps, type InventoryService } from './inventory.service';

export function inventoryRouter(service: (c: Context<AppEnv>) => InventoryService) {
  const app = createRouter();
  app.openapi(availabilityRoute, async (c) => withHeaders(c.json(await service(c).availability(c.req.valid('param').sku), 200), NO_STORE));
  app.openapi(warehouseStockRoute, async (c) =>
    withHeaders(c.json(await service(c).warehouseStock(c.req.valid('param').id, c.req.valid('query'), requestMeta(c)), 200), NO_STORE),
  );
  app.openapi(adjustStockRoute, async (c) => {
    const r = await service(c).adjust(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.adjustment, 201), writeHeaders(r.replayed));
  });
  app.openapi(reserveRoute, async (c) => {
    const r = await service(c).reserve(c.req.valid('param').sku, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.reservation, 201), writeHeaders(r.replayed));
  });
  app.openapi(releaseRoute, async (c) => {
    const { sku, reservationId } = c.req.valid('param');
    return c.json(await service(c).release(sku, reservationId, c.req.valid('query').shard, requestMeta(c)), 200);
  });
  app.openapi(shardsRoute, async (c) => c.json(await service(c).setShards(c.req.valid('param').sku, c.req.valid('json').shards, requestMeta(c)), 200));
  app.openapi(transferRoute, async (c) => {
    const r = await service(c).transfer(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.transfer, 201), writeHeaders(r.replayed));
  });
  app.openapi(listTransfersRoute, async (c) =>
    withHeaders(c.json(await service(c).listTransfers(c.req.valid('param').id, c.req.valid('query'), requestMeta(c)), 200), NO_STORE),
  );
  app.openapi(getTransferRoute, async (c) => {
    const { id, transferId } = c.req.valid('param');
    return withHeaders(c.json(await service(c).getTransfer(id, transferId, requestMeta(c)), 200), NO_STORE);
  });
  app.openapi(receiveTransferRoute, async (c) => {
    const { id, transferId } = c.req.valid('param');
    return c.json(await service(c).receiveTransfer(id, transferId, requestMeta(c)), 200);
  });
  app.openapi(cancelTransferRoute, async (c) => {
    const { id, transferId } = c.req.valid('param');
    return c.json(await service(c).cancelTransfer(id, transferId, requestMeta(c)), 200);
  });
  return app;
}

/** The stock projection's queue consumer (registered for inventory.updated in workers/gateway/queues.ts). */
export { projectInventoryUpdated, STOCK_PROJECTION_CONSUMER, type InventoryUpdatedEvent } from './inventory.consumer';
/** Units of a SKU that can be sold as the projection has them (the catalog's stock follower reads it inside its transaction). */
export { projectedAvailable } from './inventory.repo';
