/**
 * The Upstash Redis REST protocol in front of a plain Redis, so `new Redis({ url, token })`
 * from @upstash/redis works locally unchanged.
 *
 * - `POST /` with `["SET", "k", "v"]` → `{ "result": ... }`
 * - `POST /pipeline` and `POST /multi-exec` with `[[...], ...]` → `[{ "result" } | { "error" }, ...]`
 * - `/set/k/v` (GET or POST; a POST body becomes the last argument) → `{ "result": ... }`
 * - `Authorization: Bearer TOKEN` is required (401 otherwise); failed commands answer
 *   400 `{ "error": "..." }`.
 * - With `Upstash-Encoding: base64` (the client's default) every string in a result is
 *   base64 of its bytes; numbers, nulls and array nesting are kept.
 *
 * All requests share one ioredis connection, so commands that change connection state
 * (SELECT, SUBSCRIBE, MULTI, ...) are refused; use /multi-exec for transactions.
 *
 * Lua scripts may carry shebang flags only Upstash knows (`#!lua flags=allow-key-locking`,
 * on every script of @upstash/ratelimit), which plain Redis refuses ("Unexpected flag in
 * script shebang"). The bridge drops those flags before EVAL / SCRIPT LOAD and remembers
 * which SHA1 the client knows the script by, so EVALSHA with the client's hash still finds
 * the rewritten script (and SCRIPT LOAD answers the client's hash, as Upstash would).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Command, type Pipeline, Redis, ReplyError } from 'ioredis';
import { HttpError, hostPort, listen, parseJson, readBody, requestTarget, sendJson } from './http-util.ts';

export interface UpstashBridgeOptions {
  /** Default `redis://127.0.0.1:6379`. */
  redisUrl?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Bearer token clients must send; random when omitted. */
  token?: string;
  log?: (msg: string) => void;
}

export interface UpstashBridge {
  /** `http://127.0.0.1:PORT`, for `new Redis({ url, token })`. */
  url: string;
  token: string;
  port: number;
  /** Closes the server and the Redis connection. */
  stop(): Promise<void>;
}

type Reply = Buffer | number | null | Error | Reply[];

const REFUSED = new Set([
  'auth', 'client', 'discard', 'exec', 'hello', 'monitor', 'multi', 'psubscribe', 'psync',
  'punsubscribe', 'quit', 'reset', 'select', 'ssubscribe', 'subscribe', 'sunsubscribe',
  'sync', 'unsubscribe', 'unwatch', 'watch',
]);

/**
 * Shebang flags Upstash accepts and Redis does not. `allow-key-locking` lets Upstash lock only
 * the keys a script declares instead of the whole database; Redis runs every script atomically
 * anyway, so dropping it changes nothing here. Other unknown flags still fail, as they would.
 */
const UPSTASH_ONLY_SCRIPT_FLAGS = new Set(['allow-key-locking']);

/** Scripts the bridge rewrote: the SHA1 the client computed (of its text) → the SHA1 Redis knows. */
type ScriptAliases = Map<string, string>;

export async function startUpstashBridge(opts: UpstashBridgeOptions = {}): Promise<UpstashBridge> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(24).toString('hex');
  const log = opts.log ?? (() => {});
  const redis = new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    protocol: 2, // Upstash answers in RESP2 shapes
  });
  const scripts: ScriptAliases = new Map();
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    lastError = err;
    log(`upstash-bridge: redis: ${err.message}`);
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    // connect() only says "Connection is closed."; the error event says why.
    const reason = (lastError ?? (err as Error)).message;
    throw new Error(`Cannot reach Redis at ${redis.options.host}:${redis.options.port}: ${reason}`, { cause: err });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${token}`) return sendJson(res, 401, { error: 'Unauthorized' });
    const base64 = req.headers['upstash-encoding'] === 'base64';
    const { path } = requestTarget(req);
    try {
      const body = await readBody(req);
      if (path === '/pipeline' || path === '/multi-exec') {
        const commands = parseJson(body);
        if (!Array.isArray(commands) || commands.length === 0) throw new HttpError(400, 'Expected an array of commands');
        const batch = path === '/pipeline' ? redis.pipeline() : redis.multi();
        for (const command of commands) (batch as unknown as Pipeline).sendCommand(toCommand(command, scripts));
        const replies = (await batch.exec()) ?? [];
        sendJson(res, 200, replies.map(([err, reply]) => (err ? { error: err.message } : { result: encode(reply as Reply, base64) })));
      } else {
        const command = toCommand(path === '/' ? parseJson(body) : pathCommand(path, body), scripts);
        redis.sendCommand(command);
        sendJson(res, 200, { result: encode((await command.promise) as Reply, base64) });
      }
    } catch (err) {
      if (err instanceof HttpError) sendJson(res, err.status, { error: err.message });
      else if (err instanceof ReplyError) sendJson(res, 400, { error: describe(err as Error) });
      else {
        const message = err instanceof Error ? err.message : String(err);
        log(`upstash-bridge: ${message}`);
        sendJson(res, 502, { error: message });
      }
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 30_000;
  const port = await listen(server, opts.port ?? 0, host).catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });

  let stopped: Promise<void> | undefined;
  return {
    url: `http://${hostPort(host, port)}`,
    token,
    port,
    stop: () =>
      (stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}

/** A command whose reply comes back as Redis sent it: Buffers, and none of ioredis'
 * reshaping (HGETALL into an object, score pairs into tuples, ...). */
class RawCommand extends Command {
  /** Answered instead of Redis' reply when set: the client's SHA1 for a rewritten SCRIPT LOAD. */
  replyOverride?: Buffer;

  override transformReply(reply: Buffer | Buffer[]): Buffer | Buffer[] {
    return this.replyOverride ?? reply;
  }
}

/** Validates one command (a name, then arguments) from a request. */
function toCommand(value: unknown, scripts: ScriptAliases): RawCommand {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || value[0] === '') {
    throw new HttpError(400, 'A command is a JSON array starting with its name');
  }
  const [name, ...args] = value as [string, ...unknown[]];
  const lower = name.toLowerCase();
  if (REFUSED.has(lower)) throw new HttpError(400, `ERR ${name} is not supported over REST`);
  const values = args.map((a) => (typeof a === 'string' || typeof a === 'number' ? a : JSON.stringify(a)));
  let replyOverride: Buffer | undefined;
  if ((lower === 'eval' || lower === 'eval_ro') && typeof values[0] === 'string') {
    values[0] = forRedis(values[0], scripts).script;
  } else if ((lower === 'evalsha' || lower === 'evalsha_ro') && typeof values[0] === 'string') {
    values[0] = scripts.get(values[0].toLowerCase()) ?? values[0];
  } else if (lower === 'script' && String(values[0]).toLowerCase() === 'load' && typeof values[1] === 'string') {
    const adapted = forRedis(values[1], scripts);
    values[1] = adapted.script;
    if (adapted.clientSha) replyOverride = Buffer.from(adapted.clientSha);
  }
  const command = new RawCommand(name, values, { replyEncoding: null });
  command.replyOverride = replyOverride;
  return command;
}

/** Drops Upstash-only shebang flags from a script, remembering the client's SHA1 for it. */
function forRedis(script: string, scripts: ScriptAliases): { script: string; clientSha?: string } {
  if (!script.startsWith('#!')) return { script };
  const end = script.indexOf('\n');
  const shebang = end === -1 ? script : script.slice(0, end);
  const tokens = shebang.split(/[ \t]+/).flatMap((token) => {
    if (!token.startsWith('flags=')) return [token];
    const flags = token.slice('flags='.length).split(',').filter((flag) => !UPSTASH_ONLY_SCRIPT_FLAGS.has(flag));
    // `#!lua flags=` with nothing after it would mean "no flags" too, but say it plainly.
    return flags.length ? [`flags=${flags.join(',')}`] : [];
  });
  const rewritten = tokens.join(' ') + (end === -1 ? '' : script.slice(end));
  if (rewritten === script) return { script };
  const clientSha = sha1(script);
  scripts.set(clientSha, sha1(rewritten));
  return { script: rewritten, clientSha };
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** `/set/k/v` → `["set", "k", "v"]`; a request body is the last argument. */
function pathCommand(path: string, body: string): string[] {
  try {
    return [...path.slice(1).split('/').map(decodeURIComponent), ...(body ? [body] : [])];
  } catch {
    throw new HttpError(400, 'Malformed path');
  }
}

/** Turns a Redis reply into JSON, each string as base64 of its bytes when asked. */
function encode(reply: Reply, base64: boolean): unknown {
  if (reply instanceof Uint8Array) return reply.toString(base64 ? 'base64' : 'utf8'); // a Buffer
  if (Array.isArray(reply)) return reply.map((r) => encode(r, base64));
  if (reply instanceof Error) return reply.message; // e.g. an error inside an EVAL result
  return reply;
}

/** An EXECABORT names the command that made Redis discard the transaction. */
function describe(err: Error & { previousErrors?: Error[] }): string {
  const cause = err.previousErrors?.[0];
  return cause ? `${err.message} ${cause.message}` : err.message;
}
