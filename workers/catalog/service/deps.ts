import type { Clock } from '../../../shared/kernel/clock';
import type { AnyDb, HttpDb } from '../../../shared/db/client';
import type { Cache, GenerationStore } from '../../../shared/ports/cache';
import type { SellableUnits } from '../catalog.repo';

/** What the catalog's verbs need from outside, supplied by the composition root. */
export interface CatalogDeps {
  /** Database for one-shot reads (Neon HTTP in the Worker). */
  readDb: () => AnyDb | HttpDb;
  /** Database for transactional writes (a per-request Pool in the Worker). */
  writeDb: () => AnyDb;
  /** Read-through cache layers, nearest first. */
  cache: readonly Cache[];
  generations: GenerationStore;
  cacheTtlSeconds: number;
  currency: string;
  /**
   * Units of a SKU that can be sold as the inventory projection has them, read in the save's
   * transaction: inventory's `projectedAvailable`, the reader the catalog's stock follower gets
   * (workers/gateway/queues.ts). A SKU a save adds (new, or removed and put back) starts from it
   * instead of 0. Without it such a SKU shows out of stock until its stock next moves.
   */
  sellableUnits?: SellableUnits;
  clock: Clock;
  /** Keeps background work (cache fills) alive after the response. */
  background: (p: Promise<unknown>) => void;
}

export const CATALOG_NAMESPACE = 'catalog';

/** The cache key for a catalog read under the current generation. */
export async function cacheKey(deps: CatalogDeps, kind: string, identity: unknown): Promise<string> {
  const gen = await deps.generations.current(CATALOG_NAMESPACE);
  return `catalog:${gen}:${kind}:${JSON.stringify(identity)}`;
}
