import { z } from '@hono/zod-openapi';
import { queryInt } from '../../shared/http/query';

/** Public DTOs of inventory: availability per warehouse, staff stock views and adjustments. */
// As the SKU's object and the catalog take it: starting with a letter or digit (`__proto__` or `-0` were a 500 before 0.3.14).
const Sku = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a SKU (letters, digits, . _ -, starting with a letter or digit)');
const WarehouseIdParam = z.string().regex(/^wh_[0-9a-z]{26}$/, 'must be a warehouse id (wh_…)');

export const SkuParamSchema = z.object({ sku: Sku.openapi({ param: { name: 'sku', in: 'path' }, example: 'KB-1042-BLK' }) });
export const WarehouseParamSchema = z.object({ id: WarehouseIdParam.openapi({ param: { name: 'id', in: 'path' } }) });

export const AvailabilitySchema = z
  .object({
    sku: z.string(),
    /** Units that can be sold now, over every warehouse. */
    available: z.number().int(),
    warehouses: z.array(z.object({ warehouseId: z.string(), code: z.string().nullable(), region: z.string().nullable(), available: z.number().int() })),
  })
  .openapi('Availability');
export type Availability = z.infer<typeof AvailabilitySchema>;

export const StockLineSchema = z
  .object({
    sku: z.string(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    available: z.number().int(),
    /** Units sent from this warehouse to another and not yet received: in no on hand, available nowhere. */
    inTransitOut: z.number().int(),
    /** Recorded stock went below what exists (offline sale, damage): count it. */
    needsReconciliation: z.boolean(),
  })
  .openapi('StockLine');
export type StockLine = z.infer<typeof StockLineSchema>;

export const WarehouseStockQuerySchema = z.object({
  limit: queryInt(1, 100).default(50),
  cursor: z.string().max(2048).optional(),
});
export type WarehouseStockQuery = z.infer<typeof WarehouseStockQuerySchema>;

export const WarehouseStockSchema = z
  .object({ warehouseId: z.string(), items: z.array(StockLineSchema), nextCursor: z.string().nullable() })
  .openapi('WarehouseStock');
export type WarehouseStock = z.infer<typeof WarehouseStockSchema>;

export const AdjustmentBodySchema = z
  .object({
    sku: Sku,
    /** Units added (> 0: receipt, return_to_stock) or removed (< 0: damage); either for a cycle count. */
    delta: z
      .number()
      .int()
      .min(-1_000_000)
      .max(1_000_000)
      .refine((d) => d !== 0, 'delta must not be 0'),
    reason: z.enum(['receipt', 'cycle_count', 'damage', 'return_to_stock']),
    note: z.string().trim().max(200).optional(),
  })
  .strict()
  .openapi('StockAdjustmentRequest');
export type AdjustmentInput = z.infer<typeof AdjustmentBodySchema>;

export const AdjustmentResultSchema = z
  .object({ warehouseId: z.string(), sku: z.string(), delta: z.number().int(), reason: z.string(), level: StockLineSchema })
  .openapi('StockAdjustment');
export type AdjustmentResult = z.infer<typeof AdjustmentResultSchema>;

export const IdempotencyHeaderSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only')
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, description: 'Retries with the same key and body have one effect' }),
});

export const ReserveBodySchema = z
  .object({
    quantity: z.number().int().min(1).max(1000),
    /** Seconds the units are held before they return by themselves (30 to 3600, default 900). */
    ttlSeconds: z.number().int().min(30).max(3600).optional(),
    ref: z.object({ kind: z.enum(['checkout', 'order']), id: z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/) }).strict(),
  })
  .strict()
  .openapi('ReserveRequest');
export type ReserveInput = z.infer<typeof ReserveBodySchema>;

export const ReservationSchema = z
  .object({
    reservationId: z.string(),
    sku: z.string(),
    quantity: z.number().int(),
    status: z.string(),
    shard: z.number().int(),
    lines: z.array(z.object({ warehouseId: z.string(), quantity: z.number().int() })),
    expiresAt: z.string(),
  })
  .openapi('Reservation');
export type Reservation = z.infer<typeof ReservationSchema>;

export const ReservationParamSchema = z.object({
  sku: Sku.openapi({ param: { name: 'sku', in: 'path' } }),
  reservationId: z
    .string()
    .regex(/^rsv_[0-9a-f]{32}$/, 'must be a reservation id (rsv_…)')
    .openapi({ param: { name: 'reservationId', in: 'path' } }),
});

export const ReleaseQuerySchema = z.object({ shard: queryInt(0, 63).optional() });

export const ShardsBodySchema = z.object({ shards: z.number().int().min(1).max(64) }).strict().openapi('SkuShardsRequest');
export const ShardsResultSchema = z
  .object({ sku: z.string(), shards: z.number().int(), moves: z.array(z.object({ from: z.number().int(), to: z.number().int(), moved: z.number().int() })) })
  .openapi('SkuShards');

export const TransferBodySchema = z
  .object({
    sku: Sku,
    /** The receiving warehouse (not this one). */
    toWarehouseId: WarehouseIdParam,
    quantity: z.number().int().min(1).max(1_000_000),
    note: z.string().trim().max(200).optional(),
  })
  .strict()
  .openapi('StockTransferRequest');
export type TransferInput = z.infer<typeof TransferBodySchema>;

export const TransferSchema = z
  .object({
    transferId: z.string(),
    sku: z.string(),
    fromWarehouseId: z.string(),
    toWarehouseId: z.string(),
    quantity: z.number().int(),
    /** in_transit: out of the source, not yet in the destination (available nowhere); then received or cancelled. */
    status: z.enum(['in_transit', 'received', 'cancelled']),
    note: z.string().nullable(),
    createdAt: z.string(),
    receivedAt: z.string().nullable(),
    cancelledAt: z.string().nullable(),
  })
  .openapi('StockTransfer');
export type Transfer = z.infer<typeof TransferSchema>;

export const TransferParamSchema = z.object({
  id: WarehouseIdParam.openapi({ param: { name: 'id', in: 'path' } }),
  transferId: z
    .string()
    .regex(/^trf_[0-9a-f]{32}$/, 'must be a transfer id (trf_…)')
    .openapi({ param: { name: 'transferId', in: 'path' } }),
});

export const TransferListQuerySchema = z.object({
  /** out: leaving this warehouse; in: coming to it; both (default). */
  direction: z.enum(['out', 'in', 'both']).default('both'),
  status: z.enum(['in_transit', 'received', 'cancelled']).optional(),
  limit: queryInt(1, 100).default(50),
  cursor: z.string().max(2048).optional(),
});
export type TransferListQuery = z.infer<typeof TransferListQuerySchema>;

export const TransferListSchema = z
  .object({ warehouseId: z.string(), items: z.array(TransferSchema), nextCursor: z.string().nullable() })
  .openapi('StockTransferList');
export type TransferList = z.infer<typeof TransferListSchema>;
