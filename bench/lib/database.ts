/**
 * The benchmark's database. With DATABASE_URL, a fresh database is created on that server
 * for this run and dropped afterwards (the one in DATABASE_URL is only used to connect);
 * otherwise the stack's PGlite is used. Either way it is migrated and seeded here.
 */
import pg from 'pg';
import { runMigrations } from '../../scripts/migrate.ts';
import { seedDevAccounts } from '../../scripts/seed-dev-accounts.ts';
import { seedDatabase } from '../../scripts/seed.ts';

export interface BenchDatabase {
  url: string;
  name: string;
  /** Drops the database this run created. */
  drop(): Promise<void>;
}

export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `agora_bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.href,
    name,
    drop: () =>
      (dropped ??= (async () => {
        const c = new pg.Client({ connectionString: serverUrl });
        await c.connect();
        try {
          // FORCE ends the bridge's pooled connections still open to it (Postgres 13+).
          await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await c.end();
        }
      })()),
  };
}

export async function describeServer(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ version: string }>('select version() as version');
    return rows[0]?.version.split(',')[0] ?? 'unknown';
  } finally {
    await c.end();
  }
}

export async function migrateAndSeed(url: string, log: (m: string) => void): Promise<Record<string, number>> {
  await runMigrations(url);
  const { counts } = await seedDatabase(url);
  await seedDevAccounts(url, { appEnv: 'development' });
  log(`seeded: ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
  return counts;
}
