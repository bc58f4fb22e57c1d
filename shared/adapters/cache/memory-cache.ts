import type { Cache } from '../../ports/cache';

/**
 * A bounded LRU with TTL, living in one isolate, limited both by entry count and by the
 * approximate bytes of its values (their JSON length, measured once when stored). Entries are
 * immutable snapshots (keys embed a generation), so serving them across requests of the same
 * isolate is safe.
 */
export class MemoryCache implements Cache {
  readonly name = 'memory';
  readonly #entries = new Map<string, { value: unknown; expiresAt: number; bytes: number }>();
  #bytes = 0;

  constructor(
    private readonly maxEntries = 500,
    private readonly maxBytes = 8 * 1024 * 1024,
    private readonly now: () => number = Date.now,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value as T;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return;
    const bytes = key.length + (JSON.stringify(value)?.length ?? 0);
    if (bytes > this.maxBytes / 4) return; // one huge value must not flush everything else
    this.#delete(key);
    this.#entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      this.#delete(this.#entries.keys().next().value as string);
    }
  }

  #delete(key: string) {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#bytes -= entry.bytes;
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
