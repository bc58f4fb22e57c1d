import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashBridge } from '../../../tools/local/upstash-bridge.ts';
import type { RateLimitRule } from '../../ports/rate-limiter';
import { UpstashRateLimiter } from './upstash-rate-limiter';

// The real @upstash/redis and @upstash/ratelimit clients, through the local Upstash REST
// bridge, against the machine's real Redis (REDIS_URL or 127.0.0.1:6379).
let bridge: Awaited<ReturnType<typeof startUpstashBridge>>;
let redis: Redis;
let limiter: UpstashRateLimiter;

/** Unique per run, so runs never share counters: every rule name starts with it. */
const run = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
let rules = 0;
const rule = (limit: number, windowSeconds: number): RateLimitRule => ({ name: `${run}-${++rules}:test`, limit, windowSeconds });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until `offsetMs` into the next window of `windowSeconds` (windows are aligned on the epoch). */
async function untilNextWindow(windowSeconds: number, offsetMs: number): Promise<number> {
  const windowMs = windowSeconds * 1000;
  const start = (Math.floor(Date.now() / windowMs) + 1) * windowMs;
  await sleep(start + offsetMs - Date.now());
  return start;
}

async function spend(r: RateLimitRule, key: string, count: number) {
  const decisions = [];
  for (let i = 0; i < count; i++) decisions.push(await limiter.limit(r, key));
  return decisions;
}

beforeAll(async () => {
  bridge = await startUpstashBridge({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  redis = new Redis({ url: bridge.url, token: bridge.token });
  limiter = new UpstashRateLimiter(redis);
});

afterAll(async () => {
  const keys = await redis.keys(`agora:rl:${run}-*`);
  if (keys.length) await redis.del(...keys);
  await bridge.stop();
});

describe('UpstashRateLimiter', () => {
  it('peeks without counting: only limit() spends the budget', async () => {
    const r = rule(2, 60);
    for (let i = 0; i < 5; i++) expect((await limiter.peek(r, 'acct')).allowed).toBe(true);
    await spend(r, 'acct', 2);
    const peeked = await limiter.peek(r, 'acct');
    expect(peeked.allowed).toBe(false);
    expect(peeked.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('allows `limit` requests, then refuses with a Retry-After within the window', async () => {
    const r = rule(3, 60);
    expect(limiter.name).toBe('upstash');
    const decisions = await spend(r, 'ip:203.0.113.7', 5);
    expect(decisions.slice(0, 3)).toEqual([
      { allowed: true, limit: 3, remaining: 2, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 1, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 0, retryAfterSeconds: 0 },
    ]);
    for (const refused of decisions.slice(3)) {
      expect(refused).toMatchObject({ allowed: false, limit: 3, remaining: 0 });
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    // Stored under our prefix, the rule's name and the key, one counter per fixed window.
    const stored = await redis.keys(`agora:rl:${r.name}:ip:203.0.113.7:*`);
    expect(stored).toHaveLength(1);
    expect(await redis.get(stored[0]!)).toBe(3); // refused requests are not counted
  });

  it('keeps separate budgets per key and per rule', async () => {
    const login = rule(2, 60);
    const signup = rule(2, 60);
    expect((await spend(login, 'a', 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    expect((await spend(login, 'b', 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    expect((await spend(signup, 'a', 3)).map((d) => d.allowed)).toEqual([true, true, false]);
    // The same name with another limit or window is another rule, with its own limiter.
    expect((await limiter.limit({ ...login, limit: 5 }, 'a')).allowed).toBe(true);
  });

  it('slides: the previous window still counts, by how much of it is still in view', async () => {
    const r = rule(3, 2);
    const start = await untilNextWindow(2, 50);
    expect((await spend(r, 'k', 4)).map((d) => d.allowed)).toEqual([true, true, true, false]);
    // Just after the boundary the previous window weighs floor(3 × (1 − elapsed/2000)) = 2
    // (for elapsed < 667 ms): one request fits where a fixed window would allow three.
    await sleep(start + 2000 + 50 - Date.now());
    const early = await spend(r, 'k', 2);
    expect(Date.now() - (start + 2000)).toBeLessThan(667); // the assertions below assume it
    expect(early.map((d) => d.allowed)).toEqual([true, false]);
    expect(early[1]!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Once the burst's window has slid out of view, the full budget is back.
    await sleep(start + 4000 + 50 - Date.now());
    expect((await spend(r, 'k', 4)).map((d) => d.allowed)).toEqual([true, true, true, false]);
  });

  it('rejects a bad rule or key with a TypeError, before touching Redis', async () => {
    const good = rule(1, 60);
    const bad: [RateLimitRule, string][] = [
      [{ ...good, name: '' }, 'k'],
      [{ ...good, name: 'has space' }, 'k'],
      [{ ...good, name: 'x'.repeat(65) }, 'k'],
      [{ ...good, limit: 0 }, 'k'],
      [{ ...good, limit: 2.5 }, 'k'],
      [{ ...good, limit: 1_000_001 }, 'k'],
      [{ ...good, windowSeconds: 0 }, 'k'],
      [{ ...good, windowSeconds: 86_401 }, 'k'],
      [{ ...good, windowSeconds: Number.NaN }, 'k'],
      [good, ''],
      [good, 'k'.repeat(201)],
    ];
    for (const [r, key] of bad) await expect(limiter.limit(r, key), JSON.stringify([r, key.length])).rejects.toThrow(TypeError);
    expect(await redis.keys(`agora:rl:${good.name}:*`)).toEqual([]);
    // The bounds themselves are accepted.
    expect((await limiter.limit({ name: `${run}-b`.padEnd(64, 'x'), limit: 1_000_000, windowSeconds: 86_400 }, 'k'.repeat(200))).allowed).toBe(true);
  });

  it('rejects (does not allow) when Upstash fails, so the caller decides', async () => {
    const wrongToken = new UpstashRateLimiter(new Redis({ url: bridge.url, token: 'wrong-token', retry: false }));
    await expect(wrongToken.limit(rule(5, 60), 'k')).rejects.toThrow(/Unauthorized/);
  });
});
