/**
 * Neon's SQL-over-HTTP protocol (what `neon()` from @neondatabase/serverless speaks),
 * answered from a plain Postgres through a small `pg` Pool per connection string.
 *
 * Request: POST with headers `Neon-Connection-String`, `Neon-Array-Mode`,
 * `Neon-Raw-Text-Output` and, for batches, `Neon-Batch-Isolation-Level`,
 * `Neon-Batch-Read-Only`, `Neon-Batch-Deferrable`; body `{ query, params }` or
 * `{ queries: [{ query, params }, ...] }` (a batch runs in one transaction).
 * Response: `{ command, rowCount, fields, rows, rowAsArray }` (or `{ results: [...] }`)
 * with every value as Postgres text or null (the driver parses by `dataTypeID`);
 * errors are 400 with the Postgres error fields (`message`, `code`, `detail`, ...).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { HttpError, parseJson, readBody, sendJson } from './http-util.ts';

/** Leave every value as the text Postgres sent; null stays null. */
const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as pg.CustomTypesConfig['getTypeParser'],
};

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
};

/** Fields the driver copies from an error body onto its NeonDbError. */
const ERROR_FIELDS = [
  'severity', 'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery',
  'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine',
] as const;

interface SqlQuery {
  query: string;
  params?: unknown[];
}

interface SqlOverHttpOptions {
  /** Whether the connection string may point at this host. */
  allowHost: (host: string) => boolean;
  log: (msg: string) => void;
}

export interface SqlOverHttp {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Ends every pool. */
  close(): Promise<void>;
}

export function createSqlOverHttp({ allowHost, log }: SqlOverHttpOptions): SqlOverHttp {
  const pools = new Map<string, pg.Pool>();

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (pool) return pool;
    let url: URL;
    try {
      url = new URL(connectionString);
    } catch {
      throw new HttpError(400, 'Neon-Connection-String is not a valid URL');
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!allowHost(host)) throw new HttpError(403, `Host ${host} is not allowed`);
    // The Postgres behind the bridge is local and plain TCP: drop TLS settings the
    // driver or a copied Neon URL may carry, since pg would otherwise demand TLS.
    for (const key of ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'channel_binding']) {
      url.searchParams.delete(key);
    }
    pool = new pg.Pool({ connectionString: url.href, max: 10, idleTimeoutMillis: 30_000 });
    pool.on('error', (err) => log(`sql-over-http: idle connection error: ${err.message}`));
    pools.set(connectionString, pool);
    return pool;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'Use POST');
      const connectionString = req.headers['neon-connection-string'];
      if (typeof connectionString !== 'string') {
        throw new HttpError(400, 'Missing Neon-Connection-String header');
      }
      const pool = poolFor(connectionString);
      const body = parseBody(await readBody(req));
      const arrayMode = req.headers['neon-array-mode'] === 'true';
      const result = Array.isArray(body)
        ? { results: await runBatch(pool, body, arrayMode, req.headers) }
        : await run(pool, body, arrayMode);
      sendJson(res, 200, result);
    } catch (err) {
      if (err instanceof pg.DatabaseError) {
        const payload: Record<string, unknown> = { message: err.message };
        for (const field of ERROR_FIELDS) payload[field] = err[field];
        sendJson(res, 400, payload);
      } else if (err instanceof HttpError) {
        sendJson(res, err.status, { message: err.message });
      } else {
        // Postgres unreachable, connection dropped mid-query, ...
        const message = err instanceof Error ? err.message : String(err);
        log(`sql-over-http: ${message}`);
        sendJson(res, 502, { message });
      }
    }
  }

  async function close(): Promise<void> {
    const ending = [...pools.values()].map((pool) => pool.end());
    pools.clear();
    await Promise.allSettled(ending);
  }

  return { handle, close };
}

async function run(db: pg.Pool | pg.PoolClient, q: SqlQuery, arrayMode: boolean) {
  const config = {
    text: q.query,
    values: q.params ?? [],
    types: RAW_TEXT,
    // Neon runs every query with the extended protocol: one statement per query.
    queryMode: 'extended',
    ...(arrayMode ? { rowMode: 'array' } : {}),
  };
  const r = await db.query(config as pg.QueryConfig);
  return { command: r.command, rowCount: r.rowCount, fields: r.fields, rows: r.rows, rowAsArray: arrayMode };
}

/** Runs the queries in one transaction, as Neon does for `sql.transaction([...])`. */
async function runBatch(
  pool: pg.Pool,
  queries: SqlQuery[],
  arrayMode: boolean,
  headers: IncomingMessage['headers'],
) {
  let begin = 'BEGIN';
  const isolation = headers['neon-batch-isolation-level'];
  if (typeof isolation === 'string') {
    const level = ISOLATION_LEVELS[isolation];
    if (!level) throw new HttpError(400, `Unknown Neon-Batch-Isolation-Level: ${isolation}`);
    begin += ` ISOLATION LEVEL ${level}`;
  }
  if (headers['neon-batch-read-only'] === 'true') begin += ' READ ONLY';
  if (headers['neon-batch-deferrable'] === 'true') begin += ' DEFERRABLE';

  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const results = [];
    for (const q of queries) results.push(await run(client, q, arrayMode));
    await client.query('COMMIT');
    return results;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    client.release(broken); // a connection that cannot roll back is discarded
  }
}

/** Returns one query, or the queries of a batch. */
function parseBody(raw: string): SqlQuery | SqlQuery[] {
  const body = parseJson(raw);
  const queries = isObject(body) && Array.isArray(body.queries) ? body.queries : undefined;
  if (queries ? queries.every(isQuery) : isQuery(body)) return (queries ?? body) as SqlQuery | SqlQuery[];
  throw new HttpError(400, 'Body must be {query, params} or {queries: [{query, params}, ...]}');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isQuery(value: unknown): value is SqlQuery {
  return isObject(value) && typeof value.query === 'string' && (value.params === undefined || Array.isArray(value.params));
}
