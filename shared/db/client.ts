import { neon, neonConfig, Pool } from '@neondatabase/serverless';
import { drizzle as drizzleHttp, type NeonHttpDatabase } from 'drizzle-orm/neon-http';
import { drizzle as drizzlePool, type NeonDatabase } from 'drizzle-orm/neon-serverless';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Config } from '../env';

/**
 * Any drizzle Postgres database: what repositories accept. Queries are built from the tables in
 * `./schema` (the query builder); the relational API (`db.query.*`) is not used, so the
 * databases are made without the schema: drizzle would otherwise walk every table and relation
 * to build its relational config each time one is made, which is once per request or queue
 * batch that touches Postgres (1.9 % of the checkout journey's workerd CPU, docs/performance.md).
 */
export type AnyDb = PgDatabase<PgQueryResultHKT>;
/** Pool-backed (WebSocket) database: interactive transactions. */
export type PoolDb = NeonDatabase;
/** HTTP-backed database: one-shot reads and non-interactive batches, no connection set-up. */
export type HttpDb = NeonHttpDatabase;

let configuredFor: string | undefined;

/**
 * Points the Neon driver at a local WebSocket bridge and HTTP SQL endpoint when configured
 * (development, tests, benchmark); leaves the production defaults otherwise.
 */
function configureNeon(config: Config): void {
  const key = `${config.NEON_WS_PROXY ?? ''}|${config.NEON_SQL_ENDPOINT ?? ''}`;
  if (configuredFor === key) return;
  if (config.NEON_WS_PROXY) {
    const proxy = config.NEON_WS_PROXY;
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
    // Coalescing writes waits a tick per write, which only pays off over a real network.
    neonConfig.coalesceWrites = false;
  }
  if (config.NEON_SQL_ENDPOINT) {
    const endpoint = config.NEON_SQL_ENDPOINT;
    neonConfig.fetchEndpoint = () => endpoint;
  }
  configuredFor = key;
}

/**
 * Database access for one request or queue message. The WebSocket Pool is opened on first
 * use and closed by `close()` (through waitUntil), never shared across requests.
 */
export class DbProvider {
  #pool: Pool | undefined;
  #poolDb: PoolDb | undefined;
  #httpDb: HttpDb | undefined;

  constructor(private readonly config: Config) {
    configureNeon(config);
  }

  /** Pool-backed database for transactions and multi-statement work. */
  pool(): PoolDb {
    if (!this.#poolDb) {
      const pool = new Pool({ connectionString: this.config.DATABASE_URL, max: 4 });
      // An idle connection dropping must not crash the isolate (the next query reconnects).
      // workerd also reports a "connection lost" after every server-side close, so errors
      // of a pool that is being ended are expected and ignored.
      pool.on('error', (err: unknown) => {
        if (this.#pool !== pool) return;
        console.warn(JSON.stringify({ level: 'warn', msg: 'db pool connection error', error: String(err) }));
      });
      this.#pool = pool;
      this.#poolDb = drizzlePool({ client: this.#pool });
    }
    return this.#poolDb;
  }

  /** HTTP-backed database for one-shot reads. */
  http(): HttpDb {
    this.#httpDb ??= drizzleHttp({ client: neon(this.config.DATABASE_URL) });
    return this.#httpDb;
  }

  /** Ends the pool if one was opened; pass the promise to ctx.waitUntil. */
  close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#poolDb = undefined;
    return pool ? pool.end() : Promise.resolve();
  }
}
