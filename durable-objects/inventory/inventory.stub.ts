/**
 * The one way to reach inventory objects (STYLE rule 6): `inventoryFor(env, skuId, shard?)`, plus
 * the compositions that span several objects: all-or-nothing reservation of several SKUs, the
 * sharded reservation protocol for hot SKUs, transfers and rebalancing between shards.
 *
 * Everything here is retry-safe: each step's op id is derived from the caller's op id
 * (`deriveOpId`), every object stores the first result per op id, and the choices a composition
 * makes depend only on those stored results. A retried call therefore walks the same steps, gets
 * the same answers and has exactly one effect.
 *
 * SHARDING PROTOCOL (also in README.md)
 * - A SKU has `n` shards (configured on shard 0, the object `sku:<id>`; the others are
 *   `sku:<id>#1` .. `sku:<id>#<n-1>`). Each shard owns a disjoint part of the SKU's units per
 *   warehouse and serialises its own part; the SKU's stock is the sum over its shards.
 * - A reservation lives on exactly one shard, which only reserves units it owns, in one
 *   synchronous transaction. So no unit can be promised twice, whatever the concurrency.
 * - Reserve: visit the shards in an order that starts at hash(opId) % n and walks the others;
 *   the first shard that can hold the whole quantity takes it. If all refuse but together they
 *   reported enough available units, pull the missing units into the first shard of the order
 *   (transfers, below) and try it once more. Otherwise OUT_OF_STOCK.
 * - Transfer (units move between shards of one SKU): `transferOut` on the giver takes available
 *   (never reserved) units off its on hand and records them in flight with the receiver's address;
 *   `transferIn` on the receiver adds them (idempotent per transferId); `ackTransfer` on the giver
 *   settles it. Units are thus never counted in two shards at once. If the caller disappears
 *   after `transferOut`, the giver's alarm redelivers (same op id as the client would use) until
 *   the receiver has them: units in flight are never lost.
 * - Commit/release go to the shard that holds the reservation (returned by the reserve); when
 *   unknown, they are sent to every shard and only the holder acts (the others answer NOT_FOUND).
 * - A warehouse transfer (staff) that no single shard can cover gathers the source warehouse's
 *   missing units onto shard 0 (transfers, above), then is dispatched there (`dispatchOnShards`).
 */
import {
  deriveOpId,
  objectName,
  planRebalance,
  preferUsed,
  reservable,
  shardOrder,
  transferAckOpId,
  transferInOpId,
  transferOutOpId,
  type ShardMove,
} from './inventory.logic';
import type { InventoryDurableObject } from './inventory.do';
import {
  OpId,
  ReserveAllInput,
  ShardCount,
  SkuId,
  type AdjustInput,
  type AdjustResult,
  type AllocationLine,
  type CommitInput,
  type CommitResult,
  type DispatchTransferInput,
  type DispatchTransferResult,
  type OfflineSaleInput,
  type OfflineSaleResult,
  type ReleaseInput,
  type ReleaseResult,
  type ReservationRef,
  type ReserveAllResult,
  type ShardedReservation,
  type ShardedReserveResult,
  type TransferInResult,
  type TransferOutResult,
  type WarehouseDistances,
} from './inventory.schemas';

export type InventoryEnv = Pick<Env, 'INVENTORY'>;
export type InventoryStub = DurableObjectStub<InventoryDurableObject>;

/**
 * Object ids by name, per isolate and namespace: `idFromName` hashes the name, and a flash sale
 * asks for the same few names thousands of times a second. Ids (not stubs, which belong to one
 * request) are plain values, safe to share across requests.
 */
const ids = new WeakMap<object, Map<string, DurableObjectId>>();
const ID_CACHE_LIMIT = 10_000;

/** The stub of a SKU's object (shard 0, `sku:<id>`) or of one of its shards (`sku:<id>#<n>`). */
export function inventoryFor(env: InventoryEnv, skuId: string, shard = 0): InventoryStub {
  const ns = env.INVENTORY;
  let byName = ids.get(ns);
  if (!byName) ids.set(ns, (byName = new Map()));
  const key = `${skuId}#${shard}`;
  let id = byName.get(key);
  if (!id) {
    id = ns.idFromName(objectName(SkuId.parse(skuId), shard));
    if (byName.size >= ID_CACHE_LIMIT) byName.clear();
    byName.set(key, id);
  }
  return ns.get(id);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const units = (lines: readonly AllocationLine[]) => lines.reduce((s, l) => s + l.quantity, 0);

// ---------------------------------------------------------------------------------------------
// Shard configuration and transfers
// ---------------------------------------------------------------------------------------------

/** The shard count configured for a SKU (1 when never configured). */
export async function shardCount(env: InventoryEnv, skuId: string): Promise<number> {
  return (await inventoryFor(env, skuId, 0).shardConfig()).shards;
}

/**
 * Sets a SKU's shard count on shard 0. Growing is immediate (new shards start empty; run
 * `rebalanceShards` to give them units). A smaller count is refused (`SHARDS_SHRINK`): shrinking
 * would need the dropped shards drained first (their units moved to a kept shard with
 * `moveUnits`), which is not built.
 */
export async function configureShards(env: InventoryEnv, skuId: string, shards: number, opId: string) {
  return inventoryFor(env, skuId, 0).configureShards({ opId, shards: ShardCount.parse(shards) });
}

export interface MoveUnitsInput {
  skuId: string;
  fromShard: number;
  toShard: number;
  quantity: number;
  /** Names the transfer on both shards; derive it from the caller's op id so retries reuse it. */
  transferId: string;
  warehouseId?: string;
  /** Move what the giver has, up to `quantity` (default), instead of refusing a shortfall. */
  partial?: boolean;
}

/**
 * Moves units between two shards of a SKU: out (giver), in (receiver), ack (giver). Returns the
 * lines moved (possibly none). If this call dies half way, the giver's alarm finishes the transfer.
 */
export async function moveUnits(env: InventoryEnv, input: MoveUnitsInput): Promise<TransferOutResult | TransferInResult> {
  const { skuId, fromShard, toShard, transferId } = input;
  const giver = inventoryFor(env, skuId, fromShard);
  const out = await giver.transferOut({
    opId: transferOutOpId(transferId),
    transferId,
    skuId,
    fromShard,
    toShard,
    quantity: input.quantity,
    warehouseId: input.warehouseId,
    partial: input.partial ?? true,
  });
  if (!out.ok || out.lines.length === 0) return out;
  const received = await inventoryFor(env, skuId, toShard).transferIn({ opId: transferInOpId(transferId), transferId, skuId, fromShard, toShard, lines: out.lines });
  if (!received.ok) return received;
  await giver.ackTransfer({ opId: transferAckOpId(transferId), transferId });
  return out;
}

/**
 * Evens out a sharded SKU's available units over its shards (each ends within one unit of the
 * others), from a snapshot of every shard's levels. Each move is a partial transfer, so units
 * reserved meanwhile simply stay put. Use a fresh op id per run.
 */
export async function rebalanceShards(env: InventoryEnv, skuId: string, shards: number, opId: string): Promise<Array<ShardMove & { moved: number }>> {
  const views = await Promise.all(range(shards).map((s) => inventoryFor(env, skuId, s).levels()));
  const done: Array<ShardMove & { moved: number }> = [];
  for (const move of planRebalance(views.map((v) => reservable(v.levels)))) {
    const r = await moveUnits(env, { skuId, fromShard: move.from, toShard: move.to, quantity: move.quantity, transferId: deriveOpId(opId, 'rebalance', move.from, move.to) });
    done.push({ ...move, moved: r.ok ? units(r.lines) : 0 });
  }
  return done;
}

// ---------------------------------------------------------------------------------------------
// Reservations on one SKU, sharded or not
// ---------------------------------------------------------------------------------------------

export interface ShardedReserveInput {
  skuId: string;
  /** The SKU's shard count (1: not sharded). */
  shards: number;
  opId: string;
  reservationId: string;
  ref: ReservationRef;
  quantity: number;
  ttlSeconds?: number;
  allocation?: AllocationLine[];
  distances?: WarehouseDistances;
  /** Pull units from sibling shards when no single shard has enough (default true). */
  pull?: boolean;
  /**
   * false: a shard with no unit at all refuses without a write and without storing the refusal
   * (`ReserveInput.rememberRefusal`); a retry is then a fresh attempt. Default true.
   */
  rememberRefusal?: boolean;
}

/** Reserves one SKU through its shards (see the protocol at the top). `opId`: 1..100 chars. */
export async function reserveSharded(env: InventoryEnv, input: ShardedReserveInput): Promise<ShardedReserveResult> {
  const opId = OpId.safeParse(input.opId);
  const shards = ShardCount.safeParse(input.shards);
  if (!opId.success || !shards.success) {
    return { ok: false, code: 'INVALID_INPUT', message: 'the input is not valid', issues: [{ path: opId.success ? 'shards' : 'opId', message: 'not valid' }] };
  }
  return reserveOnShards(env, input);
}

/**
 * Sold-out memo, per isolate: the shards that just answered a not-remembered reserve with "0
 * available" (SKU → shard → until when, epoch ms). For SOLD_OUT_MEMO_MS such a shard is
 * not visited again by reserves that allow it (`rememberRefusal: false`, no allocation): a flash
 * sale's thousands of late buyers get their OUT_OF_STOCK from the isolate that served them, and a
 * sharded SKU's refusals visit only the shards that may still hold units instead of all of them.
 * It can only refuse, never promise a unit, so it cannot oversell; the price is that units coming
 * back (a release, a receipt, an expiry) may be refused for up to SOLD_OUT_MEMO_MS, as a cached
 * "sold out" page would. Releases, commits and stock changes made through this isolate forget the
 * SKU's marks at once (`forgetSoldOut`).
 */
export const SOLD_OUT_MEMO_MS = 250;
const soldOutUntil = new Map<string, Map<number, number>>();
const SOLD_OUT_MEMO_LIMIT = 10_000;

/** Forgets the sold-out marks of a SKU's shards in this isolate (units may have come back). */
export function forgetSoldOut(skuId: string): void {
  soldOutUntil.delete(skuId);
}

function markSoldOut(skuId: string, shard: number, now: number): void {
  let marks = soldOutUntil.get(skuId);
  if (!marks) {
    if (soldOutUntil.size >= SOLD_OUT_MEMO_LIMIT) soldOutUntil.clear();
    soldOutUntil.set(skuId, (marks = new Map()));
  }
  marks.set(shard, now + SOLD_OUT_MEMO_MS);
}

function knownSoldOut(skuId: string, shard: number, now: number): boolean {
  const until = soldOutUntil.get(skuId)?.get(shard);
  return until !== undefined && until > now;
}

async function reserveOnShards(env: InventoryEnv, input: ShardedReserveInput): Promise<ShardedReserveResult> {
  const { skuId, shards, opId, pull = true, rememberRefusal = true, ...rest } = input;
  // Only a reserve whose refusal would not be stored may be refused from the memo (its refusal
  // is a fresh answer each time anyway); one with an allocation asks about particular warehouses.
  const memo = !rememberRefusal && !rest.allocation;
  const now = Date.now();
  const hold = {
    reservationId: rest.reservationId,
    ref: rest.ref,
    quantity: rest.quantity,
    ttlSeconds: rest.ttlSeconds,
    allocation: rest.allocation,
    distances: rest.distances,
    rememberRefusal,
  };
  const order = shardOrder(opId, shards);
  let reported = 0;
  let first: { available?: number; shortfall?: AllocationLine[] } | undefined;
  for (const shard of order) {
    if (memo && knownSoldOut(skuId, shard, now)) continue;
    const r = await inventoryFor(env, skuId, shard).reserve({ ...hold, opId: deriveOpId(opId, `s${shard}`) });
    if (r.ok) return { ok: true, shard, reservation: r.reservation };
    if (r.code !== 'OUT_OF_STOCK') return r;
    if (memo && (r.available ?? 0) <= 0 && !r.shortfall) markSoldOut(skuId, shard, now);
    reported += r.available ?? 0;
    first ??= r;
  }
  const target = order[0] ?? 0;
  if (!pull || shards === 1 || reported < hold.quantity) {
    return { ok: false, code: 'OUT_OF_STOCK', message: `only ${reported} available across ${shards} shard(s)`, available: reported };
  }
  // Pull the missing units into the first shard of the order, from its siblings in order. The
  // amounts come from the stored refusals, so a retry pulls (replays) exactly the same transfers.
  const needs = hold.allocation
    ? (first?.shortfall ?? hold.allocation).map((l) => ({ warehouseId: l.warehouseId as string | undefined, quantity: l.quantity }))
    : [{ warehouseId: undefined as string | undefined, quantity: hold.quantity - Math.max(0, first?.available ?? 0) }];
  for (const need of needs) {
    for (const giver of order.slice(1)) {
      if (need.quantity <= 0) break;
      const moved = await moveUnits(env, {
        skuId,
        fromShard: giver,
        toShard: target,
        quantity: need.quantity,
        warehouseId: need.warehouseId,
        transferId: deriveOpId(opId, 'pull', giver, need.warehouseId ?? '*'),
      });
      if (moved.ok) need.quantity -= units(moved.lines);
    }
  }
  const r = await inventoryFor(env, skuId, target).reserve({ ...hold, opId: deriveOpId(opId, `s${target}`, 'pulled') });
  return r.ok ? { ok: true, shard: target, reservation: r.reservation } : r;
}

/**
 * A staff adjustment of a SKU split over `shards` objects. It is applied on shard 0. A removal
 * shard 0 cannot cover first pulls the warehouse's missing units from the other shards into it
 * (moves named from the op id, so a retry replays them), then is applied under a derived op id.
 * Units are conserved whatever happens in between: a move is out, in, ack.
 */
export async function adjustOnShards(env: InventoryEnv, skuId: string, shards: number, input: AdjustInput): Promise<AdjustResult> {
  const first = await inventoryFor(env, skuId, 0).adjust(input);
  if (first.ok || first.code !== 'INSUFFICIENT_STOCK' || shards <= 1 || input.delta >= 0) return first;
  let need = -input.delta - Math.max(0, first.available ?? 0);
  for (let giver = 1; giver < shards && need > 0; giver++) {
    const moved = await moveUnits(env, { skuId, fromShard: giver, toShard: 0, quantity: need, warehouseId: input.warehouseId, transferId: deriveOpId(input.opId, 'pull', giver) });
    if (moved.ok) need -= units(moved.lines);
  }
  return inventoryFor(env, skuId, 0).adjust({ ...input, opId: deriveOpId(input.opId, 'pulled') });
}

/**
 * An offline sale (it already happened) of a SKU that may be sharded: when `shard` holds fewer
 * units in the warehouse than were sold, the other shards first send it what they have there
 * (moves named from the op id, so a retry replays them), then the sale is recorded on `shard`.
 * Availability goes below zero, and the SKU is flagged, only when the SKU as a whole lacks the
 * units. Unsharded (`shards` 1): the object's own `recordOfflineSale`.
 */
export async function offlineSaleOnShards(env: InventoryEnv, skuId: string, where: { shard: number; shards: number }, input: OfflineSaleInput): Promise<OfflineSaleResult> {
  const seller = inventoryFor(env, skuId, where.shard);
  if (where.shards > 1) {
    const level = (await seller.levels()).levels.find((l) => l.warehouseId === input.warehouseId);
    let need = input.quantity - Math.max(0, level?.available ?? 0);
    for (let giver = 0; giver < where.shards && need > 0; giver++) {
      if (giver === where.shard) continue;
      const moved = await moveUnits(env, { skuId, fromShard: giver, toShard: where.shard, quantity: need, warehouseId: input.warehouseId, transferId: deriveOpId(input.opId, 'pull', giver) });
      if (moved.ok) need -= units(moved.lines);
    }
  }
  return seller.recordOfflineSale(input);
}

/**
 * A staff transfer between warehouses (`dispatchTransfer`) of a SKU split over `shards` objects.
 * The shards are asked in order from 0 (op id `<opId>|s<k>`); the first that holds enough available
 * units in the source warehouse takes the transfer. If none does but together they reported enough,
 * the warehouse's missing units are gathered onto shard 0 from the others (moves
 * `<opId>|gather|<k>`, partial: units reserved meanwhile stay put) and the transfer is dispatched
 * there (`<opId>|s0|gathered`). Every amount comes from a stored result (the refusals, then each
 * move), so a retry replays the same moves and the same dispatch: nothing moves twice. Shard 0 is
 * where adjustments gather too, so staff operations running at once do not pull units away from one
 * another. A refusal reports the units available over all shards. `shard`: the shard holding the
 * transfer (its receipt and cancellation go there).
 */
export async function dispatchOnShards(
  env: InventoryEnv,
  skuId: string,
  shards: number,
  input: DispatchTransferInput,
): Promise<{ result: DispatchTransferResult; shard: number }> {
  let reported = 0;
  let first = 0;
  for (let shard = 0; shard < shards; shard++) {
    const r = await inventoryFor(env, skuId, shard).dispatchTransfer({ ...input, opId: deriveOpId(input.opId, `s${shard}`) });
    if (r.ok || r.code !== 'INSUFFICIENT_STOCK') return { result: r, shard };
    const available = Math.max(0, r.available ?? 0);
    if (shard === 0) first = available;
    reported += available;
  }
  if (shards <= 1 || reported < input.quantity) {
    return { result: { ok: false, code: 'INSUFFICIENT_STOCK', message: `only ${reported} available in ${input.fromWarehouseId} across ${shards} shard(s)`, available: reported }, shard: 0 };
  }
  let need = input.quantity - first;
  for (let giver = 1; giver < shards && need > 0; giver++) {
    const moved = await moveUnits(env, { skuId, fromShard: giver, toShard: 0, quantity: need, warehouseId: input.fromWarehouseId, transferId: deriveOpId(input.opId, 'gather', giver) });
    if (moved.ok) need -= units(moved.lines);
  }
  const r = await inventoryFor(env, skuId, 0).dispatchTransfer({ ...input, opId: deriveOpId(input.opId, 's0', 'gathered') });
  return { result: r, shard: 0 };
}

export interface ShardLocation {
  /** The shard holding the reservation, if known (from the reserve result). */
  shard?: number;
  /** The SKU's shard count, used when `shard` is unknown (default 1). */
  shards?: number;
}

/** The call on the holding shard (or on every shard, keeping the holder's answer), with the shard that answered. */
async function onHolder<R extends CommitResult | ReleaseResult>(
  env: InventoryEnv,
  skuId: string,
  where: ShardLocation,
  call: (stub: InventoryStub) => Promise<R>,
): Promise<{ result: R; shard: number }> {
  if (where.shard !== undefined) return { result: await call(inventoryFor(env, skuId, where.shard)), shard: where.shard };
  const results = await Promise.all(range(where.shards ?? 1).map((s) => call(inventoryFor(env, skuId, s))));
  const holder = results.findIndex((r) => r.ok || r.code !== 'NOT_FOUND');
  return holder >= 0 ? { result: results[holder] as R, shard: holder } : { result: results[0] as R, shard: 0 };
}

/** Commits a reservation (stock leaves) on the shard that holds it. */
export async function commitReservation(env: InventoryEnv, skuId: string, input: CommitInput, where: ShardLocation = {}): Promise<CommitResult> {
  // A commit refused as expired has released its units.
  forgetSoldOut(skuId);
  return (await onHolder(env, skuId, where, (stub) => stub.commit(input) as Promise<CommitResult>)).result;
}

/** Releases a reservation (units come back) on the shard that holds it. */
export async function releaseReservation(env: InventoryEnv, skuId: string, input: ReleaseInput, where: ShardLocation = {}): Promise<ReleaseResult> {
  return (await releaseOnShards(env, skuId, input, where)).result;
}

/**
 * `releaseReservation`, also saying which shard answered: the one given, or, when it was not
 * known, the one that held the reservation (0 when no shard knows it).
 */
export function releaseOnShards(env: InventoryEnv, skuId: string, input: ReleaseInput, where: ShardLocation = {}): Promise<{ result: ReleaseResult; shard: number }> {
  forgetSoldOut(skuId);
  return onHolder(env, skuId, where, (stub) => stub.release(input) as Promise<ReleaseResult>);
}

// ---------------------------------------------------------------------------------------------
// All-or-nothing across SKUs
// ---------------------------------------------------------------------------------------------

/**
 * Reserves several SKUs for one order or checkout, all or nothing. SKUs are reserved one after the
 * other, in the given order, each with op id `<opId>|<skuId>`; on the first refusal, every SKU
 * already reserved is released with op id `<opId>|<skuId>|undo` and the refusal is returned with
 * its SKU. A retry with the same op id replays the same answers and changes nothing more.
 *
 * If an object cannot be reached (the outcome of that call is unknown), the error is rethrown and
 * nothing is undone: retrying with the same op id finishes the protocol (replaying what was done),
 * and if nobody retries, the reservation's TTL returns the units. A release that fails during an
 * undo is likewise left to the retry or the TTL.
 */
export async function reserveAll(env: InventoryEnv, input: ReserveAllInput): Promise<ReserveAllResult> {
  const parsed = ReserveAllInput.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      code: 'INVALID_INPUT',
      message: 'the input is not valid',
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    };
  }
  const { opId, reservationId, ref, ttlSeconds, items } = parsed.data;
  const held: Array<{ skuId: string; shard?: number; shards: number }> = [];
  const undo = async () => {
    for (const h of [...held].reverse()) {
      try {
        await releaseReservation(env, h.skuId, { opId: deriveOpId(opId, h.skuId, 'undo'), reservationId, reason: 'rolled_back' }, { shard: h.shard, shards: h.shards });
      } catch {
        // Left to a retry with the same op id (it replays the undo) or to the TTL.
      }
    }
  };
  const reservations: ShardedReservation[] = [];
  // Warehouses already shipping a line of this order: preferred for the next SKUs among equally
  // near ones (fewest splits), never before a nearer one.
  const used = new Set<string>();
  for (const item of items) {
    // A thrown error (object unreachable, outcome unknown) propagates without any undo: undoing now
    // would make a retry replay "reserved" for SKUs that were in fact released. The retry with the
    // same op id finishes the protocol; if nobody retries, the TTL returns the units.
    const r = await reserveOnShards(env, {
      skuId: item.skuId,
      shards: item.shards,
      opId: deriveOpId(opId, item.skuId),
      reservationId,
      ref,
      quantity: item.quantity,
      ttlSeconds,
      allocation: item.allocation,
      distances: item.allocation ? item.distances : preferUsed(item.distances, used),
    });
    if (!r.ok) {
      await undo();
      return { ...r, skuId: item.skuId };
    }
    for (const line of r.reservation.lines) used.add(line.warehouseId);
    held.push({ skuId: item.skuId, shard: r.shard, shards: item.shards });
    reservations.push({ skuId: item.skuId, shard: r.shard, reservation: r.reservation });
  }
  return { ok: true, reservations };
}
