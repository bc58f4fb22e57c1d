import { inArray, sql } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { stockLevelShards, warehouses } from '../../shared/db/schema/inventory';
import type { EventEnvelope, InventoryUpdated } from '../../shared/events';
import { consumeOnce } from '../../shared/events/consume-once';
import { lockForTransaction, skuStockLockKey } from '../../shared/db/locks';

/** The consumer name of the stock projection (processed_events.consumer): never rename it. */
export const STOCK_PROJECTION_CONSUMER = 'inventory.stock_levels';

export type InventoryUpdatedEvent = EventEnvelope<Parameters<(typeof InventoryUpdated)['create']>[0]>;

export interface ProjectionOutcome {
  /** false: a duplicate delivery of an event already applied (nothing done). */
  processed: boolean;
  /** Warehouses whose level this event moved forward (older versions are skipped). */
  applied: string[];
  /** Warehouses Postgres does not know (skipped: see below). */
  unknownWarehouses: string[];
}

/**
 * Keeps the Postgres stock projection in step with the inventory objects (docs/events.md):
 *
 * 1. `stock_level_shards`: the object's level per warehouse, upserted only when the event's
 *    `aggregateVersion` is newer than the stored one. Each object (a SKU, or one shard of a hot
 *    SKU) counts its own versions, so versions are compared per (sku, warehouse, shard).
 * 2. `stock_levels` (sku, warehouse): the sum over the shards, with `version` = the sum of the
 *    shard versions (grows whenever any shard moves forward), upserted only where
 *    `stock_levels.version < excluded.version`.
 * 3. The catalog's `product_variants.available_qty` is not written here: the catalog's own
 *    consumer of the same event (workers/catalog/catalog.consumer.ts, registered after this one)
 *    reads the SKU's availability from this projection through the inventory service.
 *
 * Consumer invocations run side by side (Queues scale them out), and steps 2 and 3 derive a sum
 * from rows that other invocations write: each transaction takes the SKU's advisory lock first
 * (`skuStockLockKey`), so one SKU's events are applied one at a time and every sum sees the rows
 * committed before it. Without it, four shards' first events at once each summed only their own
 * shard, and the projection stayed at one shard's units (PostgreSQL 15).
 *
 * A level for a warehouse Postgres does not know is skipped (reported on the log line): it
 * cannot be projected (foreign key) and retrying would not help. Nothing is lost for good:
 * events carry whole levels, not deltas, so the next event for that warehouse restores it.
 *
 * All in one transaction with the `processed_events` row (`consumeOnce`): a duplicate event id
 * changes nothing, an older version after a newer one changes nothing, a failure rolls back.
 */
export async function projectInventoryUpdated(db: AnyDb, event: InventoryUpdatedEvent): Promise<ProjectionOutcome> {
  const version = event.aggregateVersion;
  if (version === undefined) throw new TypeError(`inventory.updated ${event.id} has no aggregateVersion`);
  const at = new Date(event.occurredAt);
  const { sku, shard } = event.data;
  const result = await consumeOnce(db, STOCK_PROJECTION_CONSUMER, event.id, async (tx) => {
    // One SKU's events at a time: each derives stock_levels from every shard's row (and the
    // catalog's follower derives available_qty from stock_levels under the same lock).
    await lockForTransaction(tx, skuStockLockKey(sku));
    const applied: string[] = [];
    const ids = [...new Set(event.data.levels.map((l) => l.warehouseId))];
    const known = new Set((await tx.select({ id: warehouses.id }).from(warehouses).where(inArray(warehouses.id, ids))).map((w) => w.id));
    const unknownWarehouses = ids.filter((id) => !known.has(id));
    for (const level of event.data.levels) {
      if (!known.has(level.warehouseId)) continue;
      const moved = await tx
        .insert(stockLevelShards)
        .values({ sku, warehouseId: level.warehouseId, shard, onHand: level.onHand, reserved: level.reserved, inTransitOut: level.inTransitOut ?? 0, version, updatedAt: at })
        .onConflictDoUpdate({
          target: [stockLevelShards.sku, stockLevelShards.warehouseId, stockLevelShards.shard],
          set: {
            onHand: sql`excluded.on_hand`,
            reserved: sql`excluded.reserved`,
            inTransitOut: sql`excluded.in_transit_out`,
            version: sql`excluded.version`,
            updatedAt: sql`excluded.updated_at`,
          },
          setWhere: sql`${stockLevelShards.version} < excluded.version`,
        })
        .returning({ warehouseId: stockLevelShards.warehouseId });
      if (moved.length > 0) applied.push(level.warehouseId);
    }
    for (const warehouseId of applied) {
      await tx.execute(sql`
        insert into stock_levels (sku, warehouse_id, on_hand, reserved, in_transit_out, version, updated_at)
        select sku, warehouse_id, sum(on_hand)::int, sum(reserved)::int, sum(in_transit_out)::int, sum(version)::bigint, max(updated_at)
          from stock_level_shards
         where sku = ${sku} and warehouse_id = ${warehouseId}
         group by sku, warehouse_id
        on conflict (sku, warehouse_id) do update
           set on_hand = excluded.on_hand, reserved = excluded.reserved, in_transit_out = excluded.in_transit_out,
               version = excluded.version, updated_at = excluded.updated_at
         where stock_levels.version < excluded.version`);
    }
    return { applied, unknownWarehouses };
  });
  return result.processed ? { processed: true, ...result.value } : { processed: false, applied: [], unknownWarehouses: [] };
}
