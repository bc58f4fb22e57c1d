import { z } from 'zod';

/**
 * The inventory object's RPC contract: one zod schema per input and per output (STYLE rule 1).
 * The object parses every input with these schemas (RPC callers are trusted code, but a wrong
 * payload must be refused, never half-applied); outputs are plain data that Workers RPC can carry.
 *
 * Errors are returned, not thrown: `{ ok: false, code, message }` with a stable UPPER_SNAKE code,
 * so they cross RPC intact and callers can switch on them.
 */

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** The SKU an object serves: the catalog variant id (`var_…`) or sku code. No `#` (the shard separator). */
export const SkuId = z.string().min(1).max(64).regex(TOKEN, 'letters, digits and _ . : - only');
export const WarehouseId = z.string().min(1).max(64).regex(TOKEN, 'letters, digits and _ . : - only');
/** A positive whole number of units. */
export const Quantity = z.number().int().min(1).max(1_000_000);
/** An operation id as callers outside the inventory code send it (HTTP Idempotency-Key, event id, ...). */
export const OpId = z.string().min(1).max(100);
/**
 * The op id the object stores. Longer than `OpId` so the client can derive per-SKU/per-shard ids
 * (`<opId>|<skuId>|s2`) from a caller's op id and stay deterministic on retries.
 */
export const OpKey = z.string().min(1).max(256);
export const ReservationId = z.string().min(1).max(100).regex(TOKEN, 'letters, digits and _ . : - only');
export const TransferId = z.string().min(1).max(256);
export const ShardIndex = z.number().int().min(0).max(63);
export const ShardCount = z.number().int().min(1).max(64);
/**
 * A hold's lifetime. An order's hold lasts its payment deadline (ORDER_PAYMENT_TIMEOUT_SECONDS, at
 * most 7 days) plus 15 minutes; the public reservation route allows at most an hour.
 */
export const TtlSeconds = z.number().int().min(30).max(7 * 86_400 + 15 * 60).default(900);

/**
 * Who placed a hold through the public API (the caller's user id `usr_…` or client id `cli_…`).
 * A hold without one (the order saga's, placed through the stub) is nobody's to release by HTTP.
 */
export const ReservationOwner = z.string().min(1).max(100);

export const ReservationRef = z.object({
  kind: z.enum(['order', 'checkout']),
  id: z.string().min(1).max(100),
});
export type ReservationRef = z.infer<typeof ReservationRef>;

export const AllocationLine = z.object({ warehouseId: WarehouseId, quantity: Quantity });
export type AllocationLine = z.infer<typeof AllocationLine>;

/** Distance (any unit, smaller is nearer; coarse tiers are fine) from the shipping region to each warehouse. */
export const WarehouseDistances = z.record(WarehouseId, z.number().min(0));
export type WarehouseDistances = z.infer<typeof WarehouseDistances>;

export const AdjustmentReason = z.enum(['receipt', 'cycle_count', 'damage', 'return_to_stock']);
export type AdjustmentReason = z.infer<typeof AdjustmentReason>;

export const ReleaseReason = z.enum(['cancelled', 'payment_failed', 'checkout_abandoned', 'rolled_back']);
export type ReleaseReason = z.infer<typeof ReleaseReason>;

export const ReservationStatus = z.enum(['reserved', 'committed', 'released', 'expired']);
export type ReservationStatus = z.infer<typeof ReservationStatus>;

const uniqueWarehouses = (lines: readonly AllocationLine[]) => new Set(lines.map((l) => l.warehouseId)).size === lines.length;

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

export const SetStockInput = z.object({
  opId: OpKey,
  warehouseId: WarehouseId,
  /** The counted (or initially loaded) units physically on hand. */
  onHand: z.number().int().min(0).max(100_000_000),
  reason: z.enum(['cycle_count', 'receipt']).default('cycle_count'),
});

/** The first load of an object from the Postgres projection: every warehouse's on hand at once. */
export const LoadLevelsInput = z.object({
  opId: OpKey,
  levels: z.array(z.object({ warehouseId: WarehouseId, onHand: z.number().int().min(0).max(100_000_000) })).min(1).max(1000),
});

export const AdjustInput = z.object({
  opId: OpKey,
  warehouseId: WarehouseId,
  /** Units added (> 0) or removed (< 0) from on hand. */
  delta: z.number().int().min(-1_000_000).max(1_000_000).refine((d) => d !== 0, 'delta must not be 0'),
  reason: AdjustmentReason,
  note: z.string().max(200).optional(),
});

export const ReserveInput = z
  .object({
    opId: OpKey,
    reservationId: ReservationId,
    ref: ReservationRef,
    quantity: Quantity,
    ttlSeconds: TtlSeconds,
    /** Exact warehouses to hold from (the output of `allocate`); must sum to `quantity`. */
    allocation: z.array(AllocationLine).min(1).max(32).optional(),
    /** Without `allocation`: the object picks warehouses, nearest first by these distances. */
    distances: WarehouseDistances.optional(),
    /**
     * false: when the object has no reservable unit at all, the refusal is answered without a
     * write and not stored (a retry of this op id is a fresh attempt). For callers whose retries
     * need no replay of a refusal (one reservation over HTTP). Compositions that undo on refusal
     * (`reserveAll`) keep the default: a retry must replay the same refusal.
     */
    rememberRefusal: z.boolean().default(true),
    /**
     * The shard count the caller walked with (`reserveSharded`), not part of the stored payload.
     * Shard 0 notes a hold placed under a count older than its own, so a retry after the growth
     * still looks for it on the old shards (README.md, "Sharding protocol").
     */
    shards: ShardCount.optional(),
    /**
     * The public route's caller (`ReservationOwner`), stored in the reservation's row: only they
     * release it through that route (`ReleaseInput.owner`). Absent for the order saga's holds. Not
     * part of the stored payload: the op id and the reservation id already derive from it.
     */
    owner: ReservationOwner.optional(),
  })
  .refine((r) => !r.allocation || r.allocation.reduce((s, l) => s + l.quantity, 0) === r.quantity, {
    message: 'allocation must add up to quantity',
    path: ['allocation'],
  })
  .refine((r) => !r.allocation || uniqueWarehouses(r.allocation), { message: 'a warehouse appears twice', path: ['allocation'] });

export const CommitInput = z.object({ opId: OpKey, reservationId: ReservationId });

export const ReleaseInput = z.object({
  opId: OpKey,
  reservationId: ReservationId,
  reason: ReleaseReason.default('cancelled'),
  /**
   * Set by the public release route to its caller: the reservation is released only if that
   * caller placed it through the API (`ReserveInput.owner`). Another caller's hold, an order's hold
   * (no owner) and an unknown id all answer NOT_FOUND, the same answer, and that answer is not
   * stored (the op id stays free). Absent (the order saga, `reserveAll`'s undo): any reservation.
   */
  owner: ReservationOwner.optional(),
});

export const OfflineSaleInput = z.object({
  opId: OpKey,
  /** The POS sale id (kept on the movement for reconciliation). */
  saleId: z.string().min(1).max(100),
  warehouseId: WarehouseId,
  quantity: Quantity,
  soldAt: z.iso.datetime({ offset: true }),
});

const TransferBase = {
  opId: OpKey,
  /** Names one movement of units between two shards of one SKU; the same on both sides. */
  transferId: TransferId,
  skuId: SkuId,
  fromShard: ShardIndex,
  toShard: ShardIndex,
};
const distinctShards = (t: { fromShard: number; toShard: number }) => t.fromShard !== t.toShard;

/** Sent to the giving shard: units leave its on hand now and are in flight until acknowledged. */
export const TransferOutInput = z
  .object({
    ...TransferBase,
    quantity: Quantity,
    /** Only from this warehouse; otherwise from the warehouses with the most available first. */
    warehouseId: WarehouseId.optional(),
    /** Move what is available up to `quantity` instead of refusing a shortfall. */
    partial: z.boolean().default(false),
  })
  .refine(distinctShards, { message: 'a shard cannot transfer to itself', path: ['toShard'] });

/** Sent to the receiving shard with the lines `transferOut` returned. Idempotent per transferId. */
export const TransferInInput = z
  .object({
    ...TransferBase,
    lines: z.array(AllocationLine).min(1).max(32).refine(uniqueWarehouses, 'a warehouse appears twice'),
  })
  .refine(distinctShards, { message: 'a shard cannot transfer to itself', path: ['toShard'] });

/** Sent to the giving shard once the receiver has the units: the transfer is settled. */
export const AckTransferInput = z.object({ opId: OpKey, transferId: TransferId });

export const ConfigureShardsInput = z.object({ opId: OpKey, shards: ShardCount });

/**
 * A shard > 0 of a sharded SKU tells shard 0 its available units (on hand − reserved over its
 * warehouses), the units it has sent to a sibling and not settled yet, and the sibling transfers it
 * received lately: shard 0 judges the SKU's low stock on the sum (README.md, "Events"). `seq`
 * orders one shard's reports (an older one changes nothing).
 */
export const ShardAvailableInput = z.object({
  shard: ShardIndex.refine((s) => s > 0, 'shard 0 judges, it does not report'),
  seq: z.number().int().min(0),
  available: z.number().int(),
  inFlight: z.array(z.object({ transferId: TransferId, units: z.number().int().min(0) })).max(1000),
  received: z.array(TransferId).max(100),
});

export const WarehouseTransferId = z.string().regex(/^trf_[0-9a-f]{32}$/, 'a transfer id (trf_…)');
export const WarehouseTransferStatus = z.enum(['in_transit', 'received', 'cancelled']);
export type WarehouseTransferStatus = z.infer<typeof WarehouseTransferStatus>;

/** Staff move units between two warehouses: available units leave the source now, in transit. */
export const DispatchTransferInput = z
  .object({
    opId: OpKey,
    transferId: WarehouseTransferId,
    fromWarehouseId: WarehouseId,
    toWarehouseId: WarehouseId,
    quantity: Quantity,
    note: z.string().max(200).optional(),
  })
  .refine((t) => t.fromWarehouseId !== t.toWarehouseId, { message: 'a warehouse cannot transfer to itself', path: ['toWarehouseId'] });
/** The destination received the units (they join its on hand), or the source takes them back. */
export const CloseTransferInput = z.object({ opId: OpKey, transferId: WarehouseTransferId });

export type DispatchTransferInput = z.input<typeof DispatchTransferInput>;
export type CloseTransferInput = z.input<typeof CloseTransferInput>;

/** Available units at or below which the object emits `inventory.low_stock` (once per downward crossing). */
export const LowStockThreshold = z.number().int().min(0).max(1_000_000);
export const ConfigureLowStockInput = z.object({ opId: OpKey, threshold: LowStockThreshold });

export type SetStockInput = z.input<typeof SetStockInput>;
export type AdjustInput = z.input<typeof AdjustInput>;
export type LoadLevelsInput = z.input<typeof LoadLevelsInput>;
export type ReserveInput = z.input<typeof ReserveInput>;
export type CommitInput = z.input<typeof CommitInput>;
export type ReleaseInput = z.input<typeof ReleaseInput>;
export type OfflineSaleInput = z.input<typeof OfflineSaleInput>;
export type TransferOutInput = z.input<typeof TransferOutInput>;
export type TransferInInput = z.input<typeof TransferInInput>;
export type AckTransferInput = z.input<typeof AckTransferInput>;
export type ConfigureShardsInput = z.input<typeof ConfigureShardsInput>;
export type ShardAvailableInput = z.input<typeof ShardAvailableInput>;
export type ConfigureLowStockInput = z.input<typeof ConfigureLowStockInput>;

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

export const INVENTORY_ERROR_CODES = [
  'INVALID_INPUT',
  'OP_ID_REUSED',
  'OUT_OF_STOCK',
  'NOT_FOUND',
  'RESERVATION_EXISTS',
  'RESERVATION_EXPIRED',
  'RESERVATION_CLOSED',
  'INSUFFICIENT_STOCK',
  'INVALID_ADJUSTMENT',
  'TRANSFER_CONFLICT',
  'TRANSFER_CLOSED',
  'SHARDS_SHRINK',
] as const;
export const InventoryErrorCode = z.enum(INVENTORY_ERROR_CODES);
export type InventoryErrorCode = z.infer<typeof InventoryErrorCode>;

/** Every failure: a stable code, a human message and, where it helps, a little context. */
export function failureSchema<const C extends readonly [InventoryErrorCode, ...InventoryErrorCode[]]>(codes: C) {
  return z.object({
    ok: z.literal(false),
    code: z.enum(codes),
    message: z.string(),
    /** OUT_OF_STOCK / INSUFFICIENT_STOCK: units that could have been taken when refused. */
    available: z.number().int().optional(),
    /** OUT_OF_STOCK for a reservation with an explicit allocation: the units missing per warehouse. */
    shortfall: z.array(AllocationLine).optional(),
    /** RESERVATION_CLOSED: the reservation's final status. */
    status: ReservationStatus.optional(),
    /** INVALID_INPUT: one entry per offending field. */
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  });
}
export const InventoryFailure = failureSchema(INVENTORY_ERROR_CODES);
export type InventoryFailure = z.infer<typeof InventoryFailure>;

/** Codes every mutating method can return. */
const BASE = ['INVALID_INPUT', 'OP_ID_REUSED'] as const;

export const Level = z.object({
  warehouseId: WarehouseId,
  onHand: z.number().int(),
  reserved: z.number().int().min(0),
  /** onHand − reserved; negative only after an offline sale or a loss that was reported, never by a reservation. */
  available: z.number().int(),
  /** Units sent to another warehouse and not yet received (not in onHand, not available). Absent in results stored before transfers. */
  inTransitOut: z.number().int().min(0).optional(),
});
export type Level = z.infer<typeof Level>;

export const WarehouseTransferView = z.object({
  transferId: WarehouseTransferId,
  fromWarehouseId: WarehouseId,
  toWarehouseId: WarehouseId,
  quantity: Quantity,
  status: WarehouseTransferStatus,
  note: z.string().nullable(),
  createdAt: z.iso.datetime(),
  closedAt: z.iso.datetime().nullable(),
});
export type WarehouseTransferView = z.infer<typeof WarehouseTransferView>;

export const ReconciliationFlag = z.object({ raisedAt: z.iso.datetime(), reason: z.string() });

export const LevelsView = z.object({
  levels: z.array(Level),
  totals: z.object({ onHand: z.number().int(), reserved: z.number().int(), available: z.number().int() }),
  /** Set when the recorded stock went below what exists (offline sale, damage): count it. */
  needsReconciliation: ReconciliationFlag.nullable(),
  /** Units sent to a sibling shard and not yet acknowledged as received. */
  inFlightOut: z.number().int().min(0),
  /** Shard count configured for the SKU (only meaningful on shard 0; 1 elsewhere). */
  shards: ShardCount,
});
export type LevelsView = z.infer<typeof LevelsView>;

/** What one object could reserve now (the sum over its warehouses, negatives as 0). */
export interface AvailabilityView {
  available: number;
  /** Whether the object holds any warehouse row (false: never stocked, nothing loaded yet). */
  stocked: boolean;
  /** Shard count configured for the SKU (only meaningful on shard 0; 1 elsewhere). */
  shards: number;
}

export const ReservationView = z.object({
  reservationId: ReservationId,
  ref: ReservationRef,
  status: ReservationStatus,
  quantity: Quantity,
  lines: z.array(AllocationLine),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  closedAt: z.iso.datetime().nullable(),
  closeReason: z.string().nullable(),
});
export type ReservationView = z.infer<typeof ReservationView>;

const ok = <T extends z.ZodRawShape>(shape: T) => z.object({ ok: z.literal(true), ...shape });

export const SetStockResult = z.union([ok({ level: Level }), failureSchema([...BASE])]);
/** `loaded` is false when the object already held stock (another first read loaded it, or a change came first). */
export const LoadLevelsResult = z.union([ok({ loaded: z.boolean() }), failureSchema([...BASE])]);
/**
 * `replayed: true` (adjust, reserve, dispatchTransfer): the op id was done before and this is its
 * stored answer (or, for a reserve, the same hold found again): the caller marks its answer
 * `Idempotent-Replayed`. Never stored; absent on a first answer.
 */
const replayed = z.literal(true).optional();

export const AdjustResult = z.union([
  ok({ level: Level, needsReconciliation: z.boolean(), replayed }),
  failureSchema([...BASE, 'INVALID_ADJUSTMENT', 'INSUFFICIENT_STOCK']),
]);
export const ReserveResult = z.union([
  ok({ reservation: ReservationView, replayed }),
  failureSchema([...BASE, 'OUT_OF_STOCK', 'RESERVATION_EXISTS']),
]);
export const CommitResult = z.union([
  /** `changed` is false when the reservation was already committed by another operation. */
  ok({ reservation: ReservationView, changed: z.boolean() }),
  failureSchema([...BASE, 'NOT_FOUND', 'RESERVATION_EXPIRED', 'RESERVATION_CLOSED']),
]);
export const ReleaseResult = z.union([
  /** `changed` is false when it was already released or expired (nothing more to give back). */
  ok({ reservation: ReservationView, changed: z.boolean() }),
  failureSchema([...BASE, 'NOT_FOUND', 'RESERVATION_CLOSED']),
]);
export const OfflineSaleResult = z.union([ok({ level: Level, needsReconciliation: z.boolean() }), failureSchema([...BASE])]);
export const TransferOutResult = z.union([
  /** `lines` may be empty when `partial` was set and nothing was available. */
  ok({ transferId: TransferId, lines: z.array(AllocationLine) }),
  failureSchema([...BASE, 'OUT_OF_STOCK', 'TRANSFER_CONFLICT']),
]);
export const TransferInResult = z.union([ok({ transferId: TransferId, lines: z.array(AllocationLine) }), failureSchema([...BASE, 'TRANSFER_CONFLICT'])]);
export const AckTransferResult = z.union([ok({ transferId: TransferId }), failureSchema([...BASE, 'NOT_FOUND'])]);
export const ConfigureShardsResult = z.union([ok({ shards: ShardCount }), failureSchema([...BASE, 'SHARDS_SHRINK'])]);
export const DispatchTransferResult = z.union([
  ok({ transfer: WarehouseTransferView, from: Level, replayed }),
  failureSchema([...BASE, 'INSUFFICIENT_STOCK', 'TRANSFER_CONFLICT']),
]);
export const CloseTransferResult = z.union([
  /** `changed` is false when the transfer was already in that state (a replay by another op id). */
  ok({ transfer: WarehouseTransferView, changed: z.boolean() }),
  failureSchema([...BASE, 'NOT_FOUND', 'TRANSFER_CLOSED']),
]);
export type DispatchTransferResult = z.infer<typeof DispatchTransferResult>;
export type CloseTransferResult = z.infer<typeof CloseTransferResult>;
export const ConfigureLowStockResult = z.union([ok({ threshold: LowStockThreshold }), failureSchema([...BASE])]);
export const ShardAvailableResult = z.union([ok({}), failureSchema(['INVALID_INPUT'])]);

/**
 * A SKU's shard configuration (kept by shard 0). `priorShards` > 0: the count grew within the op
 * retention while the shards below it may hold reservations placed under the older count, so a
 * reservation looks for itself on shards 0..priorShards−1 before holding anywhere (0: no need).
 */
export const ShardConfigView = z.object({ shards: ShardCount, priorShards: z.number().int().min(0).max(64) });
export type ShardConfigView = z.infer<typeof ShardConfigView>;

export type SetStockResult = z.infer<typeof SetStockResult>;
export type AdjustResult = z.infer<typeof AdjustResult>;
export type LoadLevelsResult = z.infer<typeof LoadLevelsResult>;
export type ReserveResult = z.infer<typeof ReserveResult>;
export type CommitResult = z.infer<typeof CommitResult>;
export type ReleaseResult = z.infer<typeof ReleaseResult>;
export type OfflineSaleResult = z.infer<typeof OfflineSaleResult>;
export type TransferOutResult = z.infer<typeof TransferOutResult>;
export type TransferInResult = z.infer<typeof TransferInResult>;
export type AckTransferResult = z.infer<typeof AckTransferResult>;
export type ConfigureShardsResult = z.infer<typeof ConfigureShardsResult>;
export type ConfigureLowStockResult = z.infer<typeof ConfigureLowStockResult>;
export type ShardAvailableResult = z.infer<typeof ShardAvailableResult>;

// ---------------------------------------------------------------------------------------------
// Client-side compositions (inventory.stub.ts): several objects, one call
// ---------------------------------------------------------------------------------------------

/** One SKU's part of a multi-SKU reservation. `shards` > 1 reserves through the sharded protocol. */
export const ReserveItem = z.object({
  skuId: SkuId,
  quantity: Quantity,
  allocation: z.array(AllocationLine).min(1).max(32).optional(),
  distances: WarehouseDistances.optional(),
  shards: ShardCount.default(1),
});
export type ReserveItem = z.input<typeof ReserveItem>;

/** All-or-nothing reservation of several SKUs for one order or checkout. */
export const ReserveAllInput = z.object({
  opId: OpId,
  /** Used as the reservation id in every SKU object. */
  reservationId: ReservationId,
  ref: ReservationRef,
  ttlSeconds: TtlSeconds,
  items: z
    .array(ReserveItem)
    .min(1)
    .max(100)
    .refine((items) => new Set(items.map((i) => i.skuId)).size === items.length, 'a SKU appears twice'),
});
export type ReserveAllInput = z.input<typeof ReserveAllInput>;

export const ShardedReservation = z.object({ skuId: SkuId, shard: ShardIndex, reservation: ReservationView });
export type ShardedReservation = z.infer<typeof ShardedReservation>;

export const ReserveAllResult = z.union([
  z.object({ ok: z.literal(true), reservations: z.array(ShardedReservation) }),
  failureSchema(['INVALID_INPUT', 'OP_ID_REUSED', 'OUT_OF_STOCK', 'RESERVATION_EXISTS']).extend({
    /** The SKU that refused (everything reserved before it has been released). */
    skuId: SkuId.optional(),
  }),
]);
export type ReserveAllResult = z.infer<typeof ReserveAllResult>;

/** A reservation on a sharded SKU: which shard holds it (commit and release go there). */
export const ShardedReserveResult = z.union([
  /** `replayed`: the op id's hold was found again (a retry), not placed now. */
  z.object({ ok: z.literal(true), shard: ShardIndex, reservation: ReservationView, replayed }),
  failureSchema(['INVALID_INPUT', 'OP_ID_REUSED', 'OUT_OF_STOCK', 'RESERVATION_EXISTS']),
]);
export type ShardedReserveResult = z.infer<typeof ShardedReserveResult>;
