import { z } from 'zod';
import { defineEvent } from './envelope';

/**
 * The published language between contexts: every event type and version the platform emits,
 * with the schema of its data. Producers build envelopes with `<Def>.create(data, meta)`;
 * consumers receive them parsed. Changing a schema incompatibly means a new version.
 */

/** identity: a user erased their account (GDPR Art. 17). Contexts holding personal data react. */
export const UserErased = defineEvent('user.erased', 1, z.object({ userId: z.string().min(1).max(64) }));

/** One warehouse's stock in one inventory object (a SKU, or one shard of a hot SKU) after a change. */
export const InventoryLevelData = z.object({
  sku: z.string().min(1).max(64),
  warehouseId: z.string().min(1).max(64),
  /** May be negative after an offline sale that oversold (the SKU is then flagged for reconciliation). */
  onHand: z.number().int(),
  reserved: z.number().int().nonnegative(),
  available: z.number().int(),
  /** 0 for a SKU's home object; n for the object `sku:<id>#n` of a sharded SKU. */
  shard: z.number().int().nonnegative(),
  /** Units sent from this warehouse to another and not yet received (warehouse transfers); absent before transfers existed. */
  inTransitOut: z.number().int().nonnegative().optional(),
});

/**
 * inventory: the stock of a SKU changed in one inventory object (one event per object
 * transaction, with every warehouse it touched). Relayed through the object's outbox, so never
 * lost; `aggregateVersion` is the object's own counter (per SKU and shard), strictly increasing.
 */
export const InventoryUpdated = defineEvent(
  'inventory.updated',
  1,
  z.object({
    sku: z.string().min(1).max(64),
    shard: z.number().int().nonnegative(),
    levels: z.array(InventoryLevelData).min(1).max(256),
  }),
  { versioned: true },
);

/**
 * inventory: a SKU's available units (all its warehouses; for a sharded SKU summed over its
 * shards, judged by shard 0 since 0.3.15) fell to or below its low-stock threshold (default 5).
 * Emitted once when crossing downward; again only after it has risen above the threshold.
 */
export const InventoryLowStock = defineEvent(
  'inventory.low_stock',
  1,
  z.object({
    sku: z.string().min(1).max(64),
    shard: z.number().int().nonnegative(),
    available: z.number().int(),
    threshold: z.number().int().nonnegative(),
  }),
);

/** One line of a cart as `cart.abandoned` reports it (price: the snapshot taken when it was added). */
export const CartAbandonedLine = z.object({
  productId: z.string().min(1).max(64),
  variantId: z.string().min(1).max(64),
  sku: z.string().min(1).max(64),
  name: z.string().max(400),
  quantity: z.number().int().positive(),
  unitPrice: z.number().int(),
  currency: z.string().length(3),
});

/**
 * cart: a cart nobody changed for the idle TTL expired and was deleted (its object's alarm).
 * `userId` is null for a guest cart (nobody to notify; still useful for analytics).
 * `aggregateVersion` is the cart's last version.
 */
export const CartAbandoned = defineEvent(
  'cart.abandoned',
  1,
  z.object({
    cartId: z.string().min(1).max(64),
    userId: z.string().min(1).max(64).nullable(),
    lines: z.array(CartAbandonedLine).max(500),
    /** Per currency, in minor units, at the snapshot prices. */
    totals: z.array(z.object({ currency: z.string().length(3), amount: z.number().int(), units: z.number().int() })),
    lastActivityAt: z.iso.datetime({ offset: true }),
  }),
);
