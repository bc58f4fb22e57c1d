import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EdgeCache } from '../../shared/adapters/cache/edge-cache';
import { KvGenerationStore } from '../../shared/adapters/cache/kv-generation';
import { readConfig } from '../../shared/env';
import { json } from '../../test/support/http';
import { buildServices } from './services';

const meta = { requestId: 'req_test', traceparent: '', actor: null };

describe('edge adapters inside workerd', () => {
  it('EdgeCache round-trips JSON through the Cache API', async () => {
    const cache = new EdgeCache(caches.default);
    const key = `test:${crypto.randomUUID()}`;
    expect(await cache.get(key)).toBeUndefined();
    await cache.set(key, { a: [1, 2, 3] }, 60);
    expect(await cache.get(key)).toEqual({ a: [1, 2, 3] });
  });

  it('KvGenerationStore bumps monotonically', async () => {
    const store = new KvGenerationStore(env.CACHE_KV, `test-${crypto.randomUUID()}:`);
    expect(await store.current('catalog')).toBe(0);
    const a = await store.bump('catalog');
    const b = await store.bump('catalog');
    expect(b).toBeGreaterThan(a);
    expect(await store.current('catalog')).toBe(b);
  });
});

describe('catalog writes invalidate every cache layer', () => {
  it('a product update is visible on the next read, not after the TTL', async () => {
    const { body: page } = await json('/v1/products?limit=1&sort=price_desc');
    const slug = page.items[0].slug as string;
    const first = await json(`/v1/products/${slug}`);
    const second = await json(`/v1/products/${slug}`);
    expect(second.res.headers.get('x-cache')).not.toBe('miss');
    expect(second.body).toEqual(first.body);

    const pending: Promise<unknown>[] = [];
    const services = buildServices(env, readConfig(env), (p) => void pending.push(p));
    const newName = `${first.body.name} (Renamed ${Date.now()})`;
    await services.catalog.updateProduct(first.body.id, { name: newName }, meta);
    await Promise.all(pending);
    await services.db.close();

    const after = await json(`/v1/products/${slug}`);
    expect(after.res.headers.get('x-cache')).toBe('miss');
    expect(after.body.name).toBe(newName);
    const listed = await json(`/v1/products?q=renamed&limit=5`);
    expect(listed.body.items.map((p: { id: string }) => p.id)).toContain(first.body.id);
  });
});
