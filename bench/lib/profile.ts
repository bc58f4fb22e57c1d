/**
 * CPU profile of one bench scenario inside workerd (DevTools protocol through Miniflare's
 * `inspectorPort`): where the Worker's and its Durable Objects' CPU time goes under load.
 *
 *   npx tsx bench/lib/profile.ts inventory.flash-sale [--connections=256] [--amount=10000] [--top=40]
 *   npx tsx bench/lib/profile.ts checkout.journey --connections=16 [--duration=10]   (journeys for that long)
 *   ... --lines=openForUser   that function's self time by line of dist/bench/index.js
 *   ... --allocations   also where the objects that reach the old generation are allocated
 *   ... --trace-gc      print every collection of workerd's V8 (kind, heap before/after, pause)
 *   ... --all-allocations   where everything is allocated (young garbage too): what drives the scavenges
 *   ... --snapshot      a heap snapshot halfway through the load: live objects by constructor
 *   ... --snapshot --retainers=Context   also how a few live objects of that constructor are held
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
    'all-allocations': { type: 'boolean', default: false },
    snapshot: { type: 'boolean', default: false },
    retainers: { type: 'string', default: '' },
    lines: { type: 'string', default: '' },
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
  /** Samples by source line (1-based) in which this node was the running function. */
  positionTicks?: { line: number; ticks: number }[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

class Inspector {
  private seq = 0;
  private pending = new Map<number, (v: unknown) => void>();
  private listeners = new Map<string, (params: unknown) => void>();
  private constructor(private ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown; method?: string; params?: unknown };
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
      else if (msg.method) this.listeners.get(msg.method)?.(msg.params);
    });
  }
  on(method: string, listener: (params: unknown) => void) {
    this.listeners.set(method, listener);
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

  // By entry: the frame just under (root), where a task began or an async function resumed. The
  // native work of an RPC call (e.g. creating a Durable Object the call is the first to reach)
  // runs on the caller's stack and shows up as the caller's self time; this groups it by step.
  const entries = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    let at = id;
    for (let up = parent.get(at); up !== undefined && parent.get(up) !== undefined; up = parent.get(up)) at = up;
    const k = key(byId.get(at)?.callFrame ?? { functionName: '?', url: '', lineNumber: 0, columnNumber: 0 });
    entries.set(k, (entries.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  print('By entry frame (a task or an async continuation)', entries);
}

/**
 * --lines=<function>: the function's self time by source line of the bundle (which call or
 * statement is hot). V8 counts samples per line; the time is the function's self time (from the
 * samples' own intervals) shared out by those counts.
 */
function summariseLines(profile: CpuProfile, fn: string) {
  const ids = new Set(profile.nodes.filter((n) => n.callFrame.functionName === fn).map((n) => n.id));
  let selfUs = 0;
  profile.samples.forEach((id, i) => {
    if (ids.has(id)) selfUs += profile.timeDeltas[i] ?? 0;
  });
  const lines = new Map<string, number>();
  for (const n of profile.nodes) {
    if (!ids.has(n.id)) continue;
    for (const t of n.positionTicks ?? []) {
      const k = `${path.basename(n.callFrame.url) || '(native)'}:${t.line}`;
      lines.set(k, (lines.get(k) ?? 0) + t.ticks);
    }
  }
  const ticks = [...lines.values()].reduce((a, b) => a + b, 0);
  console.log(`\nSelf time of ${fn} by line (${(selfUs / 1000).toFixed(0)} ms in ${ticks} samples)`);
  if (ticks === 0) console.log('  none: no function of that name ran, or the profile has no line ticks');
  for (const [k, n] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${((100 * n) / ticks).toFixed(1).padStart(5)}%  ${((selfUs * n) / ticks / 1000).toFixed(0).padStart(7)} ms  ${String(n).padStart(6)} samples  ${k}`);
  }
}

/** The longest stretches of consecutive garbage-collector samples: the pauses a request can meet. */
interface AllocationNode {
  callFrame: CallFrame;
  selfSize: number;
  children: AllocationNode[];
}

/** Sampled bytes by allocating function, and by the innermost function of ours above it. */
function summariseAllocations(head: AllocationNode, top: number, all: boolean) {
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
  console.log(`\nAllocations sampled (${all ? 'all of them' : 'live at the end or collected by a full GC'}), ${(total / 2 ** 20).toFixed(1)} MiB; by the last three frames:`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 2 ** 20).toFixed(2).padStart(7)} MiB  ${k}`);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/**
 * A heap snapshot (taken after V8's own full collection, so only what is still referenced):
 * live objects and closures by constructor, and for `retainers` the shortest path from the
 * roots to a few of its objects: what keeps them alive.
 */
function summariseSnapshot(snap: HeapSnapshot, top: number, retainers: string) {
  const nf = snap.snapshot.meta.node_fields.length;
  const ef = snap.snapshot.meta.edge_fields.length;
  const types = snap.snapshot.meta.node_types[0];
  const edgeTypes = snap.snapshot.meta.edge_types[0];
  const [typeAt, nameAt, sizeAt, edgeCountAt] = ['type', 'name', 'self_size', 'edge_count'].map((f) => snap.snapshot.meta.node_fields.indexOf(f)) as [number, number, number, number];
  const count = snap.nodes.length / nf;
  const label = (n: number) => `${types[snap.nodes[n * nf + typeAt]!]}:${snap.strings[snap.nodes[n * nf + nameAt]!]!.slice(0, 60)}`;
  const groups = new Map<string, { n: number; bytes: number }>();
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += snap.nodes[n * nf + edgeCountAt]! * ef;
    firstEdge[n + 1] = e;
    const g = groups.get(label(n)) ?? { n: 0, bytes: 0 };
    g.n++;
    g.bytes += snap.nodes[n * nf + sizeAt]!;
    groups.set(label(n), g);
  }
  console.log(`\nHeap snapshot: ${count} live nodes; by type and constructor (most objects first):`);
  for (const [k, g] of [...groups].sort((a, b) => b[1].n - a[1].n).slice(0, top)) console.log(`  ${String(g.n).padStart(8)}  ${(g.bytes / 1024).toFixed(0).padStart(8)} KiB  ${k}`);
  if (!retainers) return;
  // Shortest paths from the root (node 0) over strong edges.
  const parent = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  parent[0] = 0;
  const queue = [0];
  for (let q = 0; q < queue.length; q++) {
    const n = queue[q]!;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) {
      if (edgeTypes[snap.edges[e]!] === 'weak') continue;
      const to = snap.edges[e + 2]! / nf;
      if (parent[to] !== -1) continue;
      parent[to] = n;
      via[to] = e;
      queue.push(to);
    }
  }
  const edgeName = (e: number) => {
    const t = edgeTypes[snap.edges[e]!];
    const v = snap.edges[e + 1]!;
    return t === 'element' || t === 'hidden' ? `[${v}]` : `${t === 'property' ? '.' : `(${t}) `}${snap.strings[v]}`;
  };
  const held = (n: number) => ['object', 'closure'].includes(types[snap.nodes[n * nf + typeAt]!]!);
  const wanted = [...Array(count).keys()].filter((n) => held(n) && snap.strings[snap.nodes[n * nf + nameAt]!] === retainers && parent[n] !== -1);
  console.log(`\nHow ${wanted.length} live '${retainers}' are held (shortest paths from the roots, for 5 spread over them):`);
  for (let k = 0; k < Math.min(5, wanted.length); k++) {
    let n = wanted[Math.floor((k * wanted.length) / Math.min(5, wanted.length))]!;
    const chain: string[] = [];
    while (n !== 0 && chain.length < 40) {
      chain.push(`${label(n)} ${edgeName(via[n]!)}`);
      n = parent[n]!;
    }
    console.log(`  - ${chain.join('\n      <- ')}`);
  }
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
    const sampleAllocations = values.allocations || values['all-allocations'];
    if (sampleAllocations) {
      await inspector.send('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: values['all-allocations'] });
    }
    await inspector.send('Profiler.start');
    let seq = 0;
    const generator = scenario.request;
    const next = (): RequestSpec => (typeof generator === 'function' ? generator(seq++, data) : generator);
    const signal = new AbortController().signal;
    // --snapshot: halfway through the load (the load goes on; the isolate pauses while V8 writes it).
    const chunks: string[] = [];
    inspector.on('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push((p as { chunk: string }).chunk));
    const snapshot = values.snapshot
      ? new Promise<void>((res) => setTimeout(res, (Number(values.duration) * 1000) / 2)).then(() => inspector.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }))
      : null;
    // A journey scenario (checkout.journey) drives its journeys for --duration seconds instead.
    const result: RunResult & { stages?: Record<string, StageTimes> } = scenario.journey
      ? await runJourneys({ baseUrl: served.url.href, journey: scenario.journey, data, nextSeq: () => seq++, signal }, { kind: 'saturation', connections: Number(values.connections) }, Number(values.duration))
      : await saturate(
          { baseUrl: served.url.href, next, constant: typeof generator !== 'function', expectStatus: scenario.expectStatus, signal },
          { kind: 'saturation', connections: Number(values.connections), amount: Number(values.amount) },
          10,
        );
    await snapshot;
    if (result.stages) log(`journeys:\n${formatStages(result.stages, result.completed, result.duration)}`);
    const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop');
    const allocations = sampleAllocations ? (await inspector.send<{ profile: { head: AllocationNode } }>('HeapProfiler.stopSampling')).profile : null;
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
    if (values.lines) summariseLines(profile, values.lines);
    pauses(profile);
    if (allocations) summariseAllocations(allocations.head, Number(values.top), Boolean(values['all-allocations']));
    if (snapshot) summariseSnapshot(JSON.parse(chunks.join('')) as HeapSnapshot, Number(values.top), values.retainers ?? '');
  } finally {
    await served.miniflare.dispose();
  }
} finally {
  await stack.stop();
}
process.exit(0);
