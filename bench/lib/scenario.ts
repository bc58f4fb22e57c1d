/**
 * The scenario registry. A scenario file in bench/scenarios/ calls `defineScenario(...)`
 * once per scenario; run.ts discovers every file there, so adding a scenario is adding a
 * call (or a file). See bench/README.md.
 *
 * Scenario modules are imported by two processes: the orchestrator (which runs `setup`)
 * and the load generator (which calls `request` for every request it sends). Keep them
 * free of side effects other than `defineScenario`.
 */

import type { Journey } from './journey.ts';

/** One HTTP request as the load generator sends it. */
export interface RequestSpec {
  method?: string;
  /** Path and query, e.g. `/v1/products?limit=20`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A fixed request, or a function of the request's sequence number within the scenario
 * (0, 1, 2, ... across warm-up and every run, never repeating) and the value `setup`
 * returned. Runs in the load-generator process: it must be cheap and must not do I/O.
 */
export type RequestGenerator<D> = RequestSpec | ((seq: number, data: D) => RequestSpec);

/** As many requests as `connections` closed-loop connections can get answered: throughput. */
export interface SaturationRun {
  kind: 'saturation';
  /** Concurrent keep-alive connections (default 16). */
  connections?: number;
  /** Seconds (default 10; `--quick` 3). Ignored when `amount` is set. */
  duration?: number;
  /** Stop after exactly this many requests instead of after `duration`. */
  amount?: number;
}

/**
 * An open-loop constant arrival rate: request k is sent at start + k/rate whatever the
 * earlier ones are doing (no coordinated omission), its latency counted from then, including
 * any wait for a free connection. This is where latency targets belong: p99 at saturation
 * only measures the queue.
 */
export interface FixedRateRun {
  kind: 'fixed-rate';
  /** Requests per second offered. */
  rate: number;
  /** Seconds (default 10; `--quick` 3). Ignored when `amount` is set. */
  duration?: number;
  /** Offer exactly this many requests (duration = amount / rate). */
  amount?: number;
  /** Most connections used at once (default 64); a request waits for a free one. */
  connections?: number;
}

export type RunSpec = SaturationRun | FixedRateRun;
export type RunKind = RunSpec['kind'];

export function saturation(opts: Omit<SaturationRun, 'kind'> = {}): SaturationRun {
  return { kind: 'saturation', ...opts };
}

export function fixedRate(rate: number, opts: Omit<FixedRateRun, 'kind' | 'rate'> = {}): FixedRateRun {
  return { kind: 'fixed-rate', rate, ...opts };
}

/** What `setup` can use: the served Worker and the benchmark database. Runs in the orchestrator. */
export interface SetupContext {
  baseUrl: URL;
  /** GET (or any method) against the Worker; throws unless 2xx. Parses JSON. */
  json<T = unknown>(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<T>;
  /** The benchmark's own database (fresh, migrated and seeded), for fixtures the API cannot make. */
  databaseUrl: string;
  log(msg: string): void;
}

/** Latency and throughput of one run, as the load generator measured it. */
export interface RunResult {
  spec: Required<Pick<RunSpec, 'kind'>> & RunSpec;
  /** Seconds the measurement lasted. */
  duration: number;
  /** Responses received (any status). */
  completed: number;
  /** Completed 2xx (or `expectStatus`) responses per second. */
  rps: number;
  /** Milliseconds, over every response (failed ones are counted in `errors`). */
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Non-2xx (or not in `expectStatus`) responses + connection errors + timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  connectionErrors: number;
  timeouts: number;
  /** Counts of the scenario's `tallyHeader` values, e.g. `{ memory: 9990, miss: 10 }`. */
  header?: Record<string, number>;
  /** Fixed-rate runs only: the generator's own timing, to tell its lag from the server's. */
  pacing?: {
    offered: number;
    sent: number;
    /** Milliseconds the generator's timer fired late (left out of the latency; large = generator starved). */
    timerLagP99: number;
    /** Milliseconds a request waited for a free connection (part of the latency). */
    connectionWaitP99: number;
    /** Latency from the moment the request got its connection. */
    serviceP50: number;
    serviceP99: number;
  };
}

export interface TargetContext {
  /** Requests/s of the ceiling scenario's saturation run in this benchmark. */
  ceilingRps?: number;
}

export interface TargetOutcome {
  label: string;
  pass: boolean;
  actual: string;
}

/** A pass/fail condition on the runs of one scenario, printed under the table. */
export interface Target {
  /** Which runs it judges; a target whose runs did not happen (filtered out) is skipped. */
  appliesTo(run: RunSpec): boolean;
  check(result: RunResult, ctx: TargetContext): TargetOutcome | undefined;
}

export interface Scenario<D = unknown> {
  /** Unique and stable (it keys the JSON results), e.g. `catalog.list.cached`. */
  name: string;
  /** Row label in the table. */
  title: string;
  /** Words `--only=` matches besides the name, e.g. `products`, `search`. */
  tags?: string[];
  /** This scenario's saturation throughput is the ceiling others are compared with. One only. */
  ceiling?: boolean;
  /** A yardstick rather than a feature (listed right after the ceiling). */
  reference?: boolean;
  /**
   * Serve this module Worker (absolute path) instead of the built Agora Worker, in its own
   * Miniflare instance with the same compatibility settings and no bindings.
   */
  script?: string;
  /** Other files `script` imports (ES modules or `.wasm`), absolute paths under the repository root. */
  scriptModules?: string[];
  /**
   * Durable Object bindings of `script` (binding name → exported class name, SQLite storage). A
   * `.ts` script is bundled first (lib/worker.ts `bundleScript`), so it may import the real classes.
   */
  scriptDurableObjects?: Record<string, string>;
  /** Runs once in the orchestrator before any run; its value (structured-clonable) reaches `request`. */
  setup?: (ctx: SetupContext) => Promise<D>;
  request: RequestGenerator<D>;
  /**
   * Instead of `request`, on saturation runs: each of `connections` users repeats this multi-request
   * journey (lib/journey.ts); rps is journeys/s, latency end to end, and the result has per-step `stages`.
   */
  journey?: Journey<D>;
  /** Run in this order. */
  runs: RunSpec[];
  targets?: Target[];
  /** Statuses that count as success (default: any 2xx). */
  expectStatus?: number[];
  /** Response header whose values are counted per run, e.g. `x-cache`. */
  tallyHeader?: string;
  /** Seconds of unmeasured load before each run, same shape (default 2; `--quick` 1; 0 for none). */
  warmup?: number;
}

/** A scenario of any setup data (its generator is only ever called with its own setup's value). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyScenario = Scenario<any>;

const registry = new Map<string, AnyScenario>();

export function defineScenario<D>(scenario: Scenario<D>): Scenario<D> {
  if (registry.has(scenario.name)) throw new Error(`Duplicate bench scenario name: ${scenario.name}`);
  if (!scenario.runs.length) throw new Error(`Bench scenario ${scenario.name} has no runs`);
  for (const run of scenario.runs) {
    if (run.kind === 'fixed-rate' && !(run.rate > 0)) throw new Error(`${scenario.name}: fixed-rate runs need a rate > 0`);
  }
  registry.set(scenario.name, scenario);
  return scenario;
}

/**
 * Reference scenarios over one bare Worker script (bundled if TypeScript): one per path, named
 * `<prefix>.<path>`, each a saturation run of `GET /<path>`. Read against the run's bare Worker.
 */
export function defineScriptReferences(prefix: string, script: string, tags: string[], paths: readonly (readonly [path: string, title: string])[]): void {
  for (const [path, title] of paths) {
    defineScenario({ name: `${prefix}.${path}`, title, tags: [...tags, 'reference'], reference: true, script, request: { path: `/${path}` }, runs: [saturation()] });
  }
}

export function registeredScenarios(): AnyScenario[] {
  return [...registry.values()];
}

export function scenarioByName(name: string): AnyScenario {
  const s = registry.get(name);
  if (!s) throw new Error(`Unknown bench scenario: ${name}`);
  return s;
}

// ---------------------------------------------------------------------------------------
// Targets

interface RunFilter {
  /** Only the fixed-rate run at this rate. */
  rate?: number;
}

function selects(kind: RunKind, filter: RunFilter = {}) {
  return (run: RunSpec) => run.kind === kind && (filter.rate === undefined || (run.kind === 'fixed-rate' && run.rate === filter.rate));
}

function where(spec: RunSpec): string {
  return spec.kind === 'fixed-rate' ? `@ ${spec.rate} rps` : 'at saturation';
}

const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;

export const target = {
  /** p99 latency under `limit` ms; judged on fixed-rate runs (all of them, or the one at `rate`). */
  p99Under(limit: number, filter?: RunFilter): Target {
    return {
      appliesTo: selects('fixed-rate', filter),
      check: (r) => ({ label: `p99 < ${limit} ms ${where(r.spec)}`, pass: r.latency.p99 < limit, actual: ms(r.latency.p99) }),
    };
  },

  /** p50 latency under `limit` ms on fixed-rate runs. */
  p50Under(limit: number, filter?: RunFilter): Target {
    return {
      appliesTo: selects('fixed-rate', filter),
      check: (r) => ({ label: `p50 < ${limit} ms ${where(r.spec)}`, pass: r.latency.p50 < limit, actual: ms(r.latency.p50) }),
    };
  },

  /** Saturation throughput at least `fraction` of the ceiling's, measured in the same benchmark. */
  ceilingFractionAtLeast(fraction: number): Target {
    return {
      appliesTo: selects('saturation'),
      check: (r, ctx) =>
        ctx.ceilingRps
          ? {
              label: `throughput >= ${Math.round(fraction * 100)}% of ceiling`,
              pass: r.rps / ctx.ceilingRps >= fraction,
              actual: `${((r.rps / ctx.ceilingRps) * 100).toFixed(0)}%`,
            }
          : undefined,
    };
  },

  /** Saturation throughput of at least `rps` requests/s. */
  rpsAtLeast(rps: number): Target {
    return {
      appliesTo: selects('saturation'),
      check: (r) => ({ label: `>= ${rps} rps at saturation`, pass: r.rps >= rps, actual: `${Math.round(r.rps)} rps` }),
    };
  },

  /** At least `share` of the responses of every run carried `header: value` (e.g. that "uncached" really missed). */
  headerShareAtLeast(header: string, value: string, share: number): Target {
    return {
      appliesTo: () => true,
      check: (r) => {
        const counts = r.header ?? {};
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        const got = total ? (counts[value] ?? 0) / total : 0;
        return {
          label: `${header}: ${value} on >= ${share * 100}% ${where(r.spec)}`,
          pass: got >= share,
          actual: `${(got * 100).toFixed(1)}%`,
        };
      },
    };
  },

  /** Exactly `count` responses with `status` in each run (e.g. units sold in a flash sale). */
  statusCountIs(status: number, count: number, label = `${status} responses`): Target {
    return {
      appliesTo: () => true,
      check: (r) => {
        const got = r.statusCodes[String(status)] ?? 0;
        return { label: `${label} = ${count} ${where(r.spec)}`, pass: got === count, actual: String(got) };
      },
    };
  },
};
