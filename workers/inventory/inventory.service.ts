import { inventoryFor, type InventoryEnv } from '../../durable-objects/inventory/inventory.stub';
import type { LevelsView } from '../../durable-objects/inventory/inventory.schemas';
import { recordAudit } from '../../shared/audit/audit';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { assertWarehouseAccess, mustActor } from '../../shared/http/authorize';
import type { RequestMeta } from '../../shared/http/context';
import { AppError, notFound } from '../../shared/kernel/app-error';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import * as repo from './inventory.repo';
import type { AdjustmentInput, AdjustmentResult, Availability, StockLine, WarehouseStock, WarehouseStockQuery } from './inventory.schemas';

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
 * (available units, as the seed and imports write them), with per-warehouse op ids so concurrent
 * first reads load it once.
 */
export function makeInventoryService(deps: InventoryDeps) {
  async function liveLevels(sku: string): Promise<LevelsView> {
    const stub = inventoryFor(deps.objects, sku);
    const view = await stub.levels();
    if (view.levels.length > 0) return view;
    const projected = await repo.projectedLevels(deps.readDb(), sku);
    if (projected.length === 0) return view;
    for (const p of projected) {
      await stub.setStock({ opId: `bootstrap:${p.warehouseId}`, warehouseId: p.warehouseId, onHand: Math.max(0, p.onHand - p.reserved), reason: 'receipt' });
    }
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
    return { sku, onHand: l?.onHand ?? 0, reserved: l?.reserved ?? 0, available: l?.available ?? 0, needsReconciliation: v.needsReconciliation !== null };
  };

  return {
    /** Public availability per warehouse, live from the SKU's object (never oversold, never stale). */
    async availability(sku: string): Promise<Availability> {
      if (!(await repo.skuExists(deps.readDb(), sku))) throw notFound('SKU', sku);
      const [view, all] = await Promise.all([liveLevels(sku), repo.warehouseList(deps.readDb())]);
      const byId = new Map(all.map((w) => [w.id, w]));
      const warehouses = view.levels.map((l) => ({
        warehouseId: l.warehouseId,
        code: byId.get(l.warehouseId)?.code ?? null,
        region: byId.get(l.warehouseId)?.region ?? null,
        available: Math.max(0, l.available),
      }));
      return { sku, available: warehouses.reduce((s, w) => s + w.available, 0), warehouses };
    },

    /** A warehouse's SKUs (from the projection), each with its live level (from its object). */
    async warehouseStock(warehouseId: string, q: WarehouseStockQuery, meta: RequestMeta): Promise<WarehouseStock> {
      assertWarehouseAccess(mustActor(meta), warehouseId);
      await knownWarehouse(warehouseId);
      const fp = fingerprint({ warehouseId });
      const after = q.cursor ? decodeCursor<{ sku: string }>(q.cursor, fp).sku : undefined;
      const skus = await repo.skusIn(deps.readDb(), warehouseId, q.limit, after);
      const page = skus.slice(0, q.limit);
      const items = await Promise.all(page.map(async (sku) => line(sku, await liveLevels(sku), warehouseId)));
      const last = page[page.length - 1];
      return { warehouseId, items, nextCursor: skus.length > q.limit && last ? encodeCursor({ sku: last }, fp) : null };
    },

    /**
     * A stock adjustment with a reason code. The Idempotency-Key (per caller) becomes the
     * object's op id: a retry with the same body has one effect and the same answer; the same
     * key with another body is 422. Audited after the object has applied it.
     */
    async adjust(warehouseId: string, input: AdjustmentInput, idempotencyKey: string, meta: RequestMeta): Promise<AdjustmentResult> {
      const actor = mustActor(meta);
      assertWarehouseAccess(actor, warehouseId);
      await knownWarehouse(warehouseId);
      if (!(await repo.skuExists(deps.readDb(), input.sku))) throw notFound('SKU', input.sku);
      await liveLevels(input.sku);
      const result = await inventoryFor(deps.objects, input.sku).adjust({
        opId: `adjust:${actor.id}:${idempotencyKey}`,
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
      const view = await inventoryFor(deps.objects, input.sku).levels();
      await recordAudit(
        deps.writeDb(),
        {
          action: 'inventory.stock.adjusted',
          outcome: 'success',
          target: { kind: 'sku', id: input.sku },
          data: { warehouseId, delta: input.delta, reason: input.reason, idempotencyKey, onHand: result.level.onHand },
        },
        meta,
      );
      return { warehouseId, sku: input.sku, delta: input.delta, reason: input.reason, level: line(input.sku, view, warehouseId) };
    },
  };
}

export type InventoryService = ReturnType<typeof makeInventoryService>;
