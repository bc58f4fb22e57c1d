import { describe, expect, it } from 'vitest';
import {
  preferUsed,
  coalesceUpdates,
  allocate,
  allocateByDistance,
  applyAdjustment,
  applyCount,
  applyOfflineSale,
  available,
  deriveOpId,
  fnv1a,
  objectName,
  planHold,
  planRebalance,
  planTransferOut,
  reservable,
  sameLines,
  shardOrder,
  stableJson,
  transition,
  type RegionDistanceTable,
} from './inventory.logic';
import { ReserveInput, TransferOutInput } from './inventory.schemas';
import { INVENTORY_MIGRATIONS } from './inventory.migrations';

const lvl = (warehouseId: string, onHand: number, reserved = 0) => ({ warehouseId, onHand, reserved });

describe('levels', () => {
  it('available is on hand minus reserved, and may be negative', () => {
    expect(available({ onHand: 10, reserved: 3 })).toBe(7);
    expect(available({ onHand: 2, reserved: 3 })).toBe(-1);
  });

  it('reservable counts a negative warehouse as zero, not as debt against the others', () => {
    expect(reservable([lvl('a', 5, 1), lvl('b', 0, 2)])).toBe(4);
  });
});

describe('object names', () => {
  it('shard 0 is the SKU home object; others carry #n', () => {
    expect(objectName('var_1')).toBe('sku:var_1');
    expect(objectName('var_1', 0)).toBe('sku:var_1');
    expect(objectName('var_1', 3)).toBe('sku:var_1#3');
  });

  it('refuses a sku id containing the separator and a bad shard', () => {
    expect(() => objectName('a#1')).toThrow();
    expect(() => objectName('a', -1)).toThrow();
    expect(() => objectName('a', 1.5)).toThrow();
  });
});

describe('sharding helpers', () => {
  it('visits every shard once, starting from a stable hash of the key', () => {
    const order = shardOrder('op-1', 4);
    expect([...order].sort()).toEqual([0, 1, 2, 3]);
    expect(order[0]).toBe(fnv1a('op-1') % 4);
    expect(shardOrder('op-1', 4)).toEqual(order);
    expect(order).toEqual([0, 1, 2, 3].map((i) => (order[0]! + i) % 4));
  });

  it('spreads keys over shards', () => {
    const starts = new Set(Array.from({ length: 200 }, (_, i) => shardOrder(`op-${i}`, 4)[0]));
    expect(starts).toEqual(new Set([0, 1, 2, 3]));
  });

  it('derives child op ids deterministically', () => {
    expect(deriveOpId('op', 'var_1', 's2')).toBe('op|var_1|s2');
    expect(deriveOpId('op', 'pull', 3)).toBe(deriveOpId('op', 'pull', 3));
  });

  it('plans a rebalance that leaves every shard within one unit', () => {
    const moves = planRebalance([100, 0, 0, 0]);
    const after = [100, 0, 0, 0];
    for (const m of moves) {
      after[m.from]! -= m.quantity;
      after[m.to]! += m.quantity;
      expect(m.quantity).toBeGreaterThan(0);
    }
    expect(after).toEqual([25, 25, 25, 25]);
    expect(planRebalance([10, 10])).toEqual([]);
  });

  it('rebalances uneven totals and treats negative shards as empty', () => {
    const start = [7, -3, 0];
    const after = start.map((a) => Math.max(0, a));
    for (const m of planRebalance(start)) {
      after[m.from]! -= m.quantity;
      after[m.to]! += m.quantity;
    }
    expect(after).toEqual([3, 2, 2]);
  });
});

describe('preferUsed (the next SKU of an order reserved SKU by SKU)', () => {
  it('nothing used yet: the distances as given', () => {
    const d = { AMS: 0, NJ: 2 };
    expect(preferUsed(d, new Set())).toBe(d);
    expect(preferUsed(undefined, new Set())).toBeUndefined();
  });

  it('a used warehouse wins a tie, never against a nearer one', () => {
    // AMS and FRA equally near, FRA used: FRA first. NJ used but farther: still after both.
    expect(preferUsed({ AMS: 1, FRA: 1, NJ: 2 }, new Set(['FRA', 'NJ']))).toEqual({ AMS: 3, FRA: 2, NJ: 4 });
    const planned = allocateByDistance([{ skuId: 'B', quantity: 1 }], { B: [{ warehouseId: 'AMS', available: 9 }, { warehouseId: 'FRA', available: 1 }, { warehouseId: 'NJ', available: 9 }] }, preferUsed({ AMS: 1, FRA: 1, NJ: 2 }, new Set(['FRA', 'NJ']))!);
    expect(planned.ok && planned.lines[0]!.allocation).toEqual([{ warehouseId: 'FRA', quantity: 1 }]);
    const nearer = allocateByDistance([{ skuId: 'B', quantity: 1 }], { B: [{ warehouseId: 'AMS', available: 9 }, { warehouseId: 'NJ', available: 9 }] }, preferUsed({ AMS: 0, NJ: 2 }, new Set(['NJ']))!);
    expect(nearer.ok && nearer.lines[0]!.allocation).toEqual([{ warehouseId: 'AMS', quantity: 1 }]);
  });

  it('without distances (no shipping address): the used warehouses before all others', () => {
    expect(preferUsed(undefined, new Set(['NJ']))).toEqual({ NJ: 2 });
    expect(preferUsed({ AMS: 0 }, new Set(['NJ']))).toEqual({ AMS: 1, NJ: 2 });
    const planned = allocateByDistance([{ skuId: 'B', quantity: 1 }], { B: [{ warehouseId: 'AMS', available: 6 }, { warehouseId: 'NJ', available: 3 }] }, preferUsed(undefined, new Set(['NJ']))!);
    expect(planned.ok && planned.lines[0]!.allocation).toEqual([{ warehouseId: 'NJ', quantity: 1 }]);
  });
});

describe('allocate', () => {
  const table: RegionDistanceTable = {
    'eu-west': { wh_dub: 0, wh_fra: 1, wh_bom: 2 },
    'in-south': { wh_bom: 0, wh_fra: 1, wh_dub: 2 },
  };

  it('takes the nearest warehouse that can ship the whole line', () => {
    const out = allocate([{ skuId: 'a', quantity: 2 }], { a: [{ warehouseId: 'wh_bom', available: 9 }, { warehouseId: 'wh_dub', available: 5 }] }, { region: 'eu-west', table });
    expect(out).toEqual({ ok: true, lines: [{ skuId: 'a', quantity: 2, allocation: [{ warehouseId: 'wh_dub', quantity: 2 }] }], warehouses: ['wh_dub'], shipments: 1 });
    const india = allocate([{ skuId: 'a', quantity: 2 }], { a: [{ warehouseId: 'wh_bom', available: 9 }, { warehouseId: 'wh_dub', available: 5 }] }, { region: 'in-south', table });
    expect(india.ok && india.lines[0]!.allocation).toEqual([{ warehouseId: 'wh_bom', quantity: 2 }]);
  });

  it('stock first: skips a nearer warehouse without enough, rather than splitting', () => {
    const out = allocate(
      [{ skuId: 'a', quantity: 5 }],
      { a: [{ warehouseId: 'wh_dub', available: 3 }, { warehouseId: 'wh_fra', available: 5 }] },
      { region: 'eu-west', table },
    );
    expect(out.ok && out.lines[0]!.allocation).toEqual([{ warehouseId: 'wh_fra', quantity: 5 }]);
  });

  it('splits nearest first only when no warehouse can ship the line whole', () => {
    const out = allocate(
      [{ skuId: 'a', quantity: 8 }],
      { a: [{ warehouseId: 'wh_bom', available: 6 }, { warehouseId: 'wh_dub', available: 3 }, { warehouseId: 'wh_fra', available: 4 }] },
      { region: 'eu-west', table },
    );
    expect(out.ok && out.lines[0]!.allocation).toEqual([
      { warehouseId: 'wh_dub', quantity: 3 },
      { warehouseId: 'wh_fra', quantity: 4 },
      { warehouseId: 'wh_bom', quantity: 1 },
    ]);
  });

  it('among equally near warehouses, keeps the order in as few shipments as possible', () => {
    const tied = { x: { wh_1: 1, wh_2: 1 } };
    // wh_2 can ship both lines; wh_1 only the first. Both lines should go from wh_2.
    const out = allocateByDistance(
      [
        { skuId: 'a', quantity: 1 },
        { skuId: 'b', quantity: 1 },
      ],
      { a: [{ warehouseId: 'wh_1', available: 50 }, { warehouseId: 'wh_2', available: 1 }], b: [{ warehouseId: 'wh_2', available: 1 }] },
      tied.x,
    );
    expect(out).toMatchObject({ ok: true, warehouses: ['wh_2'], shipments: 1 });
  });

  it('prefers a warehouse already used by the order over an equally near one', () => {
    const out = allocateByDistance(
      [
        { skuId: 'a', quantity: 1 },
        { skuId: 'b', quantity: 1 },
      ],
      { a: [{ warehouseId: 'wh_2', available: 1 }], b: [{ warehouseId: 'wh_1', available: 9 }, { warehouseId: 'wh_2', available: 1 }] },
      { wh_1: 0, wh_2: 0 },
    );
    expect(out.ok && out.lines.map((l) => l.allocation[0]!.warehouseId)).toEqual(['wh_2', 'wh_2']);
  });

  it('nearest still beats fewer shipments', () => {
    const out = allocate(
      [
        { skuId: 'a', quantity: 1 },
        { skuId: 'b', quantity: 1 },
      ],
      { a: [{ warehouseId: 'wh_fra', available: 1 }], b: [{ warehouseId: 'wh_dub', available: 1 }, { warehouseId: 'wh_fra', available: 1 }] },
      { region: 'eu-west', table },
    );
    expect(out).toMatchObject({ ok: true, shipments: 2 });
  });

  it('lines of the same SKU consume what earlier lines took', () => {
    const out = allocateByDistance(
      [
        { skuId: 'a', quantity: 3 },
        { skuId: 'a', quantity: 3 },
      ],
      { a: [{ warehouseId: 'w1', available: 4 }, { warehouseId: 'w2', available: 2 }] },
      { w1: 0, w2: 1 },
    );
    expect(out.ok && out.lines.map((l) => l.allocation)).toEqual([[{ warehouseId: 'w1', quantity: 3 }], [{ warehouseId: 'w1', quantity: 1 }, { warehouseId: 'w2', quantity: 2 }]]);
  });

  it('is OUT_OF_STOCK, naming every short SKU, when stock cannot cover a line', () => {
    const out = allocate(
      [
        { skuId: 'a', quantity: 5 },
        { skuId: 'b', quantity: 1 },
        { skuId: 'c', quantity: 1 },
      ],
      { a: [{ warehouseId: 'wh_dub', available: 4 }], b: [{ warehouseId: 'wh_dub', available: 1 }], c: [] },
      { region: 'eu-west', table },
    );
    expect(out).toEqual({ ok: false, code: 'OUT_OF_STOCK', skuIds: ['a', 'c'] });
  });

  it('an unknown region or warehouse has no distance preference, and stays deterministic', () => {
    const out = allocate([{ skuId: 'a', quantity: 1 }], { a: [{ warehouseId: 'w_b', available: 2 }, { warehouseId: 'w_a', available: 2 }] }, { region: 'mars', table });
    expect(out.ok && out.lines[0]!.allocation).toEqual([{ warehouseId: 'w_a', quantity: 1 }]);
  });
});

describe('planHold (inside one SKU object)', () => {
  it('without an allocation, picks by distance and available', () => {
    expect(planHold(2, [lvl('w1', 5, 4), lvl('w2', 3)], { distances: { w1: 0, w2: 1 } })).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 2 }] });
    expect(planHold(2, [lvl('w1', 5, 4), lvl('w2', 3)])).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 2 }] });
    expect(planHold(4, [lvl('w1', 5, 4), lvl('w2', 3)])).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 3 }, { warehouseId: 'w1', quantity: 1 }] });
  });

  it('refuses when all warehouses together are short, reporting what could be taken', () => {
    expect(planHold(5, [lvl('w1', 5, 4), lvl('w2', 3), lvl('w3', 0, 2)])).toEqual({ ok: false, available: 4 });
  });

  it('with an allocation, every line must be available in full; the shortfall is reported per warehouse', () => {
    expect(planHold(3, [lvl('w1', 2), lvl('w2', 1)], { allocation: [{ warehouseId: 'w1', quantity: 2 }, { warehouseId: 'w2', quantity: 1 }] })).toEqual({
      ok: true,
      lines: [{ warehouseId: 'w1', quantity: 2 }, { warehouseId: 'w2', quantity: 1 }],
    });
    expect(planHold(4, [lvl('w1', 2), lvl('w2', 1)], { allocation: [{ warehouseId: 'w1', quantity: 2 }, { warehouseId: 'w9', quantity: 2 }] })).toEqual({
      ok: false,
      available: 3,
      shortfall: [{ warehouseId: 'w9', quantity: 2 }],
    });
  });
});

describe('reservation transitions', () => {
  const T = 1_000_000;
  it('reserved → committed before expiry, refused (and expired) at or after it', () => {
    expect(transition('reserved', 'commit', T - 1, T)).toEqual({ kind: 'apply', to: 'committed' });
    expect(transition('reserved', 'commit', T, T)).toEqual({ kind: 'refuse', code: 'RESERVATION_EXPIRED', expireFirst: true });
  });

  it('reserved → released at any time; → expired only once due', () => {
    expect(transition('reserved', 'release', T + 5, T)).toEqual({ kind: 'apply', to: 'released' });
    expect(transition('reserved', 'expire', T, T)).toEqual({ kind: 'apply', to: 'expired' });
    expect(transition('reserved', 'expire', T - 1, T)).toEqual({ kind: 'noop' });
  });

  it('final states: repeating is a no-op, the opposite is refused', () => {
    expect(transition('committed', 'commit', T, T)).toEqual({ kind: 'noop' });
    expect(transition('committed', 'release', 0, T)).toEqual({ kind: 'refuse', code: 'RESERVATION_CLOSED', expireFirst: false });
    expect(transition('committed', 'expire', T + 1, T)).toEqual({ kind: 'noop' });
    expect(transition('released', 'release', 0, T)).toEqual({ kind: 'noop' });
    expect(transition('released', 'commit', 0, T)).toEqual({ kind: 'refuse', code: 'RESERVATION_CLOSED', expireFirst: false });
    expect(transition('expired', 'commit', 0, T)).toEqual({ kind: 'refuse', code: 'RESERVATION_EXPIRED', expireFirst: false });
    expect(transition('expired', 'release', 0, T)).toEqual({ kind: 'noop' });
    expect(transition('expired', 'expire', T + 1, T)).toEqual({ kind: 'noop' });
  });
});

describe('stock facts', () => {
  it('an offline sale is applied even below zero and flags the SKU', () => {
    expect(applyOfflineSale(lvl('w', 5, 1), 3)).toEqual({ level: lvl('w', 2, 1), needsReconciliation: false });
    expect(applyOfflineSale(lvl('w', 2, 1), 3)).toEqual({ level: lvl('w', -1, 1), needsReconciliation: true });
  });

  it('adjustments respect the sign of their reason', () => {
    expect(applyAdjustment(lvl('w', 5), 3, 'receipt')).toEqual({ ok: true, level: lvl('w', 8), needsReconciliation: false });
    expect(applyAdjustment(lvl('w', 5), 1, 'return_to_stock')).toMatchObject({ ok: true, level: lvl('w', 6) });
    expect(applyAdjustment(lvl('w', 5), -3, 'receipt')).toMatchObject({ ok: false, code: 'INVALID_ADJUSTMENT' });
    expect(applyAdjustment(lvl('w', 5), -1, 'return_to_stock')).toMatchObject({ ok: false, code: 'INVALID_ADJUSTMENT' });
    expect(applyAdjustment(lvl('w', 5), 2, 'damage')).toMatchObject({ ok: false, code: 'INVALID_ADJUSTMENT' });
    expect(applyAdjustment(lvl('w', 5), -2, 'cycle_count')).toMatchObject({ ok: true, level: lvl('w', 3) });
    expect(applyAdjustment(lvl('w', 5), 2, 'cycle_count')).toMatchObject({ ok: true, level: lvl('w', 7) });
  });

  it('an adjustment never takes on hand below zero, but may leave reservations uncovered (flagged)', () => {
    expect(applyAdjustment(lvl('w', 2), -3, 'damage')).toEqual({ ok: false, code: 'INSUFFICIENT_STOCK', message: 'only 2 on hand', available: 2 });
    expect(applyAdjustment(lvl('w', 5, 4), -2, 'damage')).toEqual({ ok: true, level: lvl('w', 3, 4), needsReconciliation: true });
  });

  it('a count replaces on hand and flags a count below the reservations', () => {
    expect(applyCount(lvl('w', 5, 2), 9)).toEqual({ level: lvl('w', 9, 2), needsReconciliation: false });
    expect(applyCount(lvl('w', 5, 2), 1)).toEqual({ level: lvl('w', 1, 2), needsReconciliation: true });
  });
});

describe('transfers', () => {
  it('takes only available units, most available warehouse first', () => {
    expect(planTransferOut([lvl('w1', 5, 4), lvl('w2', 3)], 3)).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 3 }] });
    expect(planTransferOut([lvl('w1', 5, 4), lvl('w2', 3)], 4)).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 3 }, { warehouseId: 'w1', quantity: 1 }] });
    expect(planTransferOut([lvl('w1', 5, 4), lvl('w2', 3)], 5)).toEqual({ ok: false, available: 4 });
  });

  it('partial takes what there is (possibly nothing); warehouseId restricts the source', () => {
    expect(planTransferOut([lvl('w1', 5, 4), lvl('w2', 3)], 9, { partial: true })).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 3 }, { warehouseId: 'w1', quantity: 1 }] });
    expect(planTransferOut([lvl('w1', 1, 1)], 2, { partial: true })).toEqual({ ok: true, lines: [] });
    expect(planTransferOut([lvl('w1', 5), lvl('w2', 3)], 2, { warehouseId: 'w2' })).toEqual({ ok: true, lines: [{ warehouseId: 'w2', quantity: 2 }] });
  });

  it('compares lines as sets', () => {
    expect(sameLines([{ warehouseId: 'a', quantity: 1 }, { warehouseId: 'b', quantity: 2 }], [{ warehouseId: 'b', quantity: 2 }, { warehouseId: 'a', quantity: 1 }])).toBe(true);
    expect(sameLines([{ warehouseId: 'a', quantity: 1 }], [{ warehouseId: 'a', quantity: 2 }])).toBe(false);
  });
});

describe('payload fingerprint', () => {
  it('ignores key order but not values', () => {
    expect(stableJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: 3 } })).toBe(stableJson({ a: { c: 3, d: [2, { x: 2, y: 1 }] }, b: 1 }));
    expect(stableJson({ a: 1 })).not.toBe(stableJson({ a: 2 }));
  });
});

describe('schemas', () => {
  const base = { opId: 'op-1', reservationId: 'rsv_1', ref: { kind: 'order' as const, id: 'ord_1' }, quantity: 2 };

  it('defaults the TTL to 900 s and bounds it to 30 s .. the longest payment deadline (7 days) + 15 min', () => {
    expect(ReserveInput.parse(base).ttlSeconds).toBe(900);
    expect(ReserveInput.safeParse({ ...base, ttlSeconds: 29 }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, ttlSeconds: 7 * 86_400 + 900 }).success).toBe(true);
    expect(ReserveInput.safeParse({ ...base, ttlSeconds: 7 * 86_400 + 901 }).success).toBe(false);
  });

  it('needs positive whole quantities, an allocation adding up, and no repeated warehouse', () => {
    expect(ReserveInput.safeParse({ ...base, quantity: 0 }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, quantity: 1.5 }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, allocation: [{ warehouseId: 'w1', quantity: 1 }] }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, allocation: [{ warehouseId: 'w1', quantity: 1 }, { warehouseId: 'w1', quantity: 1 }] }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, allocation: [{ warehouseId: 'w1', quantity: 1 }, { warehouseId: 'w2', quantity: 1 }] }).success).toBe(true);
  });

  it('bounds op ids and refuses a shard transferring to itself', () => {
    expect(ReserveInput.safeParse({ ...base, opId: '' }).success).toBe(false);
    expect(ReserveInput.safeParse({ ...base, opId: 'x'.repeat(257) }).success).toBe(false);
    expect(TransferOutInput.safeParse({ opId: 'o', transferId: 't', skuId: 's', fromShard: 1, toShard: 1, quantity: 1 }).success).toBe(false);
  });
});

describe('migrations', () => {
  it('are a list of uniquely named, non-empty steps', () => {
    const names = INVENTORY_MIGRATIONS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names[0]).toBe('0001_inventory_core');
    for (const m of INVENTORY_MIGRATIONS) expect(m.sql.trim()).not.toBe('');
  });
});

describe('coalesceUpdates (outbox relay)', () => {
  const env = (seq: number, type: string, data: unknown) =>
    ({ id: `evt_${seq}`, type, version: 1, occurredAt: '2026-11-24T00:00:00.000Z', correlationId: 'c', source: 'inventory', aggregateVersion: seq, data }) as never;
  const level = (warehouseId: string, onHand: number) => ({ sku: 'S', shard: 0, warehouseId, onHand, reserved: 0, available: onHand });

  it('sends one inventory.updated per batch: the newest version with every warehouse at its newest level', () => {
    const out = coalesceUpdates([
      env(1, 'inventory.updated', { sku: 'S', shard: 0, levels: [level('A', 10), level('B', 5)] }),
      env(2, 'inventory.low_stock', { sku: 'S', available: 4 }),
      env(3, 'inventory.updated', { sku: 'S', shard: 0, levels: [level('A', 9)] }),
      env(4, 'inventory.updated', { sku: 'S', shard: 0, levels: [level('A', 8)] }),
    ]) as unknown as { id: string; type: string; aggregateVersion: number; data: { levels: { warehouseId: string; onHand: number }[] } }[];
    expect(out.map((e) => e.type)).toEqual(['inventory.low_stock', 'inventory.updated']);
    const merged = out[1]!;
    expect(merged.id).toBe('evt_4');
    expect(merged.aggregateVersion).toBe(4);
    expect(merged.data.levels.map((l) => [l.warehouseId, l.onHand])).toEqual([
      ['A', 8],
      ['B', 5],
    ]);
  });

  it('leaves a batch with at most one update as it is', () => {
    const one = [env(1, 'inventory.updated', { sku: 'S', shard: 0, levels: [level('A', 1)] })];
    expect(coalesceUpdates(one)).toEqual(one);
  });
});
