import { Redis } from '@upstash/redis/cloudflare';
import type { Cache, GenerationStore } from '../../ports/cache';

/** Upstash Redis over its REST API: a global cache layer and a strongly consistent generation store. */
export function upstashClient(url: string, token: string): Redis {
  return new Redis({ url, token, retry: { retries: 1, backoff: () => 20 } });
}

export class UpstashCache implements Cache {
  readonly name = 'upstash';

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'agora:cache:',
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const v = await this.redis.get<T>(this.prefix + key);
    return v ?? undefined;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return;
    await this.redis.set(this.prefix + key, value, { ex: ttlSeconds });
  }
}

export class UpstashGenerationStore implements GenerationStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'agora:gen:',
  ) {}

  async current(namespace: string): Promise<number> {
    return Number((await this.redis.get<number>(this.prefix + namespace)) ?? 0);
  }

  async bump(namespace: string): Promise<number> {
    return this.redis.incr(this.prefix + namespace);
  }
}
