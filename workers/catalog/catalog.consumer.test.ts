import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { KvGenerationStore } from '../../shared/adapters/cache/kv-generation';
import { DbProvider, type AnyDb } from '../../shared/db/client';
import type { GenerationStore } from '../../shared/ports/cache';
import { readConfig } from '../../shared/env';
import { InventoryUpdated } from '../../shared/events';
import { syncVariantAvailability } from './catalog.consumer';
import { CATALOG_NAMESPACE } from './service/deps';
import { rows } from '../../test/support/db';

/**
 * The catalog's follower of inventory.updated: product_variants.available_qty takes the SKU's
 * projected availability, and the catalog cache generation moves when a variant goes in or out of
 * stock. (Through the Worker's queue handler, after the projection, in
 * workers/gateway/inventory-updated.consumer.test.ts and inventory-projection.routes.test.ts.)
 */
const db = () => new DbProvider(readConfig(env));
let wh: string;
beforeAll(async () => {
  wh = (await rows<{ id: string }>(sql`select id from warehouses order by id limit 1`))[0]!.id;
});

async function newVariant(): Promise<string> {
  const tag = crypto.randomUUID().slice(0, 8);
  const sku = `TEST-CAT-${tag}`;
  await rows(sql`insert into products (id, slug, name, brand_id, category_id, status, currency, price_min, price_max)
                 select ${`prd_cat${tag}`}, ${`test-catalog-stock-${tag}`}, 'Catalog stock test', brand_id, category_id, 'draft', currency, 100, 100
                   from products limit 1`);
  await rows(sql`insert into product_variants (id, product_id, sku, name, price, currency, available_qty)
                 values (${`var_cat${tag}`}, ${`prd_cat${tag}`}, ${sku}, 'Default', 100, 'USD', 0)`);
  return sku;
}

const updated = (sku: string, aggregateVersion: number, onHand: number, reserved: number) =>
  InventoryUpdated.create(
    { sku, shard: 0, levels: [{ sku, shard: 0, warehouseId: wh, onHand, reserved, available: onHand - reserved }] },
    { correlationId: `req_${crypto.randomUUID()}`, source: 'inventory', subject: sku, aggregateVersion },
  );

/** The follower reads the SKU's availability through this, in its transaction. */
const units = (n: number) => async () => n;

const availableQty = async (sku: string) => (await rows<{ q: number }>(sql`select available_qty as q from product_variants where sku = ${sku}`))[0]!.q;

describe('catalog follows stock (inventory.updated)', () => {
  it('bumps the catalog cache generation only when the variant goes in or out of stock, once per event', async () => {
    const sku = await newVariant();
    const generations = new KvGenerationStore(env.CACHE_KV, `gen-test-${crypto.randomUUID()}:`);
    const pool = db();
    try {
      const gen0 = await generations.current(CATALOG_NAMESPACE);
      const inStock = updated(sku, 1, 5, 0);
      expect(await syncVariantAvailability(pool.pool(), generations, inStock, units(5))).toEqual({ processed: true, available: 5, changed: true, stockFlipped: true });
      const gen1 = await generations.current(CATALOG_NAMESPACE);
      expect(gen1).toBeGreaterThan(gen0);
      // The same event again: nothing happens.
      expect(await syncVariantAvailability(pool.pool(), generations, inStock, units(5))).toEqual({ processed: false, available: null, changed: false, stockFlipped: false });
      // Fewer units, still in stock: no cache bust.
      expect(await syncVariantAvailability(pool.pool(), generations, updated(sku, 2, 5, 2), units(3))).toEqual({ processed: true, available: 3, changed: true, stockFlipped: false });
      expect(await generations.current(CATALOG_NAMESPACE)).toBe(gen1);
      expect(await availableQty(sku)).toBe(3);
      // Sold out: the in-stock filter must drop it.
      expect(await syncVariantAvailability(pool.pool(), generations, updated(sku, 3, 5, 5), units(0))).toMatchObject({ stockFlipped: true });
      expect(await generations.current(CATALOG_NAMESPACE)).toBeGreaterThan(gen1);
      // An unknown SKU changes nothing.
      expect(await syncVariantAvailability(pool.pool(), generations, updated('NO-SUCH-SKU', 1, 1, 0), units(1))).toEqual({ processed: true, available: 1, changed: false, stockFlipped: false });
    } finally {
      await pool.close();
    }
  });

  it('bumps the generation only once the new stock is committed, so no read can cache the old stock under the new generation', async () => {
    const sku = await newVariant();
    const pool = db();
    // The follower's transaction, observed: open from BEGIN until COMMIT has returned.
    let open = false;
    const inner = pool.pool();
    const observed = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<AnyDb['transaction']>) => {
          open = true;
          try {
            return await target.transaction(...args);
          } finally {
            open = false;
          }
        };
      },
    });
    const bumps: boolean[] = [];
    const store = new KvGenerationStore(env.CACHE_KV, `gen-test-${crypto.randomUUID()}:`);
    const generations: GenerationStore = { current: (ns) => store.current(ns), bump: (ns) => (bumps.push(open), store.bump(ns)) };
    try {
      expect(await syncVariantAvailability(observed, generations, updated(sku, 1, 4, 0), units(4))).toMatchObject({ stockFlipped: true });
      expect(await syncVariantAvailability(observed, generations, updated(sku, 2, 4, 4), units(0))).toMatchObject({ stockFlipped: true });
      expect({ bumps, units: await availableQty(sku) }).toEqual({ bumps: [false, false], units: 0 });
    } finally {
      await pool.close();
    }
  });
});
