import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { RateLimitRule } from '../../shared/ports/rate-limiter';
import type { RateLimiterDurableObject } from './rate-limiter.do';
import { DurableObjectRateLimiter } from './rate-limiter.stub';

/**
 * Runs inside workerd (the `workers` project) against the real object through its binding.
 * Storage is shared by the tests of this file, so every test uses its own rule names and keys.
 */
const limiter = new DurableObjectRateLimiter(env.RATE_LIMITER);
const unique = () => crypto.randomUUID().slice(0, 8);
const rule = (limit: number, windowSeconds: number): RateLimitRule => ({ name: `test:${unique()}`, limit, windowSeconds });
const objectFor = (r: RateLimitRule, key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`${r.name}:${key}`));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Row = { rule: string; key: string; window_ms: number; window_start: number; current_count: number; previous_count: number; expires_at: number };
const rowsOf = (stub: DurableObjectStub<RateLimiterDurableObject>) =>
  runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<Row>('SELECT * FROM rate_limit_counters ORDER BY rule').toArray());
/** User tables left in the object's SQLite (workerd's own `_cf_*` tables aside). */
const tablesOf = (stub: DurableObjectStub<RateLimiterDurableObject>) =>
  runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")
      .toArray()
      .map((t) => t.name),
  );
const alarmOf = (stub: DurableObjectStub<RateLimiterDurableObject>) => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());

describe('RateLimiterDurableObject through DurableObjectRateLimiter', () => {
  it('peeks without counting: only limit() spends the budget', async () => {
    const r = rule(2, 60);
    for (let i = 0; i < 5; i++) expect((await limiter.peek(r, 'acct')).allowed).toBe(true);
    await limiter.limit(r, 'acct');
    expect(await limiter.peek(r, 'acct')).toMatchObject({ allowed: true });
    await limiter.limit(r, 'acct');
    const peeked = await limiter.peek(r, 'acct');
    expect(peeked.allowed).toBe(false);
    expect(peeked.retryAfterSeconds).toBeGreaterThan(0);
    expect((await limiter.limit(r, 'acct')).allowed).toBe(false);
  });

  it('allows `limit` requests, then refuses with a Retry-After', async () => {
    const r = rule(3, 60);
    expect(limiter.name).toBe('durable-object');
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.limit(r, 'ip:203.0.113.7'));
    expect(decisions.slice(0, 3)).toEqual([
      { allowed: true, limit: 3, remaining: 2, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 1, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 0, retryAfterSeconds: 0 },
    ]);
    for (const refused of decisions.slice(3)) {
      expect(refused).toMatchObject({ allowed: false, limit: 3, remaining: 0 });
      // Three in the current window: allowed again just after the next window starts.
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(61);
    }
    const stub = objectFor(r, 'ip:203.0.113.7');
    const [row] = await rowsOf(stub);
    expect(row).toMatchObject({ rule: r.name, key: 'ip:203.0.113.7', window_ms: 60_000, current_count: 3, previous_count: 0 });
    expect(row!.window_start % 60_000).toBe(0);
    expect(row!.expires_at).toBe(row!.window_start + 120_000);
    expect(await alarmOf(stub)).toBe(row!.expires_at);
  });

  it('admits exactly `limit` of 50 concurrent requests', async () => {
    const r = rule(20, 3600);
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.limit(r, 'burst')));
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(20);
    expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(decisions.filter((d) => !d.allowed).every((d) => d.remaining === 0 && d.retryAfterSeconds >= 1)).toBe(true);
    expect((await rowsOf(objectFor(r, 'burst')))[0]?.current_count).toBe(20);
  });

  it('keeps separate budgets per key and per rule', async () => {
    const a = rule(1, 60);
    const b = rule(1, 60);
    expect((await limiter.limit(a, 'x')).allowed).toBe(true);
    expect((await limiter.limit(a, 'x')).allowed).toBe(false);
    expect((await limiter.limit(a, 'y')).allowed).toBe(true);
    expect((await limiter.limit(b, 'x')).allowed).toBe(true);
  });

  it('slides: waiting the Retry-After is enough, and a changed window starts afresh', async () => {
    const r = rule(2, 1);
    // Windows are aligned to multiples of their length. Start just after a boundary, so the three
    // calls share one window: straddling one (a loaded CI machine) let the third in, weighted.
    await sleep(1000 - (Date.now() % 1000) + 20);
    expect((await limiter.limit(r, 'k')).allowed).toBe(true);
    expect((await limiter.limit(r, 'k')).allowed).toBe(true);
    const refused = await limiter.limit(r, 'k');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(2);
    await sleep(refused.retryAfterSeconds * 1000);
    expect((await limiter.limit(r, 'k')).allowed).toBe(true);

    const [before] = await rowsOf(objectFor(r, 'k'));
    expect(before?.window_ms).toBe(1000);
    expect((await limiter.limit({ ...r, windowSeconds: 60 }, 'k')).remaining).toBe(1);
    expect((await rowsOf(objectFor(r, 'k')))[0]).toMatchObject({ window_ms: 60_000, current_count: 1, previous_count: 0 });
  });

  it('rejects bad rules and keys with a TypeError before reaching any object', async () => {
    const good = rule(1, 60);
    const bad: [RateLimitRule, string][] = [
      [{ ...good, name: 'no spaces allowed' }, 'k'],
      [{ ...good, name: '' }, 'k'],
      [{ ...good, limit: 0 }, 'k'],
      [{ ...good, limit: 1.5 }, 'k'],
      [{ ...good, windowSeconds: 86_401 }, 'k'],
      [good, ''],
      [good, 'k'.repeat(201)],
    ];
    for (const [r, key] of bad) await expect(limiter.limit(r, key)).rejects.toThrow(TypeError);
    const ids = (await listDurableObjectIds(env.RATE_LIMITER)).map((id) => id.toString());
    expect(ids).not.toContain(env.RATE_LIMITER.idFromName(`${good.name}:k`).toString());
  });
});

describe('RateLimiterDurableObject directly', () => {
  it('validates its RPC input and leaves nothing behind in a fresh object', async () => {
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`direct:${unique()}`));
    // Called on the instance, inside the object: a rejecting RPC leaks an unhandled rejection in
    // the vitest plugin even when the test handles it (cloudflare/workers-sdk#14736).
    const errors = await runInDurableObject(stub, async (instance) => {
      const caught: unknown[] = [];
      for (const input of [
        {},
        { rule: { name: 'ok', limit: 1, windowSeconds: 60 } },
        { rule: { name: 'ok', limit: -1, windowSeconds: 60 }, key: 'k' },
        { rule: { name: 'ok', limit: 1, windowSeconds: '60' }, key: 'k' },
        { rule: { name: 'bad name!', limit: 1, windowSeconds: 60 }, key: 'k' },
      ]) {
        await instance.limit(input as never).then(
          () => caught.push(undefined),
          (err: unknown) => caught.push(err),
        );
      }
      return caught.map((err) => (err instanceof TypeError ? err.message : `not a TypeError: ${String(err)}`));
    });
    expect(errors).toHaveLength(5);
    for (const message of errors) expect(message).toMatch(/^Invalid rate limit input: /);
    expect(errors[2]).toMatch(/rule\.limit/);
    // The constructor created the schema; the cleanup alarm (due at once) takes it away again.
    await runDurableObjectAlarm(stub); // false if it has already run by itself
    await expect.poll(() => tablesOf(stub)).toEqual([]);
    expect(await alarmOf(stub)).toBeNull();
  });

  it('records its migrations once', async () => {
    const r = rule(5, 60);
    const stub = objectFor(r, 'k');
    await limiter.limit(r, 'k');
    await limiter.limit(r, 'k');
    const migrations = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ id: number; name: string }>('SELECT id, name FROM _migrations').toArray(),
    );
    expect(migrations).toEqual([{ id: 1, name: '0001_rate_limit_counters' }]);
  });
});

describe('cleanup alarm', () => {
  it('deletes expired rows, re-arms for the rest, and wipes the object once it is empty', async () => {
    const key = `k:${unique()}`;
    const a = rule(5, 60);
    const b = rule(5, 60);
    // Two rules in one object (the stub would use two objects; the object keys rows by both).
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`shared:${key}`));
    await stub.limit({ rule: a, key });
    await stub.limit({ rule: b, key });
    expect((await rowsOf(stub)).map((row) => row.rule).sort()).toEqual([a.name, b.name].sort());

    // Nothing has expired yet: the alarm only re-arms.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await rowsOf(stub)).toHaveLength(2);
    expect(await alarmOf(stub)).toBe(Math.min(...(await rowsOf(stub)).map((row) => row.expires_at)));

    // Age rule a's row past its expiry, as if two windows had gone by.
    const bExpiry = await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('UPDATE rate_limit_counters SET window_start = window_start - 120000, expires_at = expires_at - 120000 WHERE rule = ?', a.name);
      return state.storage.sql.exec<{ expires_at: number }>('SELECT expires_at FROM rate_limit_counters WHERE rule = ?', b.name).one().expires_at;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await rowsOf(stub)).map((row) => row.rule)).toEqual([b.name]);
    expect(await alarmOf(stub)).toBe(bExpiry);

    // Now the last one: the object deletes all of its storage, alarm included.
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec('UPDATE rate_limit_counters SET window_start = window_start - 120000, expires_at = expires_at - 120000');
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await tablesOf(stub)).toEqual([]);
    expect(await alarmOf(stub)).toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false);

    // The same live instance still works: it re-creates its schema on the next call.
    expect(await stub.limit({ rule: a, key })).toEqual({ allowed: true, limit: 5, remaining: 4, retryAfterSeconds: 0 });
    expect(await tablesOf(stub)).toEqual(['_migrations', 'rate_limit_counters']);
    expect(await alarmOf(stub)).not.toBeNull();
  });
});
