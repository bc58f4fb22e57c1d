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
);

/**
 * inventory: a SKU's available units (in one inventory object, all its warehouses) fell to or
 * below its low-stock threshold (default 5). Emitted once when crossing downward; again only
 * after it has risen above the threshold.
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
