/**
 * Provisions the database the test suites run against: PGlite (embedded) by default, or a
 * fresh database created on the server DATABASE_URL points at (dropped afterwards), so the
 * same suites run on a newcomer's machine and against the machine's real PostgreSQL in CI.
 */
import pg from 'pg';
import { runMigrations } from '../scripts/migrate.ts';
import { seedDevAccounts } from '../scripts/seed-dev-accounts.ts';
import { seedDatabase } from '../scripts/seed.ts';
import { startLocalStack, type LocalStack } from '../tools/local/stack.ts';

export interface TestDatabase {
  stack: LocalStack;
  databaseUrl: string;
  /** Which Postgres the suite is running on, for the record. */
  kind: 'pglite' | 'postgres';
  teardown(): Promise<void>;
}

async function createScratchDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `agora_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function provisionTestDatabase(opts: { seed: boolean; redis?: boolean }): Promise<TestDatabase> {
  const external = process.env.DATABASE_URL;
  const scratch = external ? await createScratchDatabase(external) : undefined;
  const stack = await startLocalStack({
    databaseUrl: scratch?.url,
    redisUrl: opts.redis ? (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : false,
  });
  try {
    await runMigrations(stack.databaseUrl);
    if (opts.seed) {
      await seedDatabase(stack.databaseUrl);
      await seedDevAccounts(stack.databaseUrl, { appEnv: 'test' });
    }
  } catch (err) {
    await stack.stop();
    await scratch?.drop();
    throw err;
  }
  return {
    stack,
    databaseUrl: stack.databaseUrl,
    kind: scratch ? 'postgres' : 'pglite',
    async teardown() {
      await stack.stop();
      await scratch?.drop();
    },
  };
}
