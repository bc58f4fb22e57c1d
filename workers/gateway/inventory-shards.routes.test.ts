/**
 * Sharded SKUs and retried keys through HTTP (docs/inventory.md, "Reservations", "Staff: stock,
 * adjustments, transfers", "Events, projection and the catalog"):
 *
 * - a reservation retried with its Idempotency-Key after the SKU was split answers the first hold
 *   (its walk over the new count starts on another shard): one key, one hold;
 * - a refusal for lack of stock (reservation, adjustment, transfer) does not consume the key: once
 *   stock has come, the same key succeeds, then replays; the key with another body is 422;
 * - `inventory.low_stock` of a sharded SKU is about the SKU's units summed over its shards, once
 *   per crossing, never about one shard's part (nor set off by units moving between shards).
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { shardOrder } from '../../durable-objects/inventory/inventory.logic';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import type { EventEnvelope } from '../../shared/events';
import { bearer, jsonInit, login } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { json, problem } from '../../test/support/http';
import { staffSession, stockedProduct } from '../../test/support/orders';

let adminToken: string;
let adminId: string;
let staff: { token: string; warehouseId: string };

beforeAll(async () => {
  adminToken = (await login('admin@agora.dev')).accessToken;
  adminId = (await json('/v1/me', { headers: bearer(adminToken) })).body.id as string;
  staff = await staffSession();
});

const newKey = () => crypto.randomUUID();
const post = (token: string, body: unknown, key: string) => jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key });
const reserve = (sku: string, quantity: number, key: string, ref = 'chk-shards') =>
  json(`/v1/inventory/${sku}/reservations`, post(adminToken, { quantity, ref: { kind: 'checkout', id: ref } }, key));
const adjust = (sku: string, delta: number, reason: string, key: string) => json(`/v1/warehouses/${staff.warehouseId}/stock/adjustments`, post(staff.token, { sku, delta, reason }, key));
const split = async (sku: string, shards: number) => {
  const r = await json(`/v1/admin/inventory/${sku}/shards`, jsonInit('PUT', { shards }, bearer(adminToken)));
  expect(r.res.status, JSON.stringify(r.body)).toBe(200);
};
const live = async (sku: string) => (await json(`/v1/inventory/${sku}`)).body.available as number;

/** The reservation's op id as the inventory service derives it from (caller, Idempotency-Key). */
const reservationOpId = (actorId: string, key: string) => `rsv:${createHash('sha256').update([actorId, key].join('\u0000')).digest('hex').slice(0, 32)}`;

describe('a reservation retried after its SKU was split', () => {
  it('answers the first hold (same id, same shard) although its walk now starts elsewhere; holds nothing more; the key with another body is 422; released by id', async () => {
    const p = await stockedProduct(40);
    // A key whose walk over 4 shards starts on another shard than shard 0 (where the unsplit SKU holds it).
    const key = Array.from({ length: 40 }, (_, i) => `split-retry-${i}-${crypto.randomUUID()}`).find((k) => shardOrder(reservationOpId(adminId, k), 4)[0] !== 0)!;
    const first = await reserve(p.sku, 3, key);
    expect(first.res.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.shard).toBe(0);
    await split(p.sku, 4);
    const again = await reserve(p.sku, 3, key);
    expect(again.res.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body).toMatchObject({ reservationId: first.body.reservationId, shard: 0, quantity: 3, status: 'reserved', expiresAt: first.body.expiresAt });
    expect(await live(p.sku)).toBe(37);
    await problem(`/v1/inventory/${p.sku}/reservations`, 422, 'IDEMPOTENCY_KEY_REUSED', post(adminToken, { quantity: 4, ref: { kind: 'checkout', id: 'chk-shards' } }, key));
    expect(await live(p.sku)).toBe(37);
    const released = await json(`/v1/inventory/${p.sku}/reservations/${first.body.reservationId}/release`, { method: 'POST', headers: bearer(adminToken) });
    expect(released.res.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', shard: 0 });
    expect(await live(p.sku)).toBe(40);
  });
});

describe('a refusal for lack of stock does not consume the key', () => {
  it('a reservation refused for more than is available succeeds with the same key once stock has come, then replays', async () => {
    const p = await stockedProduct(3);
    const key = newKey();
    await problem(`/v1/inventory/${p.sku}/reservations`, 409, 'OUT_OF_STOCK', post(adminToken, { quantity: 5, ref: { kind: 'checkout', id: 'chk-later' } }, key));
    expect((await adjust(p.sku, 4, 'receipt', newKey())).res.status).toBe(201);
    const held = await reserve(p.sku, 5, key, 'chk-later');
    expect(held.res.status, JSON.stringify(held.body)).toBe(201);
    const replay = await reserve(p.sku, 5, key, 'chk-later');
    expect(replay.body).toMatchObject({ reservationId: held.body.reservationId, shard: held.body.shard, expiresAt: held.body.expiresAt });
    expect(await live(p.sku)).toBe(2);
  });

  it('an adjustment refused for lack of units applies with the same key once they have come, then replays; another body is 422; one ledger row, one audit row', async () => {
    const p = await stockedProduct(3);
    const key = newKey();
    await problem(`/v1/warehouses/${staff.warehouseId}/stock/adjustments`, 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, delta: -5, reason: 'damage' }, key));
    expect((await adjust(p.sku, 4, 'receipt', newKey())).res.status).toBe(201);
    const applied = await adjust(p.sku, -5, 'damage', key);
    expect(applied.res.status, JSON.stringify(applied.body)).toBe(201);
    expect(applied.body.level).toMatchObject({ onHand: 2, available: 2 });
    const replay = await adjust(p.sku, -5, 'damage', key);
    expect(replay.res.status).toBe(201);
    expect(replay.body.level).toEqual(applied.body.level);
    await problem(`/v1/warehouses/${staff.warehouseId}/stock/adjustments`, 422, 'IDEMPOTENCY_KEY_REUSED', post(staff.token, { sku: p.sku, delta: -1, reason: 'damage' }, key));
    expect(await live(p.sku)).toBe(2);
    expect(await rows(sql`select count(*)::int as n from stock_adjustments where sku = ${p.sku} and delta = -5`)).toEqual([{ n: 1 }]);
    const audits = (await json(`/v1/admin/audit-log?action=inventory.stock.adjusted&targetId=${p.sku}&limit=100`, { headers: bearer(adminToken) })).body.items as { data: { idempotencyKey?: string } }[];
    expect(audits.filter((a) => a.data.idempotencyKey === key)).toHaveLength(1);
  });

  it('a transfer refused for lack of units leaves with the same key once they have come, then replays; another body is 422 (unsplit and split SKUs)', async () => {
    const other = (await rows<{ id: string }>(sql`select id from warehouses where id <> ${staff.warehouseId} order by id limit 1`))[0]!.id;
    for (const shards of [1, 2]) {
      const p = await stockedProduct(2);
      if (shards > 1) await split(p.sku, shards);
      const key = newKey();
      const url = `/v1/warehouses/${staff.warehouseId}/stock/transfers`;
      await problem(url, 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, toWarehouseId: other, quantity: 5 }, key));
      expect((await adjust(p.sku, 4, 'receipt', newKey())).res.status).toBe(201);
      const sent = await json(url, post(staff.token, { sku: p.sku, toWarehouseId: other, quantity: 5 }, key));
      expect(sent.res.status, `${shards} shard(s): ${JSON.stringify(sent.body)}`).toBe(201);
      expect(sent.body).toMatchObject({ quantity: 5, status: 'in_transit' });
      const replay = await json(url, post(staff.token, { sku: p.sku, toWarehouseId: other, quantity: 5 }, key));
      expect(replay.res.status).toBe(201);
      expect(replay.body.transferId).toBe(sent.body.transferId);
      await problem(url, 422, 'IDEMPOTENCY_KEY_REUSED', post(staff.token, { sku: p.sku, toWarehouseId: other, quantity: 1 }, key));
      expect(await live(p.sku)).toBe(1);
      expect(await rows(sql`select count(*)::int as n from stock_transfers where sku = ${p.sku}`)).toEqual([{ n: 1 }]);
    }
  });
});

describe('inventory.low_stock of a split SKU', () => {
  it('40 units over 4 shards, threshold 20: the split raises nothing; one event when the SKU (not a shard) reaches 20, none below it', async () => {
    const p = await stockedProduct(40);
    const stubs = [0, 1, 2, 3].map((s) => inventoryFor(env, p.sku, s));
    const sent: EventEnvelope[] = [];
    for (const stub of stubs) {
      await runInDurableObject(stub, (o: InventoryDurableObject) => {
        o.eventsQueue = { sendBatch: async (m) => void sent.push(...[...m].map((x) => x.body as EventEnvelope)) };
      });
    }
    expect(await stubs[0]!.configureLowStock({ opId: `low-${p.sku}`, threshold: 20 })).toMatchObject({ ok: true });
    // Every shard's report delivered now (they are otherwise sent a moment after a change), every outbox relayed.
    const settle = async () => {
      for (const stub of stubs.slice(1)) await runInDurableObject(stub, (o: InventoryDurableObject) => o.reportAvailable());
      for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => o.flushOutbox());
    };
    await split(p.sku, 4); // 10 on each shard
    await settle();
    const low = () => sent.filter((e) => e.type === 'inventory.low_stock').map((e) => e.data);
    expect(low()).toEqual([]);
    for (let i = 0; i < 4; i++) {
      const r = await reserve(p.sku, 5, newKey(), `chk-low-${i}`);
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      await settle();
    }
    expect(await live(p.sku)).toBe(20);
    const r = await reserve(p.sku, 1, newKey(), 'chk-low-below');
    expect(r.res.status, JSON.stringify(r.body)).toBe(201);
    await settle();
    expect(low()).toEqual([{ sku: p.sku, shard: 0, available: 20, threshold: 20 }]);
  });
});
