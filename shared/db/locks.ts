import { sql } from 'drizzle-orm';
import type { AnyDb } from './client';

/**
 * Serialises transactions that derive one value from rows several of them write (a sum over
 * shards or warehouses): a transaction-scoped advisory lock on `key`, held until commit or
 * rollback. Under READ COMMITTED every statement after it sees what the previous holder
 * committed, so the last writer's sum includes everyone's rows. Take it before reading the rows
 * the derived value comes from, and take no other advisory lock in the same transaction.
 */
export async function lockForTransaction(tx: AnyDb, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/** The key of a SKU's projected stock: its shard rows, its warehouse rows and its variant's available_qty. */
export const skuStockLockKey = (sku: string): string => `stock:${sku}`;
