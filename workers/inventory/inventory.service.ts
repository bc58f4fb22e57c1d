import { createHash } from 'node:crypto';
import {
  configureShards,
  adjustOnShards,
  dispatchOnShards,
  inventoryFor,
  rebalanceShards,
  releaseOnShards,
  reserveSharded,
  forgetShardConfig,
  forgetSoldOut,
  shardConfigOf,
  type InventoryEnv,
} from '../../durable-objects/inventory/inventory.stub';
import type { CloseTransferResult, LevelsView } from '../../durable-objects/inventory/inventory.schemas';
import { recordAudit } from '../../shared/audit/audit';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { assertWarehouseAccess, mustActor } from '../../shared/http/authorize';
import type { RequestMeta } from '../../shared/http/context';
import { AppError, notFound } from '../../shared/kernel/app-error';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { distanceTier } from '../../shared/kernel/geo';
import { and, desc, eq, lt, or } from 'drizzle-orm';
import { stockAdjustments, stockTransfers } from '../../shared/db/schema/inventory';
import * as repo from './inventory.repo';
import type {
  AdjustmentInput,
  AdjustmentResult,
  Availability,
  Reservation,
  ReserveInput,
  StockLine,
  Transfer,
  TransferInput,
  TransferList,
  TransferListQuery,
  WarehouseStock,
  WarehouseStockQuery,
} from './inventory.schemas';

/**
 * Per-isolate memory of SKUs whose object is known to be loaded (and, in the stub helpers, of
 * shard configurations, trusted for a few seconds), so the reservation hot path is one Durable
 * Object call.
 */
const loadedSkus = new Set<string>();

/** A short stable digest: op ids and reservation ids derived from (caller, Idempotency-Key). */
const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

export interface InventoryDeps {
  readDb: () => AnyDb | HttpDb;
  writeDb: () => AnyDb;
  /** The INVENTORY Durable Object namespace. */
  objects: InventoryEnv;
}

/**
 * Inventory's verbs. The per-SKU Durable Object is the source of truth for stock (it serialises
 * every change); Postgres keeps warehouses and a projection. Reads that must be right (what can
 * be sold now, what staff adjust) go to the object; listing which SKUs a warehouse holds comes
 * from the projection. A SKU whose object has never held stock is loaded once from the projection
 * (available units, as the seed and imports write them), every warehouse in one call that loads
 * only an object still empty, so concurrent first reads load it once.
 */
/** Warehouses' countries, per isolate, for a minute (a warehouse opened meanwhile counts as farthest until then). */
let countries: { rows: Array<{ id: string; country: string }>; until: number } | null = null;
const COUNTRIES_TTL_MS = 60_000;

export function makeInventoryService(deps: InventoryDeps) {
  async function liveLevels(sku: string): Promise<LevelsView> {
    const stub = inventoryFor(deps.objects, sku);
    const view = await stub.levels();
    if (view.levels.length > 0) return view;
    const projected = await repo.projectedLevels(deps.readDb(), sku);
    if (projected.length === 0) return view;
    // Every warehouse in one call, which loads only an object that holds no stock yet: a change
    // that got there first (after its own first read) is never overwritten.
    await stub.loadLevels({ opId: `bootstrap:${crypto.randomUUID()}`, levels: projected.map((p) => ({ warehouseId: p.warehouseId, onHand: Math.max(0, p.onHand - p.reserved) })) });
    return stub.levels();
  }

  async function knownWarehouse(id: string) {
    const all = await repo.warehouseList(deps.readDb());
    const wh = all.find((w) => w.id === id);
    if (!wh) throw notFound('Warehouse', id);
    return { wh, all };
  }

  const line = (sku: string, v: LevelsView, warehouseId: string): StockLine => {
    const l = v.levels.find((x) => x.warehouseId === warehouseId);
    return {
      sku,
      onHand: l?.onHand ?? 0,
      reserved: l?.reserved ?? 0,
      available: l?.available ?? 0,
      inTransitOut: l?.inTransitOut ?? 0,
      needsReconciliation: v.needsReconciliation !== null,
    };
  };

  /**
   * A SKU's live levels over all its objects: shard 0's view, plus every other shard's of a
   * sharded SKU, added up per warehouse (flagged when any shard is).
   */
  async function skuLevels(sku: string): Promise<LevelsView> {
    const first = await liveLevels(sku);
    if (first.shards <= 1) return first;
    const others = await Promise.all(Array.from({ length: first.shards - 1 }, (_, i) => inventoryFor(deps.objects, sku, i + 1).levels()));
    const sum = new Map<string, { onHand: number; reserved: number; available: number; inTransitOut: number }>();
    for (const view of [first, ...others]) {
      for (const l of view.levels) {
        const t = sum.get(l.warehouseId) ?? { onHand: 0, reserved: 0, available: 0, inTransitOut: 0 };
        sum.set(l.warehouseId, { onHand: t.onHand + l.onHand, reserved: t.reserved + l.reserved, available: t.available + l.available, inTransitOut: t.inTransitOut + (l.inTransitOut ?? 0) });
      }
    }
    const levels = [...sum].map(([warehouseId, l]) => ({ warehouseId, ...l })).sort((a, b) => (a.warehouseId < b.warehouseId ? -1 : 1));
    return {
      levels,
      totals: levels.reduce((t, l) => ({ onHand: t.onHand + l.onHand, reserved: t.reserved + l.reserved, available: t.available + l.available }), { onHand: 0, reserved: 0, available: 0 }),
      needsReconciliation: [first, ...others].find((v) => v.needsReconciliation)?.needsReconciliation ?? null,
      inFlightOut: [first, ...others].reduce((n, v) => n + v.inFlightOut, 0),
      shards: first.shards,
    };
  }

  /** The transfer as Postgres records it, for a warehouse it leaves from or goes to. */
  async function transferOf(warehouseId: string, transferId: string) {
    const [row] = await deps.writeDb().select().from(stockTransfers).where(eq(stockTransfers.id, transferId)).limit(1);
    if (!row || (row.fromWarehouseId !== warehouseId && row.toWarehouseId !== warehouseId)) throw notFound('Transfer', transferId);
    return row;
  }

  const transferDto = (row: typeof stockTransfers.$inferSelect): Transfer => ({
    transferId: row.id,
    sku: row.sku,
    fromWarehouseId: row.fromWarehouseId,
    toWarehouseId: row.toWarehouseId,
    quantity: row.quantity,
    status: row.status as Transfer['status'],
    note: row.note,
    createdAt: row.createdAt.toISOString(),
    receivedAt: row.receivedAt?.toISOString() ?? null,
    cancelledAt: row.cancelledAt?.toISOString() ?? null,
  });

  /** Receive or cancel: the object decides; Postgres and the audit row follow in one transaction, once. */
  async function closeTransfer(warehouseId: string, transferId: string, to: 'received' | 'cancelled', meta: RequestMeta): Promise<Transfer> {
    const actor = mustActor(meta);
    assertWarehouseAccess(actor, warehouseId);
    const row = await transferOf(warehouseId, transferId);
    const side = to === 'received' ? row.toWarehouseId : row.fromWarehouseId;
    if (side !== warehouseId) {
      throw new AppError('FORBIDDEN', to === 'received' ? 'Only the destination warehouse receives a transfer' : 'Only the source warehouse cancels a transfer');
    }
    const stub = inventoryFor(deps.objects, row.sku, row.shard);
    forgetSoldOut(row.sku); // units arrive (received) or come back (cancelled)
    const op = { opId: `${transferId}|${to}`, transferId };
    const result: CloseTransferResult = to === 'received' ? await stub.receiveTransfer(op) : await stub.cancelTransfer(op);
    if (!result.ok) {
      if (result.code === 'TRANSFER_CLOSED') throw new AppError('CONFLICT', `Transfer ${transferId} is already ${to === 'received' ? 'cancelled' : 'received'}`);
      if (result.code === 'NOT_FOUND') throw notFound('Transfer', transferId);
      throw new AppError('VALIDATION_FAILED', result.message);
    }
    const at = new Date(result.transfer.closedAt ?? Date.now());
    const updated = await deps.writeDb().transaction(async (tx) => {
      const [moved] = await tx
        .update(stockTransfers)
        .set(to === 'received' ? { status: to, receivedAt: at } : { status: to, cancelledAt: at })
        .where(and(eq(stockTransfers.id, transferId), eq(stockTransfers.status, 'in_transit')))
        .returning();
      // Only the call that moved the record writes the audit row: a replay changes nothing.
      if (moved) {
        await recordAudit(
          tx,
          {
            action: to === 'received' ? 'inventory.transfer.received' : 'inventory.transfer.cancelled',
            outcome: 'success',
            target: { kind: 'sku', id: row.sku },
            data: { transferId, fromWarehouseId: row.fromWarehouseId, toWarehouseId: row.toWarehouseId, quantity: row.quantity },
          },
          meta,
        );
      }
      return moved;
    });
    return transferDto(updated ?? (await transferOf(warehouseId, transferId)));
  }

  /** The SKU's object holds its stock; the database is asked only when the object is empty. */
  async function ensureLoaded(sku: string): Promise<void> {
    if (loadedSkus.has(sku)) return;
    const view = await liveLevels(sku);
    if (view.levels.length === 0 && !(await repo.skuExists(deps.readDb(), sku))) throw notFound('SKU', sku);
    if (loadedSkus.size > 10_000) loadedSkus.clear();
    loadedSkus.add(sku);
  }

  /** The SKU's shard count and `priorShards` (remembered per isolate for a few seconds). */
  const shardsOf = (sku: string) => shardConfigOf(deps.objects, sku);

  return {
    /**
     * Holds units of one SKU for a checkout or an order, never more than exist (the object
     * serialises every reservation). The Idempotency-Key (per caller) fixes the op id and the
     * reservation id, so a retry answers the same reservation (`replayed`) and holds nothing more.
     * The caller is written into the hold's row as its owner: only they release it (`release`).
     */
    async reserve(sku: string, input: ReserveInput, idempotencyKey: string, meta: RequestMeta): Promise<{ reservation: Reservation; replayed: boolean }> {
      const actor = mustActor(meta);
      await ensureLoaded(sku);
      const { shards, priorShards } = await shardsOf(sku);
      const key = digest(actor.id, idempotencyKey);
      const result = await reserveSharded(deps.objects, {
        skuId: sku,
        shards,
        // After a growth: a retry finds the hold its first attempt placed under the old count.
        priorShards,
        opId: `rsv:${key}`,
        reservationId: `rsv_${key}`,
        ref: input.ref,
        quantity: input.quantity,
        ...(input.ttlSeconds ? { ttlSeconds: input.ttlSeconds } : {}),
        // One SKU, nothing to undo: a refusal is not stored (a retry tries again once stock is back).
        rememberRefusal: false,
        // In the row the reservation writes anyway: no extra statement on the hot path.
        owner: actor.id,
      });
      if (!result.ok) {
        switch (result.code) {
          case 'OUT_OF_STOCK':
            throw new AppError('OUT_OF_STOCK', `Only ${Math.max(0, result.available ?? 0)} of ${sku} can be reserved now`);
          case 'OP_ID_REUSED':
            throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different reservation');
          case 'RESERVATION_EXISTS':
            throw new AppError('CONFLICT', 'A reservation with this id exists with other terms');
          default:
            throw new AppError('VALIDATION_FAILED', result.message);
        }
      }
      const r = result.reservation;
      return {
        reservation: { reservationId: r.reservationId, sku, quantity: r.quantity, status: r.status, shard: result.shard, lines: r.lines, expiresAt: r.expiresAt },
        replayed: result.replayed === true,
      };
    },

    /**
     * Gives a reservation's units back (idempotent: releasing twice is fine). Only its owner, the
     * caller who placed it through this API, may: anyone else's hold, and an order's (placed by the
     * order saga, which alone releases it, through the object), answer 404 like an id that does not
     * exist, and nothing is freed. Admins too release only their own holds: an integration's stuck
     * hold returns by its TTL (an hour at most), and an order's is freed by cancelling the order.
     */
    async release(sku: string, reservationId: string, shard: number | undefined, meta: RequestMeta): Promise<Reservation> {
      const actor = mustActor(meta);
      const { shards } = await shardsOf(sku);
      // Without ?shard every shard is asked and only the holder acts: the answer names that one.
      // The op id is the caller's own: a refusal of someone else is not stored under it either.
      const { result, shard: holder } = await releaseOnShards(
        deps.objects,
        sku,
        { opId: `release:${reservationId}:${actor.id}`, reservationId, reason: 'cancelled', owner: actor.id },
        shard === undefined ? { shards } : { shard },
      );
      if (!result.ok) {
        if (result.code === 'NOT_FOUND') throw notFound('Reservation', reservationId);
        if (result.code === 'RESERVATION_CLOSED') throw new AppError('CONFLICT', result.message);
        throw new AppError('VALIDATION_FAILED', result.message);
      }
      const r = result.reservation;
      return { reservationId: r.reservationId, sku, quantity: r.quantity, status: r.status, shard: holder, lines: r.lines, expiresAt: r.expiresAt };
    },

    /** Splits a hot SKU's stock over `shards` objects and spreads its units evenly (admins). */
    async setShards(sku: string, shards: number, meta: RequestMeta) {
      mustActor(meta);
      await ensureLoaded(sku);
      const op = `shards:${shards}:${Date.now()}`;
      const configured = await configureShards(deps.objects, sku, shards, op);
      if (!configured.ok) throw new AppError('CONFLICT', configured.message);
      const moves = await rebalanceShards(deps.objects, sku, shards, `${op}:rebalance`);
      forgetShardConfig(sku);
      await recordAudit(deps.writeDb(), { action: 'inventory.shards.configured', outcome: 'success', target: { kind: 'sku', id: sku }, data: { shards, moves } }, meta);
      return { sku, shards, moves: moves.map((m) => ({ from: m.from, to: m.to, moved: m.moved })) };
    },

    /**
     * How far each warehouse is from a shipping country, in the tiers allocation uses (0 the same
     * country, 1 the same continent, 2 elsewhere; docs/inventory.md, "Warehouse allocation").
     */
    async distancesTo(country: string): Promise<Record<string, number>> {
      if (!countries || countries.until <= Date.now()) countries = { rows: await repo.warehouseCountries(deps.readDb()), until: Date.now() + COUNTRIES_TTL_MS };
      return Object.fromEntries(countries.rows.map((w) => [w.id, distanceTier(country, w.country)]));
    },

    /** Public availability per warehouse, live from the SKU's object (never oversold, never stale). */
    async availability(sku: string): Promise<Availability> {
      if (!(await repo.skuExists(deps.readDb(), sku))) throw notFound('SKU', sku);
      const [first, all] = await Promise.all([liveLevels(sku), repo.warehouseList(deps.readDb())]);
      // A sharded SKU's units are spread over its shards: add them up per warehouse, then count a
      // warehouse below zero (an offline sale that oversold) as 0, as the projection does.
      const others = first.shards > 1 ? await Promise.all(Array.from({ length: first.shards - 1 }, (_, i) => inventoryFor(deps.objects, sku, i + 1).levels())) : [];
      const perWarehouse = new Map<string, number>();
      for (const view of [first, ...others]) for (const l of view.levels) perWarehouse.set(l.warehouseId, (perWarehouse.get(l.warehouseId) ?? 0) + l.available);
      const byId = new Map(all.map((w) => [w.id, w]));
      const warehouses = [...perWarehouse].map(([warehouseId, available]) => ({
        warehouseId,
        code: byId.get(warehouseId)?.code ?? null,
        region: byId.get(warehouseId)?.region ?? null,
        available: Math.max(0, available),
      }));
      return { sku, available: warehouses.reduce((s, w) => s + w.available, 0), warehouses };
    },

    /** A warehouse's SKUs (from the projection), each with its live level (from its object). */
    async warehouseStock(warehouseId: string, q: WarehouseStockQuery, meta: RequestMeta): Promise<WarehouseStock> {
      assertWarehouseAccess(mustActor(meta), warehouseId);
      await knownWarehouse(warehouseId);
      const fp = fingerprint({ warehouseId });
      const after = q.cursor ? decodeCursor<{ sku: string }>(q.cursor, fp, { sku: 'string' }).sku : undefined;
      const skus = await repo.skusIn(deps.readDb(), warehouseId, q.limit, after);
      const page = skus.slice(0, q.limit);
      const items = await Promise.all(page.map(async (sku) => line(sku, await skuLevels(sku), warehouseId)));
      const last = page[page.length - 1];
      return { warehouseId, items, nextCursor: skus.length > q.limit && last ? encodeCursor({ sku: last }, fp) : null };
    },

    /**
     * A stock adjustment with a reason code. The Idempotency-Key (per caller) becomes the
     * object's op id: a retry with the same body has one effect and the same answer (`replayed`);
     * the same key with another body is 422. Audited after the object has applied it.
     */
    async adjust(warehouseId: string, input: AdjustmentInput, idempotencyKey: string, meta: RequestMeta): Promise<{ adjustment: AdjustmentResult; replayed: boolean }> {
      const actor = mustActor(meta);
      assertWarehouseAccess(actor, warehouseId);
      await knownWarehouse(warehouseId);
      if (!(await repo.skuExists(deps.readDb(), input.sku))) throw notFound('SKU', input.sku);
      await liveLevels(input.sku);
      // Scoped to the SKU: one key sent for two SKUs is two adjustments, each applied, recorded and audited once.
      const opId = `adjust:${actor.id}:${digest(input.sku, idempotencyKey)}`;
      forgetSoldOut(input.sku);
      // Not the isolate's cached count: staff adjustments are rare, and a split just made must count.
      const shards = (await inventoryFor(deps.objects, input.sku).shardConfig()).shards;
      const result = await adjustOnShards(deps.objects, input.sku, shards, {
        opId,
        warehouseId,
        delta: input.delta,
        reason: input.reason,
        ...(input.note ? { note: input.note } : {}),
      });
      if (!result.ok) {
        switch (result.code) {
          case 'OP_ID_REUSED':
            throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different adjustment');
          case 'INSUFFICIENT_STOCK':
            throw new AppError('INSUFFICIENT_STOCK', result.message);
          case 'INVALID_ADJUSTMENT':
            throw new AppError('UNPROCESSABLE', result.message, { errors: [{ path: 'body.delta', message: result.message }] });
          default:
            throw new AppError('VALIDATION_FAILED', result.message);
        }
      }
      // The level this adjustment left on its object (a replay: the one its first call left), not a
      // later one; for a sharded SKU plus the other shards' levels in that warehouse now. Computed
      // before the audit row, which records the same (warehouse-wide) on hand as the answer.
      const l = result.level;
      const views = await Promise.all(Array.from({ length: shards }, (_, i) => inventoryFor(deps.objects, input.sku, i).levels()));
      const others = views.slice(1).map((v) => line(input.sku, v, warehouseId));
      const add = (k: 'onHand' | 'reserved' | 'available' | 'inTransitOut', own: number) => others.reduce((sum, o) => sum + o[k], own);
      const level: StockLine = {
        sku: input.sku,
        onHand: add('onHand', l.onHand),
        reserved: add('reserved', l.reserved),
        available: add('available', l.available),
        inTransitOut: add('inTransitOut', l.inTransitOut ?? 0),
        needsReconciliation: result.needsReconciliation || views.some((v) => v.needsReconciliation !== null),
      };
      // The ledger row and its audit row, once per op id: a replayed Idempotency-Key finds the row
      // (the object replayed its stored result) and writes no second audit row. If the first call
      // failed before this transaction, its retry writes both.
      await deps.writeDb().transaction(async (tx) => {
        const [fresh] = await tx
          .insert(stockAdjustments)
          .values({ id: opId, sku: input.sku, warehouseId, delta: input.delta, reason: input.reason, note: input.note ?? null, actorId: actor.id, createdAt: new Date() })
          .onConflictDoNothing({ target: stockAdjustments.id })
          .returning({ id: stockAdjustments.id });
        if (!fresh) return;
        await recordAudit(
          tx,
          {
            action: 'inventory.stock.adjusted',
            outcome: 'success',
            target: { kind: 'sku', id: input.sku },
            data: { warehouseId, delta: input.delta, reason: input.reason, idempotencyKey, onHand: level.onHand },
          },
          meta,
        );
      });
      // `replayed`: the object answered this op id's stored result (the route marks it Idempotent-Replayed).
      return { adjustment: { warehouseId, sku: input.sku, delta: input.delta, reason: input.reason, level }, replayed: result.replayed === true };
    },

    /**
     * Sends units from one warehouse (staff bound to it, or admin) to another: available units
     * leave the source's on hand now and are in transit (available nowhere) until the destination
     * receives them or the source cancels. The SKU's object decides (shard 0 of a sharded SKU, once
     * the source's missing units were gathered onto it: `dispatchOnShards`); the Postgres record
     * (with that shard, where receipt and cancellation go) and its audit row follow in one
     * transaction, once per Idempotency-Key (a retry: the same transfer, `replayed`).
     */
    async transfer(warehouseId: string, input: TransferInput, idempotencyKey: string, meta: RequestMeta): Promise<{ transfer: Transfer; replayed: boolean }> {
      const actor = mustActor(meta);
      assertWarehouseAccess(actor, warehouseId);
      if (input.toWarehouseId === warehouseId) throw new AppError('UNPROCESSABLE', 'A warehouse cannot transfer to itself', { errors: [{ path: 'body.toWarehouseId', message: 'must differ from the source warehouse' }] });
      const { all } = await knownWarehouse(warehouseId);
      if (!all.some((w) => w.id === input.toWarehouseId)) throw notFound('Warehouse', input.toWarehouseId);
      if (!(await repo.skuExists(deps.readDb(), input.sku))) throw notFound('SKU', input.sku);
      await liveLevels(input.sku);
      // Scoped to the SKU: one key sent for two SKUs is two transfers, each with its own record.
      const key = digest(actor.id, input.sku, idempotencyKey);
      const transferId = `trf_${key}`;
      const order = { transferId, fromWarehouseId: warehouseId, toWarehouseId: input.toWarehouseId, quantity: input.quantity, ...(input.note ? { note: input.note } : {}) };
      // Not the isolate's cached count (as for adjustments): a split just made must count.
      const shards = (await inventoryFor(deps.objects, input.sku).shardConfig()).shards;
      // A sharded SKU: on shard 0, the warehouse's missing units gathered there first (moves named
      // from the op id and the amount, so a retry replays them, never moves twice).
      const sent = await dispatchOnShards(deps.objects, input.sku, shards, { ...order, opId: `transfer:${key}` });
      const r = sent.result;
      if (!r.ok) {
        if (r.code === 'OP_ID_REUSED') throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different transfer');
        if (r.code === 'INSUFFICIENT_STOCK') throw new AppError('INSUFFICIENT_STOCK', `Only ${Math.max(0, r.available ?? 0)} of ${input.sku} are available in warehouse ${warehouseId}`);
        throw new AppError(r.code === 'TRANSFER_CONFLICT' ? 'CONFLICT' : 'VALIDATION_FAILED', r.message);
      }
      const t = r.transfer;
      await deps.writeDb().transaction(async (tx) => {
        const [fresh] = await tx
          .insert(stockTransfers)
          .values({
            id: transferId,
            sku: input.sku,
            fromWarehouseId: warehouseId,
            toWarehouseId: input.toWarehouseId,
            quantity: input.quantity,
            status: 'in_transit',
            shard: sent.shard,
            note: input.note ?? null,
            createdBy: actor.id,
            createdAt: new Date(t.createdAt),
          })
          .onConflictDoNothing({ target: stockTransfers.id })
          .returning({ id: stockTransfers.id });
        if (!fresh) return; // a replay: recorded and audited by the first call
        await recordAudit(
          tx,
          {
            action: 'inventory.transfer.dispatched',
            outcome: 'success',
            target: { kind: 'sku', id: input.sku },
            data: { transferId, fromWarehouseId: warehouseId, toWarehouseId: input.toWarehouseId, quantity: input.quantity, idempotencyKey, shard: sent.shard },
          },
          meta,
        );
      });
      // `replayed`: the object answered this op id's stored dispatch (the route marks it Idempotent-Replayed).
      return { transfer: transferDto(await transferOf(warehouseId, transferId)), replayed: r.replayed === true };
    },

    /** The destination (staff bound to it, or admin) has the units: they join its on hand. Idempotent. */
    receiveTransfer(warehouseId: string, transferId: string, meta: RequestMeta): Promise<Transfer> {
      return closeTransfer(warehouseId, transferId, 'received', meta);
    },

    /** The source (staff bound to it, or admin) takes back units still in transit. Idempotent. */
    cancelTransfer(warehouseId: string, transferId: string, meta: RequestMeta): Promise<Transfer> {
      return closeTransfer(warehouseId, transferId, 'cancelled', meta);
    },

    /** A warehouse's transfers (out of it, into it, or both), newest first. */
    async listTransfers(warehouseId: string, q: TransferListQuery, meta: RequestMeta): Promise<TransferList> {
      assertWarehouseAccess(mustActor(meta), warehouseId);
      await knownWarehouse(warehouseId);
      const fp = fingerprint({ warehouseId, direction: q.direction, status: q.status ?? null });
      const after = q.cursor ? decodeCursor<{ at: string; id: string }>(q.cursor, fp, { at: 'time', id: 'string' }) : undefined;
      const side =
        q.direction === 'out'
          ? eq(stockTransfers.fromWarehouseId, warehouseId)
          : q.direction === 'in'
            ? eq(stockTransfers.toWarehouseId, warehouseId)
            : or(eq(stockTransfers.fromWarehouseId, warehouseId), eq(stockTransfers.toWarehouseId, warehouseId));
      const at = after ? new Date(after.at) : undefined;
      const rows = await deps
        .writeDb()
        .select()
        .from(stockTransfers)
        .where(
          and(
            side,
            q.status ? eq(stockTransfers.status, q.status) : undefined,
            at && after ? or(lt(stockTransfers.createdAt, at), and(eq(stockTransfers.createdAt, at), lt(stockTransfers.id, after.id))) : undefined,
          ),
        )
        .orderBy(desc(stockTransfers.createdAt), desc(stockTransfers.id))
        .limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        warehouseId,
        items: page.map(transferDto),
        nextCursor: rows.length > q.limit && last ? encodeCursor({ at: last.createdAt.toISOString(), id: last.id }, fp) : null,
      };
    },

    /** One transfer out of or into the warehouse. */
    async getTransfer(warehouseId: string, transferId: string, meta: RequestMeta): Promise<Transfer> {
      assertWarehouseAccess(mustActor(meta), warehouseId);
      return transferDto(await transferOf(warehouseId, transferId));
    },
  };
}

export type InventoryService = ReturnType<typeof makeInventoryService>;
