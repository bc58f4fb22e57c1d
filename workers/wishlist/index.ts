import type { Context } from 'hono';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { NO_STORE, withHeaders } from '../../shared/http/response-headers';
import { addWishlistRoute, listWishlistRoute, moveToCartRoute, removeWishlistRoute } from './wishlist.routes';
import type { WishlistService } from './wishlist.service';

/** The wishlist's public surface: its service (with the user.erased consumer verb) and its router. */
export { makeWishlistService, WISHLIST_ERASURE_CONSUMER, WISHLIST_MAX_ITEMS, type WishlistDeps, type WishlistService } from './wishlist.service';
export type { WishlistAccountsPort, WishlistCartPort, WishlistCatalogPort } from './wishlist.ports';

export function wishlistRouter(service: (c: Context<AppEnv>) => WishlistService) {
  const app = createRouter();
  app.openapi(listWishlistRoute, async (c) => withHeaders(c.json(await service(c).list(c.req.valid('query'), requestMeta(c)), 200), NO_STORE));
  app.openapi(addWishlistRoute, async (c) => {
    const { item, created } = await service(c).add(c.req.valid('json'), requestMeta(c));
    return created ? c.json(item, 201) : c.json(item, 200);
  });
  app.openapi(removeWishlistRoute, async (c) => {
    await service(c).remove(c.req.valid('param').productId, requestMeta(c));
    return c.body(null, 204);
  });
  app.openapi(moveToCartRoute, async (c) =>
    withHeaders(c.json((await service(c).moveToCart(c.req.valid('param').productId, c.req.valid('json'), requestMeta(c))) as Record<string, unknown>, 200), NO_STORE),
  );
  return app;
}
