/**
 * Embedded Postgres for dev, tests and the benchmark: PGlite (Postgres compiled to WASM)
 * served over the Postgres wire protocol by pglite-socket, so `pg`, drizzle-kit and the
 * Neon driver (through the ws bridge) connect to it like to any Postgres.
 *
 * PGlite is one single-user backend: every connection shares the same session, queries
 * are run one at a time, and the user and database names in the URL are ignored (it is
 * always `postgres`/`postgres`). An open transaction holds the other connections back
 * until it ends; a connection dropped mid-transaction is rolled back.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { fuzzystrmatch } from '@electric-sql/pglite/contrib/fuzzystrmatch';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { hostPort } from './http-util.ts';
import { startSessionLockProxy } from './pg-session-lock.ts';

export interface PgliteOptions {
  /** Directory the database persists in; in-memory when omitted. */
  dataDir?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  host?: string;
  /** Concurrent client connections accepted (queries are still serialised). */
  maxConnections?: number;
}

export interface PgliteServer {
  /** `postgres://postgres@HOST:PORT/postgres` */
  url: string;
  port: number;
  /** Closes the server and shuts PGlite down cleanly, so `dataDir` can be reopened. */
  stop(): Promise<void>;
}

/** Starts PGlite with `pg_trgm`, `fuzzystrmatch` and `unaccent` available (each still needs CREATE EXTENSION). */
export async function startPglite(opts: PgliteOptions = {}): Promise<PgliteServer> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir ?? 'memory://', { extensions: { pg_trgm, fuzzystrmatch, unaccent } });
  const server = new PGLiteSocketServer({
    db,
    host,
    port: 0,
    maxConnections: opts.maxConnections ?? 100,
  });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  // getServerConn() reports the bound port once listening, also for port 0.
  const socketPort = Number(server.getServerConn().split(':').pop());
  // Clients connect through the session lock (pg-session-lock.ts): whole protocol exchanges, one
  // connection at a time, so concurrent connections never interleave in the one PGlite session.
  const proxy = await startSessionLockProxy(host, socketPort, host, opts.port ?? 0);
  const port = proxy.port;
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://postgres@${hostPort(host, port)}/postgres`,
    port,
    stop: () =>
      (stopped ??= (async () => {
        await proxy.close();
        await server.stop(); // resolves once every client socket is closed
        await db.close(); // waits for the running query, then checkpoints
      })()),
  };
}
