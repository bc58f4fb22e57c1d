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
 *   (transfers, below) and try it once more. Otherwise OUT_OF_STOCK. After the count grew (and
 *   while the old shards may hold reservations placed under the old count: `priorShards`), the
 *   reservation first looks for itself on the old shards by its id, so a retry whose walk now
 *   starts elsewhere answers the first hold instead of holding again.
 * - Transfer (units move between shards of one SKU): `transferOut` on the giver takes available
 *   (never reserved) units off its on hand and records them in flight with the receiver's address;
 *   `transferIn` on the receiver adds them (idempotent per transferId); `ackTransfer` on the giver
 *   settles it. Units are thus never counted in two shards at once. If the caller disappears
 *   after `transferOut`, the giver's alarm redelivers (same op id as the client would use) until
 *   the receiver has them: units in flight are never lost.
 * - Commit/release go to the shard that holds the reservation (returned by the reserve); when
 *   unknown, they are sent to every shard and only the holder acts (the others answer NOT_FOUND).
 * - Staff adjustments and warehouse transfers of a sharded SKU take effect on shard 0 only, under
 *   the caller's op id, gathering the warehouse's missing units there first (transfers, above): one
 *   place and one op id per effect, so a refusal need not be stored (`adjustOnShards`,
 *   `dispatchOnShards`).
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
  type ShardConfigView,
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
  type ReserveResult,
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
 * A SKU's shard configuration (count and `priorShards`), per isolate for SHARD_CONFIG_TTL_MS, and
 * read again at once when the caller knows of a larger count than remembered (a growth it saw).
 */
export const SHARD_CONFIG_TTL_MS = 5_000;
const shardConfigs = new Map<string, { view: ShardConfigView; until: number }>();

export async function shardConfigOf(env: InventoryEnv, skuId: string, atLeast = 1): Promise<ShardConfigView> {
  const hit = shardConfigs.get(skuId);
  const now = Date.now();
  if (hit && hit.until > now && hit.view.shards >= atLeast) return hit.view;
  const view = await inventoryFor(env, skuId, 0).shardConfig();
  if (shardConfigs.size >= 10_000) shardConfigs.clear();
  shardConfigs.set(skuId, { view, until: now + SHARD_CONFIG_TTL_MS });
  return view;
}

/** Forgets a SKU's remembered shard configuration in this isolate (its count was just changed here). */
export function forgetShardConfig(skuId: string): void {
  shardConfigs.delete(skuId);
}

/**
 * Sets a SKU's shard count on shard 0. Growing is immediate (new shards start empty; run
 * `rebalanceShards` to give them units). A smaller count is refused (`SHARDS_SHRINK`): shrinking
 * would need the dropped shards drained first (their units moved to a kept shard with
 * `moveUnits`), which is not built.
 */
export async function configureShards(env: InventoryEnv, skuId: string, shards: number, opId: string) {
  forgetShardConfig(skuId);
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
   * false: a refusal is not stored (`ReserveInput.rememberRefusal`); a retry is then a fresh
   * attempt. Default true.
   */
  rememberRefusal?: boolean;
  /**
   * Shards 0..priorShards−1 may hold reservations placed before the count grew
   * (`shardConfig().priorShards`): the reservation looks for itself there first. 0 or absent: no look.
   */
  priorShards?: number;
  /** The public route's caller, written into the hold's row (`ReserveInput.owner`). Absent: the order saga's. */
  owner?: string;
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

/**
 * After a growth of the shard count, the shards of the old count may hold this reservation (placed
 * by a first attempt that walked the old count, from another start): found by its id, it is the
 * answer (the same terms) or the op id's other use (other terms). Only reads, in parallel.
 */
async function heldBefore(env: InventoryEnv, input: ShardedReserveInput): Promise<ShardedReserveResult | null> {
  const prior = Math.min(input.priorShards ?? 0, input.shards);
  if (prior <= 0) return null;
  const found = await Promise.all(range(prior).map((s) => inventoryFor(env, input.skuId, s).reservation(input.reservationId)));
  const at = found.findIndex((r) => r.ok);
  const held = found[at];
  if (!held?.ok) return null;
  const r = held.reservation;
  const same = r.quantity === input.quantity && r.ref.kind === input.ref.kind && r.ref.id === input.ref.id;
  return same ? { ok: true, shard: at, reservation: r, replayed: true } : { ok: false, code: 'OP_ID_REUSED', message: `reservation ${input.reservationId} is held on shard ${at} with other terms` };
}

async function reserveOnShards(env: InventoryEnv, input: ShardedReserveInput): Promise<ShardedReserveResult> {
  if ((input.priorShards ?? 0) > 0) {
    const earlier = await heldBefore(env, input);
    if (earlier) return earlier;
  }
  const { skuId, shards, opId, pull = true, rememberRefusal = true, priorShards: _prior, ...rest } = input;
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
    // The count this walk uses: shard 0 notes a hold placed under a count older than its own.
    shards,
    ...(rest.owner === undefined ? {} : { owner: rest.owner }),
  };
  const order = shardOrder(opId, shards);
  let reported = 0;
  let first: { available?: number; shortfall?: AllocationLine[] } | undefined;
  for (const shard of order) {
    if (memo && knownSoldOut(skuId, shard, now)) continue;
    const r = await inventoryFor(env, skuId, shard).reserve({ ...hold, opId: deriveOpId(opId, `s${shard}`) });
    if (r.ok) return asSharded(shard, r);
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
  return r.ok ? asSharded(target, r) : r;
}

/** A shard's hold as the sharded answer, a replay marked as one. */
function asSharded(shard: number, r: Extract<ReserveResult, { ok: true }>): ShardedReserveResult {
  return r.replayed ? { ok: true, shard, reservation: r.reservation, replayed: true } : { ok: true, shard, reservation: r.reservation };
}

/**
 * A staff adjustment of a SKU split over `shards` objects. It takes effect on shard 0 only, under
 * the caller's op id. A removal shard 0 cannot cover (refused without storing: the op id stays
 * free) first pulls the warehouse's missing units from the other shards into it, then is asked
 * again under the same op id. So one op id has one effect in one place: a retry finds it there,
 * and a retry of a refusal is a fresh attempt. Units are conserved whatever happens in between:
 * a move is out, in, ack, and a pulled unit stays in the SKU (on shard 0).
 */
export async function adjustOnShards(env: InventoryEnv, skuId: string, shards: number, input: AdjustInput): Promise<AdjustResult> {
  const home = inventoryFor(env, skuId, 0);
  const first = await home.adjust(input);
  if (first.ok || first.code !== 'INSUFFICIENT_STOCK' || shards <= 1 || input.delta >= 0) return first;
  const need = -input.delta - Math.max(0, first.available ?? 0);
  if ((await gather(env, skuId, shards, input.warehouseId, need, deriveOpId(input.opId, 'pull', need))) === 0) return first;
  return home.adjust(input);
}

/**
 * Moves up to `need` available units of a warehouse onto shard 0 from shards 1.. in order (partial
 * moves named `<name>|<k>`, so a retry that needs the same amount replays them instead of moving
 * more). Answers the units moved.
 */
async function gather(env: InventoryEnv, skuId: string, shards: number, warehouseId: string, need: number, name: string): Promise<number> {
  let left = need;
  for (let giver = 1; giver < shards && left > 0; giver++) {
    const moved = await moveUnits(env, { skuId, fromShard: giver, toShard: 0, quantity: left, warehouseId, transferId: deriveOpId(name, giver) });
    if (moved.ok) left -= units(moved.lines);
  }
  return need - left;
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
 * A staff transfer between warehouses (`dispatchTransfer`) of a SKU that may be split over
 * `shards` objects. It takes effect on shard 0 only, under `<opId>|s0`. When shard 0 lacks units in
 * the source warehouse (refused without storing: the op id stays free), the other shards' available
 * units there are read; if together they cover it, the missing units are gathered onto shard 0
 * (moves `<opId>|gather|<need>|<k>`, partial: units reserved meanwhile stay put) and the transfer is
 * asked again there under the same op id. One op id, one place: a retry replays the dispatch (or,
 * after a refusal, is a fresh attempt once stock has come), and nothing is dispatched twice. A
 * refusal reports the units available over all shards; when together they are short, nothing
 * moves. `shard`: the shard holding the transfer (its receipt and cancellation go there), 0.
 */
export async function dispatchOnShards(
  env: InventoryEnv,
  skuId: string,
  shards: number,
  input: DispatchTransferInput,
): Promise<{ result: DispatchTransferResult; shard: number }> {
  const home = inventoryFor(env, skuId, 0);
  const order = { ...input, opId: deriveOpId(input.opId, 's0') };
  const first = await home.dispatchTransfer(order);
  if (first.ok || first.code !== 'INSUFFICIENT_STOCK' || shards <= 1) return { result: first, shard: 0 };
  const own = Math.max(0, first.available ?? 0);
  const others = await Promise.all(range(shards - 1).map((k) => inventoryFor(env, skuId, k + 1).levels()));
  const there = others.reduce((n, v) => n + Math.max(0, v.levels.find((l) => l.warehouseId === input.fromWarehouseId)?.available ?? 0), 0);
  if (own + there < input.quantity) {
    return { result: { ok: false, code: 'INSUFFICIENT_STOCK', message: `only ${own + there} available in ${input.fromWarehouseId} across ${shards} shard(s)`, available: own + there }, shard: 0 };
  }
  const need = input.quantity - own;
  await gather(env, skuId, shards, input.fromWarehouseId, need, deriveOpId(input.opId, 'gather', need));
  return { result: await home.dispatchTransfer(order), shard: 0 };
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
    // A sharded SKU whose count grew lately looks for this reservation on its old shards first.
    const priorShards = item.shards > 1 ? (await shardConfigOf(env, item.skuId, item.shards)).priorShards : 0;
    const r = await reserveOnShards(env, {
      skuId: item.skuId,
      shards: item.shards,
      priorShards,
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
