/**
 * Closed-loop journeys: N concurrent users (a saturation run's `connections`), each repeating a
 * multi-request journey (say cart → order → pay → wait until PAID) as soon as the last one ended.
 * Runs in the load-generator process (load-child.ts), for scenarios with a `journey`.
 *
 * The run's `rps` is completed journeys per second, its latency the journey's end-to-end time
 * (successful ones only), its `errors` the journeys that failed (the step and status that failed
 * are counted in `statusCodes`, e.g. `"place 409": 3`), and `stages` the time of every named
 * step (p50/p99/mean over the run, and how many times it ran): where a journey's time goes.
 */
import http from 'node:http';
import type { RequestSpec, RunResult, RunSpec } from './scenario.ts';

const REQUEST_TIMEOUT_MS = 10_000;

export interface JourneyCall extends Omit<RequestSpec, 'path'> {
  /** Path and query on the Worker; or `url`. */
  path?: string;
  /** An absolute URL instead of the Worker's (e.g. the payment provider's emulator). */
  url?: string;
  /** Statuses that count as success (default: 2xx). */
  expect?: number[];
}

export interface JourneyIO {
  /** One HTTP request, timed as `stage`; throws (failing the journey) unless its status is expected. Parses JSON answers. */
  call<T = Record<string, unknown>>(stage: string, req: JourneyCall): Promise<{ status: number; body: T }>;
  /** Times a block (e.g. polling until a state is reached) as one stage. */
  stage<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Aborted when the run is stopped. */
  signal: AbortSignal;
}

/** One journey of one user; `user` is 0..connections-1, `seq` never repeats within the scenario. */
export type Journey<D> = (io: JourneyIO, user: number, seq: number, data: D) => Promise<void>;

export class JourneyFailure extends Error {
  constructor(
    readonly stage: string,
    readonly status: number | string,
    detail: string,
  ) {
    super(`${stage}: ${status} ${detail}`);
  }
}

export interface StageTimes {
  count: number;
  p50: number;
  p99: number;
  mean: number;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const r3 = (v: number) => Math.round(v * 1000) / 1000;

function summarise(samples: number[]): StageTimes & { max: number; p90: number } {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { count: s.length, p50: r3(percentile(s, 50)), p90: r3(percentile(s, 90)), p99: r3(percentile(s, 99)), max: r3(s.at(-1) ?? NaN), mean: r3(s.length ? sum / s.length : NaN) };
}

export async function runJourneys<D>(
  opts: { baseUrl: string; journey: Journey<D>; data: D; nextSeq: () => number; signal: AbortSignal },
  spec: Extract<RunSpec, { kind: 'saturation' }>,
  duration: number,
): Promise<RunResult & { stages: Record<string, StageTimes> }> {
  const users = spec.connections ?? 16;
  const agent = new http.Agent({ keepAlive: true, maxSockets: users * 2, maxFreeSockets: users * 2 });
  const base = new URL(opts.baseUrl);
  const stages = new Map<string, number[]>();
  const record = (name: string, ms: number) => {
    let list = stages.get(name);
    if (!list) stages.set(name, (list = []));
    list.push(ms);
  };
  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  let timeouts = 0;
  let connectionErrors = 0;
  const firstFailures: string[] = [];

  const send = (req: JourneyCall): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const target = new URL(req.url ?? req.path ?? '/', base);
      const headers: Record<string, string> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
      const r = http.request(
        { agent, host: target.hostname, port: target.port, method: req.method ?? 'GET', path: target.pathname + target.search, headers },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      r.setTimeout(REQUEST_TIMEOUT_MS, () => r.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      r.on('error', reject);
      r.end(req.body);
    });

  const io: JourneyIO = {
    signal: opts.signal,
    async call<T>(stage: string, req: JourneyCall) {
      const t0 = performance.now();
      let answer: { status: number; text: string };
      try {
        answer = await send(req);
      } catch (err) {
        const code = (err as { code?: string }).code === 'TIMEOUT' ? 'timeout' : 'connection error';
        throw new JourneyFailure(stage, code, err instanceof Error ? err.message : String(err));
      } finally {
        record(stage, performance.now() - t0);
      }
      const ok = req.expect ? req.expect.includes(answer.status) : answer.status >= 200 && answer.status < 300;
      if (!ok) throw new JourneyFailure(stage, answer.status, answer.text.slice(0, 300));
      let body: T;
      try {
        body = (answer.text ? JSON.parse(answer.text) : {}) as T;
      } catch {
        throw new JourneyFailure(stage, answer.status, `not JSON: ${answer.text.slice(0, 100)}`);
      }
      return { status: answer.status, body };
    },
    async stage<T>(name: string, fn: () => Promise<T>) {
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        record(name, performance.now() - t0);
      }
    },
  };

  const started = performance.now();
  const deadline = started + duration * 1000;
  const amount = spec.amount;
  let begun = 0;
  const user = async (u: number) => {
    while (!opts.signal.aborted && (amount ? begun < amount : performance.now() < deadline)) {
      begun++;
      const t0 = performance.now();
      try {
        await opts.journey(io, u, opts.nextSeq(), opts.data);
        latencies.push(performance.now() - t0);
        completed++;
        outcomes.completed = (outcomes.completed ?? 0) + 1;
      } catch (err) {
        failed++;
        const f = err instanceof JourneyFailure ? err : new JourneyFailure('journey', 'exception', err instanceof Error ? err.message : String(err));
        if (f.status === 'timeout') timeouts++;
        if (f.status === 'connection error') connectionErrors++;
        const k = `${f.stage} ${f.status}`;
        outcomes[k] = (outcomes[k] ?? 0) + 1;
        if (firstFailures.length < 3) firstFailures.push(f.message);
        await new Promise((r) => setTimeout(r, 20)); // no hot loop on a failing step
      }
    }
  };
  await Promise.all(Array.from({ length: users }, (_, u) => user(u)));
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  if (firstFailures.length) process.stderr.write(`[bench]   journey failures (first ${firstFailures.length}):\n${firstFailures.map((f) => `[bench]     ${f}`).join('\n')}\n`);

  const e2e = summarise(latencies);
  return {
    spec: { ...spec, connections: users, duration: amount ? undefined : duration },
    duration: r3(seconds),
    completed: completed + failed,
    rps: Math.round((completed / seconds) * 10) / 10,
    latency: { p50: e2e.p50, p90: e2e.p90, p99: e2e.p99, max: e2e.max, mean: e2e.mean },
    errors: failed,
    statusCodes: outcomes,
    connectionErrors,
    timeouts,
    stages: Object.fromEntries([...stages].map(([name, samples]) => {
      const { count, p50, p99, mean } = summarise(samples);
      return [name, { count, p50, p99, mean }];
    })),
  };
}

/** The stage table printed under a journey run's line (stderr, like the orchestrator's log). */
export function formatStages(stages: Record<string, StageTimes>, journeys: number, seconds: number): string {
  const rows = Object.entries(stages).map(([name, s]) => `[bench]     ${name.padEnd(28)} ${(s.count / Math.max(1, journeys)).toFixed(2).padStart(6)}/journey  p50 ${s.p50.toFixed(2).padStart(7)} ms  p99 ${s.p99.toFixed(2).padStart(7)} ms  mean ${s.mean.toFixed(2).padStart(7)} ms`);
  return `[bench]   steps of ${journeys} journeys in ${seconds.toFixed(1)} s (warm-up runs print theirs too):\n${rows.join('\n')}\n`;
}
