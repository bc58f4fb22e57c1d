import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import type { EventEnvelope } from '../../shared/events';
import { bearer, jsonInit, login } from '../../test/support/auth';
import { json } from '../../test/support/http';
import worker from './index';
import { EVENTS_QUEUE } from './queues';
import { rows } from '../../test/support/db';

/**
 * End to end, deterministically: a reservation over HTTP → the SKU object's outbox → the queue
 * handler → the Postgres projection and the catalog's available_qty. No timer is waited on: the
 * object's relay is pointed at a recorder and flushed explicitly, and the recorded messages are
 * handed to the Worker's own queue handler, as the platform would.
 */
describe('reservation → outbox → queue → projection', () => {
  it('projects the reserved units and the catalog follows', async () => {
    const admin = (await login('admin@agora.dev')).accessToken;
    const staff = await login('staff@agora.dev');
    const warehouseId = staff.user.warehouseIds[0]!;
    const { body: list } = await json('/v1/products?limit=1');
    const tag = crypto.randomUUID().slice(0, 8);
    const sku = `E2E-${tag}`;
    const created = await json(
      '/v1/admin/products',
      jsonInit(
        'POST',
        {
          slug: `e2e-${tag}`,
          name: `Projection Sandal ${tag}`,
          brandSlug: list.items[0].brand.slug,
          categorySlug: list.items[0].category.slug,
          variants: [{ sku, name: 'One size', price: 2900, attributes: { size: 'one' } }],
        },
        bearer(admin),
      ),
    );
    expect(created.res.status, JSON.stringify(created.body)).toBe(201);
    const object = inventoryFor(env, sku);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(object, (instance: InventoryDurableObject) => {
      instance.eventsQueue = { sendBatch: async (messages) => void sent.push(...[...messages].map((m) => m.body as EventEnvelope)) };
    });

    const stocked = await json(
      `/v1/warehouses/${warehouseId}/stock/adjustments`,
      jsonInit('POST', { sku, delta: 5, reason: 'receipt' }, { ...bearer(staff.accessToken), 'idempotency-key': `e2e-${tag}` }),
    );
    expect(stocked.res.status, JSON.stringify(stocked.body)).toBe(201);
    const reserved = await json(
      `/v1/inventory/${sku}/reservations`,
      jsonInit('POST', { quantity: 2, ref: { kind: 'checkout', id: `chk-${tag}` } }, { ...bearer(admin), 'idempotency-key': `e2e-rsv-${tag}` }),
    );
    expect(reserved.res.status, JSON.stringify(reserved.body)).toBe(201);

    // The relay right after each change may still be running: wait for it deterministically.
    await runInDurableObject(object, (instance: InventoryDurableObject) => instance.flushOutbox());
    const updates = sent.filter((e) => e.type === 'inventory.updated');
    expect(updates.length).toBeGreaterThanOrEqual(1);

    const batch = createMessageBatch(
      EVENTS_QUEUE,
      sent.map((body, i) => ({ id: `e2e-${tag}-${i}`, timestamp: Date.now(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue!(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(sent.length);

    expect(await rows(sql`select on_hand, reserved, in_transit_out from stock_levels where sku = ${sku} and warehouse_id = ${warehouseId}`)).toEqual([
      { on_hand: 5, reserved: 2, in_transit_out: 0 },
    ]);
    expect(await rows(sql`select available_qty from product_variants where sku = ${sku}`)).toEqual([{ available_qty: 3 }]);

    // Delivered again (at least once): nothing changes.
    const again = createMessageBatch(EVENTS_QUEUE, sent.map((body, i) => ({ id: `e2e-${tag}-again-${i}`, timestamp: Date.now(), attempts: 2, body })));
    const ctx2 = createExecutionContext();
    await worker.queue!(again, env, ctx2);
    await getQueueResult(again, ctx2);
    expect(await rows(sql`select on_hand, reserved from stock_levels where sku = ${sku} and warehouse_id = ${warehouseId}`)).toEqual([{ on_hand: 5, reserved: 2 }]);
  });
});
