import { DurableObject } from 'cloudflare:workers';
import type { z } from 'zod';
import { InventoryLowStock, InventoryUpdated, type EventEnvelope } from '../../shared/events';
import { systemClock, type Clock } from '../../shared/kernel/clock';
import {
  applyAdjustment,
  applyCount,
  applyOfflineSale,
  available,
  coalesceUpdates,
  emptyLevel,
  expiresAt,
  objectName,
  planHold,
  planTransferOut,
  sameLines,
  stableJson,
  transferInOpId,
  transition,
  type StockLevel,
} from './inventory.logic';
import { applyMigrations } from '../sqlite-migrations';
import { INVENTORY_MIGRATIONS } from './inventory.migrations';
import {
  AckTransferInput,
  AdjustInput,
  CloseTransferInput,
  DispatchTransferInput,
  LoadLevelsInput,
  WarehouseTransferId,
  CommitInput,
  ConfigureLowStockInput,
  ConfigureShardsInput,
  OfflineSaleInput,
  ReleaseInput,
  ReservationId,
  ReserveInput,
  SetStockInput,
  ShardAvailableInput,
  TransferInInput,
  TransferOutInput,
  type AckTransferResult,
  type AdjustResult,
  type LoadLevelsResult,
  type CloseTransferResult,
  type DispatchTransferResult,
  type WarehouseTransferStatus,
  type WarehouseTransferView,
  type AllocationLine,
  type CommitResult,
  type ConfigureLowStockResult,
  type ConfigureShardsResult,
  type InventoryErrorCode,
  type Level,
  type LevelsView,
  type OfflineSaleResult,
  type ReleaseResult,
  type ReservationStatus,
  type ReservationView,
  type ReserveResult,
  type SetStockResult,
  type ShardAvailableResult,
  type ShardConfigView,
  type TransferInResult,
  type TransferOutResult,
  type AvailabilityView,
} from './inventory.schemas';

/** How long op ids (and closed reservations, settled transfers) are kept for replay. */
export const OP_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How long the movement ledger is kept in the object (the projection reads it well before). */
export const MOVEMENT_RETENTION_MS = 30 * 24 * 3600 * 1000;
/** How often the alarm prunes while there is something to prune. */
export const PRUNE_EVERY_MS = 6 * 3600 * 1000;
/** Grace before the giving shard redelivers a transfer nobody acknowledged, and the backoff cap. */
export const DELIVERY_GRACE_MS = 30_000;
export const DELIVERY_MAX_BACKOFF_MS = 3600_000;

export const RECONCILIATION_FLAG = 'needs_reconciliation';

/**
 * Available units (over the SKU's warehouses, summed over its shards) at or below which
 * `inventory.low_stock` is emitted. A sharded SKU's threshold is shard 0's.
 */
export const LOW_STOCK_DEFAULT_THRESHOLD = 5;
/**
 * A shard > 0 reports its available units to shard 0 this long after a change (the changes in
 * between go in the same report: one report, not one per reservation, in a flash sale), and the
 * alarm retries a report that did not arrive from REPORT_GRACE_MS on, doubling up to the cap.
 */
export const REPORT_DEBOUNCE_MS = 250;
export const REPORT_GRACE_MS = 10_000;
export const REPORT_MAX_BACKOFF_MS = 5 * 60_000;
/** A receiver lists the sibling transfers it received this recently in its reports. */
export const RECEIVED_REPORT_WINDOW_MS = 3600_000;
/**
 * How long after a growth of the shard count a reservation still looks for itself on the old
 * shards: while its op id is kept there (OP_RETENTION_MS) and its hold may last (the longest TTL).
 */
export const GROWTH_LOOKBACK_MS = 7 * 24 * 3600 * 1000 + (7 * 86_400 + 15 * 60) * 1000;
/**
 * The outbox relay: every outbox row is written with a `flush` due time this far ahead (the
 * safety net if the relay right after the commit does not finish); a refused send backs off
 * from it, doubling, up to the cap.
 */
export const FLUSH_GRACE_MS = 10_000;
export const FLUSH_MAX_BACKOFF_MS = 5 * 60_000;
/** Messages per `sendBatch` (Queues accepts up to 100 and 256 KB). */
export const OUTBOX_BATCH = 50;

/** Where a shard > 0 reports its available units (shard 0's `shardAvailable`). */
export interface ShardReportSink {
  shardAvailable(input: ShardAvailableInput): Promise<ShardAvailableResult> | ShardAvailableResult;
}

/** The queue side of the outbox relay (env.EVENTS). */
export interface OutboxQueue {
  sendBatch(messages: Iterable<MessageSendRequest>): Promise<unknown>;
}

type Failure<C extends InventoryErrorCode> = {
  ok: false;
  code: C;
  message: string;
  available?: number;
  shortfall?: AllocationLine[];
  status?: ReservationStatus;
  issues?: { path: string; message: string }[];
};

function fail<C extends InventoryErrorCode>(code: C, message: string, extra: Omit<Failure<C>, 'ok' | 'code' | 'message'> = {}): Failure<C> {
  return { ok: false, code, message, ...extra };
}

function invalid(error: z.ZodError): Failure<'INVALID_INPUT'> {
  return fail('INVALID_INPUT', 'the input is not valid', {
    issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

type StockMemo = { reservable: number | null; nextExpiry: number | null; shards: number | null };
type InFlight = { transferId: string; units: number };
type LevelRow = { warehouse_id: string; on_hand: number; reserved: number; in_transit_out: number };
type WarehouseTransferRow = {
  id: string;
  from_warehouse_id: string;
  to_warehouse_id: string;
  quantity: number;
  status: WarehouseTransferStatus;
  note: string | null;
  created_at: number;
  closed_at: number | null;
};
type ReservationRow = {
  id: string;
  ref_kind: 'order' | 'checkout';
  ref_id: string;
  quantity: number;
  status: ReservationStatus;
  created_at: number;
  expires_at: number;
  closed_at: number | null;
  close_reason: string | null;
  /** The public route's caller who placed it (ReserveInput.owner); null: the order saga's. */
  owner: string | null;
};
type TransferRow = {
  id: string;
  direction: 'out' | 'in';
  sku_id: string;
  from_shard: number;
  to_shard: number;
  lines: string;
  status: 'in_flight' | 'delivered' | 'received';
};

const iso = (ms: number) => new Date(ms).toISOString();

/** A parsed reservation request without its delivery options (what the op id's payload stores). */
type ReserveTerms = Omit<z.output<typeof ReserveInput>, 'rememberRefusal' | 'shards' | 'owner'>;
/**
 * How a queued reservation is kept: its refusal stored or not, the shard count it walked with, and
 * the public route's caller written into its row (null: the order saga's hold).
 */
type ReserveHow = { remember: boolean; walked: number | undefined; owner: string | null };

/**
 * One SKU (or one shard of a hot SKU): on hand, reserved and available per warehouse, the
 * reservations holding units, and everything needed to make each operation happen exactly once.
 *
 * Rules (STYLE rule 6): reached only through `inventory.stub.ts`; typed RPC methods, no fetch;
 * SQLite with append-only migrations run in `blockConcurrencyWhile`; every read-modify-write is one
 * `transactionSync` with no await inside (so calls are serialised and atomic, and a thrown error
 * rolls the whole call back); op ids persisted here; one alarm, driven by the `due` table.
 *
 * Every mutating method takes an `opId`. The first call's result is stored with it; a later call
 * with the same op id and the same payload gets that stored result back and changes nothing; the
 * same op id with another payload (or another method) is refused with OP_ID_REUSED. Refusals
 * (OUT_OF_STOCK, ...) are stored too, so a retried multi-step protocol replays identically.
 * Invalid input is refused with INVALID_INPUT and not stored.
 *
 * Every stock change also writes, in its transaction, an `inventory.updated` outbox row (and
 * `inventory.low_stock` on a downward crossing), relayed to env.EVENTS after the commit and by
 * the alarm until the queue has it (README.md, "Events").
 */
export class InventoryDurableObject extends DurableObject<Env> {
  /** The time source. Tests move it through `runInDurableObject`. */
  clock: Clock = systemClock;
  /** Where the outbox is relayed (null: env.EVENTS). Tests swap it through `runInDurableObject`. */
  eventsQueue: OutboxQueue | null = null;
  /** Where this shard's reports go (null: shard 0 through env.INVENTORY). Tests swap it through `runInDurableObject`. */
  shardReports: ShardReportSink | null = null;
  /** The alarm time this object last set (null: none). Read back from storage on start. */
  private alarmAt: number | null = null;
  /** The outbox relay in progress, if any (one at a time per object). */
  private relaying: Promise<void> | null = null;
  /**
   * Reservable units (null: no warehouse row), the next expiry and the shard count, as of the
   * last write (null: read them again). Every change of stock goes through `write`, which drops it.
   */
  private stock: StockMemo | null = null;
  /** Reservations waiting for the next group commit (`drainReservations`). */
  private reserveQueue: Array<{ terms: ReserveTerms; how: ReserveHow; resolve: (r: ReserveResult) => void; reject: (e: unknown) => void }> = [];
  /** This object's SKU and shard (from its name), read once. */
  private who: { sku: string; shard: number; name: string } | null = null;
  /** Shard 0 of a sharded SKU: judges low stock on the sum over the shards (null: ask storage). */
  private judging: boolean | null = null;
  /** A shard > 0 owes shard 0 a report of its available units (set in `tracked`, sent after the commit). */
  private reportOwed = false;
  /** A report to shard 0 is scheduled (debounced) or on its way. */
  private reportScheduled = false;
  /** `shardCount()`, read once (null: read it). */
  private shards: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, INVENTORY_MIGRATIONS);
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  /** On hand, reserved and available per warehouse, with totals, the reconciliation flag and shard count. */
  levels(): LevelsView {
    return this.fresh(() => {
      const levels = this.allLevels().map(toLevel);
      const totals = levels.reduce(
        (t, l) => ({ onHand: t.onHand + l.onHand, reserved: t.reserved + l.reserved, available: t.available + l.available }),
        { onHand: 0, reserved: 0, available: 0 },
      );
      const flag = this.sql.exec<{ raised_at: number; reason: string }>('SELECT raised_at, reason FROM flags WHERE name = ?', RECONCILIATION_FLAG).toArray()[0];
      const inFlightOut = this.sql
        .exec<TransferRow>("SELECT * FROM transfers WHERE direction = 'out' AND status = 'in_flight'")
        .toArray()
        .reduce((s, t) => s + linesOf(t).reduce((q, l) => q + l.quantity, 0), 0);
      return { levels, totals, needsReconciliation: flag ? { raisedAt: iso(flag.raised_at), reason: flag.reason } : null, inFlightOut, shards: this.shardCount() };
    });
  }

  /**
   * What a reservation could take now (negative warehouses count as 0), whether the object holds
   * stock at all, and the shard count: the cart's availability check, from memory between writes.
   */
  availability(): AvailabilityView {
    this.fresh(() => undefined);
    const stock = this.stockMemo();
    return { available: stock.reservable ?? 0, stocked: stock.reservable !== null, shards: stock.shards ?? 1 };
  }

  /** One reservation (any status), or NOT_FOUND. */
  reservation(reservationId: string): { ok: true; reservation: ReservationView } | Failure<'NOT_FOUND' | 'INVALID_INPUT'> {
    const id = ReservationId.safeParse(reservationId);
    if (!id.success) return invalid(id.error);
    return this.fresh(() => {
      const row = this.reservationRow(id.data);
      return row ? { ok: true as const, reservation: this.reservationView(row) } : fail('NOT_FOUND', `no reservation ${id.data}`);
    });
  }

  /**
   * The shard count configured for this SKU (kept by shard 0; 1 when never configured), and how
   * many of its shards a reservation must look on first because the count grew lately while they
   * may hold reservations placed under the older count (`priorShards`, 0: none).
   */
  shardConfig(): ShardConfigView {
    const prior = this.sql
      .exec<{ n: number | null }>('SELECT MAX(from_shards) AS n FROM shard_growth WHERE prior = 1 AND at > ?', this.now() - GROWTH_LOOKBACK_MS)
      .one().n;
    return { shards: this.shardCount(), priorShards: prior ?? 0 };
  }

  // ---------------------------------------------------------------------------------------------
  // Stock facts
  // ---------------------------------------------------------------------------------------------

  /** Sets on hand for a warehouse (initial load or a cycle count). A count that covers every open reservation clears the reconciliation flag. */
  setStock(input: SetStockInput): SetStockResult {
    return this.once('setStock', SetStockInput, input, (i, now) => {
      const before = this.level(i.warehouseId);
      const change = applyCount(before, i.onHand);
      this.saveLevel(change.level, now);
      this.movement(now, `set_stock:${i.reason}`, i.warehouseId, change.level.onHand - before.onHand, 0, null, i.opId);
      const anyNegative = this.allLevels().some((l) => l.on_hand - l.reserved < 0);
      if (anyNegative) this.raiseFlag(now, 'count below open reservations');
      else if (i.reason === 'cycle_count') this.sql.exec('DELETE FROM flags WHERE name = ?', RECONCILIATION_FLAG);
      return { ok: true as const, level: toLevel(change.level) };
    });
  }

  /**
   * The first load from the Postgres projection (the seed, imports): every warehouse in one step,
   * and only while the object holds no stock at all. So a change that reaches the object between
   * two first reads is never overwritten by a load, and concurrent first reads load it once.
   */
  loadLevels(input: LoadLevelsInput): LoadLevelsResult {
    return this.once('loadLevels', LoadLevelsInput, input, (i, now) => {
      if (this.allLevels().length > 0) return { ok: true as const, loaded: false };
      for (const l of i.levels) {
        const before = this.level(l.warehouseId);
        const change = applyCount(before, l.onHand);
        this.saveLevel(change.level, now);
        this.movement(now, 'set_stock:receipt', l.warehouseId, change.level.onHand - before.onHand, 0, null, i.opId);
      }
      return { ok: true as const, loaded: true };
    });
  }

  /** Adds or removes units for a reason (receipt, return_to_stock: +; damage: −; cycle_count: ±). */
  adjust(input: AdjustInput): AdjustResult {
    return this.once(
      'adjust',
      AdjustInput,
      input,
      (i, now) => {
        const outcome = applyAdjustment(this.level(i.warehouseId), i.delta, i.reason);
        if (!outcome.ok) return fail(outcome.code, outcome.message, outcome.available === undefined ? {} : { available: outcome.available });
        this.saveLevel(outcome.level, now);
        this.movement(now, `adjust:${i.reason}`, i.warehouseId, i.delta, 0, i.note ?? null, i.opId);
        if (outcome.needsReconciliation) this.raiseFlag(now, `${i.reason} left less than is reserved`);
        // A count that leaves every warehouse covering its reservations settles the flag, as setStock does.
        else if (i.reason === 'cycle_count' && !this.allLevels().some((l) => l.on_hand - l.reserved < 0)) this.sql.exec('DELETE FROM flags WHERE name = ?', RECONCILIATION_FLAG);
        return { ok: true as const, level: toLevel(outcome.level), needsReconciliation: outcome.needsReconciliation };
      },
      keepUnlessShort,
      true,
    );
  }

  /**
   * A sale a POS made offline. Always accepted, even when it drives availability below zero: the
   * SKU is then flagged for reconciliation instead.
   */
  recordOfflineSale(input: OfflineSaleInput): OfflineSaleResult {
    return this.once('recordOfflineSale', OfflineSaleInput, input, (i, now) => {
      const change = applyOfflineSale(this.level(i.warehouseId), i.quantity);
      this.saveLevel(change.level, now);
      this.movement(now, 'offline_sale', i.warehouseId, -i.quantity, 0, `${i.saleId}@${i.soldAt}`, i.opId);
      if (change.needsReconciliation) this.raiseFlag(now, `offline sale ${i.saleId} oversold`);
      return { ok: true as const, level: toLevel(change.level), needsReconciliation: change.needsReconciliation };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Reservations
  // ---------------------------------------------------------------------------------------------

  /** Holds units for an order or a checkout until committed, released or expired (TTL, default 900 s). */
  reserve(input: ReserveInput): ReserveResult | Promise<ReserveResult> {
    const parsed = ReserveInput.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    const refused = this.soldOut(parsed.data, this.now());
    if (refused) return refused;
    // `rememberRefusal`, `shards` and `owner` say how the call is kept, not what is held: not part
    // of the stored payload (the owner is already in the op id and the reservation id it derives).
    const { rememberRefusal, shards, owner, ...terms } = parsed.data;
    return new Promise<ReserveResult>((resolve, reject) => {
      this.reserveQueue.push({ terms, how: { remember: rememberRefusal, walked: shards, owner: owner ?? null }, resolve, reject });
      if (this.reserveQueue.length === 1) setTimeout(() => this.drainReservations(), 0);
    });
  }

  /**
   * Group commit: the reservations that arrived meanwhile, in arrival order, in ONE storage
   * transaction (one commit for the batch, so one output-gate wait instead of one per call, and
   * one `inventory.updated` event for the batch). Each runs in its own savepoint with its own op
   * id, so one that throws is rolled back alone and only its caller gets the error. Under load the
   * batches grow by themselves (whatever queued while the previous commit was in flight).
   */
  private drainReservations(): void {
    const batch = this.reserveQueue.splice(0);
    if (batch.length === 0) return;
    const now = this.now();
    let outcomes: Array<{ ok: true; value: ReserveResult } | { ok: false; error: unknown }>;
    try {
      outcomes = this.write(
        () =>
          batch.map(({ terms, how }) => {
            try {
              // A refusal the caller lets go is not stored: the op id stays free for a retry once
              // stock is back (as a sold-out refusal answered without a write already was).
              const keep = (r: ReserveResult) => how.remember || r.ok || r.code !== 'OUT_OF_STOCK';
              return { ok: true as const, value: this.ctx.storage.transactionSync(() => this.onceBody('reserve', terms, (i) => this.reserveNow(i, now, how), now, keep, true)) };
            } catch (error) {
              return { ok: false as const, error };
            }
          }),
        now,
        batch.length === 1 ? batch[0]!.terms.opId : `${batch[0]!.terms.opId} (+${batch.length - 1})`,
      );
    } catch (error) {
      for (const b of batch) b.reject(error);
      return;
    }
    outcomes.forEach((o, k) => (o.ok ? batch[k]!.resolve(o.value) : batch[k]!.reject(o.error)));
  }

  /** One reservation, inside the caller's transaction. `how.walked`: the shard count the caller walked with; `how.owner`: who placed it through the API. */
  private reserveNow(i: ReserveTerms, now: number, how: ReserveHow): ReserveResult {
    const { walked, owner } = how;
    const existing = this.reservationRow(i.reservationId);
    if (existing) {
      // The same open hold asked for again under another op id (a sharded retry whose first
      // visits were answered "sold out" without being stored): the same terms get it back, a replay.
      const same = existing.status === 'reserved' && existing.ref_kind === i.ref.kind && existing.ref_id === i.ref.id && existing.quantity === i.quantity;
      return same ? { ok: true as const, reservation: this.reservationView(existing), replayed: true as const } : fail('RESERVATION_EXISTS', `reservation ${i.reservationId} already exists`);
    }
    const plan = planHold(i.quantity, this.allLevels().map(fromRow), { allocation: i.allocation, distances: i.distances });
    if (!plan.ok) {
      return fail('OUT_OF_STOCK', `only ${plan.available} available`, plan.shortfall ? { available: plan.available, shortfall: plan.shortfall } : { available: plan.available });
    }
    const expires = expiresAt(now, i.ttlSeconds);
    this.sql.exec(
      // The owner rides in the row written anyway: no extra statement on the hot path.
      "INSERT INTO reservations (id, ref_kind, ref_id, quantity, status, created_at, expires_at, owner) VALUES (?, ?, ?, ?, 'reserved', ?, ?, ?)",
      i.reservationId,
      i.ref.kind,
      i.ref.id,
      i.quantity,
      now,
      expires,
      owner,
    );
    for (const line of plan.lines) {
      this.sql.exec('INSERT INTO reservation_lines (reservation_id, warehouse_id, quantity) VALUES (?, ?, ?)', i.reservationId, line.warehouseId, line.quantity);
      this.sql.exec('UPDATE levels SET reserved = reserved + ?, updated_at = ? WHERE warehouse_id = ?', line.quantity, now, line.warehouseId);
      this.movement(now, 'reserve', line.warehouseId, 0, line.quantity, i.reservationId, i.opId);
    }
    this.sql.exec("INSERT OR REPLACE INTO due (kind, ref, due_at) VALUES ('expire', ?, ?)", i.reservationId, expires);
    // A hold placed under a shard count older than the one this (shard 0) object keeps: a caller
    // that had not seen the growth yet. Its retry, under the new count, must look for it here.
    if (walked !== undefined && walked < this.shardCount()) this.sql.exec('UPDATE shard_growth SET prior = 1 WHERE to_shards > ? AND prior = 0', walked);
    return {
      ok: true as const,
      reservation: {
        reservationId: i.reservationId,
        ref: { kind: i.ref.kind, id: i.ref.id },
        status: 'reserved',
        quantity: i.quantity,
        lines: plan.lines.map((l) => ({ warehouseId: l.warehouseId, quantity: l.quantity })).sort((a, b) => (a.warehouseId < b.warehouseId ? -1 : 1)),
        createdAt: iso(now),
        expiresAt: iso(expires),
        closedAt: null,
        closeReason: null,
      },
    };
  }

  /**
   * The refusal of a sold-out object, answered with reads only (no transaction, no write, no
   * outbox): only when the caller allows it (`rememberRefusal: false`), the op id is new, no
   * reservation is due to expire (which would free units) and no warehouse has a unit left.
   * Anything else takes the full path. Not stored: a retry of the same op id is a fresh attempt.
   */
  private soldOut(i: z.output<typeof ReserveInput>, now: number): Failure<'OUT_OF_STOCK'> | null {
    if (i.rememberRefusal || i.allocation) return null;
    const stock = this.stockMemo();
    if ((stock.reservable ?? 0) > 0 || (stock.nextExpiry !== null && stock.nextExpiry <= now)) return null;
    // A stored op id (replay) or an existing reservation with this id takes the full path.
    const known = this.sql.exec('SELECT 1 FROM operations WHERE op_id = ? UNION ALL SELECT 1 FROM reservations WHERE id = ? LIMIT 1', i.opId, i.reservationId);
    if (known.toArray().length > 0) return null;
    return fail('OUT_OF_STOCK', 'only 0 available', { available: 0 });
  }

  /** Stock leaves (payment captured). Refused once the reservation has expired, even before the alarm ran. */
  commit(input: CommitInput): CommitResult {
    return this.once('commit', CommitInput, input, (i, now) => {
      const row = this.reservationRow(i.reservationId);
      if (!row) return fail('NOT_FOUND', `no reservation ${i.reservationId}`);
      const t = transition(row.status, 'commit', now, row.expires_at);
      if (t.kind === 'noop') return { ok: true as const, reservation: this.reservationView(row), changed: false };
      if (t.kind === 'refuse') {
        if (t.expireFirst) this.close(row, 'expired', 'ttl', now, i.opId);
        return fail(t.code, t.code === 'RESERVATION_EXPIRED' ? `reservation ${row.id} expired` : `reservation ${row.id} is ${row.status}`, { status: t.expireFirst ? 'expired' : row.status });
      }
      this.close(row, 'committed', null, now, i.opId);
      return { ok: true as const, reservation: this.reservationView(this.reservationRow(row.id)!), changed: true };
    });
  }

  /**
   * Units come back (cancelled, payment failed, abandoned, rolled back). Releasing a released or
   * expired reservation is a no-op. With `owner` (the public route's caller) only a hold that caller
   * placed through the API is released; any other answers NOT_FOUND, as an unknown id does (an
   * order's hold has no owner: the route never frees it), and that refusal is not stored.
   */
  release(input: ReleaseInput): ReleaseResult {
    const parsed = ReleaseInput.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    const owned = parsed.data.owner !== undefined;
    const keep = (r: ReleaseResult) => !owned || r.ok || r.code !== 'NOT_FOUND';
    return this.onceParsed('release', parsed.data, (i, now) => {
      const row = this.reservationRow(i.reservationId);
      if (!row || (owned && row.owner !== i.owner)) return fail('NOT_FOUND', `no reservation ${i.reservationId}`);
      const t = transition(row.status, 'release', now, row.expires_at);
      if (t.kind === 'noop') return { ok: true as const, reservation: this.reservationView(row), changed: false };
      if (t.kind === 'refuse') return fail('RESERVATION_CLOSED', `reservation ${row.id} is ${row.status}`, { status: row.status });
      this.close(row, 'released', i.reason, now, i.opId);
      return { ok: true as const, reservation: this.reservationView(this.reservationRow(row.id)!), changed: true };
    }, this.now(), keep);
  }

  // ---------------------------------------------------------------------------------------------
  // Warehouse-to-warehouse transfers (staff)
  // ---------------------------------------------------------------------------------------------

  /**
   * Units leave `fromWarehouseId` for `toWarehouseId`: only available units (never reserved ones)
   * move; they leave the source's on hand now and are counted in its `inTransitOut` until the
   * destination receives them or the source cancels. In transit, they are available nowhere.
   */
  dispatchTransfer(input: DispatchTransferInput): DispatchTransferResult {
    return this.once(
      'dispatchTransfer',
      DispatchTransferInput,
      input,
      (i, now) => {
        if (this.warehouseTransferRow(i.transferId)) return fail('TRANSFER_CONFLICT', `transfer ${i.transferId} exists already`);
        const from = this.level(i.fromWarehouseId);
        if (available(from) < i.quantity) {
          return fail('INSUFFICIENT_STOCK', `only ${Math.max(0, available(from))} available in ${i.fromWarehouseId}`, { available: Math.max(0, available(from)) });
        }
        this.sql.exec(
          'UPDATE levels SET on_hand = on_hand - ?, in_transit_out = in_transit_out + ?, updated_at = ? WHERE warehouse_id = ?',
          i.quantity,
          i.quantity,
          now,
          i.fromWarehouseId,
        );
        this.movement(now, 'transfer_dispatch', i.fromWarehouseId, -i.quantity, 0, `${i.transferId}->${i.toWarehouseId}`, i.opId);
        this.sql.exec(
          "INSERT INTO warehouse_transfers (id, from_warehouse_id, to_warehouse_id, quantity, status, note, created_at) VALUES (?, ?, ?, ?, 'in_transit', ?, ?)",
          i.transferId,
          i.fromWarehouseId,
          i.toWarehouseId,
          i.quantity,
          i.note ?? null,
          now,
        );
        const row = this.sql.exec<LevelRow>('SELECT warehouse_id, on_hand, reserved, in_transit_out FROM levels WHERE warehouse_id = ?', i.fromWarehouseId).one();
        return { ok: true as const, transfer: transferView(this.warehouseTransferRow(i.transferId)!), from: toLevel(row) };
      },
      keepUnlessShort,
      true,
    );
  }

  /** The destination has the units: they join its on hand (available there). Receiving twice is a no-op. */
  receiveTransfer(input: CloseTransferInput): CloseTransferResult {
    return this.once('receiveTransfer', CloseTransferInput, input, (i, now) => this.closeTransfer(i.transferId, 'received', now, i.opId));
  }

  /** The source takes the units back while they are in transit. Cancelling twice is a no-op. */
  cancelTransfer(input: CloseTransferInput): CloseTransferResult {
    return this.once('cancelTransfer', CloseTransferInput, input, (i, now) => this.closeTransfer(i.transferId, 'cancelled', now, i.opId));
  }

  /** One warehouse transfer, or NOT_FOUND. */
  warehouseTransfer(transferId: string): { ok: true; transfer: WarehouseTransferView } | Failure<'NOT_FOUND' | 'INVALID_INPUT'> {
    const id = WarehouseTransferId.safeParse(transferId);
    if (!id.success) return invalid(id.error);
    const row = this.warehouseTransferRow(id.data);
    return row ? { ok: true as const, transfer: transferView(row) } : fail('NOT_FOUND', `no transfer ${id.data}`);
  }

  /** Sets the available-units threshold of `inventory.low_stock` for this object (default 5). */
  configureLowStock(input: ConfigureLowStockInput): ConfigureLowStockResult {
    return this.once('configureLowStock', ConfigureLowStockInput, input, (i) => {
      this.sql.exec('UPDATE aggregate SET low_stock_threshold = ? WHERE id = 1', i.threshold);
      return { ok: true as const, threshold: i.threshold };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Shards (see README.md, "Sharding protocol")
  // ---------------------------------------------------------------------------------------------

  /**
   * Sets the SKU's shard count. Called on shard 0 only (the stub helper does). It only grows: a
   * smaller count than the current one is refused (units in the shards dropped would leave
   * availability), and of two growths at once the larger stands whatever their order.
   */
  configureShards(input: ConfigureShardsInput): ConfigureShardsResult {
    return this.once('configureShards', ConfigureShardsInput, input, (i, now) => {
      const current = this.shardCount();
      if (i.shards < current) return fail('SHARDS_SHRINK', `the SKU is split over ${current} shards; the count only grows`);
      if (i.shards > current) {
        this.sql.exec('INSERT OR REPLACE INTO shard_config (id, shards, updated_at) VALUES (1, ?, ?)', i.shards, now);
        this.shards = null;
        // The old shards may hold reservations whose retries, under the new count, would start
        // elsewhere: they look there first (shardConfig().priorShards) while that can matter.
        // Growing from one shard that never held a reservation needs no look (a flash sale's split
        // of a fresh SKU costs nothing); a hold placed there later under the old count sets it.
        const held = current > 1 || this.sql.exec('SELECT 1 FROM reservations LIMIT 1').toArray().length > 0;
        this.sql.exec('INSERT OR REPLACE INTO shard_growth (at, from_shards, to_shards, prior) VALUES (?, ?, ?, ?)', now, current, i.shards, held ? 1 : 0);
        this.judging = null;
      }
      return { ok: true as const, shards: i.shards };
    });
  }

  /**
   * Shard 0 of a sharded SKU: a sibling's report of its available units (`ShardAvailableInput`).
   * The newest report per shard is kept; the SKU's low stock is judged on the sum over the shards
   * in the same transaction (`tracked`). Not an op-id call: a report is a level, and an older one
   * (lower `seq`) changes nothing.
   */
  shardAvailable(input: ShardAvailableInput): ShardAvailableResult {
    const parsed = ShardAvailableInput.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    if (this.me().shard !== 0) return fail('INVALID_INPUT', 'only shard 0 of a SKU takes shard reports');
    const r = parsed.data;
    const now = this.now();
    this.judging = true;
    return this.write(
      () => {
        for (const id of r.received) this.sql.exec('INSERT OR IGNORE INTO shard_received (transfer_id, at) VALUES (?, ?)', id, now);
        this.sql.exec(
          'INSERT INTO shard_available (shard, seq, available, in_flight, reported_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (shard) DO UPDATE SET seq = excluded.seq, available = excluded.available, in_flight = excluded.in_flight, reported_at = excluded.reported_at WHERE shard_available.seq < excluded.seq',
          r.shard,
          r.seq,
          r.available,
          JSON.stringify(r.inFlight),
          now,
        );
        return { ok: true as const };
      },
      now,
      `report:${this.me().name}#${r.shard}`,
    );
  }

  /**
   * A shard > 0 sends shard 0 its available units now (the debounced report after changes, the
   * alarm's retry, and the synchronous report of a shard transfer: see `transferOut`). A report
   * that does not arrive stays owed (`due` 'report'); it never blocks the caller.
   */
  async reportAvailable(): Promise<void> {
    const { sku, shard } = this.me();
    if (shard === 0) return;
    const now = this.now();
    const seq = this.sql.exec<{ s: number }>('SELECT report_seq AS s FROM aggregate WHERE id = 1').one().s;
    const report = {
      shard,
      seq,
      available: this.allLevels().reduce((n, l) => n + l.on_hand - l.reserved, 0),
      inFlight: this.inFlightOut(),
      received: this.sql
        .exec<{ id: string }>("SELECT id FROM transfers WHERE direction = 'in' AND created_at > ? ORDER BY created_at DESC LIMIT 100", now - RECEIVED_REPORT_WINDOW_MS)
        .toArray()
        .map((t) => t.id),
    };
    let delivered = false;
    try {
      const ns = this.env.INVENTORY;
      const r = await (this.shardReports ?? ns.get(ns.idFromName(objectName(sku, 0)))).shardAvailable(report);
      delivered = r.ok;
      if (!r.ok) console.warn(JSON.stringify({ level: 'warn', msg: 'inventory shard report refused', object: this.me().name, code: r.code, message: r.message }));
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'inventory shard report failed', object: this.me().name, error: error instanceof Error ? error.message : String(error) }));
    }
    const at = this.now();
    this.ctx.storage.transactionSync(() => {
      if (delivered) {
        // The `report` due row stays (attempts reset): the alarm drops it when it finds nothing
        // owed. Deleting it here and writing it again with the next change would move the alarm
        // back and forth on every report under load (the lesson of the outbox's `flush` row).
        this.sql.exec('UPDATE aggregate SET reported_seq = MAX(reported_seq, ?) WHERE id = 1', seq);
        this.sql.exec("UPDATE due SET attempts = 0 WHERE kind = 'report' AND attempts > 0");
      } else {
        const attempts = this.sql.exec<{ attempts: number }>("SELECT attempts FROM due WHERE kind = 'report'").toArray()[0]?.attempts ?? 0;
        this.sql.exec(
          "INSERT INTO due (kind, ref, due_at, attempts) VALUES ('report', 'shard0', ?, ?) ON CONFLICT (kind, ref) DO UPDATE SET due_at = excluded.due_at, attempts = excluded.attempts",
          at + Math.min(REPORT_GRACE_MS * 2 ** attempts, REPORT_MAX_BACKOFF_MS),
          attempts + 1,
        );
      }
    });
    this.rearm();
  }

  /**
   * Step 1 of a transfer: available units (never reserved ones) leave this shard's on hand and are
   * recorded in flight to `toShard`. Until acknowledged, the alarm redelivers them (so none is lost).
   */
  async transferOut(input: TransferOutInput): Promise<TransferOutResult> {
    const result = this.transferOutNow(input);
    // Shard 0 must know these units are in flight before the receiver reports them arrived, or
    // the SKU's sum would count them twice (README.md, "Events"): report before answering.
    if (result.ok && result.lines.length > 0 && this.me().shard > 0) await this.reportAvailable();
    return result;
  }

  private transferOutNow(input: TransferOutInput): TransferOutResult {
    return this.once('transferOut', TransferOutInput, input, (i, now) => {
      if (this.transferRow(i.transferId, 'out')) return fail('TRANSFER_CONFLICT', `transfer ${i.transferId} was already sent`);
      const plan = planTransferOut(this.allLevels().map(fromRow), i.quantity, { warehouseId: i.warehouseId, partial: i.partial });
      if (!plan.ok) return fail('OUT_OF_STOCK', `only ${plan.available} available to transfer`, { available: plan.available });
      if (plan.lines.length === 0) return { ok: true as const, transferId: i.transferId, lines: [] };
      for (const line of plan.lines) {
        this.sql.exec('UPDATE levels SET on_hand = on_hand - ?, updated_at = ? WHERE warehouse_id = ?', line.quantity, now, line.warehouseId);
        this.movement(now, 'transfer_out', line.warehouseId, -line.quantity, 0, i.transferId, i.opId);
      }
      this.sql.exec(
        "INSERT INTO transfers (id, direction, sku_id, from_shard, to_shard, lines, status, created_at) VALUES (?, 'out', ?, ?, ?, ?, 'in_flight', ?)",
        i.transferId,
        i.skuId,
        i.fromShard,
        i.toShard,
        JSON.stringify(plan.lines),
        now,
      );
      this.sql.exec("INSERT OR REPLACE INTO due (kind, ref, due_at) VALUES ('deliver', ?, ?)", i.transferId, now + DELIVERY_GRACE_MS);
      return { ok: true as const, transferId: i.transferId, lines: plan.lines };
    });
  }

  /** Step 2: the units arrive in this shard's on hand. A second delivery of the same transfer is a no-op. */
  async transferIn(input: TransferInInput): Promise<TransferInResult> {
    const result = this.transferInNow(input);
    // Before the giver settles (after this answer) and stops listing the units in flight, shard 0
    // learns they arrived here: the SKU's sum never loses them on the way.
    if (result.ok && this.me().shard > 0) await this.reportAvailable();
    return result;
  }

  private transferInNow(input: TransferInInput): TransferInResult {
    return this.once('transferIn', TransferInInput, input, (i, now) => {
      const seen = this.transferRow(i.transferId, 'in');
      if (seen) {
        return sameLines(linesOf(seen), i.lines)
          ? { ok: true as const, transferId: i.transferId, lines: i.lines }
          : fail('TRANSFER_CONFLICT', `transfer ${i.transferId} was received with other lines`);
      }
      for (const line of i.lines) {
        const level = this.level(line.warehouseId);
        this.saveLevel({ ...level, onHand: level.onHand + line.quantity }, now);
        this.movement(now, 'transfer_in', line.warehouseId, line.quantity, 0, i.transferId, i.opId);
      }
      this.sql.exec(
        "INSERT INTO transfers (id, direction, sku_id, from_shard, to_shard, lines, status, created_at, settled_at) VALUES (?, 'in', ?, ?, ?, ?, 'received', ?, ?)",
        i.transferId,
        i.skuId,
        i.fromShard,
        i.toShard,
        JSON.stringify(i.lines),
        now,
        now,
      );
      return { ok: true as const, transferId: i.transferId, lines: i.lines };
    });
  }

  /** Step 3, on the giving shard: the receiver has the units; stop redelivering. */
  ackTransfer(input: AckTransferInput): AckTransferResult {
    return this.once('ackTransfer', AckTransferInput, input, (i, now) => {
      if (!this.transferRow(i.transferId, 'out')) return fail('NOT_FOUND', `no outgoing transfer ${i.transferId}`);
      this.settleTransfer(i.transferId, now);
      return { ok: true as const, transferId: i.transferId };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The alarm
  // ---------------------------------------------------------------------------------------------

  /**
   * Runs whatever is due: expires reservations past their TTL (stock comes back), redelivers
   * transfers nobody acknowledged, prunes old op ids. Then re-arms for the next due time.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.stock = null;
    const now = this.now();
    const deliveries = this.ctx.storage.transactionSync(() =>
      this.tracked(now, `alarm:${this.ctx.id.name ?? this.ctx.id.toString()}`, () => {
        this.expireDue(now);
        // A due `flush`: nothing left to relay → drop it; else the relay below runs now, and
        // the safety net moves one grace period on (a failing relay backs off from there).
        if (this.sql.exec("SELECT 1 FROM due WHERE kind = 'flush' AND due_at <= ?", now).toArray().length > 0) {
          if (this.sql.exec('SELECT 1 FROM outbox LIMIT 1').toArray().length === 0) this.sql.exec("DELETE FROM due WHERE kind = 'flush'");
          else this.sql.exec("UPDATE due SET due_at = ? WHERE kind = 'flush'", now + FLUSH_GRACE_MS);
        }
        const prune = this.sql.exec("SELECT 1 FROM due WHERE kind = 'prune' AND due_at <= ?", now).toArray().length > 0;
        if (prune) this.prune(now);
        // A due `report`: shard 0 has the last change → drop it; else send it below (the safety
        // net moves one grace period on; a failing report backs off from there).
        if (this.sql.exec("SELECT 1 FROM due WHERE kind = 'report' AND due_at <= ?", now).toArray().length > 0) {
          const owed = this.sql.exec<{ owed: number }>('SELECT report_seq > reported_seq AS owed FROM aggregate WHERE id = 1').one().owed;
          if (owed) {
            this.sql.exec("UPDATE due SET due_at = ? WHERE kind = 'report'", now + REPORT_GRACE_MS);
            this.reportOwed = true;
          } else this.sql.exec("DELETE FROM due WHERE kind = 'report'");
        }
        return this.sql
          .exec<TransferRow & { attempts: number }>(
            "SELECT t.*, d.attempts FROM due d JOIN transfers t ON t.id = d.ref AND t.direction = 'out' WHERE d.kind = 'deliver' AND d.due_at <= ?",
            now,
          )
          .toArray();
      }),
    );
    // Outside any transaction: call the receiving shards, then record each outcome in its own write.
    for (const t of deliveries) {
      let outcome: 'delivered' | 'refused' | 'retry';
      let detail = '';
      try {
        const ns = this.env.INVENTORY;
        const receiver = ns.get(ns.idFromName(objectName(t.sku_id, t.to_shard)));
        const r = await receiver.transferIn({
          opId: transferInOpId(t.id),
          transferId: t.id,
          skuId: t.sku_id,
          fromShard: t.from_shard,
          toShard: t.to_shard,
          lines: linesOf(t),
        });
        outcome = r.ok ? 'delivered' : 'refused';
        if (!r.ok) detail = r.code;
      } catch (error) {
        outcome = 'retry';
        detail = error instanceof Error ? error.message : String(error);
      }
      const at = this.now();
      this.write(() => {
        if (outcome === 'delivered') this.settleTransfer(t.id, at);
        else if (outcome === 'refused') {
          // Permanent: the units left this shard but the receiver will not take them. Keep the
          // transfer in flight (visible in levels().inFlightOut) and ask a human.
          this.sql.exec("DELETE FROM due WHERE kind = 'deliver' AND ref = ?", t.id);
          this.raiseFlag(at, `transfer ${t.id} refused by shard ${t.to_shard}: ${detail}`);
        } else {
          const backoff = Math.min(DELIVERY_GRACE_MS * 2 ** (t.attempts + 1), DELIVERY_MAX_BACKOFF_MS);
          this.sql.exec("UPDATE due SET due_at = ?, attempts = attempts + 1 WHERE kind = 'deliver' AND ref = ?", at + backoff, t.id);
        }
      }, at);
    }
    this.rearm();
    // A report to shard 0 still owed (or owed by this alarm's expiries).
    if (this.reportOwed) {
      this.reportOwed = false;
      await this.reportAvailable();
    }
    // Events of this alarm's expiries, and any the relay after a commit could not send.
    await this.flushOutbox();
  }

  /**
   * Sends the outbox to the events queue, oldest first, in batches; deletes what the queue
   * accepted. A refused send leaves the rows and moves the `flush` due time back (backoff), so
   * the alarm retries: an event is deleted only once the queue has it (at least once; consumers
   * dedupe by event id and compare aggregateVersion). One relay at a time per object.
   */
  flushOutbox(): Promise<void> {
    this.relaying ??= this.relay().finally(() => {
      this.relaying = null;
    });
    return this.relaying;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: everything below runs inside a transactionSync
  // ---------------------------------------------------------------------------------------------

  private get sql() {
    return this.ctx.storage.sql;
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  /**
   * A read that must not see units held by reservations past their TTL: through `write` (which
   * expires them first) when one is due, else plain reads with no transaction (a burst of first
   * reads, e.g. every request of a flash sale loading the SKU in a new isolate, writes nothing).
   * The next expiry comes from the stock memo: no query between writes.
   */
  private fresh<R>(body: () => R): R {
    const now = this.now();
    const { nextExpiry } = this.stockMemo();
    return nextExpiry !== null && nextExpiry <= now ? this.write(body, now) : body();
  }

  /**
   * A synchronous read-modify-write: expire what is due, run `body` and write the outbox rows of
   * the stock it changed, all in one transaction; then re-arm the alarm and relay the outbox.
   */
  private write<R>(body: () => R, now: number = this.now(), correlationId?: string): R {
    this.stock = null;
    const result = this.ctx.storage.transactionSync(() =>
      this.tracked(now, correlationId, () => {
        this.expireDue(now);
        return body();
      }),
    );
    this.rearm();
    if (this.sql.exec('SELECT 1 FROM outbox LIMIT 1').toArray().length > 0) this.ctx.waitUntil(this.flushOutbox());
    if (this.reportOwed) this.scheduleReport();
    return result;
  }

  /** One report to shard 0 a moment after the first change owed it: the changes meanwhile ride along. */
  private scheduleReport(): void {
    this.reportOwed = false;
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    this.ctx.waitUntil(
      new Promise((resolve) => setTimeout(resolve, REPORT_DEBOUNCE_MS))
        .then(() => {
          this.reportScheduled = false;
          return this.reportAvailable();
        })
        .catch(() => undefined),
    );
  }

  /**
   * Runs `body` (inside the caller's transaction) and then writes, in the same transaction, one
   * `inventory.updated` outbox row with every warehouse whose on hand or reserved it changed,
   * under the next aggregate version, and an `inventory.low_stock` row when the object's
   * available units crossed its threshold downward. Every stock change goes through here.
   */
  private tracked<R>(now: number, correlationId: string | undefined, body: () => R): R {
    const before = new Map(this.allLevels().map((l) => [l.warehouse_id, l]));
    // Shard 0 of a sharded SKU judges the SKU's low stock on the sum over the shards: what the
    // others last reported, plus units in flight between shards (README.md, "Events").
    const judging = this.isJudge();
    const beyondBefore = judging ? this.beyondOwn() : 0;
    const result = body();
    const after = this.allLevels();
    const changed = after.filter((l) => {
      const b = before.get(l.warehouse_id);
      return !b || b.on_hand !== l.on_hand || b.reserved !== l.reserved || b.in_transit_out !== l.in_transit_out;
    });
    const total = (rows: Iterable<LevelRow>) => [...rows].reduce((s, l) => s + l.on_hand - l.reserved, 0);
    if (changed.length === 0) {
      // No level of this object moved; a sibling's report may still move the SKU's sum.
      if (judging) this.judgeLowStock(total(before.values()) + beyondBefore, total(after) + this.beyondOwn(), null, now, correlationId);
      return result;
    }
    const { sku, shard, name } = this.me();
    const agg = this.sql
      .exec<{ version: number; low_stock_threshold: number | null }>('UPDATE aggregate SET version = version + 1 WHERE id = 1 RETURNING version, low_stock_threshold')
      .one();
    const meta = {
      correlationId: (correlationId ?? `inventory:${name}`).slice(0, 128),
      source: 'inventory',
      subject: sku,
      aggregateVersion: agg.version,
      occurredAt: new Date(now),
    };
    const levels = changed.map((l) => ({
      sku,
      shard,
      warehouseId: l.warehouse_id,
      onHand: l.on_hand,
      reserved: l.reserved,
      available: l.on_hand - l.reserved,
      inTransitOut: l.in_transit_out,
    }));
    this.enqueue(InventoryUpdated.create({ sku, shard, levels }, meta), now);
    if (shard > 0) {
      // A shard's own units say nothing about the SKU's low stock: shard 0 judges the sum. It is
      // owed this shard's new level (sent after the commit, debounced; the alarm retries).
      this.oweReport(now);
      return result;
    }
    const was = total(before.values()) + beyondBefore;
    const is = total(after) + (judging ? this.beyondOwn() : 0);
    this.judgeLowStock(was, is, agg, now, correlationId);
    return result;
  }

  /**
   * Emits `inventory.low_stock` when the SKU's available units (`was` → `is`) crossed its
   * threshold downward, in the caller's transaction, with the aggregate version of the update it
   * came with (or the current one when no level of this object moved).
   */
  private judgeLowStock(was: number, is: number, agg: { version: number; low_stock_threshold: number | null } | null, now: number, correlationId: string | undefined): void {
    if (was === is) return;
    const current = agg ?? this.sql.exec<{ version: number; low_stock_threshold: number | null }>('SELECT version, low_stock_threshold FROM aggregate WHERE id = 1').one();
    const threshold = current.low_stock_threshold ?? LOW_STOCK_DEFAULT_THRESHOLD;
    if (!(was > threshold && is <= threshold)) return;
    const { sku, shard, name } = this.me();
    const meta = { correlationId: (correlationId ?? `inventory:${name}`).slice(0, 128), source: 'inventory', subject: sku, aggregateVersion: current.version, occurredAt: new Date(now) };
    this.enqueue(InventoryLowStock.create({ sku, shard, available: is, threshold }, meta), now);
  }

  /** Shard 0 of a SKU split over shards (or that has reports from siblings): it judges the SKU's low stock. */
  private isJudge(): boolean {
    if (this.judging === null) {
      const name = this.ctx.id.name;
      const home = !!name && !name.includes('#');
      this.judging = home && (this.shardCount() > 1 || this.sql.exec('SELECT 1 FROM shard_available LIMIT 1').toArray().length > 0);
    }
    return this.judging;
  }

  /**
   * The SKU's available units beyond shard 0's own levels: every sibling's last reported
   * available units, plus units sent between shards and not yet arrived (in flight on the giver,
   * not reported received by the receiver), each counted once.
   */
  private beyondOwn(): number {
    const reports = this.sql.exec<{ available: number; in_flight: string }>('SELECT available, in_flight FROM shard_available').toArray();
    const inFlight = [...this.inFlightOut(), ...reports.flatMap((r) => JSON.parse(r.in_flight) as InFlight[])];
    let units = reports.reduce((n, r) => n + r.available, 0);
    if (inFlight.length === 0) return units;
    const ids = inFlight.map((t) => t.transferId);
    const marks = ids.map(() => '?').join(', ');
    const arrived = new Set(
      this.sql
        .exec<{ id: string }>(`SELECT transfer_id AS id FROM shard_received WHERE transfer_id IN (${marks}) UNION SELECT id FROM transfers WHERE direction = 'in' AND id IN (${marks})`, ...ids, ...ids)
        .toArray()
        .map((r) => r.id),
    );
    for (const t of inFlight) if (!arrived.has(t.transferId)) units += t.units;
    return units;
  }

  /** Units this object sent to a sibling shard and has not settled yet, per transfer. */
  private inFlightOut(): InFlight[] {
    return this.sql
      .exec<TransferRow>("SELECT * FROM transfers WHERE direction = 'out' AND status = 'in_flight'")
      .toArray()
      .map((t) => ({ transferId: t.id, units: linesOf(t).reduce((q, l) => q + l.quantity, 0) }));
  }

  /** A shard > 0 owes shard 0 its level: counted (seq) and due, in the caller's transaction. */
  private oweReport(now: number): void {
    this.sql.exec('UPDATE aggregate SET report_seq = report_seq + 1 WHERE id = 1');
    this.sql.exec("INSERT OR IGNORE INTO due (kind, ref, due_at) VALUES ('report', 'shard0', ?)", now + REPORT_GRACE_MS);
    this.reportOwed = true;
  }

  private enqueue(event: EventEnvelope, now: number): void {
    this.sql.exec('INSERT INTO outbox (event_id, type, body, created_at) VALUES (?, ?, ?, ?)', event.id, event.type, JSON.stringify(event), now);
    this.sql.exec("INSERT OR IGNORE INTO due (kind, ref, due_at) VALUES ('flush', 'outbox', ?)", now + FLUSH_GRACE_MS);
  }

  /** `identity()`, read once. */
  private me(): { sku: string; shard: number; name: string } {
    return (this.who ??= this.identity());
  }

  /** The SKU and shard this object holds, from its name (`sku:<id>` or `sku:<id>#<n>`). */
  private identity(): { sku: string; shard: number; name: string } {
    const name = this.ctx.id.name;
    const match = name ? /^sku:([^#]+)(?:#(\d+))?$/.exec(name) : null;
    if (!name || !match) throw new Error(`inventory objects are reached by name (sku:<id>), not ${name ?? this.ctx.id.toString()}`);
    return { sku: match[1]!, shard: match[2] ? Number(match[2]) : 0, name };
  }

  private async relay(): Promise<void> {
    for (;;) {
      const rows = this.sql.exec<{ seq: number; body: string }>('SELECT seq, body FROM outbox ORDER BY seq LIMIT ?', OUTBOX_BATCH).toArray();
      if (rows.length === 0) return;
      const seqs = rows.map((r) => r.seq);
      const placeholders = seqs.map(() => '?').join(', ');
      try {
        const bodies = coalesceUpdates(rows.map((r) => JSON.parse(r.body) as EventEnvelope));
        await (this.eventsQueue ?? this.env.EVENTS).sendBatch(bodies.map((body) => ({ body, contentType: 'json' as const })));
      } catch (error) {
        const at = this.now();
        const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
        this.ctx.storage.transactionSync(() => {
          this.sql.exec(`UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq IN (${placeholders})`, message, ...seqs);
          const attempts = this.sql.exec<{ attempts: number }>("SELECT attempts FROM due WHERE kind = 'flush' AND ref = 'outbox'").toArray()[0]?.attempts ?? 0;
          const backoff = Math.min(FLUSH_GRACE_MS * 2 ** attempts, FLUSH_MAX_BACKOFF_MS);
          this.sql.exec(
            "INSERT INTO due (kind, ref, due_at, attempts) VALUES ('flush', 'outbox', ?, ?) ON CONFLICT (kind, ref) DO UPDATE SET due_at = excluded.due_at, attempts = excluded.attempts",
            at + backoff,
            attempts + 1,
          );
        });
        this.rearm();
        console.warn(JSON.stringify({ level: 'warn', msg: 'inventory outbox relay failed', object: this.ctx.id.name, events: rows.length, error: message }));
        return;
      }
      this.ctx.storage.transactionSync(() => {
        this.sql.exec(`DELETE FROM outbox WHERE seq IN (${placeholders})`, ...seqs);
        // The `flush` due row stays (attempts reset) when the outbox empties: the alarm drops it
        // when it fires on an empty outbox. Deleting it here and writing it again with the next
        // event moved the alarm later and earlier on every relay under load, and a response
        // could wait for an alarm move (several seconds in a flash sale).
        this.sql.exec("UPDATE due SET attempts = 0 WHERE kind = 'flush' AND attempts > 0");
      });
      this.rearm();
    }
  }

  /**
   * The idempotent frame of every mutating method: validate, then in one transaction replay a
   * stored result for this op id or run `body` and store its result with the op id.
   */
  private once<S extends z.ZodType<{ opId: string }>, R>(
    method: string,
    schema: S,
    input: unknown,
    body: (input: z.output<S>, now: number) => R,
    keep?: (result: R) => boolean,
    markReplay = false,
  ): R | Failure<'INVALID_INPUT' | 'OP_ID_REUSED'> {
    const parsed = schema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    return this.onceParsed(method, parsed.data, body, this.now(), keep, markReplay);
  }

  /** `once` for an input its method has validated already. */
  private onceParsed<I extends { opId: string }, R>(
    method: string,
    input: I,
    body: (input: I, now: number) => R,
    now: number,
    keep?: (result: R) => boolean,
    markReplay = false,
  ): R | Failure<'OP_ID_REUSED'> {
    return this.write(() => this.onceBody(method, input, body, now, keep, markReplay), now, input.opId);
  }

  /**
   * The op-id frame itself, inside the caller's transaction: replay, refuse a reuse, or run and
   * store. `keep` false: the result is answered but not stored (a refusal that changed nothing and
   * must not consume the op id: a retry is a fresh attempt). `markReplay`: a stored success
   * replayed is answered with `replayed: true` (the HTTP verbs mark it `Idempotent-Replayed`); the
   * stored result never carries it.
   */
  private onceBody<I extends { opId: string }, R>(
    method: string,
    input: I,
    body: (input: I, now: number) => R,
    now: number,
    keep?: (result: R) => boolean,
    markReplay = false,
  ): R | Failure<'OP_ID_REUSED'> {
    const { opId, ...rest } = input;
    const payload = stableJson(rest);
    const prior = this.sql.exec<{ method: string; payload: string; result: string }>('SELECT method, payload, result FROM operations WHERE op_id = ?', opId).toArray()[0];
    if (prior) {
      if (prior.method !== method || prior.payload !== payload) {
        return fail('OP_ID_REUSED', `op id ${opId} was used for another ${prior.method === method ? 'payload' : `operation (${prior.method})`}`);
      }
      const stored = JSON.parse(prior.result) as R & { ok?: boolean };
      return markReplay && stored.ok === true ? { ...stored, replayed: true } : stored;
    }
    const result = body(input, now);
    if (keep && !keep(result)) return result;
    this.sql.exec('INSERT INTO operations (op_id, method, payload, result, created_at) VALUES (?, ?, ?, ?, ?)', opId, method, payload, JSON.stringify(result), now);
    this.sql.exec("INSERT OR IGNORE INTO due (kind, ref, due_at) VALUES ('prune', 'all', ?)", now + PRUNE_EVERY_MS);
    return result;
  }

  /** Sets the one alarm to the earliest due time (or clears it). No await: storage writes are gated. */
  private rearm(): void {
    const next = this.sql.exec<{ t: number | null }>('SELECT MIN(due_at) AS t FROM due').one().t;
    if (next === null) {
      if (this.alarmAt !== null) void this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
    } else if (next !== this.alarmAt) {
      void this.ctx.storage.setAlarm(next);
      this.alarmAt = next;
    }
  }

  private expireDue(now: number): void {
    // An index range over (kind, due_at): only what is due, never every open reservation's row.
    const due = this.sql.exec<{ ref: string }>("SELECT ref FROM due WHERE kind = 'expire' AND due_at <= ? ORDER BY due_at", now).toArray();
    for (const { ref } of due) {
      const row = this.reservationRow(ref);
      if (row && transition(row.status, 'expire', now, row.expires_at).kind === 'apply') this.close(row, 'expired', 'ttl', now, null);
      else this.sql.exec("DELETE FROM due WHERE kind = 'expire' AND ref = ?", ref);
    }
  }

  /** Moves an open reservation to a final status and applies its stock effect. */
  private close(row: ReservationRow, to: 'committed' | 'released' | 'expired', reason: string | null, now: number, opId: string | null): void {
    for (const line of this.linesOfReservation(row.id)) {
      const onHandDelta = to === 'committed' ? -line.quantity : 0;
      this.sql.exec('UPDATE levels SET on_hand = on_hand + ?, reserved = reserved - ?, updated_at = ? WHERE warehouse_id = ?', onHandDelta, line.quantity, now, line.warehouseId);
      this.movement(now, to === 'committed' ? 'commit' : to === 'released' ? 'release' : 'expire', line.warehouseId, onHandDelta, -line.quantity, row.id, opId);
    }
    this.sql.exec('UPDATE reservations SET status = ?, closed_at = ?, close_reason = ? WHERE id = ?', to, now, reason, row.id);
    this.sql.exec("DELETE FROM due WHERE kind = 'expire' AND ref = ?", row.id);
  }

  private settleTransfer(transferId: string, now: number): void {
    this.sql.exec("UPDATE transfers SET status = 'delivered', settled_at = ? WHERE id = ? AND direction = 'out' AND status = 'in_flight'", now, transferId);
    this.sql.exec("DELETE FROM due WHERE kind = 'deliver' AND ref = ?", transferId);
    // No level moved, but the units are no longer in flight here: shard 0 is owed that.
    if (this.me().shard > 0) this.oweReport(now);
  }

  private prune(now: number): void {
    const cutoff = now - OP_RETENTION_MS;
    this.sql.exec('DELETE FROM operations WHERE created_at < ?', cutoff);
    this.sql.exec("DELETE FROM reservation_lines WHERE reservation_id IN (SELECT id FROM reservations WHERE status <> 'reserved' AND closed_at < ?)", cutoff);
    this.sql.exec("DELETE FROM reservations WHERE status <> 'reserved' AND closed_at < ?", cutoff);
    this.sql.exec("DELETE FROM transfers WHERE status <> 'in_flight' AND settled_at < ?", cutoff);
    this.sql.exec('DELETE FROM movements WHERE at < ?', now - MOVEMENT_RETENTION_MS);
    this.sql.exec('DELETE FROM shard_received WHERE at < ?', cutoff);
    const left = this.sql.exec<{ n: number }>('SELECT (SELECT COUNT(*) FROM operations) + (SELECT COUNT(*) FROM movements) AS n').one().n;
    if (left > 0) this.sql.exec("INSERT OR REPLACE INTO due (kind, ref, due_at) VALUES ('prune', 'all', ?)", now + PRUNE_EVERY_MS);
    else this.sql.exec("DELETE FROM due WHERE kind = 'prune'");
  }

  private raiseFlag(now: number, reason: string): void {
    this.sql.exec('INSERT OR IGNORE INTO flags (name, raised_at, reason) VALUES (?, ?, ?)', RECONCILIATION_FLAG, now, reason);
  }

  private movement(now: number, kind: string, warehouseId: string, onHandDelta: number, reservedDelta: number, ref: string | null, opId: string | null): void {
    this.sql.exec(
      'INSERT INTO movements (at, kind, warehouse_id, on_hand_delta, reserved_delta, ref, op_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
      now,
      kind,
      warehouseId,
      onHandDelta,
      reservedDelta,
      ref,
      opId,
    );
  }

  private stockMemo(): StockMemo {
    return (this.stock ??= this.sql
      .exec<StockMemo>(
        "SELECT (SELECT SUM(MAX(on_hand - reserved, 0)) FROM levels) AS reservable, (SELECT MIN(due_at) FROM due WHERE kind = 'expire') AS nextExpiry, (SELECT shards FROM shard_config WHERE id = 1) AS shards",
      )
      .one());
  }

  private allLevels(): LevelRow[] {
    return this.sql.exec<LevelRow>('SELECT warehouse_id, on_hand, reserved, in_transit_out FROM levels ORDER BY warehouse_id').toArray();
  }

  private level(warehouseId: string): StockLevel {
    const row = this.sql.exec<LevelRow>('SELECT warehouse_id, on_hand, reserved, in_transit_out FROM levels WHERE warehouse_id = ?', warehouseId).toArray()[0];
    return row ? fromRow(row) : emptyLevel(warehouseId);
  }

  private saveLevel(level: StockLevel, now: number): void {
    this.sql.exec(
      'INSERT INTO levels (warehouse_id, on_hand, reserved, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (warehouse_id) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved, updated_at = excluded.updated_at',
      level.warehouseId,
      level.onHand,
      level.reserved,
      now,
    );
  }

  private reservationRow(id: string): ReservationRow | undefined {
    return this.sql.exec<ReservationRow>('SELECT * FROM reservations WHERE id = ?', id).toArray()[0];
  }

  private linesOfReservation(id: string): AllocationLine[] {
    return this.sql
      .exec<{ warehouse_id: string; quantity: number }>('SELECT warehouse_id, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY warehouse_id', id)
      .toArray()
      .map((l) => ({ warehouseId: l.warehouse_id, quantity: l.quantity }));
  }

  private reservationView(row: ReservationRow): ReservationView {
    return {
      reservationId: row.id,
      ref: { kind: row.ref_kind, id: row.ref_id },
      status: row.status,
      quantity: row.quantity,
      lines: this.linesOfReservation(row.id),
      createdAt: iso(row.created_at),
      expiresAt: iso(row.expires_at),
      closedAt: row.closed_at === null ? null : iso(row.closed_at),
      closeReason: row.close_reason,
    };
  }

  private warehouseTransferRow(id: string): WarehouseTransferRow | undefined {
    return this.sql.exec<WarehouseTransferRow>('SELECT * FROM warehouse_transfers WHERE id = ?', id).toArray()[0];
  }

  /** in_transit → received (destination on hand +q) or cancelled (source on hand +q); the source's in transit −q either way. */
  private closeTransfer(transferId: string, to: 'received' | 'cancelled', now: number, opId: string): CloseTransferResult {
    const row = this.warehouseTransferRow(transferId);
    if (!row) return fail('NOT_FOUND', `no transfer ${transferId}`);
    if (row.status === to) return { ok: true as const, transfer: transferView(row), changed: false };
    if (row.status !== 'in_transit') return fail('TRANSFER_CLOSED', `transfer ${transferId} is ${row.status}`);
    const into = to === 'received' ? row.to_warehouse_id : row.from_warehouse_id;
    this.sql.exec('UPDATE levels SET in_transit_out = in_transit_out - ?, updated_at = ? WHERE warehouse_id = ?', row.quantity, now, row.from_warehouse_id);
    const level = this.level(into);
    this.saveLevel({ ...level, onHand: level.onHand + row.quantity }, now);
    this.movement(now, to === 'received' ? 'transfer_receive' : 'transfer_cancel', into, row.quantity, 0, transferId, opId);
    this.sql.exec('UPDATE warehouse_transfers SET status = ?, closed_at = ? WHERE id = ?', to, now, transferId);
    return { ok: true as const, transfer: transferView(this.warehouseTransferRow(transferId)!), changed: true };
  }

  private transferRow(id: string, direction: 'out' | 'in'): TransferRow | undefined {
    return this.sql.exec<TransferRow>('SELECT * FROM transfers WHERE id = ? AND direction = ?', id, direction).toArray()[0];
  }

  /** The SKU's shard count (shard 0), read once: only `configureShards` changes it, and forgets it. */
  private shardCount(): number {
    return (this.shards ??= this.sql.exec<{ shards: number }>('SELECT shards FROM shard_config WHERE id = 1').toArray()[0]?.shards ?? 1);
  }
}

/** Adjustments and warehouse transfers: a refusal for lack of stock changed nothing and does not consume the op id. */
function keepUnlessShort(result: { ok: boolean; code?: string }): boolean {
  return result.ok || result.code !== 'INSUFFICIENT_STOCK';
}

function fromRow(row: LevelRow): StockLevel {
  return { warehouseId: row.warehouse_id, onHand: row.on_hand, reserved: row.reserved };
}

function toLevel(level: StockLevel | LevelRow): Level {
  const l = 'warehouse_id' in level ? fromRow(level) : level;
  const view: Level = { warehouseId: l.warehouseId, onHand: l.onHand, reserved: l.reserved, available: available(l) };
  return 'in_transit_out' in level ? { ...view, inTransitOut: level.in_transit_out } : view;
}

function transferView(row: WarehouseTransferRow): WarehouseTransferView {
  return {
    transferId: row.id,
    fromWarehouseId: row.from_warehouse_id,
    toWarehouseId: row.to_warehouse_id,
    quantity: row.quantity,
    status: row.status,
    note: row.note,
    createdAt: iso(row.created_at),
    closedAt: row.closed_at === null ? null : iso(row.closed_at),
  };
}

function linesOf(t: Pick<TransferRow, 'lines'>): AllocationLine[] {
  return JSON.parse(t.lines) as AllocationLine[];
}
