import type { Context } from 'hono';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { NO_STORE, withHeaders, writeHeaders } from '../../shared/http/response-headers';
import { addItemRoute, createCartRoute, getCartRoute, removeItemRoute, updateItemRoute } from './cart.routes';
import type { CartService } from './cart.service';

/** The cart's public surface: its service (with the checkout verbs of issue 7), its types, its router. */
export { makeCartService, cartActorId, type CartDeps, type CartService, type CheckoutSnapshotFn, type MarkCheckedOutFn } from './cart.service';
export { AvailabilityMemo, AVAILABILITY_MEMO_MS } from './availability-memo';
export type { CartCatalogPort, CartStockPort, CatalogProductView } from './cart.ports';
export type { Cart, CartLine, CheckoutSnapshot, GuestCartMerge, MergeReport, AddItemBody } from './cart.schemas';
export { CartSchema, MergeReportSchema } from './cart.schemas';
export { CART_ERASURE_CONSUMER } from './cart.consumer';

export function cartRouter(service: (c: Context<AppEnv>) => CartService) {
  const app = createRouter();
  app.openapi(createCartRoute, async (c) => {
    const { cart, created } = await service(c).create(requestMeta(c));
    return created ? withHeaders(c.json(cart, 201), NO_STORE) : withHeaders(c.json(cart, 200), NO_STORE);
  });
  app.openapi(getCartRoute, async (c) => withHeaders(c.json(await service(c).get(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE));
  app.openapi(addItemRoute, async (c) => {
    const { cart, replayed } = await service(c).addItem(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(cart, 201), writeHeaders(replayed));
  });
  app.openapi(updateItemRoute, async (c) => {
    const { id, itemId } = c.req.valid('param');
    return withHeaders(c.json(await service(c).updateItem(id, itemId, c.req.valid('json'), requestMeta(c)), 200), NO_STORE);
  });
  app.openapi(removeItemRoute, async (c) => {
    const { id, itemId } = c.req.valid('param');
    return withHeaders(c.json(await service(c).removeItem(id, itemId, requestMeta(c)), 200), NO_STORE);
  });
  return app;
}
