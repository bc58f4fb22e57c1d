/**
 * Everything the Worker needs outside itself, started locally for `npm run dev`, the
 * test suites and the benchmark: a Postgres (PGlite unless one is given), the Neon
 * WebSocket/HTTP bridge in front of it, and an Upstash REST bridge to a local Redis.
 */
import { startPglite } from './pglite-server.ts';
import { startUpstashBridge } from './upstash-bridge.ts';
import { LOOPBACK_HOSTS, startWsBridge } from './ws-bridge.ts';

export interface LocalStackOptions {
  /** An existing Postgres to use instead of starting PGlite. */
  databaseUrl?: string;
  /** Where PGlite persists; in-memory when omitted. Ignored with `databaseUrl`. */
  dataDir?: string;
  /** Redis behind the Upstash bridge (default `redis://127.0.0.1:6379`); `false` for none. */
  redisUrl?: string | false;
  log?: (msg: string) => void;
}

export interface LocalStack {
  /** The Postgres URL the Worker should use (PGlite's, or `databaseUrl` when given). */
  databaseUrl: string;
  /** `127.0.0.1:PORT/v2`, for `neonConfig.wsProxy`. */
  wsProxy: string;
  /** `http://127.0.0.1:PORT/sql`, for `neonConfig.fetchEndpoint`. */
  sqlEndpoint: string;
  /** Only when `redisUrl !== false`. */
  upstash?: { url: string; token: string };
  /** True when PGlite is used. */
  embedded: boolean;
  /** Stops everything it started, in reverse order. */
  stop(): Promise<void>;
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    const errors: unknown[] = [];
    for (const s of stops.splice(0).reverse()) await s().catch((err: unknown) => errors.push(err));
    if (errors.length) throw new AggregateError(errors, 'Stopping the local stack failed');
  };
  try {
    let databaseUrl = opts.databaseUrl;
    if (!databaseUrl) {
      const pglite = await startPglite({ dataDir: opts.dataDir });
      stops.push(pglite.stop);
      databaseUrl = pglite.url;
      log(`postgres: PGlite ${opts.dataDir ? `in ${opts.dataDir}` : 'in memory'} at ${databaseUrl}`);
    } else {
      log(`postgres: ${redact(databaseUrl)}`);
    }

    // The bridge may reach the given database's host, wherever it is, and loopback.
    const allowHosts = [...LOOPBACK_HOSTS, new URL(databaseUrl).hostname.replace(/^\[(.*)\]$/, '$1')];
    const bridge = await startWsBridge({ allowHosts, log });
    stops.push(bridge.stop);
    log(`neon bridge: ws://${bridge.wsProxy}, ${bridge.sqlEndpoint}`);

    let upstash: LocalStack['upstash'];
    if (opts.redisUrl !== false) {
      const redis = await startUpstashBridge({ redisUrl: opts.redisUrl, log });
      stops.push(redis.stop);
      upstash = { url: redis.url, token: redis.token };
      log(`upstash bridge: ${redis.url} -> ${redact(opts.redisUrl ?? 'redis://127.0.0.1:6379')}`);
    }

    return {
      databaseUrl,
      wsProxy: bridge.wsProxy,
      sqlEndpoint: bridge.sqlEndpoint,
      upstash,
      embedded: !opts.databaseUrl,
      stop,
    };
  } catch (err) {
    await stop().catch((stopErr: unknown) => log(`stopping after a failed start: ${String(stopErr)}`));
    throw err;
  }
}

/** Hides the password in a URL before it is logged. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}
