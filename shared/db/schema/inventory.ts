import { sql } from 'drizzle-orm';
import { bigint, check, doublePrecision, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** Inventory context: warehouses and the projection of stock per SKU and warehouse. */
export const warehouses = pgTable(
  'warehouses',
  {
    id: text('id').primaryKey(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    /** Shipping region served first from here, e.g. `eu-west`, `in-south`. */
    region: text('region').notNull(),
    country: text('country').notNull(),
    latitude: doublePrecision('latitude'),
    longitude: doublePrecision('longitude'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('warehouses_code_uq').on(t.code)],
);

export const stockLevels = pgTable(
  'stock_levels',
  {
    sku: text('sku').notNull(),
    warehouseId: text('warehouse_id')
      .notNull()
      .references(() => warehouses.id, { onDelete: 'restrict' }),
    onHand: integer('on_hand').notNull().default(0),
    reserved: integer('reserved').notNull().default(0),
    /** Units sent from this warehouse to another and not yet received (warehouse transfers): in no on hand, never available. */
    inTransitOut: integer('in_transit_out').notNull().default(0),
    /**
     * Sum of the applied versions of this SKU's inventory objects for the warehouse
     * (`stock_level_shards.version`): grows with every applied `inventory.updated`, so an upsert
     * guarded by `version < excluded.version` never lets an older state overwrite a newer one.
     * 0: loaded by the seed or an import, never by an event.
     */
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.sku, t.warehouseId] }),
    index('stock_levels_warehouse_idx').on(t.warehouseId),
    check('stock_levels_reserved_ck', sql`${t.reserved} >= 0`),
  ],
);

/**
 * The part of `stock_levels` each inventory object holds: one row per SKU, warehouse and shard
 * (shard 0 for an unsharded SKU), with the object's `aggregateVersion` of the last applied
 * `inventory.updated`. Each object counts its own versions, so they are only comparable per
 * shard; `stock_levels` is the sum over the shards.
 */
export const stockLevelShards = pgTable(
  'stock_level_shards',
  {
    sku: text('sku').notNull(),
    warehouseId: text('warehouse_id')
      .notNull()
      .references(() => warehouses.id, { onDelete: 'restrict' }),
    shard: integer('shard').notNull(),
    onHand: integer('on_hand').notNull(),
    reserved: integer('reserved').notNull(),
    inTransitOut: integer('in_transit_out').notNull().default(0),
    version: bigint('version', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.sku, t.warehouseId, t.shard] }), check('stock_level_shards_reserved_ck', sql`${t.reserved} >= 0`)],
);

/**
 * Warehouse-to-warehouse transfers as staff see them (list, get), written by the transfer verbs in
 * the same transaction as their audit rows. The SKU's object holds the units and decides; this is
 * its record per transfer (`shard`: the object that holds it, 0 unless the SKU is sharded).
 */
export const stockTransfers = pgTable(
  'stock_transfers',
  {
    id: text('id').primaryKey(),
    sku: text('sku').notNull(),
    fromWarehouseId: text('from_warehouse_id')
      .notNull()
      .references(() => warehouses.id, { onDelete: 'restrict' }),
    toWarehouseId: text('to_warehouse_id')
      .notNull()
      .references(() => warehouses.id, { onDelete: 'restrict' }),
    quantity: integer('quantity').notNull(),
    /** in_transit → received | cancelled */
    status: text('status').notNull(),
    shard: integer('shard').notNull().default(0),
    note: text('note'),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }),
    cancelledAt: timestamp('cancelled_at', { withTimezone: true }),
  },
  (t) => [
    index('stock_transfers_from_idx').on(t.fromWarehouseId, t.createdAt),
    index('stock_transfers_to_idx').on(t.toWarehouseId, t.createdAt),
    check('stock_transfers_quantity_ck', sql`${t.quantity} > 0`),
    check('stock_transfers_status_ck', sql`${t.status} in ('in_transit', 'received', 'cancelled')`),
  ],
);

/**
 * Staff adjustments, one row per applied operation (`id` = the object's op id): a replayed
 * Idempotency-Key finds its row and writes no second audit row.
 */
export const stockAdjustments = pgTable('stock_adjustments', {
  id: text('id').primaryKey(),
  sku: text('sku').notNull(),
  warehouseId: text('warehouse_id')
    .notNull()
    .references(() => warehouses.id, { onDelete: 'restrict' }),
  delta: integer('delta').notNull(),
  reason: text('reason').notNull(),
  note: text('note'),
  actorId: text('actor_id').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});
