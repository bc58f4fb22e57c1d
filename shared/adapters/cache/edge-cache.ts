import type { Cache } from '../../ports/cache';

/** The Workers Cache API (per data centre) as a JSON cache. Keys become synthetic URLs. */
export class EdgeCache implements Cache {
  readonly name = 'edge';

  constructor(private readonly cache: globalThis.Cache) {}

  #request(key: string): Request {
    return new Request(`https://cache.agora.internal/${encodeURIComponent(key)}`);
  }

  async get<T>(key: string): Promise<T | undefined> {
    const res = await this.cache.match(this.#request(key));
    return res ? ((await res.json()) as T) : undefined;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return;
    const res = new Response(JSON.stringify(value), {
      headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${ttlSeconds}` },
    });
    await this.cache.put(this.#request(key), res);
  }
}
