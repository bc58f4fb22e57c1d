/**
 * The inventory object's own ceiling: a minimal Worker (no framework, auth, validation, logging
 * or Postgres) that calls the SKU object's `reserve` RPC directly, through the same stub helpers
 * as the gateway (`inventoryFor`, `reserveSharded`). Bundled by `bundleScript` (lib/worker.ts)
 * and served by Miniflare with one Durable Object binding, INVENTORY.
 *
 *   POST /stock?sku=X&units=N&shards=S  loads N units (one warehouse) and splits them over S shards
 *   POST /reserve?sku=X&shards=S&seq=K  one unit: 201 reserved, 409 sold out, 500 anything else
 *
 * The object's outbox relay goes nowhere here (`eventsQueue` accepts and drops): this measures
 * the object, not the queue or the projection.
 */
import { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { configureShards, inventoryFor, rebalanceShards, reserveSharded } from '../../durable-objects/inventory/inventory.stub';

type BareEnv = { INVENTORY: DurableObjectNamespace<InventoryDurableObject> };

export class BareInventoryDurableObject extends InventoryDurableObject {
  override eventsQueue = { sendBatch: async () => undefined };
}

const WAREHOUSE = 'wh_bench';

export default {
  async fetch(request: Request, env: BareEnv): Promise<Response> {
    const url = new URL(request.url);
    const sku = url.searchParams.get('sku') ?? 'BARE-SKU';
    const shards = Number(url.searchParams.get('shards') ?? '1');
    const objects = env as unknown as Pick<Env, 'INVENTORY'>;
    if (url.pathname === '/stock') {
      const units = Number(url.searchParams.get('units') ?? '1000');
      const set = await inventoryFor(objects, sku).setStock({ opId: `stock:${sku}`, warehouseId: WAREHOUSE, onHand: units, reason: 'receipt' });
      if (shards > 1) {
        await configureShards(objects, sku, shards, `shards:${sku}`);
        await rebalanceShards(objects, sku, shards, `rebalance:${sku}`);
      }
      return Response.json(set);
    }
    const seq = url.searchParams.get('seq') ?? crypto.randomUUID();
    const r = await reserveSharded(objects, {
      skuId: sku,
      shards,
      opId: `bare:${seq}`,
      reservationId: `rsv_bare_${seq}`,
      ref: { kind: 'checkout', id: `c${seq}` },
      quantity: 1,
      rememberRefusal: false,
    });
    return new Response(r.ok ? 'reserved' : r.code, { status: r.ok ? 201 : r.code === 'OUT_OF_STOCK' ? 409 : 500 });
  },
};
