import { commitReservation, inventoryFor, offlineSaleOnShards, releaseReservation, reserveAll, type InventoryEnv } from '../../durable-objects/inventory/inventory.stub';
import type { InventoryPort, PaymentsPort, ReservedItem, SagaPorts } from '../../durable-objects/order/order.stub';
import type { EventEnvelope } from '../../shared/events';

/**
 * The order saga's ports over inventory's objects (through inventory's stub helpers: the one way
 * to reach them) plus the payments port and the order-events queue given by the gateway.
 */
export interface SagaPortDeps {
  objects: InventoryEnv;
  payments: PaymentsPort;
  queue: Pick<Queue, 'sendBatch'>;
  paymentTimeoutMs: number;
}

class InventoryRefused extends Error {
  constructor(step: string, code: string, message: string) {
    super(`${step} refused by inventory: ${code}: ${message}`);
    this.name = 'InventoryRefused';
  }
}

export function makeSagaPorts(deps: SagaPortDeps): SagaPorts {
  const env = deps.objects;
  const inventory: InventoryPort = {
    async reserve(input) {
      const r = await reserveAll(env, {
        opId: input.opId,
        reservationId: input.reservationId,
        ref: { kind: 'order', id: input.orderId },
        ttlSeconds: input.ttlSeconds,
        items: input.items.map((i) => ({ skuId: i.sku, quantity: i.quantity, shards: i.shards, ...(input.distances ? { distances: input.distances } : {}) })),
      });
      if (!r.ok) return { ok: false, code: r.code === 'INVALID_INPUT' ? 'UNPROCESSABLE' : r.code, message: r.message, sku: r.skuId ?? null };
      const items: ReservedItem[] = r.reservations.map((x) => ({
        sku: x.skuId,
        shard: x.shard,
        shards: input.items.find((i) => i.sku === x.skuId)?.shards ?? 1,
        lines: x.reservation.lines.map((l) => ({ warehouseId: l.warehouseId, quantity: l.quantity })),
      }));
      return { ok: true, items };
    },
    async commit({ opId, reservationId, items, soldAt }) {
      for (const item of items) {
        const r = await commitReservation(env, item.sku, { opId: `${opId}|${item.sku}`, reservationId }, { shard: item.shard, shards: item.shards });
        if (!r.ok && r.code === 'RESERVATION_EXPIRED') {
          // The hold lapsed before the commit reached it (the SKU's object was unreachable past the
          // reservation's TTL, which outlives the payment deadline by 15 minutes) but the order is
          // paid: the goods are sold. They leave as a sale that already happened (the offline-sale
          // rule): accepted even if availability goes below zero, and the SKU is then flagged for
          // reconciliation. Once per op id, dated by the order (the same on every retry).
          for (const line of item.lines) {
            const sale = await offlineSaleOnShards(env, item.sku, { shard: item.shard, shards: item.shards }, {
              opId: `${opId}|${item.sku}|${line.warehouseId}|lapsed`,
              saleId: reservationId,
              warehouseId: line.warehouseId,
              quantity: line.quantity,
              soldAt,
            });
            if (!sale.ok) throw new InventoryRefused('commit (lapsed hold)', sale.code, sale.message);
          }
          continue;
        }
        // Anything else but success stays a step to retry (and is visible in pendingSteps): a paid
        // order's stock must never be silently dropped.
        if (!r.ok) throw new InventoryRefused('commit', r.code, r.message);
      }
    },
    async release({ opId, reservationId, items, reason }) {
      for (const item of items) {
        const r = await releaseReservation(env, item.sku, { opId: `${opId}|${item.sku}`, reservationId, reason }, { shard: item.shard, shards: item.shards });
        // NOT_FOUND / RESERVATION_CLOSED: nothing left to give back (expired or already released).
        if (!r.ok && r.code !== 'NOT_FOUND' && r.code !== 'RESERVATION_CLOSED') throw new InventoryRefused('release', r.code, r.message);
      }
    },
    async restock({ opId, items, note }) {
      for (const item of items) {
        for (const line of item.lines) {
          const r = await inventoryFor(env, item.sku, item.shard).adjust({
            opId: `${opId}|${item.sku}|${line.warehouseId}`,
            warehouseId: line.warehouseId,
            delta: line.quantity,
            reason: 'return_to_stock',
            note: note.slice(0, 200),
          });
          if (!r.ok) throw new InventoryRefused('restock', r.code, r.message);
        }
      }
    },
  };
  return {
    inventory,
    payments: deps.payments,
    async publish(events: EventEnvelope[]) {
      await deps.queue.sendBatch(events.map((body) => ({ body, contentType: 'json' as const })));
    },
    config: { paymentTimeoutMs: deps.paymentTimeoutMs },
  };
}
