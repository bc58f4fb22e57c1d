/**
 * Inventory rules as pure functions: no storage, no clock, no I/O. The Durable Object applies
 * them inside one synchronous transaction; the stub helper uses the sharding helpers.
 */
import type { EventEnvelope } from '../../shared/events';
import type { AdjustmentReason, AllocationLine, ReservationStatus, WarehouseDistances } from './inventory.schemas';

// ---------------------------------------------------------------------------------------------
// Levels
// ---------------------------------------------------------------------------------------------

export interface StockLevel {
  readonly warehouseId: string;
  readonly onHand: number;
  readonly reserved: number;
}

/** Units that can still be promised: on hand minus held by open reservations. */
export function available(level: Pick<StockLevel, 'onHand' | 'reserved'>): number {
  return level.onHand - level.reserved;
}

/** Units that a reservation could take right now: negative warehouses count as 0, not as debt. */
export function reservable(levels: readonly StockLevel[]): number {
  return levels.reduce((sum, l) => sum + Math.max(0, available(l)), 0);
}

export function emptyLevel(warehouseId: string): StockLevel {
  return { warehouseId, onHand: 0, reserved: 0 };
}

// ---------------------------------------------------------------------------------------------
// Object names and sharding
// ---------------------------------------------------------------------------------------------

export const SHARD_SEPARATOR = '#';

/** The Durable Object name of a SKU (shard 0 is the SKU's home object) or one of its shards. */
export function objectName(skuId: string, shard = 0): string {
  if (skuId.includes(SHARD_SEPARATOR)) throw new Error(`sku id must not contain "${SHARD_SEPARATOR}"`);
  if (!Number.isInteger(shard) || shard < 0) throw new Error(`shard must be a non-negative integer, got ${shard}`);
  return shard === 0 ? `sku:${skuId}` : `sku:${skuId}${SHARD_SEPARATOR}${shard}`;
}

/** FNV-1a, 32 bits: a stable, fast hash for spreading keys over shards. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The order in which a request visits the shards: starts at a shard chosen by hashing `key` (so
 * concurrent requests spread out, and a retry of the same op visits the same shards in the same
 * order), then walks the others in turn.
 */
export function shardOrder(key: string, shards: number): number[] {
  const start = fnv1a(key) % shards;
  return Array.from({ length: shards }, (_, i) => (start + i) % shards);
}

/** Derives a child op id from a caller's op id: deterministic, so a retried call derives the same ids. */
export function deriveOpId(opId: string, ...parts: Array<string | number>): string {
  return [opId, ...parts].join('|');
}

/** The op ids of a transfer's three steps: the client and the giving shard's alarm use the same ones. */
export const transferOutOpId = (transferId: string) => deriveOpId(transferId, 'out');
export const transferInOpId = (transferId: string) => deriveOpId(transferId, 'in');
export const transferAckOpId = (transferId: string) => deriveOpId(transferId, 'ack');

export interface ShardMove {
  from: number;
  to: number;
  quantity: number;
}

/**
 * Moves that even out reservable units across shards: every shard ends within one unit of the
 * others (the first `total % n` shards get the extra unit). A plan from a snapshot: each move is
 * executed as a partial transfer, so a shard that sold meanwhile simply gives less.
 */
export function planRebalance(reservableByShard: readonly number[]): ShardMove[] {
  const n = reservableByShard.length;
  const have = reservableByShard.map((a) => Math.max(0, a));
  const total = have.reduce((s, a) => s + a, 0);
  const target = have.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  const surplus = have.map((a, i) => a - (target[i] ?? 0));
  const moves: ShardMove[] = [];
  let giver = 0;
  for (let taker = 0; taker < n; taker++) {
    while ((surplus[taker] ?? 0) < 0) {
      while (giver < n && (surplus[giver] ?? 0) <= 0) giver++;
      if (giver >= n) return moves;
      const q = Math.min(surplus[giver] ?? 0, -(surplus[taker] ?? 0));
      moves.push({ from: giver, to: taker, quantity: q });
      surplus[giver] = (surplus[giver] ?? 0) - q;
      surplus[taker] = (surplus[taker] ?? 0) + q;
    }
  }
  return moves;
}

// ---------------------------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------------------------

export interface AllocationRequestLine {
  skuId: string;
  quantity: number;
}

/** Per SKU, the warehouses and their available units (e.g. from each SKU object's `levels()`). */
export type StockBySku = Readonly<Record<string, ReadonlyArray<{ warehouseId: string; available: number }>>>;

/** Shipping region → warehouse → distance (smaller is nearer; coarse tiers such as 0/1/2 work best). */
export type RegionDistanceTable = Readonly<Record<string, WarehouseDistances>>;

export interface AllocatedLine {
  skuId: string;
  quantity: number;
  allocation: AllocationLine[];
}

export type AllocationOutcome =
  | { ok: true; lines: AllocatedLine[]; warehouses: string[]; shipments: number }
  | { ok: false; code: 'OUT_OF_STOCK'; skuIds: string[] };

/** The distances from `region` to each warehouse; an unknown region has no preference. */
export function distancesFor(region: string, table: RegionDistanceTable): WarehouseDistances {
  return table[region] ?? {};
}

const compare = (a: number, b: number) => (a === b ? 0 : a < b ? -1 : 1);

/**
 * Picks the warehouse(s) for each line of an order, by these rules in this order:
 *
 * 1. stock available: only a warehouse with available units is considered, and a warehouse that
 *    can ship the whole line beats any split;
 * 2. nearest to the shipping region (by `distances`; a warehouse missing from it is farthest);
 * 3. fewest splits: among equally near warehouses, one already shipping another line of the order
 *    comes first, then the one able to ship the most lines of the order whole, then the one with
 *    most available units, then by id (so the result is deterministic).
 *
 * A line no single warehouse can fill is split: nearest first, with the same tie-breaks. A line
 * that all warehouses together cannot fill makes the whole outcome OUT_OF_STOCK (listing every
 * such SKU). Lines are taken in order, each consuming what it was given.
 */
export function allocateByDistance(
  lines: readonly AllocationRequestLine[],
  stock: StockBySku,
  distances: WarehouseDistances,
): AllocationOutcome {
  const left = new Map<string, Map<string, number>>();
  for (const line of lines) {
    if (left.has(line.skuId)) continue;
    const m = new Map<string, number>();
    for (const s of stock[line.skuId] ?? []) if (s.available > 0) m.set(s.warehouseId, (m.get(s.warehouseId) ?? 0) + s.available);
    left.set(line.skuId, m);
  }
  const covers = new Map<string, number>();
  for (const line of lines) {
    for (const [w, a] of left.get(line.skuId) ?? []) if (a >= line.quantity) covers.set(w, (covers.get(w) ?? 0) + 1);
  }
  const distance = (w: string) => distances[w] ?? Number.POSITIVE_INFINITY;
  const used = new Set<string>();
  const rank = (m: Map<string, number>) => (a: string, b: string) =>
    compare(distance(a), distance(b)) ||
    compare(used.has(a) ? 0 : 1, used.has(b) ? 0 : 1) ||
    compare(covers.get(b) ?? 0, covers.get(a) ?? 0) ||
    compare(m.get(b) ?? 0, m.get(a) ?? 0) ||
    (a < b ? -1 : a > b ? 1 : 0);

  const out: AllocatedLine[] = [];
  const short: string[] = [];
  for (const line of lines) {
    const m = left.get(line.skuId) ?? new Map<string, number>();
    const candidates = [...m.keys()].filter((w) => (m.get(w) ?? 0) > 0).sort(rank(m));
    const whole = candidates.find((w) => (m.get(w) ?? 0) >= line.quantity);
    let allocation: AllocationLine[];
    if (whole !== undefined) {
      allocation = [{ warehouseId: whole, quantity: line.quantity }];
    } else {
      allocation = [];
      let need = line.quantity;
      for (const w of candidates) {
        if (need === 0) break;
        const q = Math.min(need, m.get(w) ?? 0);
        allocation.push({ warehouseId: w, quantity: q });
        need -= q;
      }
      if (need > 0) {
        if (!short.includes(line.skuId)) short.push(line.skuId);
        continue;
      }
    }
    for (const a of allocation) {
      m.set(a.warehouseId, (m.get(a.warehouseId) ?? 0) - a.quantity);
      used.add(a.warehouseId);
    }
    out.push({ skuId: line.skuId, quantity: line.quantity, allocation });
  }
  if (short.length > 0) return { ok: false, code: 'OUT_OF_STOCK', skuIds: short };
  const warehouses = [...new Set(out.flatMap((l) => l.allocation.map((a) => a.warehouseId)))];
  return { ok: true, lines: out, warehouses, shipments: warehouses.length };
}

/**
 * Distances for the next SKU of an order reserved SKU by SKU (`reserveAll`): the warehouses already
 * shipping a line of it (`used`) come first among equally near ones (rule 3), and never before a
 * nearer one (rule 2). Every distance d becomes 2d for a used warehouse and 2d + 1 for the others;
 * a used warehouse missing from `distances` gets the tier beyond the farthest given, so it still
 * beats the unused warehouses missing from it (which stay missing: farthest of all).
 */
export function preferUsed(distances: WarehouseDistances | undefined, used: ReadonlySet<string>): WarehouseDistances | undefined {
  if (used.size === 0) return distances;
  const given = distances ?? {};
  const beyond = Math.max(0, ...Object.values(given)) + 1;
  const out: WarehouseDistances = {};
  for (const [w, d] of Object.entries(given)) out[w] = 2 * d + (used.has(w) ? 0 : 1);
  for (const w of used) if (!(w in given)) out[w] = 2 * beyond;
  return out;
}

/** `allocateByDistance` for an order shipping to `region`, with the caller's region → warehouse table. */
export function allocate(
  lines: readonly AllocationRequestLine[],
  stock: StockBySku,
  where: { region: string; table: RegionDistanceTable },
): AllocationOutcome {
  return allocateByDistance(lines, stock, distancesFor(where.region, where.table));
}

export type HoldPlan = { ok: true; lines: AllocationLine[] } | { ok: false; available: number; shortfall?: AllocationLine[] };

/**
 * Where one SKU object takes `quantity` units from: the caller's exact `allocation` (every line
 * must be available in full), or else its own choice by `allocateByDistance`.
 */
export function planHold(
  quantity: number,
  levels: readonly StockLevel[],
  options: { allocation?: readonly AllocationLine[]; distances?: WarehouseDistances } = {},
): HoldPlan {
  if (options.allocation) {
    const byWarehouse = new Map(levels.map((l) => [l.warehouseId, available(l)]));
    const shortfall = options.allocation
      .map((a) => ({ warehouseId: a.warehouseId, quantity: a.quantity - Math.max(0, byWarehouse.get(a.warehouseId) ?? 0) }))
      .filter((s) => s.quantity > 0);
    if (shortfall.length > 0) return { ok: false, available: reservable(levels), shortfall };
    return { ok: true, lines: options.allocation.map((a) => ({ ...a })) };
  }
  const outcome = allocateByDistance(
    [{ skuId: '_', quantity }],
    { _: levels.map((l) => ({ warehouseId: l.warehouseId, available: available(l) })) },
    options.distances ?? {},
  );
  if (!outcome.ok) return { ok: false, available: reservable(levels) };
  return { ok: true, lines: outcome.lines[0]?.allocation ?? [] };
}

// ---------------------------------------------------------------------------------------------
// Reservation state machine
// ---------------------------------------------------------------------------------------------

export type ReservationEvent = 'commit' | 'release' | 'expire';

export type Transition =
  /** Move to `to` and apply the stock effect. `expire` on a commit: expire first, then refuse. */
  | { kind: 'apply'; to: ReservationStatus }
  /** Nothing to do: the reservation is already where this event would take it (or not yet due). */
  | { kind: 'noop' }
  | { kind: 'refuse'; code: 'RESERVATION_EXPIRED' | 'RESERVATION_CLOSED'; expireFirst: boolean };

export function isExpired(now: number, expiresAt: number): boolean {
  return now >= expiresAt;
}

/**
 * reserved → committed (stock leaves), reserved → released (stock comes back), reserved → expired
 * (TTL passed; stock comes back). committed, released and expired are final. A commit at or after
 * the expiry time is refused even if the alarm has not run yet (and the reservation expires then).
 * Repeating the event that produced a final state is a no-op, not an error.
 */
export function transition(status: ReservationStatus, event: ReservationEvent, now: number, expiresAt: number): Transition {
  switch (status) {
    case 'reserved':
      if (event === 'commit') {
        return isExpired(now, expiresAt) ? { kind: 'refuse', code: 'RESERVATION_EXPIRED', expireFirst: true } : { kind: 'apply', to: 'committed' };
      }
      if (event === 'release') return { kind: 'apply', to: 'released' };
      return isExpired(now, expiresAt) ? { kind: 'apply', to: 'expired' } : { kind: 'noop' };
    case 'committed':
      return event === 'release' ? { kind: 'refuse', code: 'RESERVATION_CLOSED', expireFirst: false } : { kind: 'noop' };
    case 'released':
      return event === 'commit' ? { kind: 'refuse', code: 'RESERVATION_CLOSED', expireFirst: false } : { kind: 'noop' };
    case 'expired':
      return event === 'commit' ? { kind: 'refuse', code: 'RESERVATION_EXPIRED', expireFirst: false } : { kind: 'noop' };
  }
}

export function expiresAt(now: number, ttlSeconds: number): number {
  return now + ttlSeconds * 1000;
}

// ---------------------------------------------------------------------------------------------
// Stock changes that are facts: offline sales, adjustments, counts
// ---------------------------------------------------------------------------------------------

export interface StockChange {
  level: StockLevel;
  /** The SKU must be counted: recorded stock no longer covers what was sold or promised. */
  needsReconciliation: boolean;
}

/**
 * A POS sale that already happened offline is never refused: it takes the units off on hand even
 * below zero (the record was wrong, not the sale), and flags the SKU when availability goes negative.
 */
export function applyOfflineSale(level: StockLevel, quantity: number): StockChange {
  const next = { ...level, onHand: level.onHand - quantity };
  return { level: next, needsReconciliation: available(next) < 0 };
}

export type AdjustmentOutcome =
  | ({ ok: true } & StockChange)
  | { ok: false; code: 'INVALID_ADJUSTMENT' | 'INSUFFICIENT_STOCK'; message: string; available?: number };

/**
 * receipt and return_to_stock add units, damage removes them, cycle_count goes either way. On hand
 * never goes below zero through an adjustment (that needs a count: `setStock`). If what remains no
 * longer covers the open reservations, the change is still accepted (it is a physical fact) and the
 * SKU is flagged for reconciliation.
 */
export function applyAdjustment(level: StockLevel, delta: number, reason: AdjustmentReason): AdjustmentOutcome {
  if ((reason === 'receipt' || reason === 'return_to_stock') && delta <= 0) {
    return { ok: false, code: 'INVALID_ADJUSTMENT', message: `${reason} adds units: delta must be positive` };
  }
  if (reason === 'damage' && delta >= 0) return { ok: false, code: 'INVALID_ADJUSTMENT', message: 'damage removes units: delta must be negative' };
  const next = { ...level, onHand: level.onHand + delta };
  if (next.onHand < 0) {
    return { ok: false, code: 'INSUFFICIENT_STOCK', message: `only ${level.onHand} on hand`, available: available(level) };
  }
  return { ok: true, level: next, needsReconciliation: available(next) < 0 };
}

/** A count replaces on hand. It flags the SKU when the count does not cover open reservations. */
export function applyCount(level: StockLevel, onHand: number): StockChange {
  const next = { ...level, onHand };
  return { level: next, needsReconciliation: available(next) < 0 };
}

// ---------------------------------------------------------------------------------------------
// Transfers between shards
// ---------------------------------------------------------------------------------------------

export type TransferPlan = { ok: true; lines: AllocationLine[] } | { ok: false; available: number };

/**
 * Which units leave a shard for a sibling: only available units (never ones held by a
 * reservation), from `warehouseId` only or from the warehouses with most available first.
 * With `partial`, whatever is available up to `quantity` (possibly nothing).
 */
export function planTransferOut(
  levels: readonly StockLevel[],
  quantity: number,
  options: { warehouseId?: string; partial?: boolean } = {},
): TransferPlan {
  const pool = levels
    .filter((l) => options.warehouseId === undefined || l.warehouseId === options.warehouseId)
    .map((l) => ({ warehouseId: l.warehouseId, available: available(l) }))
    .filter((l) => l.available > 0)
    .sort((a, b) => b.available - a.available || (a.warehouseId < b.warehouseId ? -1 : 1));
  const total = pool.reduce((s, l) => s + l.available, 0);
  if (total < quantity && !options.partial) return { ok: false, available: total };
  const lines: AllocationLine[] = [];
  let need = quantity;
  for (const l of pool) {
    if (need === 0) break;
    const q = Math.min(need, l.available);
    lines.push({ warehouseId: l.warehouseId, quantity: q });
    need -= q;
  }
  return { ok: true, lines };
}

/** Lines compared as sets (order-insensitive), for transfer redelivery checks. */
export function sameLines(a: readonly AllocationLine[], b: readonly AllocationLine[]): boolean {
  const key = (ls: readonly AllocationLine[]) =>
    [...ls]
      .map((l) => `${l.warehouseId}=${l.quantity}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}

/** JSON with object keys sorted, so equal payloads serialise equally (op-id payload comparison). */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Folds the `inventory.updated` events of one relay batch into one: the newest event (highest
 * aggregate version) carrying, for every warehouse any of them mentioned, its newest level. The
 * projection loses nothing: a warehouse's newest level in the batch is its level at the newest
 * version too (a later change would have come with a later event). A flash sale then sends one
 * message per batch instead of one per reservation. Other events are sent unchanged, in order.
 */
export function coalesceUpdates(events: readonly EventEnvelope[]): EventEnvelope[] {
  const updates = events.filter((e) => e.type === 'inventory.updated');
  if (updates.length <= 1) return [...events];
  const newest = updates[updates.length - 1]!;
  const levels = new Map<string, unknown>();
  for (const e of updates) for (const l of (e.data as { levels: { warehouseId: string }[] }).levels) levels.set(l.warehouseId, l);
  const merged: EventEnvelope = { ...newest, data: { ...(newest.data as object), levels: [...levels.values()] } };
  return [...events.filter((e) => e.type !== 'inventory.updated'), merged];
}
