import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { parseEnvelope, type EventEnvelope } from '../../shared/events';
import { applyMigrations } from '../sqlite-migrations';
import { FLUSH_MAX_BACKOFF_MS, REPORT_MAX_BACKOFF_MS, type InventoryDurableObject, type OutboxQueue } from './inventory.do';
import { deriveOpId, shardOrder } from './inventory.logic';
import { INVENTORY_MIGRATIONS } from './inventory.migrations';
import { CommitResult, LevelsView, ReleaseResult, ReserveAllResult, ReserveResult, ShardedReserveResult } from './inventory.schemas';
import {
  commitReservation,
  configureShards,
  dispatchOnShards,
  inventoryFor,
  moveUnits,
  rebalanceShards,
  releaseOnShards,
  releaseReservation,
  reserveAll,
  reserveSharded,
  shardConfigOf,
  shardCount,
  SOLD_OUT_MEMO_MS,
  type InventoryStub,
} from './inventory.stub';
import { eventually } from '../../test/support/orders';

/**
 * The inventory object inside workerd, through the stub helper (the only way in). Each test uses
 * its own SKU ids, so tests never share an object. Time is moved with `travel`, which swaps the
 * object's clock through `runInDurableObject`; expiry is driven with `runDurableObjectAlarm`.
 */
const newSku = () => `var_${crypto.randomUUID().slice(0, 12)}`;
const order = (id = 'ord_1') => ({ kind: 'order' as const, id });

async function stocked(levels: Record<string, number>, skuId = newSku(), shard = 0): Promise<{ skuId: string; stub: InventoryStub }> {
  const stub = inventoryFor(env, skuId, shard);
  for (const [warehouseId, onHand] of Object.entries(levels)) {
    expect(await stub.setStock({ opId: `load-${warehouseId}`, warehouseId, onHand, reason: 'receipt' })).toMatchObject({ ok: true });
  }
  return { skuId, stub };
}

/** Moves the object's clock forward by `ms` (cumulative). */
async function travel(stub: InventoryStub, ms: number) {
  await runInDurableObject(stub, (instance: InventoryDurableObject) => {
    const previous = instance.clock;
    instance.clock = { now: () => new Date(previous.now().getTime() + ms) };
  });
}

const totals = async (stub: InventoryStub) => (await stub.levels()).totals;

describe('storage and migrations', () => {
  it('migrates in blockConcurrencyWhile; re-running is a no-op and an edited history is refused', async () => {
    const { stub } = await stocked({});
    await runInDurableObject(stub, (_instance: InventoryDurableObject, state) => {
      const rows = state.storage.sql.exec<{ id: number; name: string }>('SELECT id, name FROM _migrations ORDER BY id').toArray();
      expect(rows).toEqual(INVENTORY_MIGRATIONS.map((m, i) => ({ id: i + 1, name: m.name })));
      expect(applyMigrations(state.storage, INVENTORY_MIGRATIONS)).toEqual([]);
      const renamed = INVENTORY_MIGRATIONS.map((m) => ({ ...m, name: `${m.name}_renamed` }));
      expect(() => applyMigrations(state.storage, renamed)).toThrow(/append-only/);
    });
  });
});

describe('levels', () => {
  it('shows on hand, reserved and available per warehouse after setStock', async () => {
    const { stub } = await stocked({ wh_a: 10, wh_b: 5 });
    const view = await stub.levels();
    expect(LevelsView.parse(view)).toEqual({
      levels: [
        { warehouseId: 'wh_a', onHand: 10, reserved: 0, available: 10, inTransitOut: 0 },
        { warehouseId: 'wh_b', onHand: 5, reserved: 0, available: 5, inTransitOut: 0 },
      ],
      totals: { onHand: 15, reserved: 0, available: 15 },
      needsReconciliation: null,
      inFlightOut: 0,
      shards: 1,
    });
    expect(await stub.setStock({ opId: 'count-1', warehouseId: 'wh_a', onHand: 7 })).toEqual({
      ok: true,
      level: { warehouseId: 'wh_a', onHand: 7, reserved: 0, available: 7 },
    });
    expect(await totals(stub)).toEqual({ onHand: 12, reserved: 0, available: 12 });
  });

  it('adjusts for receipts, returns and damage, refusing the wrong sign and going below zero', async () => {
    const { stub } = await stocked({ wh_a: 5 });
    expect(await stub.adjust({ opId: 'a1', warehouseId: 'wh_a', delta: 3, reason: 'receipt' })).toMatchObject({ ok: true, level: { onHand: 8 } });
    expect(await stub.adjust({ opId: 'a2', warehouseId: 'wh_a', delta: 1, reason: 'return_to_stock' })).toMatchObject({ ok: true, level: { onHand: 9 } });
    expect(await stub.adjust({ opId: 'a3', warehouseId: 'wh_a', delta: -2, reason: 'damage' })).toMatchObject({ ok: true, level: { onHand: 7 }, needsReconciliation: false });
    expect(await stub.adjust({ opId: 'a4', warehouseId: 'wh_a', delta: 2, reason: 'damage' })).toMatchObject({ ok: false, code: 'INVALID_ADJUSTMENT' });
    expect(await stub.adjust({ opId: 'a5', warehouseId: 'wh_a', delta: -8, reason: 'damage' })).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', available: 7 });
    expect(await totals(stub)).toEqual({ onHand: 7, reserved: 0, available: 7 });
  });

  it('refuses invalid input without storing it, so the op id stays usable', async () => {
    const { stub } = await stocked({ wh_a: 5 });
    const bad = await stub.reserve({ opId: 'op-x', reservationId: 'r1', ref: order(), quantity: 0 });
    expect(bad).toMatchObject({ ok: false, code: 'INVALID_INPUT', issues: [{ path: 'quantity' }] });
    expect(await stub.reserve({ opId: 'op-x', reservationId: 'r1', ref: order(), quantity: 1 })).toMatchObject({ ok: true });
  });
});

describe('availability (the cart check)', () => {
  it('a new object holds no stock; then it follows every change: stock, reservations, offline sales below zero, shards', async () => {
    expect(await inventoryFor(env, newSku()).availability()).toEqual({ available: 0, stocked: false, shards: 1 });
    const { skuId, stub } = await stocked({ wh_a: 5, wh_b: 3 });
    expect(await stub.availability()).toEqual({ available: 8, stocked: true, shards: 1 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 6 });
    expect(await stub.availability()).toEqual({ available: 2, stocked: true, shards: 1 });
    // Goods sold offline beyond what wh_b had left: wh_b counts as 0, not as debt.
    await stub.recordOfflineSale({ opId: 'pos-1', saleId: 'sale_1', warehouseId: 'wh_b', quantity: 4, soldAt: '2026-11-20T10:00:00Z' });
    const levels = (await stub.levels()).levels;
    expect(levels.map((l) => l.available).some((a) => a < 0)).toBe(true);
    expect(await stub.availability()).toEqual({ available: levels.reduce((n, l) => n + Math.max(0, l.available), 0), stocked: true, shards: 1 });
    await stub.release({ opId: 'x1', reservationId: 'rsv_1' });
    expect((await stub.availability()).available).toBe(5);
    expect(await configureShards(env, skuId, 3, 'shards-1')).toMatchObject({ ok: true });
    expect(await stub.availability()).toMatchObject({ shards: 3 });
  });

  it('gives back the units of a reservation past its TTL before the alarm has run (and so does levels())', async () => {
    for (const read of [async (s: InventoryStub) => (await s.availability()).available, async (s: InventoryStub) => (await totals(s)).available]) {
      const { stub } = await stocked({ wh_a: 5 });
      await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 4, ttlSeconds: 30 });
      expect(await read(stub)).toBe(1);
      await travel(stub, 30_000);
      expect(await read(stub)).toBe(5);
      expect(await stub.reservation('rsv_1')).toMatchObject({ ok: true, reservation: { status: 'expired' } });
    }
  });
});

describe('reservations', () => {
  it('reserve holds units; commit takes them off on hand; release gives them back', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    const reserved = await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 3, ttlSeconds: 600 });
    expect(ReserveResult.parse(reserved)).toMatchObject({ ok: true, reservation: { status: 'reserved', quantity: 3, lines: [{ warehouseId: 'wh_a', quantity: 3 }] } });
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 3, available: 7 });

    const committed = await stub.commit({ opId: 'c1', reservationId: 'rsv_1' });
    expect(CommitResult.parse(committed)).toMatchObject({ ok: true, changed: true, reservation: { status: 'committed' } });
    expect(await totals(stub)).toEqual({ onHand: 7, reserved: 0, available: 7 });

    expect(await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: { kind: 'checkout', id: 'chk_1' }, quantity: 2 })).toMatchObject({ ok: true });
    expect(await totals(stub)).toEqual({ onHand: 7, reserved: 2, available: 5 });
    const released = await stub.release({ opId: 'x1', reservationId: 'rsv_2', reason: 'payment_failed' });
    expect(ReleaseResult.parse(released)).toMatchObject({ ok: true, changed: true, reservation: { status: 'released', closeReason: 'payment_failed' } });
    expect(await totals(stub)).toEqual({ onHand: 7, reserved: 0, available: 7 });
  });

  it('final states: repeats are no-ops, contradictions and unknown ids are refused', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 1 });
    await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 1 });
    await stub.commit({ opId: 'c1', reservationId: 'rsv_1' });
    await stub.release({ opId: 'x1', reservationId: 'rsv_2' });

    expect(await stub.commit({ opId: 'c2', reservationId: 'rsv_1' })).toMatchObject({ ok: true, changed: false });
    expect(await stub.release({ opId: 'x2', reservationId: 'rsv_2' })).toMatchObject({ ok: true, changed: false });
    expect(await stub.release({ opId: 'x3', reservationId: 'rsv_1' })).toMatchObject({ ok: false, code: 'RESERVATION_CLOSED', status: 'committed' });
    expect(await stub.commit({ opId: 'c3', reservationId: 'rsv_2' })).toMatchObject({ ok: false, code: 'RESERVATION_CLOSED', status: 'released' });
    expect(await stub.commit({ opId: 'c4', reservationId: 'rsv_nope' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await stub.reserve({ opId: 'r3', reservationId: 'rsv_1', ref: order(), quantity: 1 })).toMatchObject({ ok: false, code: 'RESERVATION_EXISTS' });
    expect(await totals(stub)).toEqual({ onHand: 9, reserved: 0, available: 9 });
  });

  it('refuses more than is available with OUT_OF_STOCK and what is available', async () => {
    const { stub } = await stocked({ wh_a: 2, wh_b: 1 });
    expect(await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 4 })).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 3 });
    // Without an allocation the object may split; with one, each line must be there in full.
    expect(await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 3 })).toMatchObject({
      ok: true,
      reservation: { lines: [{ warehouseId: 'wh_a', quantity: 2 }, { warehouseId: 'wh_b', quantity: 1 }] },
    });
    expect(await totals(stub)).toEqual({ onHand: 3, reserved: 3, available: 0 });
  });

  it('picks the nearest warehouse by the distances given, or holds the exact allocation', async () => {
    const { stub } = await stocked({ wh_bom: 5, wh_dub: 5 });
    expect(await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 2, distances: { wh_dub: 0, wh_bom: 2 } })).toMatchObject({
      ok: true,
      reservation: { lines: [{ warehouseId: 'wh_dub', quantity: 2 }] },
    });
    expect(
      await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 2, allocation: [{ warehouseId: 'wh_bom', quantity: 1 }, { warehouseId: 'wh_dub', quantity: 1 }] }),
    ).toMatchObject({ ok: true, reservation: { lines: [{ warehouseId: 'wh_bom', quantity: 1 }, { warehouseId: 'wh_dub', quantity: 1 }] } });
    expect(await stub.reserve({ opId: 'r3', reservationId: 'rsv_3', ref: order(), quantity: 5, allocation: [{ warehouseId: 'wh_dub', quantity: 5 }] })).toMatchObject({
      ok: false,
      code: 'OUT_OF_STOCK',
      shortfall: [{ warehouseId: 'wh_dub', quantity: 3 }],
    });
    expect((await stub.levels()).levels).toEqual([
      { warehouseId: 'wh_bom', onHand: 5, reserved: 1, available: 4, inTransitOut: 0 },
      { warehouseId: 'wh_dub', onHand: 5, reserved: 3, available: 2, inTransitOut: 0 },
    ]);
  });

  it('a release with an owner frees only a hold that owner placed: another caller and an order\'s hold (no owner) get NOT_FOUND, unstored, and nothing moves', async () => {
    const { skuId, stub } = await stocked({ wh_a: 10 });
    expect(await stub.reserve({ opId: 'api-a', reservationId: 'rsv_a', ref: { kind: 'checkout', id: 'chk_a' }, quantity: 2, owner: 'cli_a' })).toMatchObject({ ok: true });
    // The order saga's hold: no owner.
    expect(await stub.reserve({ opId: 'saga', reservationId: 'rsv_o', ref: order('ord_9'), quantity: 3 })).toMatchObject({ ok: true });
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 5, available: 5 });
    const by = (owner: string, reservationId: string) => stub.release({ opId: `rel:${reservationId}:${owner}`, reservationId, owner });
    expect(await by('cli_b', 'rsv_a')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await by('cli_b', 'rsv_o')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await by('cli_a', 'rsv_o')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    // Through the sharded helper (every shard asked), the same.
    expect((await releaseOnShards(env, skuId, { opId: 'rel:b', reservationId: 'rsv_a', owner: 'cli_b' }, { shards: 1 })).result).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 5, available: 5 });
    // Refusals of another caller are not stored: the op ids stay free (and unreadable as a replay).
    await runInDurableObject(stub, (_i: InventoryDurableObject, state) => {
      expect(state.storage.sql.exec("SELECT op_id FROM operations WHERE method = 'release'").toArray()).toEqual([]);
      expect(state.storage.sql.exec('SELECT id, owner FROM reservations ORDER BY id').toArray()).toEqual([
        { id: 'rsv_a', owner: 'cli_a' },
        { id: 'rsv_o', owner: null },
      ]);
    });
    // The owner releases (twice: the same answer); the saga, with no owner, releases its own.
    const mine = await by('cli_a', 'rsv_a');
    expect(mine).toMatchObject({ ok: true, changed: true, reservation: { status: 'released' } });
    expect(await by('cli_a', 'rsv_a')).toEqual(mine);
    expect(await stub.release({ opId: 'saga-rel', reservationId: 'rsv_o', reason: 'payment_failed' })).toMatchObject({ ok: true, changed: true });
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 0, available: 10 });
  });
});

describe('expiry', () => {
  it('the alarm releases a reservation once its TTL has passed, and stock comes back', async () => {
    const { stub } = await stocked({ wh_a: 5 });
    expect(await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 4, ttlSeconds: 30 })).toMatchObject({ ok: true });
    expect(await totals(stub)).toEqual({ onHand: 5, reserved: 4, available: 1 });

    // An early alarm changes nothing and re-arms.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await totals(stub)).toEqual({ onHand: 5, reserved: 4, available: 1 });

    await travel(stub, 30_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await totals(stub)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    expect(await stub.reservation('rsv_1')).toMatchObject({ ok: true, reservation: { status: 'expired', closeReason: 'ttl' } });

    // A commit after expiry is refused; a release is a no-op.
    expect(await stub.commit({ opId: 'c1', reservationId: 'rsv_1' })).toMatchObject({ ok: false, code: 'RESERVATION_EXPIRED' });
    expect(await stub.release({ opId: 'x1', reservationId: 'rsv_1' })).toMatchObject({ ok: true, changed: false, reservation: { status: 'expired' } });
    expect(await totals(stub)).toEqual({ onHand: 5, reserved: 0, available: 5 });
  });

  it('a commit after the TTL is refused even before the alarm has run', async () => {
    const { stub } = await stocked({ wh_a: 5 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 2, ttlSeconds: 60 });
    await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 1, ttlSeconds: 120 });
    await travel(stub, 60_000);
    expect(await stub.commit({ opId: 'c1', reservationId: 'rsv_1' })).toMatchObject({ ok: false, code: 'RESERVATION_EXPIRED', status: 'expired' });
    expect(await totals(stub)).toEqual({ onHand: 5, reserved: 1, available: 4 });
    // The other one is still good until its own time.
    expect(await stub.commit({ opId: 'c2', reservationId: 'rsv_2' })).toMatchObject({ ok: true, changed: true });
    expect(await totals(stub)).toEqual({ onHand: 4, reserved: 0, available: 4 });
  });

  it('expires each reservation at its own due time through the one alarm', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 1, ttlSeconds: 30 });
    await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 2, ttlSeconds: 90 });
    await travel(stub, 45_000);
    await runDurableObjectAlarm(stub);
    expect(await totals(stub)).toMatchObject({ reserved: 2 });
    const [next, expiries, earliest] = await runInDurableObject(stub, (_i: InventoryDurableObject, state) =>
      Promise.all([
        state.storage.getAlarm(),
        state.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM due WHERE kind = 'expire'").toArray(),
        state.storage.sql.exec<{ t: number }>('SELECT MIN(due_at) AS t FROM due').one().t,
      ]),
    );
    const rsv2 = await stub.reservation('rsv_2');
    if (!rsv2.ok) throw new Error('rsv_2 should exist');
    // One expiry left, rsv_2's; the one alarm is at the earliest due row (rsv_2's expiry or the
    // outbox relay's safety net, which stays until an alarm finds the outbox empty).
    expect(expiries).toEqual([{ due_at: Date.parse(rsv2.reservation.expiresAt) }]);
    expect(next).toBe(earliest);
    expect(next).toBeLessThanOrEqual(Date.parse(rsv2.reservation.expiresAt));
    await travel(stub, 45_000);
    await runDurableObjectAlarm(stub);
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 0, available: 10 });
  });
});

describe('idempotency', () => {
  it('replaying any operation id returns the first result and changes nothing; a replayed adjustment, reservation or dispatch says so', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    await stub.reserve({ opId: 'r-commit', reservationId: 'rsv_c', ref: order(), quantity: 1 });
    await stub.reserve({ opId: 'r-release', reservationId: 'rsv_r', ref: order(), quantity: 1 });
    // [call, whether its replayed success is marked `replayed: true` (what the HTTP routes mark)]
    const calls: Array<[() => Promise<unknown>, boolean]> = [
      [() => stub.setStock({ opId: 'op-set', warehouseId: 'wh_b', onHand: 4 }), false],
      [() => stub.adjust({ opId: 'op-adj', warehouseId: 'wh_a', delta: 2, reason: 'receipt' }), true],
      [() => stub.reserve({ opId: 'op-res', reservationId: 'rsv_1', ref: order(), quantity: 3 }), true],
      // A stored refusal replays as it was, unmarked (only a success is).
      [() => stub.reserve({ opId: 'op-oos', reservationId: 'rsv_2', ref: order(), quantity: 999 }), false],
      [() => stub.dispatchTransfer({ opId: 'op-trf', transferId: `trf_${'a'.repeat(32)}`, fromWarehouseId: 'wh_b', toWarehouseId: 'wh_a', quantity: 1 }), true],
      [() => stub.commit({ opId: 'op-com', reservationId: 'rsv_c' }), false],
      [() => stub.release({ opId: 'op-rel', reservationId: 'rsv_r' }), false],
      [() => stub.recordOfflineSale({ opId: 'op-pos', saleId: 'sale_1', warehouseId: 'wh_a', quantity: 1, soldAt: '2026-11-20T10:00:00Z' }), false],
      [() => stub.configureShards({ opId: 'op-shards', shards: 2 }), false],
    ];
    for (const [call, marked] of calls) {
      const first = (await call()) as Record<string, unknown>;
      expect(first.replayed).toBeUndefined();
      const before = await stub.levels();
      const replay = marked ? { ...first, replayed: true } : first;
      expect(await call()).toEqual(replay);
      expect(await call()).toEqual(replay);
      expect(await stub.levels()).toEqual(before);
    }
    // 10 + 4 counted + 2 received − 1 committed − 1 sold offline − 1 in transit (in no on hand).
    expect(await totals(stub)).toEqual({ onHand: 13, reserved: 3, available: 10 });
  });

  it('the same op id with another payload or for another method is refused', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    expect(await stub.reserve({ opId: 'op-1', reservationId: 'rsv_1', ref: order(), quantity: 2 })).toMatchObject({ ok: true });
    expect(await stub.reserve({ opId: 'op-1', reservationId: 'rsv_1', ref: order(), quantity: 3 })).toMatchObject({ ok: false, code: 'OP_ID_REUSED' });
    expect(await stub.commit({ opId: 'op-1', reservationId: 'rsv_1' })).toMatchObject({ ok: false, code: 'OP_ID_REUSED' });
    expect(await stub.reservation('rsv_1')).toMatchObject({ ok: true, reservation: { status: 'reserved', quantity: 2 } });
    expect(await totals(stub)).toEqual({ onHand: 10, reserved: 2, available: 8 });
  });

  it('a default filled in is the same payload as the default sent explicitly', async () => {
    const { stub } = await stocked({ wh_a: 10 });
    const first = await stub.reserve({ opId: 'op-1', reservationId: 'rsv_1', ref: order(), quantity: 2 });
    expect(await stub.reserve({ opId: 'op-1', reservationId: 'rsv_1', ref: { id: 'ord_1', kind: 'order' }, quantity: 2, ttlSeconds: 900 })).toEqual({ ...first, replayed: true });
  });
});

describe('offline sales', () => {
  it('are accepted even below zero and flag the SKU; a count clears the flag', async () => {
    const { stub } = await stocked({ wh_a: 3 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 2 });
    const sale = await stub.recordOfflineSale({ opId: 'pos-1', saleId: 'sale_1', warehouseId: 'wh_a', quantity: 4, soldAt: '2026-11-20T10:00:00+05:30' });
    expect(sale).toEqual({ ok: true, level: { warehouseId: 'wh_a', onHand: -1, reserved: 2, available: -3 }, needsReconciliation: true });
    const view = await stub.levels();
    expect(view.totals).toEqual({ onHand: -1, reserved: 2, available: -3 });
    expect(view.needsReconciliation).toMatchObject({ reason: 'offline sale sale_1 oversold' });
    // Nothing more can be reserved meanwhile.
    expect(await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 1 })).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    // A sale from a warehouse the object has never seen is accepted too.
    expect(await stub.recordOfflineSale({ opId: 'pos-2', saleId: 'sale_2', warehouseId: 'wh_new', quantity: 1, soldAt: '2026-11-20T10:05:00Z' })).toMatchObject({
      ok: true,
      level: { warehouseId: 'wh_new', onHand: -1 },
    });
    // The counts: 6 on the shelf in wh_a, 0 in wh_new; covers the reservation, so the flag clears.
    await stub.setStock({ opId: 'count-a', warehouseId: 'wh_a', onHand: 6 });
    expect((await stub.levels()).needsReconciliation).not.toBeNull();
    await stub.setStock({ opId: 'count-new', warehouseId: 'wh_new', onHand: 0 });
    const after = await stub.levels();
    expect(after.needsReconciliation).toBeNull();
    expect(after.totals).toEqual({ onHand: 6, reserved: 2, available: 4 });
  });

  it('a sale that leaves availability at zero or above does not flag', async () => {
    const { stub } = await stocked({ wh_a: 3 });
    expect(await stub.recordOfflineSale({ opId: 'pos-1', saleId: 's', warehouseId: 'wh_a', quantity: 3, soldAt: '2026-11-20T10:00:00Z' })).toMatchObject({
      ok: true,
      needsReconciliation: false,
    });
    expect((await stub.levels()).needsReconciliation).toBeNull();
  });
});

describe('all-or-nothing across SKUs', () => {
  it('reserves every SKU or none, and a retry replays the same outcome', async () => {
    const a = await stocked({ wh_a: 5 });
    const b = await stocked({ wh_a: 1 });
    const input = { opId: 'chk-1', reservationId: 'rsv_chk_1', ref: { kind: 'checkout' as const, id: 'chk_1' }, ttlSeconds: 300, items: [{ skuId: a.skuId, quantity: 2 }, { skuId: b.skuId, quantity: 2 }] };
    const refused = await reserveAll(env, input);
    expect(ReserveAllResult.parse(refused)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', skuId: b.skuId });
    expect(await totals(a.stub)).toEqual({ onHand: 5, reserved: 0, available: 5 });
    expect(await a.stub.reservation('rsv_chk_1')).toMatchObject({ ok: true, reservation: { status: 'released', closeReason: 'rolled_back' } });
    expect(await totals(b.stub)).toEqual({ onHand: 1, reserved: 0, available: 1 });

    // Stock arrives for b, but a retry of the same op replays the same refusal (exactly one effect).
    await b.stub.adjust({ opId: 'rcv', warehouseId: 'wh_a', delta: 5, reason: 'receipt' });
    expect(await reserveAll(env, input)).toEqual(refused);
    expect(await totals(a.stub)).toEqual({ onHand: 5, reserved: 0, available: 5 });

    // A new attempt (new op id, new reservation id) succeeds for both.
    const ok = await reserveAll(env, { ...input, opId: 'chk-2', reservationId: 'rsv_chk_2' });
    expect(ok).toMatchObject({ ok: true, reservations: [{ skuId: a.skuId, shard: 0 }, { skuId: b.skuId, shard: 0 }] });
    expect(await reserveAll(env, { ...input, opId: 'chk-2', reservationId: 'rsv_chk_2' })).toEqual(ok);
    expect(await totals(a.stub)).toEqual({ onHand: 5, reserved: 2, available: 3 });
    expect(await totals(b.stub)).toEqual({ onHand: 6, reserved: 2, available: 4 });
  });

  it('a retry after a caller died half way finishes the protocol with one effect', async () => {
    const a = await stocked({ wh_a: 5 });
    const b = await stocked({ wh_a: 5 });
    const input = { opId: 'chk-9', reservationId: 'rsv_9', ref: order('ord_9'), ttlSeconds: 300, items: [{ skuId: a.skuId, quantity: 2 }, { skuId: b.skuId, quantity: 3 }] };
    // The first attempt reserved SKU a (its derived op id) and then the Worker died.
    const partial = await a.stub.reserve({ opId: deriveOpId('chk-9', a.skuId, 's0'), reservationId: 'rsv_9', ref: order('ord_9'), quantity: 2, ttlSeconds: 300 });
    expect(partial).toMatchObject({ ok: true });
    const done = await reserveAll(env, input);
    expect(done).toMatchObject({ ok: true, reservations: [{ skuId: a.skuId }, { skuId: b.skuId }] });
    expect(done.ok && partial.ok && done.reservations[0]!.reservation).toEqual(partial.ok && partial.reservation);
    expect(await totals(a.stub)).toEqual({ onHand: 5, reserved: 2, available: 3 });
    expect(await totals(b.stub)).toEqual({ onHand: 5, reserved: 3, available: 2 });
  });

  it('refuses invalid input before touching any object', async () => {
    const a = await stocked({ wh_a: 5 });
    const r = await reserveAll(env, { opId: 'x', reservationId: 'r', ref: order(), items: [{ skuId: a.skuId, quantity: 1 }, { skuId: a.skuId, quantity: 1 }] });
    expect(r).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await totals(a.stub)).toEqual({ onHand: 5, reserved: 0, available: 5 });
  });
});

describe('transfers between shards', () => {
  it('out, in, ack: units move, the total is conserved, replays change nothing', async () => {
    const { skuId, stub: giver } = await stocked({ wh_a: 10, wh_b: 2 });
    const receiver = inventoryFor(env, skuId, 1);
    await giver.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 8 });

    const out = await giver.transferOut({ opId: 't1|out', transferId: 't1', skuId, fromShard: 0, toShard: 1, quantity: 3 });
    expect(out).toEqual({ ok: true, transferId: 't1', lines: [{ warehouseId: 'wh_a', quantity: 2 }, { warehouseId: 'wh_b', quantity: 1 }] });
    expect(await giver.levels()).toMatchObject({ totals: { onHand: 9, reserved: 8, available: 1 }, inFlightOut: 3 });
    // Reserved units never move.
    expect(await giver.transferOut({ opId: 't2|out', transferId: 't2', skuId, fromShard: 0, toShard: 1, quantity: 2 })).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 1 });
    expect(await giver.transferOut({ opId: 't1|out-again', transferId: 't1', skuId, fromShard: 0, toShard: 1, quantity: 1 })).toMatchObject({ ok: false, code: 'TRANSFER_CONFLICT' });

    const lines = out.ok ? out.lines : [];
    const received = await receiver.transferIn({ opId: 't1|in', transferId: 't1', skuId, fromShard: 0, toShard: 1, lines });
    expect(received).toEqual({ ok: true, transferId: 't1', lines });
    // A second delivery (another op id, e.g. a redelivery) of the same transfer changes nothing.
    expect(await receiver.transferIn({ opId: 't1|in-again', transferId: 't1', skuId, fromShard: 0, toShard: 1, lines })).toEqual(received);
    expect(await receiver.transferIn({ opId: 't1|in-bad', transferId: 't1', skuId, fromShard: 0, toShard: 1, lines: [{ warehouseId: 'wh_a', quantity: 9 }] })).toMatchObject({
      ok: false,
      code: 'TRANSFER_CONFLICT',
    });
    expect(await totals(receiver)).toEqual({ onHand: 3, reserved: 0, available: 3 });

    expect(await giver.ackTransfer({ opId: 't1|ack', transferId: 't1' })).toEqual({ ok: true, transferId: 't1' });
    expect(await giver.levels()).toMatchObject({ inFlightOut: 0 });
    expect(await giver.ackTransfer({ opId: 't9|ack', transferId: 't9' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('if nobody delivers, the giving shard’s alarm does, exactly once', async () => {
    const { skuId, stub: giver } = await stocked({ wh_a: 10 });
    const receiver = inventoryFor(env, skuId, 2);
    expect(await giver.transferOut({ opId: 't1|out', transferId: 't1', skuId, fromShard: 0, toShard: 2, quantity: 4 })).toMatchObject({ ok: true });
    expect(await totals(receiver)).toEqual({ onHand: 0, reserved: 0, available: 0 });

    await travel(giver, 30_000);
    expect(await runDurableObjectAlarm(giver)).toBe(true);
    expect(await totals(receiver)).toEqual({ onHand: 4, reserved: 0, available: 4 });
    expect(await giver.levels()).toMatchObject({ totals: { onHand: 6 }, inFlightOut: 0 });

    // The caller comes back and finishes the protocol with the usual op ids: nothing changes.
    expect(await receiver.transferIn({ opId: 't1|in', transferId: 't1', skuId, fromShard: 0, toShard: 2, lines: [{ warehouseId: 'wh_a', quantity: 4 }] })).toMatchObject({ ok: true });
    expect(await giver.ackTransfer({ opId: 't1|ack', transferId: 't1' })).toMatchObject({ ok: true });
    expect(await totals(receiver)).toEqual({ onHand: 4, reserved: 0, available: 4 });
  });

  it('moveUnits runs the three steps and is safe to repeat', async () => {
    const { skuId, stub: giver } = await stocked({ wh_a: 10 });
    const move = { skuId, fromShard: 0, toShard: 3, quantity: 4, transferId: 'm1' };
    const first = await moveUnits(env, move);
    expect(first).toEqual({ ok: true, transferId: 'm1', lines: [{ warehouseId: 'wh_a', quantity: 4 }] });
    expect(await moveUnits(env, move)).toEqual(first);
    expect(await giver.levels()).toMatchObject({ totals: { onHand: 6 }, inFlightOut: 0 });
    expect(await totals(inventoryFor(env, skuId, 3))).toMatchObject({ onHand: 4 });
  });
});

// Integration, not timed: generous limits so a busy machine does not fail them.
describe('flash sale', () => {
  it('stock 100, 1,000 concurrent reservations: exactly 100 succeed, 900 are OUT_OF_STOCK, available ends at 0', async () => {
    const { stub } = await stocked({ wh_a: 100 });
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => stub.reserve({ opId: `flash-${i}`, reservationId: `rsv_${i}`, ref: order(`ord_${i}`), quantity: 1 })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(100);
    expect(results.filter((r) => !r.ok && r.code === 'OUT_OF_STOCK')).toHaveLength(900);
    expect(await totals(stub)).toEqual({ onHand: 100, reserved: 100, available: 0 });
  }, 60_000);

  it('the same with the SKU sharded across 4 shards: no oversell, nothing lost', async () => {
    const { skuId } = await stocked({ wh_a: 100 });
    expect(await configureShards(env, skuId, 4, 'cfg-1')).toEqual({ ok: true, shards: 4 });
    expect(await shardCount(env, skuId)).toBe(4);
    const moves = await rebalanceShards(env, skuId, 4, 'rebalance-1');
    expect(moves.reduce((s, m) => s + m.moved, 0)).toBe(75);
    const shardTotals = async () => Promise.all([0, 1, 2, 3].map((s) => totals(inventoryFor(env, skuId, s))));
    expect((await shardTotals()).map((t) => t.available)).toEqual([25, 25, 25, 25]);

    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        reserveSharded(env, { skuId, shards: 4, opId: `flash-${i}`, reservationId: `rsv_${i}`, ref: order(`ord_${i}`), quantity: 1 }),
      ),
    );
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(100);
    expect(results.filter((r) => !r.ok && r.code === 'OUT_OF_STOCK')).toHaveLength(900);
    expect(new Set(ok.map((r) => r.ok && r.shard))).toEqual(new Set([0, 1, 2, 3]));

    const after = await shardTotals();
    expect(after.map((t) => t.available)).toEqual([0, 0, 0, 0]);
    expect(after.reduce((s, t) => s + t.onHand, 0)).toBe(100);
    expect(after.reduce((s, t) => s + t.reserved, 0)).toBe(100);
  }, 120_000);
});

describe('sharded reservations', () => {
  async function shardedSku(perShard: number[]) {
    const skuId = newSku();
    await configureShards(env, skuId, perShard.length, 'cfg');
    for (const [shard, onHand] of perShard.entries()) await stocked({ wh_a: onHand }, skuId, shard);
    return skuId;
  }
  const sum = async (skuId: string, n: number) => {
    const all = await Promise.all(Array.from({ length: n }, (_, s) => totals(inventoryFor(env, skuId, s))));
    return all.reduce((t, x) => ({ onHand: t.onHand + x.onHand, reserved: t.reserved + x.reserved, available: t.available + x.available }), { onHand: 0, reserved: 0, available: 0 });
  };

  it('pulls units from sibling shards when no shard alone has enough; a retry replays it', async () => {
    const skuId = await shardedSku([25, 25, 25, 25]);
    const input = { skuId, shards: 4, opId: 'big-1', reservationId: 'rsv_big', ref: order(), quantity: 60 };
    const r = await reserveSharded(env, input);
    expect(ShardedReserveResult.parse(r)).toMatchObject({ ok: true, reservation: { quantity: 60, status: 'reserved' } });
    expect(await sum(skuId, 4)).toEqual({ onHand: 100, reserved: 60, available: 40 });
    expect(await reserveSharded(env, input)).toEqual({ ...r, replayed: true });
    expect(await sum(skuId, 4)).toEqual({ onHand: 100, reserved: 60, available: 40 });

    // Commit where it lives, found without knowing the shard.
    expect(await commitReservation(env, skuId, { opId: 'c1', reservationId: 'rsv_big' }, { shards: 4 })).toMatchObject({ ok: true, changed: true });
    expect(await sum(skuId, 4)).toEqual({ onHand: 40, reserved: 0, available: 40 });
  });

  it('remembers sold-out shards for a moment: late buyers are refused without a visit, and a release through the helpers forgets it', async () => {
    const skuId = await shardedSku([1, 0]);
    const attempt = (k: string) =>
      reserveSharded(env, { skuId, shards: 2, opId: `memo-${k}`, reservationId: `rsv_memo_${k}`, ref: order(`ord_${k}`), quantity: 1, rememberRefusal: false });
    const sold = await attempt('a');
    expect(sold).toMatchObject({ ok: true });
    // Both shards are now dry: this refusal visits them and marks them.
    expect(await attempt('b')).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    // A unit arriving another way (a receipt straight on the object) is not seen while the memo
    // lasts, which shows the shard is not visited (a visit would reserve it), and is once it passed.
    expect(await inventoryFor(env, skuId, 1).adjust({ opId: 'receipt-1', warehouseId: 'wh_a', delta: 1, reason: 'receipt' })).toMatchObject({ ok: true });
    for (const k of ['c', 'd', 'e']) expect(await attempt(k)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    expect((await totals(inventoryFor(env, skuId, 1))).available).toBe(1);
    await new Promise((r) => setTimeout(r, SOLD_OUT_MEMO_MS + 50));
    expect(await attempt('g')).toMatchObject({ ok: true, shard: 1 });
    // Sold out again; a release through the helpers forgets the memo at once.
    expect(await attempt('h')).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    if (!sold.ok) throw new Error('unreachable');
    expect(await releaseReservation(env, skuId, { opId: 'rel-a', reservationId: sold.reservation.reservationId, reason: 'cancelled' }, { shard: sold.shard })).toMatchObject({ ok: true });
    expect(await attempt('i')).toMatchObject({ ok: true, shard: sold.shard });
    // A reserve whose refusal is stored never takes the memo's answer: with a unit back on the
    // object (and the memo still marking both shards dry) it visits and gets it.
    expect(await attempt('j')).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    expect(await inventoryFor(env, skuId, 0).adjust({ opId: 'receipt-2', warehouseId: 'wh_a', delta: 1, reason: 'receipt' })).toMatchObject({ ok: true });
    expect(await attempt('k')).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    expect(await reserveSharded(env, { skuId, shards: 2, opId: 'memo-l', reservationId: 'rsv_memo_l', ref: order('ord_l'), quantity: 1 })).toMatchObject({ ok: true, shard: 0 });
  });

  it('refuses without moving anything when all shards together are short', async () => {
    const skuId = await shardedSku([2, 3]);
    expect(await reserveSharded(env, { skuId, shards: 2, opId: 'big', reservationId: 'rsv', ref: order(), quantity: 6 })).toMatchObject({
      ok: false,
      code: 'OUT_OF_STOCK',
      available: 5,
    });
    expect((await totals(inventoryFor(env, skuId, 0))).onHand).toBe(2);
    expect((await totals(inventoryFor(env, skuId, 1))).onHand).toBe(3);
  });

  it('releases on the right shard, and all-or-nothing works with a sharded SKU', async () => {
    const hot = await shardedSku([1, 1]);
    const cold = await stocked({ wh_a: 1 });
    const ok = await reserveAll(env, { opId: 'o1', reservationId: 'rsv_o1', ref: order(), items: [{ skuId: hot, quantity: 1, shards: 2 }, { skuId: cold.skuId, quantity: 1 }] });
    expect(ok.ok).toBe(true);
    const refused = await reserveAll(env, { opId: 'o2', reservationId: 'rsv_o2', ref: order(), items: [{ skuId: hot, quantity: 1, shards: 2 }, { skuId: cold.skuId, quantity: 1 }] });
    expect(refused).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', skuId: cold.skuId });
    expect(await sum(hot, 2)).toEqual({ onHand: 2, reserved: 1, available: 1 });

    const shard = ok.ok ? ok.reservations[0]!.shard : -1;
    expect(await releaseReservation(env, hot, { opId: 'x1', reservationId: 'rsv_o1' }, { shard })).toMatchObject({ ok: true, changed: true });
    expect(await sum(hot, 2)).toEqual({ onHand: 2, reserved: 0, available: 2 });
  });

  it('a reservation retried after the shard count grew answers its first hold, wherever its walk now starts; commit and release find it', async () => {
    const { skuId } = await stocked({ wh_a: 40 });
    // An op id whose walk over 4 shards starts on another shard than over 1 (shard 0).
    const opId = Array.from({ length: 50 }, (_, i) => `grow-${i}`).find((o) => shardOrder(o, 4)[0] !== 0)!;
    const input = { skuId, opId, reservationId: 'rsv_grow', ref: order(), quantity: 3, rememberRefusal: false };
    const first = await reserveSharded(env, { ...input, shards: 1 });
    expect(first).toMatchObject({ ok: true, shard: 0 });
    expect(await configureShards(env, skuId, 4, 'grow')).toEqual({ ok: true, shards: 4 });
    await rebalanceShards(env, skuId, 4, 'grow-rebalance');
    const config = await shardConfigOf(env, skuId, 4);
    expect(config).toEqual({ shards: 4, priorShards: 1 });
    // The retry walks 4 shards now: it finds the first hold, holds nothing more.
    expect(await reserveSharded(env, { ...input, shards: 4, priorShards: config.priorShards })).toEqual({ ...first, replayed: true });
    expect(await sum(skuId, 4)).toEqual({ onHand: 40, reserved: 3, available: 37 });
    // The same key with other terms is the op id's other use.
    expect(await reserveSharded(env, { ...input, quantity: 4, shards: 4, priorShards: config.priorShards })).toMatchObject({ ok: false, code: 'OP_ID_REUSED' });
    // Commit by id without knowing the shard: found on shard 0 among the 4.
    expect(await commitReservation(env, skuId, { opId: 'commit-grow', reservationId: 'rsv_grow' }, { shards: 4 })).toMatchObject({ ok: true, changed: true });
    expect(await sum(skuId, 4)).toEqual({ onHand: 37, reserved: 0, available: 37 });
    // An all-or-nothing reservation retried after a growth (the order saga's path) does the same.
    const cold = await stocked({ wh_a: 8 });
    const saga = { opId: Array.from({ length: 50 }, (_, i) => `saga-${i}`).find((o) => shardOrder(deriveOpId(o, cold.skuId), 2)[0] !== 0)!, reservationId: 'rsv_saga', ref: order('ord_saga') };
    const held = await reserveAll(env, { ...saga, items: [{ skuId: cold.skuId, quantity: 2 }] });
    expect(held).toMatchObject({ ok: true, reservations: [{ shard: 0 }] });
    await configureShards(env, cold.skuId, 2, 'grow-cold');
    await rebalanceShards(env, cold.skuId, 2, 'grow-cold-rebalance');
    expect(await reserveAll(env, { ...saga, items: [{ skuId: cold.skuId, quantity: 2, shards: 2 }] })).toEqual(held);
    expect(await sum(cold.skuId, 2)).toEqual({ onHand: 8, reserved: 2, available: 6 });
    // Released by id after the growth: the holder answers.
    expect(await releaseOnShards(env, cold.skuId, { opId: 'rel-saga', reservationId: 'rsv_saga', reason: 'cancelled' }, { shards: 2 })).toMatchObject({ shard: 0, result: { ok: true, changed: true } });
    expect(await sum(cold.skuId, 2)).toEqual({ onHand: 8, reserved: 0, available: 8 });
  });

  it('a split of a SKU that never held a reservation needs no look on the old shards; a hold placed under the old count after it does', async () => {
    const { skuId } = await stocked({ wh_a: 10 });
    await configureShards(env, skuId, 2, 'split');
    expect(await inventoryFor(env, skuId).shardConfig()).toEqual({ shards: 2, priorShards: 0 });
    // A caller that had not seen the split yet holds on shard 0 with the old count.
    expect(await reserveSharded(env, { skuId, shards: 1, opId: 'stale', reservationId: 'rsv_stale', ref: order(), quantity: 1 })).toMatchObject({ ok: true, shard: 0 });
    expect(await inventoryFor(env, skuId).shardConfig()).toEqual({ shards: 2, priorShards: 1 });
  });

  it('a release without the shard answers the shard that held the reservation', async () => {
    const skuId = await shardedSku([0, 0, 2]);
    const held = await reserveSharded(env, { skuId, shards: 3, opId: 'held', reservationId: 'rsv_held', ref: order(), quantity: 1 });
    expect(held).toMatchObject({ ok: true, shard: 2 });
    const released = await releaseOnShards(env, skuId, { opId: 'rel', reservationId: 'rsv_held', reason: 'cancelled' }, { shards: 3 });
    expect(released).toMatchObject({ shard: 2, result: { ok: true, changed: true } });
    expect(await releaseOnShards(env, skuId, { opId: 'rel-x', reservationId: 'rsv_none', reason: 'cancelled' }, { shards: 3 })).toMatchObject({ shard: 0, result: { ok: false, code: 'NOT_FOUND' } });
  });

  describe('warehouse transfers of a sharded SKU (dispatchOnShards)', () => {
    const trf = () => `trf_${crypto.randomUUID().replaceAll('-', '')}`;
    const at = async (skuId: string, shard: number) => (await inventoryFor(env, skuId, shard).levels()).levels.find((l) => l.warehouseId === 'wh_a');

    it('takes effect on shard 0, which gathers only the units it lacks, from shard 1 on', async () => {
      const skuId = await shardedSku([1, 5, 5]);
      const r = await dispatchOnShards(env, skuId, 3, { opId: 'one', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 4 });
      expect(r).toMatchObject({ shard: 0, result: { ok: true, from: { onHand: 0, inTransitOut: 4 } } });
      expect((await at(skuId, 1))?.onHand).toBe(2);
      expect((await at(skuId, 2))?.onHand).toBe(5);
    });

    it('a refusal does not consume the op id: once the units are there, the same op dispatches, once', async () => {
      const skuId = await shardedSku([2, 1]);
      const input = { opId: 'later', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 5 };
      expect((await dispatchOnShards(env, skuId, 2, input)).result).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', available: 3 });
      expect(await inventoryFor(env, skuId, 1).adjust({ opId: 'receipt', warehouseId: 'wh_a', delta: 4, reason: 'receipt' })).toMatchObject({ ok: true });
      const sent = await dispatchOnShards(env, skuId, 2, input);
      expect(sent).toMatchObject({ shard: 0, result: { ok: true, transfer: { quantity: 5, status: 'in_transit' } } });
      expect(await dispatchOnShards(env, skuId, 2, input)).toEqual({ ...sent, result: { ...sent.result, replayed: true } });
      expect(await sum(skuId, 2)).toEqual({ onHand: 2, reserved: 0, available: 2 });
      // The same op id with another body after its success is refused; nothing moves.
      expect((await dispatchOnShards(env, skuId, 2, { ...input, quantity: 1 })).result).toMatchObject({ ok: false, code: 'OP_ID_REUSED' });
      expect(await sum(skuId, 2)).toEqual({ onHand: 2, reserved: 0, available: 2 });
    });

    it('gathers the warehouse onto shard 0 when no shard alone can cover it; a retry replays it and moves nothing more', async () => {
      const skuId = await shardedSku([3, 3, 3, 3]);
      const input = { opId: 'gather', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 8 };
      const r = await dispatchOnShards(env, skuId, 4, input);
      expect(r).toMatchObject({ shard: 0, result: { ok: true, transfer: { quantity: 8, status: 'in_transit' }, from: { onHand: 0, inTransitOut: 8 } } });
      expect(await sum(skuId, 4)).toEqual({ onHand: 4, reserved: 0, available: 4 });
      expect(await dispatchOnShards(env, skuId, 4, input)).toEqual({ ...r, result: { ...r.result, replayed: true } });
      expect(await sum(skuId, 4)).toEqual({ onHand: 4, reserved: 0, available: 4 });
      expect((await Promise.all([1, 2, 3].map((s) => at(skuId, s)))).map((l) => l?.onHand)).toEqual([0, 1, 3]);
      // Received on the shard that holds it: the units reach the destination, none lost or doubled.
      expect(await inventoryFor(env, skuId, r.shard).receiveTransfer({ opId: 'recv', transferId: input.transferId })).toMatchObject({ ok: true, changed: true });
      expect(await sum(skuId, 4)).toEqual({ onHand: 12, reserved: 0, available: 12 });
    });

    it('refuses with the units of all shards, moving nothing, when together they are short; reserved units never travel', async () => {
      const skuId = await shardedSku([2, 3]);
      expect(await reserveSharded(env, { skuId, shards: 2, opId: 'hold', reservationId: 'rsv_hold', ref: order(), quantity: 1 })).toMatchObject({ ok: true });
      const r = await dispatchOnShards(env, skuId, 2, { opId: 'short', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 5 });
      expect(r.result).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', available: 4 });
      expect((await at(skuId, 0))?.onHand).toBe(2);
      expect((await at(skuId, 1))?.onHand).toBe(3);
      expect(await sum(skuId, 2)).toEqual({ onHand: 5, reserved: 1, available: 4 });
    });
  });
});

describe('events (outbox)', () => {
  type OutboxRow = { seq: number; event_id: string; type: string; body: string; attempts: number; last_error: string | null };
  const outbox = (state: DurableObjectState) => state.storage.sql.exec<OutboxRow>('SELECT * FROM outbox ORDER BY seq').toArray();
  const flushDue = (state: DurableObjectState) =>
    state.storage.sql.exec<{ due_at: number; attempts: number }>("SELECT due_at, attempts FROM due WHERE kind = 'flush'").toArray()[0];
  const failing: OutboxQueue = {
    sendBatch: () => Promise.reject(new Error('queue down')),
  };
  function recording(into: EventEnvelope[]): OutboxQueue {
    return {
      sendBatch: async (messages) => {
        for (const m of messages) into.push(m.body as EventEnvelope);
      },
    };
  }

  it('writes an inventory.updated row in the transaction of the change; a refusal writes none', async () => {
    const skuId = newSku();
    const stub = inventoryFor(env, skuId);
    await runInDurableObject(stub, (instance: InventoryDurableObject, state) => {
      instance.eventsQueue = failing;
      expect(instance.setStock({ opId: 'load', warehouseId: 'wh_a', onHand: 10, reason: 'receipt' })).toMatchObject({ ok: true });
      // Synchronously after the call, no await in between: the movement and the outbox row
      // were committed with the level, and the alarm has a `flush` due time as a safety net.
      expect(state.storage.sql.exec('SELECT kind FROM movements').toArray()).toEqual([{ kind: 'set_stock:receipt' }]);
      const rows = outbox(state);
      expect(rows).toHaveLength(1);
      const event = JSON.parse(rows[0]!.body) as EventEnvelope;
      expect(event).toMatchObject({
        id: rows[0]!.event_id,
        type: 'inventory.updated',
        version: 1,
        source: 'inventory',
        subject: skuId,
        correlationId: 'load',
        aggregateVersion: 1,
        data: { sku: skuId, shard: 0, levels: [{ sku: skuId, warehouseId: 'wh_a', onHand: 10, reserved: 0, available: 10, shard: 0 }] },
      });
      expect(parseEnvelope(event).ok).toBe(true);
      expect(flushDue(state)).toBeDefined();

      // A refusal changes no stock and writes no event; a replay neither.
      expect(instance.adjust({ opId: 'too-much', warehouseId: 'wh_a', delta: -11, reason: 'damage' })).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK' });
      expect(instance.setStock({ opId: 'load', warehouseId: 'wh_a', onHand: 10, reason: 'receipt' })).toMatchObject({ ok: true });
      expect(outbox(state)).toHaveLength(1);
    });
  });

  it('keeps what the queue refused for the alarm, which sends it and clears the outbox', async () => {
    const skuId = newSku();
    const stub = inventoryFor(env, skuId);
    await runInDurableObject(stub, (instance: InventoryDurableObject) => {
      instance.eventsQueue = failing;
    });
    expect(await stub.adjust({ opId: 'rcv', warehouseId: 'wh_a', delta: 4, reason: 'receipt' })).toMatchObject({ ok: true });
    const sent: EventEnvelope[] = [];
    await vi.waitFor(() =>
      runInDurableObject(stub, (_instance: InventoryDurableObject, state) => {
        const rows = outbox(state);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ attempts: 1, last_error: 'queue down' });
        expect(flushDue(state)).toMatchObject({ attempts: 1 });
      }),
    );
    const kept = await runInDurableObject(stub, (instance: InventoryDurableObject, state) => {
      instance.eventsQueue = recording(sent);
      const previous = instance.clock;
      instance.clock = { now: () => new Date(previous.now().getTime() + FLUSH_MAX_BACKOFF_MS) };
      return outbox(state)[0]!.event_id;
    });
    expect(sent).toEqual([]);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ id: kept, type: 'inventory.updated', aggregateVersion: 1, data: { levels: [{ warehouseId: 'wh_a', onHand: 4 }] } });
    await runInDurableObject(stub, (instance: InventoryDurableObject, state) => {
      expect(outbox(state)).toEqual([]);
      // The safety net stays (attempts reset) until an alarm finds the outbox empty.
      expect(flushDue(state)).toMatchObject({ attempts: 0 });
      const previous = instance.clock;
      instance.clock = { now: () => new Date(previous.now().getTime() + FLUSH_MAX_BACKOFF_MS) };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(1);
    await runInDurableObject(stub, (_instance: InventoryDurableObject, state) => {
      expect(flushDue(state)).toBeUndefined();
    });
  });

  it('versions every change, covers expiry, and emits inventory.low_stock once when crossing the threshold', async () => {
    const skuId = newSku();
    const stub = inventoryFor(env, skuId);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: InventoryDurableObject) => {
      instance.eventsQueue = recording(sent);
    });
    await stub.setStock({ opId: 'load', warehouseId: 'wh_a', onHand: 12, reason: 'receipt' });
    expect(await stub.configureLowStock({ opId: 'low', threshold: 8 })).toEqual({ ok: true, threshold: 8 });
    await stub.reserve({ opId: 'r1', reservationId: 'res_1', ref: order(), quantity: 3, ttlSeconds: 60 }); // 9 available
    await stub.adjust({ opId: 'dmg', warehouseId: 'wh_a', delta: -2, reason: 'damage' }); // 7: crosses 8
    await stub.recordOfflineSale({ opId: 'pos', saleId: 'sale_1', warehouseId: 'wh_a', quantity: 1, soldAt: new Date().toISOString() }); // 6: still low
    await travel(stub, 61_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true); // res_1 expires: 9, above again
    await stub.adjust({ opId: 'dmg2', warehouseId: 'wh_a', delta: -3, reason: 'damage' }); // 6: crosses again
    await runInDurableObject(stub, (instance: InventoryDurableObject) => instance.flushOutbox());

    const updates = sent.filter((e) => e.type === 'inventory.updated');
    expect(updates.map((e) => e.aggregateVersion)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(updates.map((e) => (e.data as { levels: { available: number }[] }).levels[0]!.available)).toEqual([12, 9, 7, 6, 9, 6]);
    expect(updates[4]).toMatchObject({ correlationId: expect.stringMatching(/^alarm:sku:/), data: { levels: [{ onHand: 9, reserved: 0 }] } });
    const low = sent.filter((e) => e.type === 'inventory.low_stock');
    expect(low.map((e) => e.data)).toEqual([
      { sku: skuId, shard: 0, available: 7, threshold: 8 },
      { sku: skuId, shard: 0, available: 6, threshold: 8 },
    ]);
    expect(low.map((e) => e.aggregateVersion)).toEqual([3, 6]);
    expect(sent.every((e) => parseEnvelope(e).ok)).toBe(true);
  });

  it('names the shard of a sharded SKU in its events', async () => {
    const skuId = newSku();
    const stub = inventoryFor(env, skuId, 2);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: InventoryDurableObject) => {
      instance.eventsQueue = recording(sent);
    });
    await stub.setStock({ opId: 'load', warehouseId: 'wh_a', onHand: 20, reason: 'receipt' });
    await runInDurableObject(stub, (instance: InventoryDurableObject) => instance.flushOutbox());
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ subject: skuId, aggregateVersion: 1, data: { sku: skuId, shard: 2, levels: [{ shard: 2, onHand: 20 }] } });
  });
});

describe('warehouse transfers', () => {
  const trf = () => `trf_${crypto.randomUUID().replaceAll('-', '')}`;
  const level = async (stub: InventoryStub, warehouseId: string) => (await stub.levels()).levels.find((l) => l.warehouseId === warehouseId);

  it('moves available units out of the source (in transit, available nowhere), into the destination on receipt, once', async () => {
    const { stub } = await stocked({ wh_a: 10, wh_b: 2 });
    await stub.reserve({ opId: 'r1', reservationId: 'rsv_1', ref: order(), quantity: 4, allocation: [{ warehouseId: 'wh_a', quantity: 4 }] });
    const id = trf();
    // Only available units travel: 10 on hand, 4 reserved.
    expect(await stub.dispatchTransfer({ opId: 't0', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 7 })).toMatchObject({
      ok: false,
      code: 'INSUFFICIENT_STOCK',
      available: 6,
    });
    const sent = await stub.dispatchTransfer({ opId: 't1', transferId: id, fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 6, note: 'rebalance' });
    expect(sent).toMatchObject({ ok: true, transfer: { status: 'in_transit', quantity: 6 }, from: { onHand: 4, reserved: 4, available: 0, inTransitOut: 6 } });
    expect(await level(stub, 'wh_b')).toMatchObject({ onHand: 2, available: 2, inTransitOut: 0 });
    expect(await totals(stub)).toEqual({ onHand: 6, reserved: 4, available: 2 });
    // Nothing can be reserved from units in transit.
    expect(await stub.reserve({ opId: 'r2', reservationId: 'rsv_2', ref: order(), quantity: 3 })).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 2 });
    // The same op id replays; another op id on the same transfer id conflicts.
    expect(await stub.dispatchTransfer({ opId: 't1', transferId: id, fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 6, note: 'rebalance' })).toEqual({ ...sent, replayed: true });
    expect(await stub.dispatchTransfer({ opId: 't2', transferId: id, fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 1 })).toMatchObject({ ok: false, code: 'TRANSFER_CONFLICT' });

    const received = await stub.receiveTransfer({ opId: `${id}|received`, transferId: id });
    expect(received).toMatchObject({ ok: true, changed: true, transfer: { status: 'received' } });
    expect(await level(stub, 'wh_a')).toMatchObject({ onHand: 4, inTransitOut: 0 });
    expect(await level(stub, 'wh_b')).toMatchObject({ onHand: 8, available: 8 });
    expect(await stub.receiveTransfer({ opId: `${id}|received`, transferId: id })).toEqual(received);
    expect(await stub.receiveTransfer({ opId: 'again', transferId: id })).toMatchObject({ ok: true, changed: false });
    expect(await stub.cancelTransfer({ opId: 'late-cancel', transferId: id })).toMatchObject({ ok: false, code: 'TRANSFER_CLOSED' });
    expect(await totals(stub)).toEqual({ onHand: 12, reserved: 4, available: 8 });
  });

  it('a cancel returns the units to the source; a receipt after it is refused; unknown ids are NOT_FOUND', async () => {
    const { stub } = await stocked({ wh_a: 5 });
    const id = trf();
    expect(await stub.dispatchTransfer({ opId: 'd', transferId: id, fromWarehouseId: 'wh_a', toWarehouseId: 'wh_new', quantity: 5 })).toMatchObject({ ok: true });
    expect(await totals(stub)).toEqual({ onHand: 0, reserved: 0, available: 0 });
    expect(await stub.cancelTransfer({ opId: 'c', transferId: id })).toMatchObject({ ok: true, changed: true, transfer: { status: 'cancelled' } });
    expect(await level(stub, 'wh_a')).toMatchObject({ onHand: 5, available: 5, inTransitOut: 0 });
    expect(await stub.receiveTransfer({ opId: 'r', transferId: id })).toMatchObject({ ok: false, code: 'TRANSFER_CLOSED' });
    expect(await stub.receiveTransfer({ opId: 'x', transferId: trf() })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await stub.dispatchTransfer({ opId: 'self', transferId: trf(), fromWarehouseId: 'wh_a', toWarehouseId: 'wh_a', quantity: 1 })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await stub.warehouseTransfer(id)).toMatchObject({ ok: true, transfer: { status: 'cancelled', fromWarehouseId: 'wh_a', toWarehouseId: 'wh_new' } });
  });

  it('publishes the in-transit units with the levels it changed', async () => {
    const { stub } = await stocked({ wh_a: 5, wh_b: 0 });
    const id = trf();
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: InventoryDurableObject) => {
      instance.eventsQueue = { sendBatch: async (messages) => void sent.push(...[...messages].map((m) => m.body as EventEnvelope)) };
    });
    await stub.dispatchTransfer({ opId: 'd', transferId: id, fromWarehouseId: 'wh_a', toWarehouseId: 'wh_b', quantity: 3 });
    await stub.receiveTransfer({ opId: 'r', transferId: id });
    await runInDurableObject(stub, (instance: InventoryDurableObject) => instance.flushOutbox());
    const levels = sent.filter((e) => e.type === 'inventory.updated').flatMap((e) => (e.data as { levels: { warehouseId: string; onHand: number; inTransitOut?: number }[] }).levels);
    expect(levels).toContainEqual(expect.objectContaining({ warehouseId: 'wh_a', onHand: 2, inTransitOut: 3 }));
    expect(levels).toContainEqual(expect.objectContaining({ warehouseId: 'wh_b', onHand: 3 }));
    expect(levels).toContainEqual(expect.objectContaining({ warehouseId: 'wh_a', onHand: 2, inTransitOut: 0 }));
  });
});

describe('flash-sale paths', () => {
  it('a sold-out refusal the caller allows to forget is not stored: after a restock the same op id reserves', async () => {
    const { stub } = await stocked({ wh_a: 1 });
    expect(await stub.reserve({ opId: 'first', reservationId: 'rsv_first', ref: order(), quantity: 1 })).toMatchObject({ ok: true });
    const hold = { opId: 'late', reservationId: 'rsv_late', ref: order('ord_2'), quantity: 1, rememberRefusal: false };
    expect(await stub.reserve(hold)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    await runInDurableObject(stub, (_i: InventoryDurableObject, state) => {
      expect(state.storage.sql.exec("SELECT 1 FROM operations WHERE op_id = 'late'").toArray()).toHaveLength(0);
    });
    await stub.adjust({ opId: 'restock', warehouseId: 'wh_a', delta: 1, reason: 'receipt' });
    expect(await stub.reserve(hold)).toMatchObject({ ok: true, reservation: { reservationId: 'rsv_late' } });
    // The default remembers a refusal: a retry of it is refused the same way after a restock.
    const remembered = { opId: 'kept', reservationId: 'rsv_kept', ref: order('ord_3'), quantity: 1 };
    expect(await stub.reserve(remembered)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    await stub.adjust({ opId: 'restock-2', warehouseId: 'wh_a', delta: 1, reason: 'receipt' });
    expect(await stub.reserve(remembered)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
  });

  it('a retry of a stored success is answered from its op id even when sold out; an open hold asked again by its id is returned', async () => {
    const { stub } = await stocked({ wh_a: 1 });
    const hold = { opId: 'buy', reservationId: 'rsv_buy', ref: order(), quantity: 1, rememberRefusal: false };
    const first = await stub.reserve(hold);
    expect(first).toMatchObject({ ok: true });
    expect(await stub.reserve(hold)).toEqual({ ...first, replayed: true });
    expect(await stub.reserve({ ...hold, opId: 'buy-again' })).toMatchObject({ ok: true, replayed: true, reservation: { reservationId: 'rsv_buy', status: 'reserved' } });
    expect(await stub.reserve({ ...hold, opId: 'buy-more', quantity: 2 })).toMatchObject({ ok: false, code: 'RESERVATION_EXISTS' });
    expect(await totals(stub)).toEqual({ onHand: 1, reserved: 1, available: 0 });
  });

  it('concurrent reservations are committed in groups without overselling, each with its own answer', async () => {
    const { stub } = await stocked({ wh_a: 30 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => stub.reserve({ opId: `g-${i}`, reservationId: `rsv_g${i}`, ref: order(`ord_${i}`), quantity: 1, rememberRefusal: false })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(30);
    expect(results.filter((r) => !r.ok && r.code === 'OUT_OF_STOCK')).toHaveLength(70);
    expect(new Set(results.flatMap((r) => (r.ok ? [r.reservation.reservationId] : []))).size).toBe(30);
    expect(await totals(stub)).toEqual({ onHand: 30, reserved: 30, available: 0 });
    const version = await runInDurableObject(stub, (_i: InventoryDurableObject, state) => state.storage.sql.exec<{ version: number }>('SELECT version FROM aggregate').one().version);
    // One load + fewer versions than reservations: batches share a transaction and an event.
    expect(version).toBeLessThan(31);
  });

  it('an expiry due makes a sold-out object take the full path (the expired units are sold again)', async () => {
    const { stub } = await stocked({ wh_a: 1 });
    await stub.reserve({ opId: 'a', reservationId: 'rsv_a', ref: order(), quantity: 1, ttlSeconds: 30 });
    const late = { opId: 'b', reservationId: 'rsv_b', ref: order('ord_b'), quantity: 1, rememberRefusal: false };
    expect(await stub.reserve(late)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    await travel(stub, 31_000);
    expect(await stub.reserve(late)).toMatchObject({ ok: true });
    expect((await stub.reservation('rsv_a')) as { reservation: { status: string } }).toMatchObject({ reservation: { status: 'expired' } });
  });
});

describe('low stock of a sharded SKU (judged by shard 0 on the sum over the shards)', () => {
  const recorder = (into: EventEnvelope[]): OutboxQueue => ({ sendBatch: async (messages) => void into.push(...[...messages].map((m) => m.body as EventEnvelope)) });
  const lowStock = (sent: EventEnvelope[]) => sent.filter((e) => e.type === 'inventory.low_stock').map((e) => e.data);

  /** A SKU split over `n` shards, every shard's events recorded, `perShard` units in wh_a on each. */
  async function splitSku(n: number, perShard: number, threshold?: number) {
    const skuId = newSku();
    const sent: EventEnvelope[] = [];
    const stubs = Array.from({ length: n }, (_, s) => inventoryFor(env, skuId, s));
    for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => void (o.eventsQueue = recorder(sent)));
    expect(await configureShards(env, skuId, n, 'cfg')).toMatchObject({ ok: true });
    if (threshold !== undefined) expect(await stubs[0]!.configureLowStock({ opId: 'low', threshold })).toMatchObject({ ok: true });
    if (perShard > 0) for (const s of stubs.keys()) await stocked({ wh_a: perShard }, skuId, s);
    return { skuId, sent, stubs };
  }
  /** Every shard's report delivered now (they are otherwise sent a moment after a change), then every outbox relayed. */
  const settle = async (stubs: InventoryStub[]) => {
    for (const stub of stubs.slice(1)) await runInDurableObject(stub, (o: InventoryDurableObject) => o.reportAvailable());
    for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => o.flushOutbox());
  };
  const hold = (stub: InventoryStub, id: string, quantity: number) => stub.reserve({ opId: id, reservationId: `rsv_${id}`, ref: order(id), quantity });

  it('40 units over 4 shards, threshold 20: one event when the sum reaches 20, none while each shard sits at 10 or below', async () => {
    const { skuId, sent, stubs } = await splitSku(4, 10, 20);
    await settle(stubs);
    for (const [k, s] of [1, 2, 3].entries()) {
      expect(await hold(stubs[s]!, `h${k}`, 5)).toMatchObject({ ok: true }); // 35, 30, 25
      await settle(stubs);
    }
    expect(lowStock(sent)).toEqual([]);
    expect(await hold(stubs[0]!, 'h3', 5)).toMatchObject({ ok: true }); // 20: crosses
    await settle(stubs);
    expect(await hold(stubs[1]!, 'h4', 1)).toMatchObject({ ok: true }); // 19: below, no event
    await settle(stubs);
    expect(lowStock(sent)).toEqual([{ sku: skuId, shard: 0, available: 20, threshold: 20 }]);
    const low = sent.find((e) => e.type === 'inventory.low_stock')!;
    expect(parseEnvelope(low).ok).toBe(true);
  });

  it('one shard draining its own units is no warning while the SKU has plenty; the SKU crossing is, once, also when the last units leave a sibling', async () => {
    const { skuId, sent, stubs } = await splitSku(4, 10); // default threshold 5
    await settle(stubs);
    expect(await hold(stubs[1]!, 'a', 6)).toMatchObject({ ok: true }); // shard 1 at 4, the SKU at 34
    await settle(stubs);
    expect(lowStock(sent)).toEqual([]);
    for (const [k, s] of [0, 2, 3].entries()) {
      expect(await hold(stubs[s]!, `b${k}`, 9)).toMatchObject({ ok: true }); // 25, 16, 7
      await settle(stubs);
    }
    expect(await hold(stubs[2]!, 'c', 1)).toMatchObject({ ok: true }); // 6
    await settle(stubs);
    expect(lowStock(sent)).toEqual([]);
    expect(await hold(stubs[3]!, 'd', 1)).toMatchObject({ ok: true }); // 5: crosses, on shard 3
    await settle(stubs);
    expect(lowStock(sent)).toEqual([{ sku: skuId, shard: 0, available: 5, threshold: 5 }]);
  });

  it('units moving between shards (a split of 40 into 4) are counted once on the way: no event near the threshold, then one for a real crossing', async () => {
    const skuId = newSku();
    const sent: EventEnvelope[] = [];
    const stubs = Array.from({ length: 4 }, (_, s) => inventoryFor(env, skuId, s));
    for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => void (o.eventsQueue = recorder(sent)));
    await stocked({ wh_a: 40 }, skuId);
    expect(await stubs[0]!.configureLowStock({ opId: 'low', threshold: 38 })).toMatchObject({ ok: true });
    await configureShards(env, skuId, 4, 'cfg');
    const moves = await rebalanceShards(env, skuId, 4, 'spread');
    expect(moves.reduce((n, m) => n + m.moved, 0)).toBe(30);
    await settle(stubs);
    expect(lowStock(sent)).toEqual([]);
    expect(await hold(stubs[2]!, 'real', 3)).toMatchObject({ ok: true }); // 37
    await settle(stubs);
    expect(lowStock(sent)).toEqual([{ sku: skuId, shard: 0, available: 37, threshold: 38 }]);
  });

  it('a report that cannot be delivered stays owed and the alarm sends it', async () => {
    const { sent, stubs } = await splitSku(2, 10, 12);
    await settle(stubs);
    const shard1 = stubs[1]!;
    const due = () =>
      runInDurableObject(shard1, (_o: InventoryDurableObject, state) => state.storage.sql.exec<{ attempts: number }>("SELECT attempts FROM due WHERE kind = 'report'").toArray());
    await runInDurableObject(shard1, (o: InventoryDurableObject) => {
      o.shardReports = { shardAvailable: () => Promise.reject(new Error('shard 0 unreachable')) };
    });
    expect(await hold(shard1, 'x', 9)).toMatchObject({ ok: true }); // the SKU at 11
    await runInDurableObject(shard1, (o: InventoryDurableObject) => o.reportAvailable());
    expect((await due())[0]?.attempts).toBeGreaterThanOrEqual(1);
    // The report scheduled after the change has run (and failed) too: from now on only the alarm sends.
    const scheduled = () => runInDurableObject(shard1, (o: InventoryDurableObject) => (o as unknown as { reportScheduled: boolean }).reportScheduled);
    expect(await eventually(scheduled, (v) => v === false, 10_000)).toBe(false);
    for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => o.flushOutbox());
    expect(lowStock(sent)).toEqual([]);
    await runInDurableObject(shard1, (o: InventoryDurableObject) => {
      o.shardReports = null;
    });
    await travel(shard1, REPORT_MAX_BACKOFF_MS + 1);
    expect(await runDurableObjectAlarm(shard1)).toBe(true);
    expect(await due()).toEqual([{ attempts: 0 }]);
    for (const stub of stubs) await runInDurableObject(stub, (o: InventoryDurableObject) => o.flushOutbox());
    expect(lowStock(sent)).toEqual([expect.objectContaining({ available: 11, threshold: 12 })]);
    // Nothing owed any more: the next alarm drops the row (and sends nothing).
    await travel(shard1, REPORT_MAX_BACKOFF_MS + 1);
    expect(await runDurableObjectAlarm(shard1)).toBe(true);
    expect(await due()).toEqual([]);
  });
});
