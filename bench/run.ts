/**
 * `npm run bench`: builds the Worker, serves it with Miniflare, drives every scenario in
 * bench/scenarios/ with a load generator in its own process, prints a table and writes
 * bench/results/latest.json (and a timestamped copy).
 *
 *   npm run bench                        everything (about 3 minutes)
 *   npm run bench -- --quick             3 s runs, for a smoke check
 *   npm run bench -- --only=products     scenarios with this tag, name or title word, or name prefix
 *                                        (comma-separated; the ceiling always runs)
 *   DATABASE_URL=postgres://... npm run bench   a real Postgres (a fresh database is created on it and dropped)
 *
 * Other flags: --duration=S (every measured run), --warmup=S, --strict (exit 1 when a target
 * fails), --log-level=LEVEL (the Worker's LOG_LEVEL; default: wrangler.toml's), --var=NAME=VALUE
 * (override a [vars] value, repeatable; e.g. to try a cache setting), --via=entry (send requests
 * through Miniflare's entry worker instead of a direct socket; see lib/worker.ts),
 * --do-storage=disk (Durable Object SQLite files on the disk instead of tmpfs; see lib/worker.ts),
 * --worker-log=FILE (append every workerd log line to FILE: the request and queue-message log
 * lines with their durationMs, to see which step of a journey waits), --list.
 * Exit status: 0 done; 1 the stack or Worker did not start, a run failed or had errors
 * (or, with --strict, a target failed); 2 bad arguments; 130 interrupted.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { WorkerdStructuredLog } from 'miniflare';
import { forkTs, type Child } from './lib/child.ts';
import { CpuMeter, findChildren, type ProcessRole } from './lib/cpu.ts';
import { createBenchDatabase, describeServer, migrateAndSeed } from './lib/database.ts';
import { loadScenarios } from './lib/discover.ts';
import type { ChildMessage, RunMessage } from './lib/load-child.ts';
import { formatTable, runLabel, writeResults, type BenchReport, type RunReport, type ScenarioReport } from './lib/report.ts';
import type { AnyScenario, SetupContext } from './lib/scenario.ts';
import type { StackInfo, StackMessage, StackRequest } from './lib/stack-child.ts';
import { buildWorker, prepareBenchSecrets, resolveDoStorage, ROOT, serveScript, serveWorker, type Served, type Via } from './lib/worker.ts';

const HERE = import.meta.dirname;
const RESULTS_DIR = path.join(HERE, 'results');

// ---------------------------------------------------------------------------------------
// Options

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      strict: { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      'worker-log': { type: 'string' },
      var: { type: 'string', multiple: true },
      via: { type: 'string', default: 'direct' },
      'do-storage': { type: 'string', default: 'tmpfs' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
if (args.help) {
  console.log(readFileSync(import.meta.filename, 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
  process.exit(0);
}
const seconds = (v: string | undefined, name: string) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a number of seconds`);
    process.exit(2);
  }
  return n;
};
const quick = args.quick;
const durationOverride = seconds(args.duration, 'duration');
const defaultDuration = durationOverride ?? (quick ? 3 : 10);
const warmupOverride = seconds(args.warmup, 'warmup');
const pauseMs = quick ? 300 : 1000;
const only = args.only?.split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);
const serverUrl = process.env.DATABASE_URL?.trim() || undefined;
if (args.via !== 'direct' && args.via !== 'entry') {
  console.error('--via must be direct or entry');
  process.exit(2);
}
const via = args.via as Via;
if (args['do-storage'] !== 'tmpfs' && args['do-storage'] !== 'disk') {
  console.error('--do-storage must be tmpfs or disk');
  process.exit(2);
}
const doStorage = resolveDoStorage(args['do-storage'] as 'tmpfs' | 'disk');
const varOverrides: Record<string, string> = {};
for (const v of args.var ?? []) {
  const eq = v.indexOf('=');
  if (eq < 1) {
    console.error(`--var needs NAME=VALUE, got ${v}`);
    process.exit(2);
  }
  varOverrides[v.slice(0, eq)] = v.slice(eq + 1);
}

const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

// ---------------------------------------------------------------------------------------
// Interruption and cleanup: everything started is stopped in reverse order, whatever happens.

const interrupt = new AbortController();
const cleanups: { name: string; fn: () => Promise<void> }[] = [];
const onCleanup = (name: string, fn: () => Promise<void>) => cleanups.push({ name, fn });
let firstSignalAt = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    const now = Date.now();
    if (!firstSignalAt) {
      firstSignalAt = now;
      log(`${signal}: stopping everything (press Ctrl-C again to force)`);
      interrupt.abort();
    } else if (now - firstSignalAt > 1000) {
      // A second Ctrl-C. (One Ctrl-C can arrive twice: from the terminal and relayed by tsx.)
      for (const c of children) c.process.kill('SIGKILL');
      process.exit(130);
    }
  });
}
const children: Child<unknown, unknown>[] = [];

async function cleanup() {
  for (const { name, fn } of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      log(`cleanup (${name}) failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function checkInterrupted() {
  if (interrupt.signal.aborted) throw new Interrupted();
}
class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

// ---------------------------------------------------------------------------------------

function selectScenarios(all: AnyScenario[]): AnyScenario[] {
  const ceilings = all.filter((s) => s.ceiling);
  if (ceilings.length > 1) throw new Error(`More than one ceiling scenario: ${ceilings.map((s) => s.name).join(', ')}`);
  // A word matches a tag, a word of the name or title, or a prefix of the name (`catalog.list`).
  const matches = (s: AnyScenario) => {
    if (!only) return true;
    const words = new Set([...s.name.split(/[^a-z0-9]+/i), ...s.title.split(/[^a-z0-9]+/i), ...(s.tags ?? [])].map((w) => w.toLowerCase()));
    return only.some((w) => words.has(w) || s.name.toLowerCase().startsWith(w));
  };
  const chosen = all.filter((s) => s.ceiling || matches(s));
  if (only && !all.some(matches)) throw new UsageError(`--only=${args.only} matches no scenario (see --list)`);
  // The ceiling first (every other saturation run is compared with it), then the references.
  const rank = (s: AnyScenario) => (s.ceiling ? 0 : s.reference ? 1 : 2);
  return chosen.map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i).map(({ s }) => s);
}
class UsageError extends Error {}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

function versionOf(pkg: string): string | undefined {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function git(...a: string[]): string | undefined {
  const r = spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const scenarios = selectScenarios(await loadScenarios());
  if (args.list) {
    for (const s of scenarios) console.log(`${s.name.padEnd(28)} ${s.title}${s.tags?.length ? `  [${s.tags.join(', ')}]` : ''}`);
    return 0;
  }

  // 1. Build.
  log('building the Worker (wrangler deploy --dry-run)');
  const built = await buildWorker(log);
  checkInterrupted();

  // 2. Database and local stack (own process).
  let databaseUrl: string | undefined;
  let databaseKind = 'PGlite (embedded, in memory)';
  if (serverUrl) {
    const db = await createBenchDatabase(serverUrl);
    onCleanup('drop the benchmark database', async () => {
      await db.drop();
      log(`dropped database ${db.name}`);
    });
    databaseUrl = db.url;
    databaseKind = `Postgres at ${new URL(serverUrl).host}, database ${db.name} (created for this run)`;
    log(`created database ${db.name}`);
  }
  const stackChild = forkTs<StackRequest, StackMessage>('local stack', path.join(HERE, 'lib/stack-child.ts'));
  children.push(stackChild as Child<unknown, unknown>);
  stackChild.on((m) => m.type === 'log' && log(`stack: ${m.msg}`));
  onCleanup('stop the local stack', async () => {
    stackChild.send({ type: 'stop' });
    await stackChild.exited(10_000);
  });
  stackChild.send({ type: 'start', databaseUrl, redisUrl: false });
  const started = await stackChild.next((m): m is Extract<StackMessage, { type: 'started' | 'failed' }> => m.type === 'started' || m.type === 'failed', 120_000);
  if (started.type === 'failed') throw new Error(`The local stack did not start:\n${started.error}`);
  const stack: StackInfo = started.stack;
  checkInterrupted();

  const serverVersion = await describeServer(stack.databaseUrl);
  log(`database: ${serverVersion}`);
  const seeded = await migrateAndSeed(stack.databaseUrl, log);
  checkInterrupted();

  // 3. The Worker.
  const workerLog = { lines: 0, errors: 0, recentErrors: [] as string[] };
  const onLog = (l: WorkerdStructuredLog) => {
    workerLog.lines++;
    if (args['worker-log']) appendFileSync(args['worker-log'], `${l.message}\n`);
    if (l.level === 'error') {
      workerLog.errors++;
      if (workerLog.recentErrors.length < 5) workerLog.recentErrors.push(l.message.slice(0, 3000));
    }
  };
  await prepareBenchSecrets();
  const bindings: Record<string, string> = {
    DATABASE_URL: stack.databaseUrl,
    NEON_WS_PROXY: stack.wsProxy,
    NEON_SQL_ENDPOINT: stack.sqlEndpoint,
  };
  if (args['log-level']) bindings.LOG_LEVEL = args['log-level'];
  Object.assign(bindings, varOverrides);
  // Every scenario gets a freshly started Worker (its own workerd), so one scenario's cache
  // contents, heap and Cache API storage do not slow the next; its warm-up and setup warm it.
  const startWorker = async (): Promise<{ served: Served; stop: () => Promise<void> }> => {
    const served = await serveWorker({ scriptPath: built.scriptPath, bindings, onLog, via, doStorage });
    const stop = once(() => served.miniflare.dispose());
    onCleanup('stop Miniflare', stop);
    return { served, stop };
  };
  const first = await startWorker();
  const served: Served = first.served;
  const workerdPids = findChildren(process.pid, 'workerd');
  log(`Worker served by Miniflare at ${served.url.origin}, ${via === 'direct' ? 'direct socket' : 'through its entry worker'} (workerd pid ${workerdPids.join(', ') || '?'})`);
  const smoke = async (p: string) => {
    const res = await fetch(new URL(p, served.url));
    const body = await res.text();
    if (!res.ok) throw new Error(`GET ${p} answered ${res.status}: ${body.slice(0, 500)}\n${workerLog.recentErrors.join('\n')}`);
  };
  await smoke('/livez');
  await smoke('/healthz');
  await first.stop();
  checkInterrupted();

  // 4. The load generator (own process).
  const load = forkTs<RunMessage | { type: 'abort' }, ChildMessage>('load generator', path.join(HERE, 'lib/load-child.ts'));
  children.push(load as Child<unknown, unknown>);
  onCleanup('stop the load generator', async () => {
    load.process.disconnect?.();
    await load.exited(3000);
  });
  await load.next((m): m is Extract<ChildMessage, { type: 'ready' }> => m.type === 'ready', 60_000);
  const abortLoad = () => load.send({ type: 'abort' });
  interrupt.signal.addEventListener('abort', abortLoad);

  const workerdWhat = `workerd ${versionOf('workerd') ?? ''}: the built Worker, started afresh for each scenario (the reference Worker has its own)`;
  const roles: ProcessRole[] = [
    { role: 'main', pid: process.pid, what: 'orchestrator: Miniflare API, Worker log drain, scenario setup' },
    { role: 'workerd', pid: 0, what: workerdWhat },
    {
      role: 'stack',
      pid: stackChild.pid,
      what: stack.embedded ? 'local stack: PGlite + Neon WebSocket/HTTP bridge' : 'local stack: Neon WebSocket/HTTP bridge (Postgres runs outside, in "other")',
    },
    { role: 'load', pid: load.pid, what: `load generator: autocannon ${versionOf('autocannon') ?? ''} (saturation), open-loop pacer (fixed rate)` },
  ];
  // workerd processes come and go with reference Workers; look them up at every snapshot.
  const meter = new CpuMeter(() => [
    ...roles.filter((r) => r.role !== 'workerd'),
    ...findChildren(process.pid, 'workerd').map((pid) => ({ role: 'workerd', pid, what: workerdWhat })),
  ]);
  console.log('\nProcesses (CPU columns are % of one core; "other" is everything else on the machine)');
  for (const r of roles) console.log(`  ${r.role.padEnd(8)} ${r.pid ? `pid ${String(r.pid).padEnd(8)}` : 'per scenario '} ${r.what}`);
  console.log(`  machine  ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores; database: ${databaseKind}`);
  console.log(`  requests reach the Worker ${via === 'direct' ? "on a direct workerd socket (not through Miniflare's entry worker)" : "through Miniflare's entry worker"}`);
  console.log(`  Durable Object SQLite files on ${doStorage.kind === 'tmpfs' ? `tmpfs (${doStorage.root}; --do-storage=disk for the disk)` : `the disk (${doStorage.root})`}\n`);

  // A busy machine skews everything: say so up front (the table's "other" column shows it per run).
  const q0 = meter.snapshot();
  await new Promise((res) => setTimeout(res, 1000));
  const q1 = meter.snapshot();
  const busy = meter.between(q0, q1)?.other ?? 0;
  if (busy >= 20) {
    log(`warning: before starting, other processes used ${busy}% of a core (${meter.others(q0, q1).join(', ') || 'not visible from here'}); numbers will be noisy`);
  }

  // 5. Scenarios.
  const reports: ScenarioReport[] = [];
  let ceilingRps: number | undefined;
  let runId = 0;
  const setupContext = (base: URL): SetupContext => ({
    baseUrl: base,
    databaseUrl: stack.databaseUrl,
    log: (m) => log(`  ${m}`),
    async json<T>(p: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<T> {
      const res = await fetch(new URL(p, base), init);
      const text = await res.text();
      if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as T;
    },
  });

  let scenarioCleanup: (() => Promise<void>) | undefined;
  for (const scenario of scenarios) {
    checkInterrupted();
    const report: ScenarioReport = { name: scenario.name, title: scenario.title, ceiling: !!scenario.ceiling, runs: [], targets: [] };
    reports.push(report);
    try {
      log(`${scenario.name}: ${scenario.title}`);
      let target: URL;
      if (scenario.script) {
        const extra = await serveScript(scenario.script, served, onLog, via, scenario.scriptModules, scenario.scriptDurableObjects, doStorage);
        scenarioCleanup = once(() => extra.miniflare.dispose());
        onCleanup(`stop ${scenario.name}'s Worker`, scenarioCleanup);
        target = extra.url;
      } else {
        const worker = await startWorker();
        scenarioCleanup = worker.stop;
        target = worker.served.url;
      }
      const data = scenario.setup ? await scenario.setup(setupContext(target)) : undefined;
      for (const spec of scenario.runs) {
        checkInterrupted();
        const duration = durationOverride ?? spec.duration ?? defaultDuration;
        const warmup = warmupOverride ?? scenario.warmup ?? (quick ? 1 : 2);
        const id = ++runId;
        workerLog.recentErrors = [];
        const errorsBefore = workerLog.errors;
        load.send({ type: 'run', id, scenario: scenario.name, spec, duration, warmup, baseUrl: target.href, data });
        const timeout = ((spec.amount ? spec.amount / (spec.kind === 'fixed-rate' ? spec.rate : 50) : duration) + warmup + 60) * 1000;
        await load.next((m): m is Extract<ChildMessage, { type: 'measuring' }> => m.type === 'measuring' && m.id === id, timeout);
        const before = meter.snapshot();
        const done = await load.next(
          (m): m is Extract<ChildMessage, { type: 'result' | 'failed' }> => (m.type === 'result' || m.type === 'failed') && m.id === id,
          timeout,
        );
        const after = meter.snapshot();
        checkInterrupted();
        if (done.type === 'failed') throw new Error(done.error);
        const r: RunReport = { ...done.result, cpu: meter.between(before, after), cpuOthers: meter.others(before, after) };
        if (scenario.ceiling && r.spec.kind === 'saturation' && ceilingRps === undefined) ceilingRps = r.rps;
        if (r.spec.kind === 'saturation' && ceilingRps) r.ceilingFraction = Math.round((r.rps / ceilingRps) * 10000) / 10000;
        if (workerLog.errors > errorsBefore) r.workerErrors = [...workerLog.recentErrors];
        report.runs.push(r);
        log(
          `  ${runLabel(r).padEnd(18)} ${Math.round(r.rps)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  errors ${r.errors}` +
            (r.header ? `  ${JSON.stringify(r.header)}` : ''),
        );
        if ((r.cpu?.other ?? 0) >= 25) log(`  note: other processes used ${r.cpu!.other}% of a core meanwhile (${r.cpuOthers?.join(', ')})`);
        if (r.errors) {
          log(`  statuses ${JSON.stringify(r.statusCodes)}, connection errors ${r.connectionErrors}, timeouts ${r.timeouts}`);
          for (const e of r.workerErrors ?? []) log(`  worker: ${e.slice(0, 300)}`);
        }
        await new Promise((res) => setTimeout(res, pauseMs)); // let background work (cache fills, pool closes) settle
      }
      for (const t of scenario.targets ?? []) {
        for (const r of report.runs) {
          if (!t.appliesTo(r.spec)) continue;
          const outcome = t.check(r, { ceilingRps });
          if (outcome) report.targets.push(outcome);
        }
      }
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      report.failure = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`${scenario.name} FAILED: ${report.failure}`);
    } finally {
      await scenarioCleanup?.();
      scenarioCleanup = undefined;
    }
  }

  // 6. Report.
  const anyErrors = reports.some((s) => s.failure || s.runs.some((r) => r.errors > 0));
  const anyTargetFailed = reports.some((s) => s.targets.some((t) => !t.pass));
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    ok: !anyErrors && !anyTargetFailed,
    options: { quick, via, doStorage: doStorage.kind, only: only ?? null, duration: durationOverride ?? null, warmup: warmupOverride ?? null, defaultDuration, vars: args.var ?? [] },
    machine: {
      cpuModel: os.cpus()[0]?.model,
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      workerd: versionOf('workerd'),
      miniflare: versionOf('miniflare'),
      wrangler: versionOf('wrangler'),
      autocannon: versionOf('autocannon'),
      gitCommit: git('rev-parse', '--short', 'HEAD'),
      gitDirty: (git('status', '--porcelain') ?? '') !== '',
    },
    database: { kind: stack.embedded ? 'pglite' : 'postgres', server: serverVersion, description: databaseKind, seeded },
    worker: {
      script: path.relative(ROOT, built.scriptPath),
      via,
      bytes: built.bytes,
      compatibilityDate: served.compatibilityDate,
      compatibilityFlags: served.compatibilityFlags,
      vars: served.vars,
      logLines: workerLog.lines,
      errorLogLines: workerLog.errors,
    },
    processes: roles,
    ceilingRps,
    scenarios: reports,
  };
  console.log(formatTable(report));
  const files = await writeResults(RESULTS_DIR, report);
  console.log(`\nResults: ${path.relative(process.cwd(), files.latest)} (and ${path.relative(process.cwd(), files.stamped)})`);
  if (anyErrors) log('some runs failed or had errors (non-2xx, connection errors or timeouts): exit status 1');
  return anyErrors || (args.strict && anyTargetFailed) ? 1 : 0;
}

let code: number;
try {
  code = await main();
} catch (err) {
  if (err instanceof Interrupted) code = 130;
  else if (err instanceof UsageError) {
    console.error(err.message);
    code = 2;
  } else {
    log(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    code = 1;
  }
} finally {
  await cleanup();
}
process.exit(code!);
