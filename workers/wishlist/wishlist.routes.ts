import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import { AddWishlistBodySchema, MoveToCartBodySchema, WishlistItemSchema, WishlistPageSchema, WishlistProductParamSchema, WishlistQuerySchema } from './wishlist.schemas';

const problem = (description: string) => ({ description, content: problemContent });
const denied = { 401: problem('No valid access token'), 403: problem('Not a signed-in user') };

export const listWishlistRoute = createRoute({
  method: 'get',
  path: '/v1/me/wishlist',
  operationId: 'wishlist.list',
  summary: 'My wishlist, newest first',
  tags: ['Wishlist'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('self')] as const,
  request: { query: WishlistQuerySchema },
  responses: { 200: { description: 'A page of items', content: { 'application/json': { schema: WishlistPageSchema } } }, 400: problem('Invalid query or cursor'), ...denied },
});

export const addWishlistRoute = createRoute({
  method: 'post',
  path: '/v1/me/wishlist',
  operationId: 'wishlist.add',
  summary: 'Save a product to my wishlist',
  tags: ['Wishlist'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('self')] as const,
  request: { body: { content: { 'application/json': { schema: AddWishlistBodySchema } }, required: true } },
  responses: {
    200: { description: 'Already saved (the variant is updated)', content: { 'application/json': { schema: WishlistItemSchema } } },
    201: { description: 'Saved', content: { 'application/json': { schema: WishlistItemSchema } } },
    400: problem('Invalid body (unknown fields included)'),
    ...denied,
    422: problem('Unknown product or variant (PRODUCT_NOT_FOUND, VARIANT_NOT_FOUND), or the wishlist is full'),
  },
});

export const removeWishlistRoute = createRoute({
  method: 'delete',
  path: '/v1/me/wishlist/{productId}',
  operationId: 'wishlist.remove',
  summary: 'Remove a product from my wishlist',
  tags: ['Wishlist'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('self')] as const,
  request: { params: WishlistProductParamSchema },
  responses: { 204: { description: 'Removed' }, 400: problem('Invalid product id'), ...denied, 404: problem('Not in the wishlist') },
});

export const moveToCartRoute = createRoute({
  method: 'post',
  path: '/v1/me/wishlist/{productId}/move-to-cart',
  operationId: 'wishlist.moveToCart',
  summary: 'Move a wishlist item into my cart',
  description:
    "Adds the variant to the signed-in user's cart (the same checks as POST /v1/carts/{id}/items), then removes the item from the wishlist. A refusal leaves the wishlist as it was, unless other saves filled it to 500 items meanwhile: then the item is not put back and the problem's `errors` has an entry with code `wishlist_full`.",
  tags: ['Wishlist'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('self')] as const,
  request: { params: WishlistProductParamSchema, body: { content: { 'application/json': { schema: MoveToCartBodySchema } }, required: true } },
  responses: {
    200: { description: 'The cart after the change (schema Cart)', content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi({ description: 'A Cart' }) } } },
    400: problem('Invalid body (unknown fields included)'),
    ...denied,
    404: problem('Not in the wishlist'),
    409: problem('Not enough stock, or the cart was checked out'),
    422: problem('Unknown variant, not sellable, over a quantity limit'),
    503: problem('The cart could not be reached and the item could not be put back (errors: wishlist_full)'),
  },
});
