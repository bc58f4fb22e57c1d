import { eq } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { productVariants } from '../../shared/db/schema/catalog';
import { lockForTransaction, skuStockLockKey } from '../../shared/db/locks';
import { consumeOnce } from '../../shared/events/consume-once';
import type { GenerationStore } from '../../shared/ports/cache';
import { CATALOG_NAMESPACE } from './service/deps';

/** The consumer name of the catalog's stock follower (processed_events.consumer): never rename it. */
export const VARIANT_AVAILABILITY_CONSUMER = 'catalog.variant_availability';

export interface VariantAvailabilityOutcome {
  /** false: a duplicate delivery of an event already applied (nothing done). */
  processed: boolean;
  /** The SKU's units that can be sold, as the projection had them (null for a duplicate). */
  available: number | null;
  /** The variant's available_qty moved. */
  changed: boolean;
  /** It crossed 0 (in stock ↔ out of stock): the catalog cache generation was bumped. */
  stockFlipped: boolean;
}

/**
 * The catalog's follower of `inventory.updated` (docs/events.md): keeps
 * `product_variants.available_qty`, which the storefront's `inStock` filter and facets read, equal
 * to `available(tx)` (the SKU's units that can be sold, over every warehouse and shard, as the
 * inventory projection has them; the gateway passes the inventory repository's reader, run in
 * this transaction after the inventory projection has applied the same event). When the variant goes in or out of stock the
 * catalog cache generation is bumped once the transaction has committed, so cached listings follow.
 * Not inside it: a read between the bump and the commit (PostgreSQL; PGlite holds such a read back)
 * cached the old stock under the new generation for the whole TTL (until 0.3.15). A bump that fails
 * after the commit fails the message, whose retry finds the event applied and does nothing: the
 * cached pages then show the change after the cache TTL, as they do any change that does not cross
 * 0 (those never bust the cache).
 *
 * Once per event id (`consumeOnce`); an unknown SKU changes nothing.
 */
export async function syncVariantAvailability(
  db: AnyDb,
  generations: GenerationStore,
  event: { id: string; data: { sku: string } },
  available: (tx: AnyDb) => Promise<number>,
): Promise<VariantAvailabilityOutcome> {
  const result = await consumeOnce(db, VARIANT_AVAILABILITY_CONSUMER, event.id, async (tx) => {
    // Under the SKU's stock lock (the projection's too): the sum read next includes every
    // projection committed before, and one committed after runs its own follower after this one.
    await lockForTransaction(tx, skuStockLockKey(event.data.sku));
    const units = Math.max(0, Math.trunc(await available(tx)));
    const [before] = await tx.select({ qty: productVariants.availableQty }).from(productVariants).where(eq(productVariants.sku, event.data.sku)).limit(1);
    if (!before || before.qty === units) return { available: units, changed: false, stockFlipped: false };
    await tx.update(productVariants).set({ availableQty: units }).where(eq(productVariants.sku, event.data.sku));
    return { available: units, changed: true, stockFlipped: before.qty > 0 !== units > 0 };
  });
  if (!result.processed) return { processed: false, available: null, changed: false, stockFlipped: false };
  if (result.value.stockFlipped) await generations.bump(CATALOG_NAMESPACE);
  return { processed: true, ...result.value };
}
