import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashBridge } from '../../../tools/local/upstash-bridge.ts';
import { upstashClient, UpstashCache, UpstashGenerationStore } from './upstash';

// The real @upstash/redis client, through the local Upstash REST bridge, against the
// machine's real Redis (REDIS_URL or 127.0.0.1:6379).
let bridge: Awaited<ReturnType<typeof startUpstashBridge>>;
const prefix = `agora:test:${Date.now().toString(36)}:${Math.random().toString(36).slice(2)}:`;

beforeAll(async () => {
  bridge = await startUpstashBridge({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
});

afterAll(async () => {
  const redis = upstashClient(bridge.url, bridge.token);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await bridge.stop();
});

describe('UpstashCache', () => {
  it('stores JSON values with a TTL and misses on unknown keys', async () => {
    const redis = upstashClient(bridge.url, bridge.token);
    const cache = new UpstashCache(redis, `${prefix}cache:`);
    const value = { items: [{ id: 'prd_1', price: { amount: 1999, currency: 'USD' } }], facets: { brands: [] }, nextCursor: null };
    await cache.set('list', value, 30);
    expect(await cache.get('list')).toEqual(value);
    expect(await cache.get('nope')).toBeUndefined();
    const ttl = await redis.ttl(`${prefix}cache:list`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
  });

  it('rejects a wrong token', async () => {
    const cache = new UpstashCache(upstashClient(bridge.url, 'wrong-token'), `${prefix}cache:`);
    await expect(cache.get('list')).rejects.toThrow();
  });
});

describe('UpstashGenerationStore', () => {
  it('increments atomically under concurrency', async () => {
    const store = new UpstashGenerationStore(upstashClient(bridge.url, bridge.token), `${prefix}gen:`);
    expect(await store.current('catalog')).toBe(0);
    await Promise.all(Array.from({ length: 20 }, () => store.bump('catalog')));
    expect(await store.current('catalog')).toBe(20);
  });
});
