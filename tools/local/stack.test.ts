import { neon, Pool } from '@neondatabase/serverless';
import { Redis } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { configureNeonForLocal } from './neon-node.ts';
import { startLocalStack } from './stack.ts';

const REAL_PG = 'postgres://postgres@127.0.0.1:5432/test';

describe('startLocalStack', () => {
  it('starts PGlite, the Neon bridge and the Upstash bridge, and stops them', async () => {
    const lines: string[] = [];
    const stack = await startLocalStack({ log: (msg) => lines.push(msg) });
    try {
      expect(stack.embedded).toBe(true);
      expect(stack.databaseUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      expect(lines.join('\n')).toMatch(/PGlite in memory/);
      configureNeonForLocal(stack);

      const pool = new Pool({ connectionString: stack.databaseUrl });
      expect((await pool.query('SELECT $1::text AS via', ['ws'])).rows).toEqual([{ via: 'ws' }]);
      await pool.end();
      expect(await neon(stack.databaseUrl)`SELECT ${'http'}::text AS via`).toEqual([{ via: 'http' }]);

      const key = `stack-test:${process.pid}:${Date.now()}`;
      const redis = new Redis(stack.upstash!);
      await redis.set(key, { ok: true }, { ex: 60 });
      expect(await redis.get(key)).toEqual({ ok: true });
      await redis.del(key);
    } finally {
      await stack.stop();
    }
    await expect(fetch(stack.sqlEndpoint, { method: 'POST' })).rejects.toThrow();
    await expect(fetch(stack.upstash!.url)).rejects.toThrow();
  });

  it('uses a given Postgres and can leave Redis out', async () => {
    const stack = await startLocalStack({ databaseUrl: REAL_PG, redisUrl: false });
    try {
      expect(stack).toMatchObject({ databaseUrl: REAL_PG, embedded: false, upstash: undefined });
      configureNeonForLocal(stack);
      expect(await neon(stack.databaseUrl)`SELECT current_database() AS db`).toEqual([{ db: 'test' }]);
    } finally {
      await stack.stop();
    }
  });

  it('lets the bridge reach the host of a given database', async () => {
    const stack = await startLocalStack({ databaseUrl: 'postgres://postgres@db.invalid:5432/x', redisUrl: false });
    try {
      configureNeonForLocal(stack);
      // Allowed, so the bridge tries and fails to resolve it (502), rather than refusing it (403).
      await expect(neon(stack.databaseUrl)`SELECT 1`).rejects.toThrow(/HTTP status 502.*db\.invalid/);
    } finally {
      await stack.stop();
    }
  });

  it('stops what it started when a later part fails', async () => {
    const lines: string[] = [];
    const starting = startLocalStack({ databaseUrl: REAL_PG, redisUrl: 'redis://127.0.0.1:1', log: (msg) => lines.push(msg) });
    await expect(starting).rejects.toThrow(/ECONNREFUSED/);
    const sqlEndpoint = lines.join('\n').match(/http:\/\/\S+\/sql/)?.[0];
    expect(sqlEndpoint).toBeDefined();
    await expect(fetch(sqlEndpoint!, { method: 'POST' })).rejects.toThrow();
  });
});
