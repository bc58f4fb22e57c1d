import { z } from '@hono/zod-openapi';
import { MERGE_CLAMPS } from '../../durable-objects/cart/cart.schemas';
import { MoneySchema } from '../../shared/http/money';

/**
 * Public DTOs of the cart. Request bodies are `.strict()`: an unknown field (say `unitPrice` or
 * `ownerId` on an item) is a 400, never silently ignored and never applied.
 */
const CartIdString = z.string().regex(/^crt_[0-9a-z]{26}$/, 'must be a cart id (crt_…)');
const ItemIdString = z.string().regex(/^itm_[0-9a-z]{26}$/, 'must be an item id (itm_…)');
const Timestamp = z.string().datetime({ offset: true });
const Ident = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');

export const CartIdParamSchema = z.object({
  id: CartIdString.openapi({ param: { name: 'id', in: 'path' }, example: 'crt_01jd9x6k2e8q0p7m3v4c5b6n7a' }),
});
export const CartItemParamSchema = z.object({
  id: CartIdString.openapi({ param: { name: 'id', in: 'path' } }),
  itemId: ItemIdString.openapi({ param: { name: 'itemId', in: 'path' } }),
});

export const IdempotencyHeaderSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional()
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, description: 'Retry-safe add: the same key with the same body answers the first response again; with another body, 422' }),
});

export const AddItemBodySchema = z
  .object({
    productId: Ident.openapi({ example: 'prd_01jd9x6k2e8q0p7m3v4c5b6n7a' }),
    variantId: Ident.openapi({ example: 'var_01jd9x6k2e8q0p7m3v4c5b6n7b' }),
    quantity: z.number().int().min(1).max(10_000).default(1),
  })
  .strict()
  .openapi('AddCartItemRequest');
export type AddItemBody = z.infer<typeof AddItemBodySchema>;

export const UpdateItemBodySchema = z
  .object({ quantity: z.number().int().min(1).max(10_000) })
  .strict()
  .openapi('UpdateCartItemRequest');
export type UpdateItemBody = z.infer<typeof UpdateItemBodySchema>;

const Money = z.object({ amount: z.number().int().openapi({ description: 'Integer minor units' }), currency: z.string().length(3) });

export const CartLineSchema = z
  .object({
    itemId: z.string(),
    productId: z.string(),
    variantId: z.string(),
    sku: z.string(),
    name: z.string(),
    variantName: z.string(),
    quantity: z.number().int(),
    unitPrice: Money.openapi({ description: "The catalog's price now (the snapshot when the product is no longer sold)" }),
    priceAtAdd: Money.openapi({ description: 'The price when the line was last added to' }),
    priceChanged: z.boolean().openapi({ description: 'The catalog price differs from priceAtAdd' }),
    lineTotal: Money,
    sellable: z.boolean().openapi({ description: 'False when the product or variant is no longer sold: left out of the totals and refused at checkout' }),
    addedAt: Timestamp,
    updatedAt: Timestamp,
  })
  .openapi('CartLine');
export type CartLine = z.infer<typeof CartLineSchema>;

export const CartTotalSchema = z
  .object({
    currency: z.string().length(3),
    /** The same amount as `total.amount`; kept for the clients written before `total` (0.3.13). */
    subtotal: z.number().int().openapi({ description: 'Deprecated: `total.amount` (integer minor units)', deprecated: true }),
    /** The sellable lines in this currency. */
    total: MoneySchema,
    units: z.number().int(),
  })
  .openapi('CartTotal');

export const CartSchema = z
  .object({
    id: z.string(),
    status: z.enum(['active', 'checked_out', 'closed', 'expired']),
    /** Grows with every change; checkout compares it. */
    version: z.number().int(),
    /** `guest` carts are reached by their id alone; `user` carts only by their owner. */
    kind: z.enum(['guest', 'user']),
    lines: z.array(CartLineSchema),
    /** Per currency, current prices, sellable lines only. */
    totals: z.array(CartTotalSchema),
    priceChanged: z.boolean().openapi({ description: 'Some line price moved since it was added' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    expiresAt: Timestamp.openapi({ description: 'When the cart expires if nobody changes it' }),
    orderId: z.string().nullable(),
  })
  .openapi('Cart');
export type Cart = z.infer<typeof CartSchema>;

export const MergeReportSchema = z
  .object({
    status: z.enum(['merged', 'skipped']),
    /** Why nothing was merged: no such cart (unknown, or not a guest cart: the same answer), already closed, checked out, expired. */
    reason: z.string().optional(),
    lines: z.array(
      z.object({
        variantId: z.string(),
        sku: z.string(),
        requested: z.number().int(),
        merged: z.number().int(),
        clampedBy: z
          .enum(MERGE_CLAMPS)
          .nullable()
          .openapi({ description: 'What capped the line: a cart limit, or the stock (`out_of_stock`: nothing available, not added; `insufficient_stock`: fewer units than asked)' }),
      }),
    ),
  })
  .openapi('CartMergeReport');
export type MergeReport = z.infer<typeof MergeReportSchema>;

/** What `POST /v1/auth/login` adds when a guest `cartId` was passed. */
export interface GuestCartMerge {
  cartId: string;
  merge: MergeReport;
}

/** For checkout (issue 7): what the cart holds now, at current catalog prices. */
export interface CheckoutSnapshot {
  cartId: string;
  version: number;
  ownerId: string | null;
  lines: { itemId: string; productId: string; variantId: string; sku: string; name: string; quantity: number; unitPrice: number; currency: string }[];
}
