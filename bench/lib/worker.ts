/**
 * Builds the Worker as it is deployed (`wrangler deploy --dry-run`) and serves the built
 * script with Miniflare's API: no `wrangler dev` proxy in front of workerd.
 *
 * Bindings come from wrangler.toml through wrangler's own Miniflare mapping (so Durable
 * Objects, queues, ... added later are served too), minus anything from .dev.vars: the
 * benchmark sets the connection settings itself, and `BENCH_SECRETS` below is the place for
 * secrets a future route needs locally.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { generateLocalSecrets } from '../../tools/local/dev-secrets.ts';
import { BENCH_PAYMENT_VARS } from './payments.ts';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type WorkerdStructuredLog } from 'miniflare';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BUILD_DIR = path.join(ROOT, 'dist/bench');
const require = createRequire(import.meta.url);

/** Secrets the Worker needs locally (signing and PII keys): generated once per benchmark run. */
export const BENCH_SECRETS: Record<string, string> = {};

export async function prepareBenchSecrets(): Promise<void> {
  if (BENCH_SECRETS.AUTH_SIGNING_KEYS) return;
  // Payments point at the bench's Stripe emulator (lib/payments.ts; started by the checkout scenarios).
  Object.assign(BENCH_SECRETS, await generateLocalSecrets('bench-1'), BENCH_PAYMENT_VARS);
}

export interface Built {
  scriptPath: string;
  bytes: number;
}

/** `wrangler deploy --dry-run --outdir dist/bench`; returns the bundled entry module. */
export async function buildWorker(log: (m: string) => void): Promise<Built> {
  await rm(BUILD_DIR, { recursive: true, force: true });
  await mkdir(BUILD_DIR, { recursive: true });
  const wranglerBin = path.join(path.dirname(require.resolve('wrangler/package.json')), 'bin/wrangler.js');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', BUILD_DIR], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', FORCE_COLOR: '0' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrangler build failed (exit ${code}):\n${out}`))));
  });
  // The entry module is named after wrangler.toml's `main` (index.ts -> index.js).
  const modules = (await readdir(BUILD_DIR)).filter((f) => /\.m?js$/.test(f));
  const entry = modules.length === 1 ? modules[0] : modules.find((f) => f === 'index.js');
  if (!entry) throw new Error(`Cannot tell the Worker's entry module among [${modules.join(', ')}] in ${BUILD_DIR}; wrangler said:\n${output}`);
  const scriptPath = path.join(BUILD_DIR, entry);
  const total = /Total Upload: ([^\n]+)/.exec(output)?.[1];
  if (total) log(`built ${path.relative(ROOT, scriptPath)} (${total.trim()})`);
  return { scriptPath, bytes: statSync(scriptPath).size };
}

/**
 * How requests reach the Worker:
 * - `direct` (default): a socket workerd serves straight from the Worker (Miniflare's
 *   `unsafeDirectSockets`), as Cloudflare's edge hands requests to a deployed Worker.
 * - `entry`: Miniflare's main socket, through its entry worker (request.cf, pretty error
 *   pages, ...). Measured here at a third of the bare runtime's throughput, and its memory
 *   grows with every request until GC pauses reach tens of milliseconds: a dev-server cost,
 *   not the Worker's.
 */
export type Via = 'direct' | 'entry';

const DIRECT = [{ host: '127.0.0.1', port: 0 }];

async function urlFor(miniflare: Miniflare, name: string, via: Via): Promise<URL> {
  const entry = await miniflare.ready;
  return via === 'direct' ? new URL(await miniflare.unsafeGetDirectURL(name)) : entry;
}

export interface ServeOptions {
  scriptPath: string;
  /** Values for the Worker's config (DATABASE_URL, NEON_*, overrides of [vars]). */
  bindings: Record<string, string>;
  /** Receives workerd's log lines (console.* of the Worker included). */
  onLog: (log: WorkerdStructuredLog) => void;
  via: Via;
  /** Open workerd's DevTools inspector on this port (profiling: bench/profile.ts). */
  inspectorPort?: number;
  /** Where Durable Objects keep their SQLite files (default: tmpfs when there is one). */
  doStorage?: DoStorage;
}

/**
 * Where the served Worker's Durable Objects keep their SQLite files. Miniflare puts them under
 * its temporary directory (`os.tmpdir()` when it is constructed). workerd's local SQLite commits
 * with an fsync on the one thread that runs every isolate and object, so on this VM's disk each
 * commit stalls every request in the process, and creating an object (every order is one) costs
 * a file creation and several synced writes. Cloudflare's storage makes a write durable by
 * replicating its WAL to other machines before the object's output gate opens, not by a local
 * fsync on the isolate's thread, so by default the benchmark keeps those files on tmpfs
 * (/dev/shm) and measures our code; `--do-storage=disk` measures the local disk as well.
 */
export interface DoStorage {
  kind: 'tmpfs' | 'disk';
  /** The directory Miniflare's temporary directory is created in. */
  root: string;
}

export function resolveDoStorage(kind: 'tmpfs' | 'disk'): DoStorage {
  if (kind === 'tmpfs') {
    try {
      accessSync('/dev/shm', constants.W_OK);
      return { kind, root: '/dev/shm' };
    } catch {
      process.stderr.write('[bench] /dev/shm is not writable here: Durable Object storage stays on the disk\n');
    }
  }
  return { kind: 'disk', root: os.tmpdir() };
}

/** `new Miniflare(...)` with its temporary directory (and so its Durable Object files) under `storage.root`. */
function miniflareIn(storage: DoStorage | undefined, options: ConstructorParameters<typeof Miniflare>[0]): Miniflare {
  if (!storage) return new Miniflare(options);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = storage.root;
  try {
    return new Miniflare(options);
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
}

export interface Served {
  url: URL;
  via: Via;
  miniflare: Miniflare;
  /** [vars] of wrangler.toml, as served (after overrides). */
  vars: Record<string, string>;
  compatibilityDate: string;
  compatibilityFlags: string[];
}

/** A module Worker with no bindings, e.g. the bare runtime reference, in its own Miniflare. */
/**
 * Miniflare 5 takes no module rules: every module is listed. ES modules (`.js`) and WASM
 * (`.wasm`, compiled like wrangler's CompiledWasm rule), named by their path under the root.
 */
export function moduleList(paths: readonly string[]): { type: 'ESModule' | 'CompiledWasm'; path: string }[] {
  return paths.map((p) => ({ type: p.endsWith('.wasm') ? 'CompiledWasm' : 'ESModule', path: p }));
}

/**
 * A TypeScript reference Worker (e.g. lib/bare-inventory-worker.ts, which imports the real Durable
 * Object class) bundled into one ES module under dist/bench/reference/, as wrangler would.
 */
export async function bundleScript(entry: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = path.join(BUILD_DIR, 'reference', `${path.basename(entry).replace(/\.ts$/, '')}.js`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    logLevel: 'warning',
  });
  return outfile;
}

export async function serveScript(
  scriptPath: string,
  like: Pick<Served, 'compatibilityDate' | 'compatibilityFlags'>,
  onLog: ServeOptions['onLog'],
  via: Via,
  extraModules: readonly string[] = [],
  /** Durable Object bindings of the reference Worker: binding name → exported class (SQLite storage). */
  durableObjects: Record<string, string> = {},
  doStorage?: DoStorage,
): Promise<{ miniflare: Miniflare; url: URL }> {
  if (scriptPath.endsWith('.ts')) scriptPath = await bundleScript(scriptPath);
  const name = path.basename(scriptPath).replace(/\W/g, '-');
  const miniflare = miniflareIn(
    doStorage,
    convertV4MiniflareOptions({
      name,
      // The repository root, so a reference Worker may import package files by relative path.
      rootPath: ROOT,
      modulesRoot: ROOT,
      modules: moduleList([scriptPath, ...extraModules]),
      durableObjects: Object.fromEntries(Object.entries(durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }])),
      compatibilityDate: like.compatibilityDate,
      compatibilityFlags: like.compatibilityFlags,
      host: '127.0.0.1',
      port: 0,
      logRequests: false,
      cf: false,
      log: new Log(LogLevel.WARN),
      handleStructuredLogs: onLog,
      unsafeDirectSockets: via === 'direct' ? DIRECT : undefined,
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  try {
    return { miniflare, url: await urlFor(miniflare, name, via) };
  } catch (err) {
    await miniflare.dispose();
    throw err;
  }
}

export async function serveWorker(opts: ServeOptions): Promise<Served> {
  const previousLogLevel = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = 'error'; // silences "Using secrets defined in .dev.vars"; they are dropped below
  const wrangler = await import('wrangler');
  let workerOptions: Record<string, unknown>;
  let vars: Record<string, string>;
  let compatibilityDate: string;
  let compatibilityFlags: string[];
  try {
    const config = wrangler.unstable_readConfig({ config: path.join(ROOT, 'wrangler.toml') });
    vars = Object.fromEntries(Object.entries(config.vars ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    compatibilityDate = config.compatibility_date ?? '';
    compatibilityFlags = config.compatibility_flags ?? [];
    ({ workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(config) as { workerOptions: Record<string, unknown> });
  } finally {
    if (previousLogLevel === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = previousLogLevel;
  }

  const bindings = { ...vars, ...BENCH_SECRETS, ...opts.bindings };
  const v4 = {
    ...workerOptions,
    name: 'agora',
    rootPath: ROOT,
    modulesRules: undefined,
    // The bundle and the WASM files wrangler wrote beside it (the password hasher's).
    modulesRoot: path.dirname(opts.scriptPath),
    modules: moduleList([
      opts.scriptPath,
      ...readdirSync(path.dirname(opts.scriptPath))
        .filter((f) => f.endsWith('.wasm'))
        .map((f) => path.join(path.dirname(opts.scriptPath), f)),
    ]),
    bindings,
    cache: true,
    host: '127.0.0.1',
    port: 0,
    logRequests: false,
    cf: false, // a placeholder request.cf: no fetch from workers.cloudflare.com
    log: new Log(LogLevel.WARN),
    handleStructuredLogs: opts.onLog,
    unsafeDirectSockets: opts.via === 'direct' ? DIRECT : undefined,
    ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
  };
  const miniflare = miniflareIn(opts.doStorage, convertV4MiniflareOptions(v4 as Parameters<typeof convertV4MiniflareOptions>[0]));
  let url: URL;
  try {
    url = await urlFor(miniflare, 'agora', opts.via);
  } catch (err) {
    await miniflare.dispose();
    throw err;
  }
  // Only the [vars] (as overridden) are reported: the connection bindings may carry credentials.
  const served = Object.fromEntries(Object.keys(vars).map((k) => [k, bindings[k]!]));
  return { url, via: opts.via, miniflare, vars: served, compatibilityDate, compatibilityFlags };
}
