import { createExecutionContext, createMessageBatch, getQueueResult, type MessageBatchMessage } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import type { EventEnvelope } from '../../shared/events';
import { syncVariantAvailability } from '../catalog';
import { projectedAvailable } from '../inventory';
import worker from './index';
import { EVENTS_QUEUE } from './queues';
import { generations } from './services';
import { rows } from '../../test/support/db';
import { availableQty, inventoryUpdated, newVariant, stockProjection } from '../../test/support/stock';

/** The stock projection's consumer (inventory.updated → stock_levels) and the catalog's follower (product_variants.available_qty), through the Worker's queue handler. */
let seq = 0;
const message = <T>(body: T, attempts = 1): MessageBatchMessage<T> => ({ id: `msg-inv-${++seq}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts, body });

async function deliver(...events: EventEnvelope[]) {
  const batch = createMessageBatch(EVENTS_QUEUE, events.map((e) => message(e)));
  const ctx = createExecutionContext();
  await worker.queue!(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

let wh1: string;
let wh2: string;


beforeAll(async () => {
  const found = await rows<{ id: string }>(sql`select id from warehouses order by id limit 2`);
  [wh1, wh2] = [found[0]!.id, found[1]!.id];
});

describe('inventory.updated → stock projection', () => {
  it('upserts stock_levels per warehouse and recomputes the variant available_qty', async () => {
    const sku = await newVariant('proj');
    const e = inventoryUpdated(sku, 1, [
      { warehouseId: wh1, onHand: 10, reserved: 2 },
      { warehouseId: wh2, onHand: 1, reserved: 3 }, // oversold there: counts as 0, not −2
    ]);
    const result = await deliver(e);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    expect(await stockProjection(sku)).toEqual([
      { warehouse_id: wh1, on_hand: 10, reserved: 2, version: '1' },
      { warehouse_id: wh2, on_hand: 1, reserved: 3, version: '1' },
    ].sort((a, b) => a.warehouse_id.localeCompare(b.warehouse_id)));
    expect(await availableQty(sku)).toBe(8);
    // The projection, then the catalog's follower (available_qty), each once.
    expect(await rows(sql`select consumer from processed_events where event_id = ${e.id} order by consumer`)).toEqual([
      { consumer: 'catalog.variant_availability' },
      { consumer: 'inventory.stock_levels' },
    ]);
  });

  it('changes nothing for a duplicate event id, nor for an older version after a newer one', async () => {
    const sku = await newVariant('proj');
    const v1 = inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 10, reserved: 0 }]);
    const v2 = inventoryUpdated(sku, 2, [{ warehouseId: wh1, onHand: 4, reserved: 1 }]);
    await deliver(v2);
    const after = await stockProjection(sku);
    expect(after).toEqual([{ warehouse_id: wh1, on_hand: 4, reserved: 1, version: '2' }]);
    expect(await availableQty(sku)).toBe(3);

    // The same event again (a redelivery, a producer retry), even with other data: skipped by id.
    const replay = { ...v2, data: { ...v2.data, levels: [{ ...v2.data.levels[0]!, onHand: 99 }] } };
    expect((await deliver(replay, v2)).explicitAcks).toHaveLength(2);
    // An older version arriving late: acked, but the projection stays at version 2.
    expect((await deliver(v1)).explicitAcks).toHaveLength(1);
    expect(await stockProjection(sku)).toEqual(after);
    expect(await availableQty(sku)).toBe(3);
  });

  it('keeps versions per shard and projects the sum over the shards', async () => {
    const sku = await newVariant('proj');
    await deliver(inventoryUpdated(sku, 5, [{ warehouseId: wh1, onHand: 6, reserved: 1 }], 0));
    await deliver(inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 4, reserved: 0 }], 1)); // shard 1 counts from 1
    expect(await stockProjection(sku)).toEqual([{ warehouse_id: wh1, on_hand: 10, reserved: 1, version: '6' }]);
    await deliver(inventoryUpdated(sku, 4, [{ warehouseId: wh1, onHand: 0, reserved: 0 }], 0)); // stale for shard 0
    await deliver(inventoryUpdated(sku, 2, [{ warehouseId: wh1, onHand: 2, reserved: 0 }], 1));
    expect(await stockProjection(sku)).toEqual([{ warehouse_id: wh1, on_hand: 8, reserved: 1, version: '7' }]);
    expect(await availableQty(sku)).toBe(7);
  });

  // Queues run consumer invocations side by side, each with its own connection. Two of them
  // deriving one sum from rows the other has not committed yet left the sum stale for good (seen on
  // PostgreSQL 15; PGlite serialises its one connection and cannot show it).
  it('batches delivered at once, one per shard: the projected sum is the sum of the shards after every round', async () => {
    const sku = await newVariant('proj');
    const shards = [0, 1, 2, 3];
    for (let round = 1; round <= 6; round++) {
      const onHand = (shard: number) => 10 * round + shard;
      const results = await Promise.all(shards.map((shard) => deliver(inventoryUpdated(sku, round, [{ warehouseId: wh1, onHand: onHand(shard), reserved: 0 }], shard))));
      expect(results.map((r) => r.explicitAcks.length)).toEqual([1, 1, 1, 1]);
      const want = shards.reduce((s, shard) => s + onHand(shard), 0);
      expect(await stockProjection(sku), `round ${round}`).toEqual([{ warehouse_id: wh1, on_hand: want, reserved: 0, version: String(round * shards.length) }]);
      expect(await availableQty(sku), `round ${round}`).toBe(want);
    }
  });

  it('batches delivered at once, one per warehouse: available_qty is the sum of the warehouses after every round', async () => {
    const sku = await newVariant('proj');
    for (let round = 1; round <= 6; round++) {
      const a = inventoryUpdated(sku, 2 * round - 1, [{ warehouseId: wh1, onHand: 10 * round, reserved: 0 }]);
      const b = inventoryUpdated(sku, 2 * round, [{ warehouseId: wh2, onHand: 10 * round + 1, reserved: 0 }]);
      await Promise.all([deliver(a), deliver(b)]);
      expect(await availableQty(sku), `round ${round}`).toBe(20 * round + 1);
    }
  });

  it('the catalog follower reads the sum under the SKU lock: one that read before another event was applied cannot overwrite the later sum', async () => {
    const sku = await newVariant('proj');
    await deliver(inventoryUpdated(sku, 1, [{ warehouseId: wh1, onHand: 5, reserved: 0 }]));
    expect(await availableQty(sku)).toBe(5);
    const provider = new DbProvider(readConfig(env));
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let signalRead!: () => void;
    const read = new Promise<void>((r) => (signalRead = r));
    try {
      // A follower of an earlier event (a redelivery, say) reads the sum, then stalls.
      const slow = syncVariantAvailability(provider.pool(), generations(env, readConfig(env)), { id: `evt_slow_${crypto.randomUUID()}`, data: { sku } }, async (tx) => {
        const n = await projectedAvailable(tx, sku);
        signalRead();
        await Promise.race([gate, sleep(400)]);
        return n;
      });
      await read;
      // Meanwhile another invocation applies a newer event for the other warehouse, projection and follower.
      const other = deliver(inventoryUpdated(sku, 2, [{ warehouseId: wh2, onHand: 7, reserved: 0 }]));
      await Promise.race([other, sleep(250)]);
      release();
      await Promise.all([slow, other]);
      // Without the lock: the newer follower wrote 12, and then the stalled one wrote its 5.
      expect(await availableQty(sku)).toBe(12);
    } finally {
      await provider.close();
    }
  });

  it('acks a level for a warehouse Postgres does not know without projecting it', async () => {
    const sku = await newVariant('proj');
    const e = inventoryUpdated(sku, 1, [
      { warehouseId: 'wh_unknown', onHand: 5, reserved: 0 },
      { warehouseId: wh1, onHand: 2, reserved: 0 },
    ]);
    expect((await deliver(e)).explicitAcks).toHaveLength(1);
    expect(await stockProjection(sku)).toEqual([{ warehouse_id: wh1, on_hand: 2, reserved: 0, version: '1' }]);
  });
});
