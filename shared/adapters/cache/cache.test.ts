import { describe, expect, it } from 'vitest';
import { readThrough, type Cache } from '../../ports/cache';
import { InMemoryGenerationStore } from '../../testing/fakes';
import { MemoGenerationStore } from './kv-generation';
import { MemoryCache } from './memory-cache';

describe('MemoryCache', () => {
  it('expires entries and evicts the least recently used beyond its size', async () => {
    let now = 0;
    const cache = new MemoryCache(2, 1024, () => now);
    await cache.set('a', 1, 10);
    await cache.set('b', 2, 10);
    expect(await cache.get('a')).toBe(1); // a is now most recent
    await cache.set('c', 3, 10);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBe(1);
    now = 10_001;
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('z', 1, 0);
    expect(await cache.get('z')).toBeUndefined();
  });
});

describe('MemoryCache byte budget', () => {
  it('evicts least recently used entries to stay under its byte budget', async () => {
    const cache = new MemoryCache(100, 1000);
    const value = 'x'.repeat(200); // ~200 bytes each
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, value, 60);
    expect(cache.bytes).toBeLessThanOrEqual(1000);
    expect(cache.size).toBe(4);
    expect(await cache.get('k9')).toBe(value);
    expect(await cache.get('k0')).toBeUndefined();
    await cache.set('huge', 'y'.repeat(600), 60); // over a quarter of the budget: not cached
    expect(await cache.get('huge')).toBeUndefined();
    expect(await cache.get('k9')).toBe(value);
  });
});

describe('readThrough', () => {
  it('loads once, fills every layer, and fills upper layers from a lower hit', async () => {
    const top = new MemoryCache(10);
    const bottom = new MemoryCache(10);
    const pending: Promise<unknown>[] = [];
    const bg = (p: Promise<unknown>) => void pending.push(p);
    let loads = 0;
    const load = async () => ({ n: ++loads });

    expect(await readThrough([top, bottom], 'k', 60, load, bg)).toEqual({ value: { n: 1 }, source: 'miss' });
    await Promise.all(pending);
    expect(await readThrough([top, bottom], 'k', 60, load, bg)).toEqual({ value: { n: 1 }, source: 'memory' });

    const freshTop = new MemoryCache(10);
    await readThrough([freshTop, bottom], 'k', 60, load, bg);
    await Promise.all(pending);
    expect(await freshTop.get('k')).toEqual({ n: 1 });
    expect(loads).toBe(1);
  });

  it('treats a failing layer as a miss instead of failing the read', async () => {
    const broken: Cache = {
      name: 'broken',
      get: () => Promise.reject(new Error('down')),
      set: () => Promise.reject(new Error('down')),
    };
    const pending: Promise<unknown>[] = [];
    const read = await readThrough([broken], 'k', 60, async () => 42, (p) => void pending.push(p));
    await Promise.all(pending);
    expect(read).toEqual({ value: 42, source: 'miss' });
  });
});

describe('MemoGenerationStore', () => {
  it('serves a memoised generation until its ttl, and sees its own bumps at once', async () => {
    let now = 0;
    const inner = new InMemoryGenerationStore();
    const memo = new MemoGenerationStore(inner, 1000, () => now);
    expect(await memo.current('catalog')).toBe(0);
    await inner.bump('catalog'); // another isolate writes
    expect(await memo.current('catalog')).toBe(0);
    now = 1001;
    expect(await memo.current('catalog')).toBe(1);
    expect(await memo.bump('catalog')).toBe(2);
    expect(await memo.current('catalog')).toBe(2);
  });
});
