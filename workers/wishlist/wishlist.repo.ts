import { and, count, desc, eq, lt, or, sql } from 'drizzle-orm';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { wishlistItems } from '../../shared/db/schema/wishlist';

type Db = AnyDb | HttpDb;
export type WishlistRow = typeof wishlistItems.$inferSelect;

/** A user's items, newest first, after the (createdAt, productId) position of `after`. */
export async function itemsOf(db: Db, userId: string, limit: number, after?: { createdAt: Date; productId: string }): Promise<WishlistRow[]> {
  const owner = eq(wishlistItems.userId, userId);
  const where = after
    ? and(owner, or(lt(wishlistItems.createdAt, after.createdAt), and(eq(wishlistItems.createdAt, after.createdAt), lt(wishlistItems.productId, after.productId))))
    : owner;
  return (db as AnyDb)
    .select()
    .from(wishlistItems)
    .where(where)
    .orderBy(desc(wishlistItems.createdAt), desc(wishlistItems.productId))
    .limit(limit + 1);
}

/**
 * Serialises the writes to one user's wishlist that must see each other (the count against the
 * limit and the insert; the erasure's delete and a late insert): a transaction-scoped advisory
 * lock, held until commit.
 */
export async function lockUser(tx: AnyDb, userId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`wishlist:${userId}`}, 0))`);
}

export async function countOf(db: Db, userId: string): Promise<number> {
  const [r] = await (db as AnyDb).select({ n: count() }).from(wishlistItems).where(eq(wishlistItems.userId, userId));
  return Number(r?.n ?? 0);
}

export async function findItem(db: Db, userId: string, productId: string): Promise<WishlistRow | undefined> {
  const [r] = await (db as AnyDb)
    .select()
    .from(wishlistItems)
    .where(and(eq(wishlistItems.userId, userId), eq(wishlistItems.productId, productId)))
    .limit(1);
  return r;
}

/** Inserts or updates the variant of an item already there (`existing`, when the caller read it); answers the row and whether it is new. */
export async function upsertItem(
  db: AnyDb,
  userId: string,
  productId: string,
  variantId: string | null,
  existing: WishlistRow | undefined | null = null,
): Promise<{ row: WishlistRow; created: boolean }> {
  if (existing === null) existing = await findItem(db, userId, productId);
  if (existing) {
    if (existing.variantId === variantId) return { row: existing, created: false };
    const [row] = await db
      .update(wishlistItems)
      .set({ variantId })
      .where(and(eq(wishlistItems.userId, userId), eq(wishlistItems.productId, productId)))
      .returning();
    return { row: row!, created: false };
  }
  const inserted = await db.insert(wishlistItems).values({ userId, productId, variantId }).onConflictDoNothing().returning();
  if (inserted[0]) return { row: inserted[0], created: true };
  return { row: (await findItem(db, userId, productId))!, created: false };
}

export async function deleteItem(db: AnyDb, userId: string, productId: string): Promise<boolean> {
  return (await takeItem(db, userId, productId)) !== null;
}

/** Removes the entry and answers it (null when there was none): of requests racing for one entry, one gets it. */
export async function takeItem(db: AnyDb, userId: string, productId: string): Promise<WishlistRow | null> {
  const [row] = await db
    .delete(wishlistItems)
    .where(and(eq(wishlistItems.userId, userId), eq(wishlistItems.productId, productId)))
    .returning();
  return row ?? null;
}

/**
 * Puts a taken entry back as it was, under the user's lock and the same count check as a save:
 * `present` when the user saved the product again meanwhile (that row stays), `full` when other
 * saves meanwhile took the wishlist to `max` items (nothing is written: the limit holds, and the
 * caller must say the entry was not put back), else `restored`. The caller then checks the account
 * was not erased meanwhile.
 */
export async function restoreItem(db: AnyDb, row: WishlistRow, max: number): Promise<'restored' | 'present' | 'full'> {
  return db.transaction(async (tx) => {
    await lockUser(tx, row.userId);
    if (await findItem(tx, row.userId, row.productId)) return 'present';
    if ((await countOf(tx, row.userId)) >= max) return 'full';
    await tx.insert(wishlistItems).values(row).onConflictDoNothing();
    return 'restored';
  });
}

export async function deleteAllOf(db: AnyDb, userId: string): Promise<number> {
  const r = await db.delete(wishlistItems).where(eq(wishlistItems.userId, userId)).returning({ productId: wishlistItems.productId });
  return r.length;
}
