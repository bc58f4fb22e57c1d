/**
 * What the provider emulators share: fault switches (`/_emulator/faults`), the webhook outbox
 * (pushed to a URL when configured, and always kept for tests to drain), a request log.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { HttpError, listen, parseJson, readBody, requestTarget, sendJson } from '../http-util.ts';

export interface FaultSpec {
  /** Answer the next `times` matching API requests with this status (500, 502, 503, 429) without processing them. */
  errors?: Array<{ status: number; times?: number; match?: string }>;
  /** Process the next `times` matching API requests, then hold the answer `ms` (a timeout after send). */
  delays?: Array<{ ms: number; times?: number; match?: string }>;
  /** Decline every payment attempt (Stripe confirm, Razorpay pay) whatever the method. */
  declineAll?: boolean;
  /** Deliver every webhook twice (a string: only webhooks whose body contains it). */
  duplicateWebhooks?: boolean | string;
  /** Hold webhooks and release them newest first at `POST /_emulator/webhooks/flush` (a string: only those whose body contains it). */
  outOfOrderWebhooks?: boolean | string;
  /**
   * New refunds stay `pending` (as bank transfers and some cards do) until settled through the
   * emulator's control (Stripe: `POST /_emulator/refunds/{id}/succeed|fail`); a string: only
   * refunds whose request contains it (one test's refund id).
   */
  pendingRefunds?: boolean | string;
}

interface Counted<T> {
  spec: T;
  left: number;
}

export class Faults {
  errors: Counted<{ status: number; match?: string }>[] = [];
  delays: Counted<{ ms: number; match?: string }>[] = [];
  declineAll = false;
  /** true: every webhook; a string: only webhooks whose body contains it (one test's payment). */
  duplicateWebhooks: boolean | string = false;
  outOfOrderWebhooks: boolean | string = false;
  pendingRefunds: boolean | string = false;

  set(spec: FaultSpec): void {
    for (const e of spec.errors ?? []) this.errors.push({ spec: { status: e.status, match: e.match }, left: e.times ?? 1 });
    for (const d of spec.delays ?? []) this.delays.push({ spec: { ms: d.ms, match: d.match }, left: d.times ?? 1 });
    if (spec.declineAll !== undefined) this.declineAll = spec.declineAll;
    if (spec.duplicateWebhooks !== undefined) this.duplicateWebhooks = spec.duplicateWebhooks;
    if (spec.outOfOrderWebhooks !== undefined) this.outOfOrderWebhooks = spec.outOfOrderWebhooks;
    if (spec.pendingRefunds !== undefined) this.pendingRefunds = spec.pendingRefunds;
  }

  /** Drops the faults scoped to `match` (what one test set), leaving everyone else's. */
  resetMatching(match: string): void {
    this.errors = this.errors.filter((e) => e.spec.match !== match);
    this.delays = this.delays.filter((d) => d.spec.match !== match);
    if (this.duplicateWebhooks === match) this.duplicateWebhooks = false;
    if (this.outOfOrderWebhooks === match) this.outOfOrderWebhooks = false;
    if (this.pendingRefunds === match) this.pendingRefunds = false;
  }

  appliesTo(flag: boolean | string, body: string): boolean {
    return flag === true || (typeof flag === 'string' && body.includes(flag));
  }

  reset(): void {
    this.errors = [];
    this.delays = [];
    this.declineAll = this.duplicateWebhooks = this.outOfOrderWebhooks = this.pendingRefunds = false;
  }

  #take<T extends { match?: string }>(list: Counted<T>[], target: string): T | undefined {
    const hit = list.find((f) => f.left > 0 && (!f.spec.match || target.includes(f.spec.match)));
    if (!hit) return undefined;
    hit.left--;
    return hit.spec;
  }

  takeError(target: string) {
    return this.#take(this.errors, target);
  }

  takeDelay(target: string) {
    return this.#take(this.delays, target);
  }
}

export interface Delivery {
  eventId: string;
  type: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Status of the push to the configured URL, when there is one. */
  pushed?: number | string;
}

export class WebhookOutbox {
  #ready: Delivery[] = [];
  #held: Delivery[] = [];
  readonly pushes: Promise<unknown>[] = [];

  constructor(
    private readonly faults: Faults,
    private readonly url: string | undefined,
  ) {}

  emit(d: Delivery): void {
    const copies = this.faults.appliesTo(this.faults.duplicateWebhooks, d.body) ? [d, { ...d }] : [d];
    if (this.faults.appliesTo(this.faults.outOfOrderWebhooks, d.body)) this.#held.push(...copies);
    else for (const c of copies) this.#release(c);
  }

  /** Releases held webhooks (those whose body contains `match`, when given), newest first. */
  flush(match?: string): number {
    const held = take(this.#held, match).reverse();
    for (const d of held) this.#release(d);
    return held.length;
  }

  /**
   * Hands out (and forgets) the ready webhooks; with `match`, only those whose body contains it,
   * so test files running side by side never take each other's.
   */
  drain(match?: string): Delivery[] {
    return take(this.#ready, match);
  }

  #release(d: Delivery): void {
    this.#ready.push(d);
    if (!this.url) return;
    const push = fetch(this.url, { method: 'POST', headers: d.headers, body: d.body })
      .then(async (res) => {
        d.pushed = res.status;
        await res.arrayBuffer();
      })
      .catch((err: unknown) => {
        d.pushed = String(err);
      });
    this.pushes.push(push);
  }
}

function take(list: Delivery[], match: string | undefined): Delivery[] {
  if (!match) return list.splice(0);
  const out: Delivery[] = [];
  for (let i = 0; i < list.length; ) {
    if (list[i]!.body.includes(match)) out.push(...list.splice(i, 1));
    else i++;
  }
  return out;
}

export const randomId = (prefix: string, n = 14) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `${prefix}${Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('')}`;
};

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface EmulatorServer {
  url: string;
  port: number;
  faults: Faults;
  outbox: WebhookOutbox;
  requests: Array<{ method: string; path: string; status: number; key?: string }>;
  stop(): Promise<void>;
}

/**
 * An HTTP server with the shared `/_emulator/*` controls; everything else goes to `api`
 * after the fault switches had their say.
 */
export async function serveEmulator(opts: {
  port?: number;
  host?: string;
  webhookUrl?: string;
  errorBody: (status: number) => unknown;
  control?: (req: ApiRequest) => Promise<ApiResponse | undefined>;
  api: (req: ApiRequest) => Promise<ApiResponse>;
  reset: () => void;
}): Promise<EmulatorServer> {
  const faults = new Faults();
  const outbox = new WebhookOutbox(faults, opts.webhookUrl);
  const requests: EmulatorServer['requests'] = [];
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const { path, query } = requestTarget(req);
    const body = await readBody(req);
    const r: ApiRequest = { method: req.method ?? 'GET', path, query, headers: req.headers, body };
    if (path.startsWith('/_emulator/')) {
      if (path === '/_emulator/faults' && r.method === 'POST') {
        faults.set(parseJson(body || '{}') as FaultSpec);
        return sendJson(res, 200, { ok: true });
      }
      if (path === '/_emulator/faults' && r.method === 'DELETE') {
        const match = query.get('match');
        if (match) faults.resetMatching(match);
        else faults.reset();
        return sendJson(res, 200, { ok: true });
      }
      if (path === '/_emulator/webhooks' && r.method === 'GET') return sendJson(res, 200, { deliveries: outbox.drain(query.get('match') ?? undefined) });
      if (path === '/_emulator/webhooks/flush' && r.method === 'POST') return sendJson(res, 200, { released: outbox.flush(query.get('match') ?? undefined) });
      if (path === '/_emulator/requests' && r.method === 'GET') return sendJson(res, 200, { requests });
      if (path === '/_emulator/reset' && r.method === 'POST') {
        faults.reset();
        outbox.flush();
        outbox.drain();
        requests.length = 0;
        opts.reset();
        return sendJson(res, 200, { ok: true });
      }
      const answer = await opts.control?.(r);
      if (answer) return sendJson(res, answer.status, answer.body);
      return sendJson(res, 404, { error: `no emulator control ${r.method} ${path}` });
    }
    // A fault's `match` may name a path or an Idempotency-Key (one attempt's calls only).
    const key = r.headers['idempotency-key'];
    const target = `${r.method} ${path}${typeof key === 'string' ? ` key=${key}` : ''}`;
    const injected = faults.takeError(target);
    if (injected) {
      requests.push({ method: r.method, path, status: injected.status, ...(typeof key === 'string' ? { key } : {}) });
      const headers: Record<string, string> = injected.status === 429 ? { 'retry-after': '0' } : {};
      const payload = JSON.stringify(opts.errorBody(injected.status));
      res.writeHead(injected.status, { 'content-type': 'application/json', ...headers });
      return res.end(payload);
    }
    const answer = await opts.api(r);
    requests.push({ method: r.method, path, status: answer.status, ...(typeof key === 'string' ? { key } : {}) });
    const delay = faults.takeDelay(target);
    if (delay) await new Promise((resolve) => setTimeout(resolve, delay.ms));
    if (res.destroyed) return;
    const payload = JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': randomId('req_'), ...answer.headers });
    res.end(payload);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const status = err instanceof HttpError ? err.status : 500;
      sendJson(res, status, opts.errorBody(status));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const host = opts.host ?? '127.0.0.1';
  const port = await listen(server, opts.port ?? 0, host);
  return {
    url: `http://${host}:${port}`,
    port,
    faults,
    outbox,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
