import { z } from '@hono/zod-openapi';
import { queryInt } from '../../shared/http/query';

/** Public DTOs of the wishlist. Request bodies are `.strict()`. */
const Ident = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');

export const WishlistItemSchema = z
  .object({
    productId: z.string(),
    variantId: z.string().nullable(),
    addedAt: z.string().datetime({ offset: true }),
    /** Null when the product is no longer sold (archived): the item stays until removed. */
    product: z
      .object({
        name: z.string(),
        price: z.object({ amount: z.number().int(), currency: z.string().length(3) }).openapi({ description: 'Lowest variant price now (integer minor units)' }),
      })
      .nullable(),
  })
  .openapi('WishlistItem');
export type WishlistItem = z.infer<typeof WishlistItemSchema>;

export const WishlistPageSchema = z.object({ items: z.array(WishlistItemSchema), nextCursor: z.string().nullable() }).openapi('WishlistPage');
export type WishlistPage = z.infer<typeof WishlistPageSchema>;

export const WishlistQuerySchema = z.object({
  limit: queryInt(1, 100).default(20),
  cursor: z.string().max(2048).optional(),
});
export type WishlistQuery = z.infer<typeof WishlistQuerySchema>;

export const AddWishlistBodySchema = z
  .object({ productId: Ident, variantId: Ident.optional() })
  .strict()
  .openapi('AddWishlistItemRequest');
export type AddWishlistBody = z.infer<typeof AddWishlistBodySchema>;

export const MoveToCartBodySchema = z
  .object({ variantId: Ident, quantity: z.number().int().min(1).max(10_000).default(1) })
  .strict()
  .openapi('MoveWishlistItemToCartRequest');
export type MoveToCartBody = z.infer<typeof MoveToCartBodySchema>;

export const WishlistProductParamSchema = z.object({
  productId: Ident.openapi({ param: { name: 'productId', in: 'path' } }),
});
