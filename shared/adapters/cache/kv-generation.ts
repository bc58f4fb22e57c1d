import type { GenerationStore } from '../../ports/cache';

/**
 * Generation counters in Workers KV. KV is eventually consistent across locations (about a
 * minute); writes are visible at once in the isolate that made them.
 */
export class KvGenerationStore implements GenerationStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly prefix = 'gen:',
  ) {}

  async current(namespace: string): Promise<number> {
    return Number((await this.kv.get(this.prefix + namespace)) ?? 0);
  }

  async bump(namespace: string): Promise<number> {
    // KV has no atomic increment; a timestamp-based generation is monotonic enough for cache keys.
    const next = Math.max((await this.current(namespace)) + 1, Date.now());
    await this.kv.put(this.prefix + namespace, String(next));
    return next;
  }
}

/**
 * Memoises another store's generations per isolate for `ttlMs`, so a hot read path does no
 * I/O for them; a bump made here is seen here at once.
 */
export class MemoGenerationStore implements GenerationStore {
  readonly #memo = new Map<string, { value: number; until: number }>();

  constructor(
    private readonly inner: GenerationStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async current(namespace: string): Promise<number> {
    const hit = this.#memo.get(namespace);
    if (hit && hit.until > this.now()) return hit.value;
    const value = await this.inner.current(namespace);
    this.#memo.set(namespace, { value, until: this.now() + this.ttlMs });
    return value;
  }

  async bump(namespace: string): Promise<number> {
    const value = await this.inner.bump(namespace);
    this.#memo.set(namespace, { value, until: this.now() + this.ttlMs });
    return value;
  }
}
