import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { productVariants } from '../../shared/db/schema/catalog';
import { stockLevels, warehouses } from '../../shared/db/schema/inventory';

/** Postgres side of inventory: warehouses, the stock projection, and which SKUs exist (read-only). */
type Db = AnyDb | HttpDb;

export async function warehouseList(db: Db) {
  return (db as AnyDb).select({ id: warehouses.id, code: warehouses.code, region: warehouses.region }).from(warehouses);
}

/** Every warehouse's country (shipping distances). */
export async function warehouseCountries(db: Db) {
  return (db as AnyDb).select({ id: warehouses.id, country: warehouses.country }).from(warehouses);
}

export async function skuExists(db: Db, sku: string): Promise<boolean> {
  const [row] = await (db as AnyDb).select({ sku: productVariants.sku }).from(productVariants).where(eq(productVariants.sku, sku)).limit(1);
  return row !== undefined;
}

/** The projected levels of one SKU (used once, to load a SKU's object that has never held stock). */
export async function projectedLevels(db: Db, sku: string) {
  return (db as AnyDb)
    .select({ warehouseId: stockLevels.warehouseId, onHand: stockLevels.onHand, reserved: stockLevels.reserved })
    .from(stockLevels)
    .where(eq(stockLevels.sku, sku));
}

/** SKUs stocked in a warehouse, in SKU order after `after`. */
export async function skusIn(db: Db, warehouseId: string, limit: number, after?: string): Promise<string[]> {
  const where = after ? and(eq(stockLevels.warehouseId, warehouseId), gt(stockLevels.sku, after)) : eq(stockLevels.warehouseId, warehouseId);
  const rows = await (db as AnyDb).select({ sku: stockLevels.sku }).from(stockLevels).where(where).orderBy(asc(stockLevels.sku)).limit(limit + 1);
  return rows.map((r) => r.sku);
}

/** Units of a SKU that can be sold, over every warehouse, as the projection has them (negatives count as 0). */
export async function projectedAvailable(db: Db, sku: string): Promise<number> {
  const [row] = await (db as AnyDb)
    .select({ n: sql<number>`coalesce(sum(greatest(${stockLevels.onHand} - ${stockLevels.reserved}, 0)), 0)::int` })
    .from(stockLevels)
    .where(eq(stockLevels.sku, sku));
  return Number(row?.n ?? 0);
}
