import { sql } from 'drizzle-orm';
import { InventoryUpdated } from '../../shared/events';
import { rows } from './db';

/** Helpers of the stock projection's consumer tests (inventory.updated → stock_levels → available_qty). */

/** A draft product (kept out of listings) with one variant whose SKU only the calling test uses. */
export async function newVariant(label: string): Promise<string> {
  const tag = crypto.randomUUID().slice(0, 8);
  const sku = `TEST-${label.toUpperCase()}-${tag}`;
  await rows(sql`insert into products (id, slug, name, brand_id, category_id, status, currency, price_min, price_max)
                 select ${`prd_${label}${tag}`}, ${`test-${label}-${tag}`}, ${`${label} test`}, brand_id, category_id, 'draft', currency, 100, 100
                   from products limit 1`);
  await rows(sql`insert into product_variants (id, product_id, sku, name, price, currency, available_qty)
                 values (${`var_${label}${tag}`}, ${`prd_${label}${tag}`}, ${sku}, 'Default', 100, 'USD', 0)`);
  return sku;
}

/** An inventory.updated envelope as an inventory object emits it (whole levels, its own version). */
export const inventoryUpdated = (sku: string, aggregateVersion: number, levels: { warehouseId: string; onHand: number; reserved: number }[], shard = 0) =>
  InventoryUpdated.create(
    { sku, shard, levels: levels.map((l) => ({ ...l, sku, shard, available: l.onHand - l.reserved })) },
    { correlationId: `req_${crypto.randomUUID()}`, source: 'inventory', subject: sku, aggregateVersion },
  );

/** The projected levels of a SKU, per warehouse. */
export const stockProjection = (sku: string) =>
  rows<{ warehouse_id: string; on_hand: number; reserved: number; version: string }>(
    sql`select warehouse_id, on_hand, reserved, version::text as version from stock_levels where sku = ${sku} order by warehouse_id`,
  );

/** The catalog's `available_qty` of a SKU (the projection's follower). */
export const availableQty = async (sku: string) => (await rows<{ q: number }>(sql`select available_qty as q from product_variants where sku = ${sku}`))[0]!.q;
