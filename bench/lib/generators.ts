/**
 * The two ways load is offered. Both run in the load-generator process (load-child.ts).
 *
 * - `saturate`: autocannon, N closed-loop keep-alive connections, each sending its next
 *   request as soon as the previous answer arrives. Measures throughput.
 * - `pace`: an open-loop constant arrival rate over a keep-alive node:http Agent. Request k
 *   is issued at t0 + k/rate whatever the earlier ones are doing (a stalled server is charged
 *   for every request that arrives meanwhile, no coordinated omission), and its latency counts
 *   from that moment, including any wait for a free connection. Only the timer's own lateness
 *   (Node timers have 1 ms granularity) is left out; it is reported as `timerLagP99`.
 *
 * Why not autocannon's `overallRate` for the fixed rate: its limiter gives each connection a
 * budget per one-second tick and sends it back to back as soon as the tick starts, then idles
 * (httpClient.js `reqsMadeThisSecond`): the load arrives as a burst at every second boundary,
 * which measures a short saturation, not a steady rate. Its coordinated-omission correction
 * also uses an expected interval of `Math.ceil(1 / rate)` = 1 ms (run.js), whatever the rate.
 *
 * Latencies are kept exactly (one float per response) rather than in autocannon's
 * histogram, which has 1 ms resolution: too coarse for sub-millisecond endpoints.
 */
import http from 'node:http';
import autocannon, { type AutocannonResult } from 'autocannon';
import type { RequestSpec, RunResult, RunSpec } from './scenario.ts';

export interface LoadTarget {
  baseUrl: string;
  /** Produces the next request (advancing the scenario's sequence number). */
  next: () => RequestSpec;
  /** True when the generator always returns the same request (lets autocannon prebuild it). */
  constant: boolean;
  expectStatus?: number[];
  tallyHeader?: string;
  signal: AbortSignal;
}

const REQUEST_TIMEOUT_S = 10;
const DEFAULT_SATURATION_CONNECTIONS = 16;
const DEFAULT_PACED_CONNECTIONS = 64;

/** Grows as needed; avoids one JS number object per sample. */
class Samples {
  #buf = new Float64Array(1 << 14);
  #n = 0;
  push(v: number) {
    if (this.#n === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      next.set(this.#buf);
      this.#buf = next;
    }
    this.#buf[this.#n++] = v;
  }
  get length() {
    return this.#n;
  }
  sorted(): Float64Array {
    return this.#buf.slice(0, this.#n).sort();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function summary(samples: Samples) {
  const s = samples.sorted();
  let sum = 0;
  for (const v of s) sum += v;
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return {
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? s[s.length - 1]! : NaN),
    mean: r(s.length ? sum / s.length : NaN),
  };
}

class Tally {
  statusCodes: Record<string, number> = {};
  header: Record<string, number> | undefined;
  ok = 0;
  completed = 0;
  constructor(private readonly expectStatus: number[] | undefined, tallyHeader: string | undefined) {
    if (tallyHeader) this.header = {};
  }
  status(code: number) {
    this.completed++;
    this.statusCodes[code] = (this.statusCodes[code] ?? 0) + 1;
    if (this.expectStatus ? this.expectStatus.includes(code) : code >= 200 && code < 300) this.ok++;
  }
  headerValue(v: string | undefined) {
    if (!this.header) return;
    const key = v ?? '(none)';
    this.header[key] = (this.header[key] ?? 0) + 1;
  }
}

/** Closed-loop saturation with autocannon. */
export async function saturate(target: LoadTarget, spec: Extract<RunSpec, { kind: 'saturation' }>, duration: number): Promise<RunResult> {
  const connections = spec.connections ?? DEFAULT_SATURATION_CONNECTIONS;
  const latencies = new Samples();
  const tally = new Tally(target.expectStatus, target.tallyHeader);
  const headerName = target.tallyHeader?.toLowerCase();

  const first = target.next();
  const requests = target.constant
    ? [toAutocannon(first)]
    : [
        {
          // Called for every request; the first request was built from `first`.
          setupRequest: (req: Record<string, unknown>) => Object.assign(req, toAutocannon(target.next())),
        },
      ];

  const started = performance.now();
  let lastResponseAt = started;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.baseUrl,
        connections,
        duration,
        amount: spec.amount,
        timeout: REQUEST_TIMEOUT_S,
        ...toAutocannon(first),
        requests,
        setupClient: headerName
          ? (client) =>
              client.on('headers', (info) => {
                const raw = info.headers;
                let value: string | undefined;
                for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === headerName) value = raw[i + 1];
                tally.headerValue(value);
              })
          : undefined,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      tally.status(statusCode);
      latencies.push(responseTime);
      lastResponseAt = performance.now();
    });
    const abort = () => instance.stop();
    target.signal.addEventListener('abort', abort, { once: true });
    instance.on('done', () => target.signal.removeEventListener('abort', abort));
  });
  // An `amount` run is over at its last response: autocannon only notices on its 1-second tick,
  // which made such runs up to a second longer than they were (rps quantised to amount/⌈s⌉).
  const seconds = ((spec.amount && lastResponseAt > started ? lastResponseAt : performance.now()) - started) / 1000;
  // autocannon reconnects silently when the server closes a connection mid-request and
  // moves on to the next request: count what was sent and never answered. A duration run
  // may end with up to one request per connection in flight, which is not a loss.
  const sent = result.requests.sent ?? tally.completed;
  const unanswered = sent - tally.completed - result.errors;
  const lost = Math.max(0, spec.amount ? unanswered : unanswered - connections);

  return {
    spec: { ...spec, connections, duration: spec.amount ? undefined : duration },
    duration: round(seconds, 3),
    completed: tally.completed,
    rps: round(tally.ok / seconds, 1),
    latency: summary(latencies),
    errors: tally.completed - tally.ok + result.errors + lost,
    statusCodes: tally.statusCodes,
    connectionErrors: result.errors - result.timeouts + lost,
    timeouts: result.timeouts,
    header: tally.header,
  };
}

/** The connection pool of a fixed-rate run: up to `connections` keep-alive sockets, first come first served. */
export function pacedAgent(spec: Extract<RunSpec, { kind: 'fixed-rate' }>): http.Agent {
  const connections = spec.connections ?? DEFAULT_PACED_CONNECTIONS;
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'fifo' });
}

/** Every field set, so a request never inherits headers or a body from the one before it. */
function toAutocannon(r: RequestSpec): { method: string; path: string; headers: Record<string, string>; body: string } {
  return { method: r.method ?? 'GET', path: r.path, headers: r.headers ?? {}, body: r.body ?? '' };
}

/** Open-loop constant rate: request k issued at t0 + k/rate; latency from then (connection waits included). */
export async function pace(
  target: LoadTarget,
  spec: Extract<RunSpec, { kind: 'fixed-rate' }>,
  duration: number,
  /** Keep-alive connections to reuse (e.g. the warm-up's); then the caller destroys it. */
  shared?: http.Agent,
): Promise<RunResult> {
  const agent = shared ?? pacedAgent(spec);
  const connections = spec.connections ?? DEFAULT_PACED_CONNECTIONS;
  const total = spec.amount ?? Math.max(1, Math.round(spec.rate * duration));
  const interval = 1000 / spec.rate;
  const base = new URL(target.baseUrl);
  const headerName = target.tallyHeader?.toLowerCase();

  const latencies = new Samples();
  const service = new Samples();
  const timerLag = new Samples();
  const connectionWait = new Samples();
  const tally = new Tally(target.expectStatus, target.tallyHeader);
  let connectionErrors = 0;
  let timeouts = 0;
  let sent = 0;
  let inFlight = 0;

  const started = performance.now() + 5;
  let lastDone = started;

  await new Promise<void>((resolve) => {
    let k = 0;
    let timer: NodeJS.Timeout | undefined;
    const finishIfDone = () => {
      if ((k >= total || target.signal.aborted) && inFlight === 0) {
        target.signal.removeEventListener('abort', onAbort);
        resolve();
      }
    };
    const onAbort = () => {
      if (timer) clearTimeout(timer);
      for (const sockets of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) for (const s of sockets ?? []) s.destroy();
      finishIfDone();
    };
    target.signal.addEventListener('abort', onAbort, { once: true });

    const fire = (due: number) => {
      const r = target.next();
      const fired = performance.now();
      timerLag.push(fired - due);
      inFlight++;
      let writtenAt = fired;
      let settled = false;
      /** Exactly once per request, however many of 'end' / 'error' / timeout fire. */
      const settle = (outcome: 'answered' | 'failed' | 'timeout') => {
        if (settled) return;
        settled = true;
        if (outcome === 'failed') connectionErrors++;
        if (outcome === 'timeout') timeouts++;
        inFlight--;
        lastDone = performance.now();
        finishIfDone();
      };
      const req = http.request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: r.method ?? 'GET',
          path: r.path,
          headers: r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)), ...r.headers } : r.headers,
        },
        (res) => {
          if (headerName) {
            const v = res.headers[headerName];
            tally.headerValue(Array.isArray(v) ? v.join(',') : v);
          }
          res.on('data', () => {});
          res.on('end', () => {
            if (settled) return;
            const now = performance.now();
            tally.status(res.statusCode ?? 0);
            latencies.push(now - fired);
            service.push(now - writtenAt);
            settle('answered');
          });
          res.on('error', () => settle('failed'));
        },
      );
      req.on('socket', () => {
        writtenAt = performance.now();
        connectionWait.push(writtenAt - fired);
        sent++;
      });
      req.setTimeout(REQUEST_TIMEOUT_S * 1000, () => {
        settle('timeout');
        req.destroy();
      });
      req.on('error', () => settle('failed'));
      req.end(r.body);
    };

    const tick = () => {
      timer = undefined;
      if (target.signal.aborted) return;
      const now = performance.now();
      while (k < total && started + k * interval <= now) fire(started + k++ * interval);
      if (k < total) timer = setTimeout(tick, Math.max(0, started + k * interval - performance.now()));
      else finishIfDone();
    };
    timer = setTimeout(tick, 5);
  });
  if (!shared) agent.destroy();

  const offeredSeconds = (total * interval) / 1000;
  const seconds = Math.max(offeredSeconds, (lastDone - started) / 1000);
  const svc = summary(service);
  return {
    spec: { ...spec, connections, duration: spec.amount ? undefined : duration },
    duration: round(seconds, 3),
    completed: tally.completed,
    rps: round(tally.ok / seconds, 1),
    latency: summary(latencies),
    errors: tally.completed - tally.ok + connectionErrors + timeouts,
    statusCodes: tally.statusCodes,
    connectionErrors,
    timeouts,
    header: tally.header,
    pacing: {
      offered: total,
      sent,
      timerLagP99: round(percentile(timerLag.sorted(), 99), 3),
      connectionWaitP99: round(percentile(connectionWait.sorted(), 99), 3),
      serviceP50: svc.p50,
      serviceP99: svc.p99,
    },
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
