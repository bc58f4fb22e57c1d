import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/env';
import { buildServices } from './services';

const CONTEXTS = ['catalog', 'auth', 'audit', 'events', 'inventory', 'payments', 'orders', 'cart', 'wishlist'] as const;

describe("one request's services", () => {
  // An object literal with getters gets a hidden class of its own on every evaluation, in V8's old
  // generation, and that class kept the whole per-request service graph alive through every
  // young-generation collection (docs/performance.md, 0.3.8). The accessors must be shared.
  it('has no accessors of its own: two requests share one hidden class', () => {
    const a = buildServices(env, readConfig(env), () => undefined);
    const b = buildServices(env, readConfig(env), () => undefined);
    for (const name of CONTEXTS) {
      expect(Object.getOwnPropertyDescriptor(a, name), name).toBeUndefined();
      const shared = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(a), name);
      expect(typeof shared?.get, name).toBe('function');
      expect(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(b), name)?.get).toBe(shared?.get);
    }
  });

  it('builds each context once, on first use, per request', () => {
    const a = buildServices(env, readConfig(env), () => undefined);
    const b = buildServices(env, readConfig(env), () => undefined);
    expect(a.cart).toBe(a.cart);
    expect(a.catalog).toBe(a.catalog);
    expect(a.cart).not.toBe(b.cart);
    expect(a.db).not.toBe(b.db);
  });
});
