/**
 * CPU profile of one bench scenario inside workerd (DevTools protocol through Miniflare's
 * `inspectorPort`): where the Worker's and its Durable Objects' CPU time goes under load.
 *
 *   npx tsx bench/lib/profile.ts inventory.flash-sale [--connections=256] [--amount=10000] [--top=40]
 *   npx tsx bench/lib/profile.ts checkout.journey --connections=16 [--duration=10]   (journeys for that long)
 *   ... --allocations   also where the objects that reach the old generation are allocated
 *   ... --trace-gc      print every collection of workerd's V8 (kind, heap before/after, pause)
 *
 * Builds the Worker, starts the local stack (PGlite), runs the scenario's setup, starts the
 * sampling profiler, drives the saturation load, stops it and prints the functions with the most
 * self time and the most inclusive time (a function counted once per sample however deep it
 * recurses). Writes the raw profile to $TMPDIR/<scenario>.cpuprofile (opens in Chrome DevTools).
 * Not part of `npm run bench`; the numbers it prints are slower than unprofiled runs.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startLocalStack } from '../../tools/local/stack.ts';
import { migrateAndSeed } from './database.ts';
import { loadScenarios } from './discover.ts';
import { saturate } from './generators.ts';
import { formatStages, runJourneys, type StageTimes } from './journey.ts';
import { scenarioByName, type RequestSpec, type RunResult, type SetupContext } from './scenario.ts';
import { buildWorker, prepareBenchSecrets, resolveDoStorage, serveWorker } from './worker.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    connections: { type: 'string', default: '256' },
    amount: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    top: { type: 'string', default: '40' },
    allocations: { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
  },
});
const name = positionals[0] ?? 'inventory.flash-sale';
// Miniflare passes MINIFLARE_WORKERD_V8_FLAGS to workerd's V8 when it starts it.
if (values['trace-gc']) process.env.MINIFLARE_WORKERD_V8_FLAGS = `${process.env.MINIFLARE_WORKERD_V8_FLAGS ?? ''} --trace-gc`.trim();
const log = (m: string) => process.stderr.write(`[profile] ${m}\n`);

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

class Inspector {
  private seq = 0;
  private pending = new Map<number, (v: unknown) => void>();
  private constructor(private ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
    });
  }
  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((res, rej) => ws.once('open', res).once('error', rej));
    return new Inspector(ws);
  }
  send<T = unknown>(method: string, params: object = {}): Promise<T> {
    const id = ++this.seq;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((res) => this.pending.set(id, res as (v: unknown) => void));
  }
  close() {
    this.ws.close();
  }
}

function summarise(profile: CpuProfile, top: number) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(id);
    if (!node) return;
    self.set(key(node.callFrame), (self.get(key(node.callFrame)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const print = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((us / total) * 100).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
    }
  };
  print('Self time', self);
  print('Inclusive time', inclusive);
}

/** The longest stretches of consecutive garbage-collector samples: the pauses a request can meet. */
interface AllocationNode {
  callFrame: CallFrame;
  selfSize: number;
  children: AllocationNode[];
}

/** Sampled bytes by allocating function, and by the innermost function of ours above it. */
function summariseAllocations(head: AllocationNode, top: number) {
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocationNode, stack: string[]) => {
    const name = `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''}`;
    const here = [...stack, name];
    if (n.selfSize > 0) {
      total += n.selfSize;
      const key = here.slice(-3).join(' < ');
      self.set(key, (self.get(key) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(head, []);
  console.log(`\nAllocations sampled (live at the end or collected by a full GC), ${(total / 2 ** 20).toFixed(1)} MiB; by the last three frames:`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 2 ** 20).toFixed(2).padStart(7)} MiB  ${k}`);
}

function pauses(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const runs: number[] = [];
  let current = 0;
  profile.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName === '(garbage collector)') current += profile.timeDeltas[i + 1] ?? 0;
    else if (current > 0) {
      runs.push(current);
      current = 0;
    }
  });
  const ms = runs.sort((a, b) => b - a).map((us) => us / 1000);
  console.log(`\nGarbage-collector pauses: ${ms.length}, total ${ms.reduce((a, b) => a + b, 0).toFixed(0)} ms; longest ${ms.slice(0, 8).map((m) => `${m.toFixed(1)} ms`).join(', ')}`);
}

await loadScenarios();
const scenario = scenarioByName(name);
const built = await buildWorker(log);
const stack = await startLocalStack({ redisUrl: false, log });
try {
  await migrateAndSeed(stack.databaseUrl, log);
  await prepareBenchSecrets();
  const inspectorPort = 9229 + Math.floor(Math.random() * 500);
  const served = await serveWorker({
    scriptPath: built.scriptPath,
    bindings: { DATABASE_URL: stack.databaseUrl, NEON_WS_PROXY: stack.wsProxy, NEON_SQL_ENDPOINT: stack.sqlEndpoint },
    // --trace-gc: V8 prints each collection on workerd's output, which Miniflare hands over as log lines.
    onLog: (l) => {
      if (values['trace-gc'] && /Mark-Compact|Scavenge|Minor/.test(l.message)) process.stderr.write(`[gc] ${l.message.replace(/^\[[^\]]*\]\s*/, '').slice(0, 200)}\n`);
    },
    via: 'direct',
    inspectorPort,
    doStorage: resolveDoStorage('tmpfs'),
  });
  try {
    const ctx: SetupContext = {
      baseUrl: served.url,
      databaseUrl: stack.databaseUrl,
      log,
      async json<T>(p: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<T> {
        const res = await fetch(new URL(p, served.url), init);
        const text = await res.text();
        if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
        return JSON.parse(text) as T;
      },
    };
    const data = scenario.setup ? await scenario.setup(ctx) : undefined;
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as { title: string; webSocketDebuggerUrl: string }[];
    const target = targets.find((t) => /agora/.test(t.title)) ?? targets.find((t) => !/^core:/.test(t.title)) ?? targets[0];
    if (!target) throw new Error('no inspector target');
    log(`profiling ${target.title}`);
    const inspector = await Inspector.connect(target.webSocketDebuggerUrl);
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: 200 });
    await inspector.send('Runtime.enable');
    const heap = async () => {
      const h = await inspector.send<{ usedSize: number; totalSize: number }>('Runtime.getHeapUsage');
      return `${(h.usedSize / 2 ** 20).toFixed(1)} MiB used of ${(h.totalSize / 2 ** 20).toFixed(1)} MiB`;
    };
    log(`heap before: ${await heap()}`);
    // --allocations: also sample what is allocated and then collected by a full (old-space) GC:
    // the garbage that made it out of the young generation, which the atomic mark-compact pauses
    // of workerd's isolate have to walk.
    if (values.allocations) await inspector.send('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true });
    await inspector.send('Profiler.start');
    let seq = 0;
    const generator = scenario.request;
    const next = (): RequestSpec => (typeof generator === 'function' ? generator(seq++, data) : generator);
    const signal = new AbortController().signal;
    // A journey scenario (checkout.journey) drives its journeys for --duration seconds instead.
    const result: RunResult & { stages?: Record<string, StageTimes> } = scenario.journey
      ? await runJourneys({ baseUrl: served.url.href, journey: scenario.journey, data, nextSeq: () => seq++, signal }, { kind: 'saturation', connections: Number(values.connections) }, Number(values.duration))
      : await saturate(
          { baseUrl: served.url.href, next, constant: typeof generator !== 'function', expectStatus: scenario.expectStatus, signal },
          { kind: 'saturation', connections: Number(values.connections), amount: Number(values.amount) },
          10,
        );
    if (result.stages) log(`journeys:\n${formatStages(result.stages, result.completed, result.duration)}`);
    const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop');
    const allocations = values.allocations ? (await inspector.send<{ profile: { head: AllocationNode } }>('HeapProfiler.stopSampling')).profile : null;
    log(`heap after: ${await heap()}`);
    // What is still referenced (a leak or a cache) as against garbage not yet collected.
    // (A request alongside: workerd's isolate may otherwise not take the message until it has work.)
    await Promise.all([inspector.send('HeapProfiler.collectGarbage'), fetch(new URL('/livez', served.url)).then((r) => r.arrayBuffer())]);
    log(`heap after a full GC: ${await heap()}`);
    inspector.close();
    log(`${Math.round(result.rps)} req/s (profiled), p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, statuses ${JSON.stringify(result.statusCodes)}, errors ${result.errors}`);
    const file = path.join(os.tmpdir(), `${name}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    log(`raw profile: ${file}`);
    summarise(profile, Number(values.top));
    pauses(profile);
    if (allocations) summariseAllocations(allocations.head, Number(values.top));
  } finally {
    await served.miniflare.dispose();
  }
} finally {
  await stack.stop();
}
process.exit(0);
