/**
 * A local stand-in for Neon's proxy, so @neondatabase/serverless reaches a plain
 * Postgres (PGlite or a real one) from workerd or Node:
 *
 * - WebSocket `ws://HOST:PORT/v2?address=DBHOST:DBPORT` (Neon's wsproxy protocol): each
 *   connection opens a TCP socket to the address and pipes binary frames both ways.
 * - `POST http://HOST:PORT/sql`: Neon's SQL-over-HTTP endpoint for `neon()` one-shot
 *   queries (see sql-over-http.ts).
 *
 * Driver settings: `wsProxy = (host, port) => `${bridge.wsProxy}?address=${host}:${port}``,
 * `useSecureWebSocket = pipelineTLS = pipelineConnect = false`,
 * `fetchEndpoint = bridge.sqlEndpoint`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { hostPort, listen, requestTarget } from './http-util.ts';
import { createSqlOverHttp } from './sql-over-http.ts';

export interface WsBridgeOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Database hosts clients may reach; `LOOPBACK_HOSTS` by default. */
  allowHosts?: readonly string[];
  log?: (msg: string) => void;
}

export interface WsBridge {
  /** `127.0.0.1:PORT/v2`, without scheme, as `neonConfig.wsProxy` builds on it. */
  wsProxy: string;
  /** `http://127.0.0.1:PORT/sql`, for `neonConfig.fetchEndpoint`. */
  sqlEndpoint: string;
  port: number;
  /** Closes every tunnel, HTTP connection and pool, then the server. */
  stop(): Promise<void>;
}

/** The hosts a bridge lets clients reach unless told otherwise. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];
/** Stop reading from Postgres while this much is queued towards the WebSocket client. */
const WS_HIGH_WATER = 1024 * 1024;
const BINARY = { binary: true };
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const TERMINATE = 0x58; // 'X'
/** Postgres' own limit (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_LENGTH = 10_000;
/** Message types a Postgres client may send after startup. */
const FRONTEND_TYPES = new Set([...'BCcdDEfFHpPQSX'].map((c) => c.charCodeAt(0)));

export async function startWsBridge(opts: WsBridgeOptions = {}): Promise<WsBridge> {
  const host = opts.host ?? '127.0.0.1';
  const allowed = new Set(opts.allowHosts ?? LOOPBACK_HOSTS);
  const allowHost = (h: string) => allowed.has(h);
  const log = opts.log ?? (() => {});
  const tunnels = new Set<Socket>();
  const sql = createSqlOverHttp({ allowHost, log });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  const server = createServer((req, res) => {
    if (requestTarget(req).path === '/sql') void sql.handle(req, res);
    else res.writeHead(404).end();
  });
  server.keepAliveTimeout = 30_000;

  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = parseAddress(requestTarget(req).query.get('address'));
    if (!target) return refuse(client, 400, 'Bad Request');
    if (!allowHost(target.host)) return refuse(client, 403, 'Forbidden');
    wss.handleUpgrade(req, client, head, (ws) => {
      // Bytes the client sends while this connects are buffered by the socket.
      const tcp = connect({ host: target.host, port: target.port, noDelay: true });
      tunnels.add(tcp);
      tcp.on('close', () => tunnels.delete(tcp));
      tcp.on('error', (err) => {
        log(`ws-bridge: ${target.host}:${target.port}: ${err.message}`);
        if (ws.readyState === WebSocket.OPEN) ws.close(1011, err.message.slice(0, 120));
      });
      pipe(ws, tcp);
    });
  });

  const port = await listen(server, opts.port ?? 0, host);
  const origin = hostPort(host, port);

  let stopped: Promise<void> | undefined;
  return {
    wsProxy: `${origin}/v2`,
    sqlEndpoint: `http://${origin}/sql`,
    port,
    stop: () =>
      (stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const ws of wss.clients) ws.terminate();
        for (const tcp of tunnels) tcp.destroy();
        server.closeAllConnections();
        await Promise.all([closed, sql.close()]);
      })()),
  };
}

/** Pipes one WebSocket and its TCP socket into each other, with backpressure both ways. */
function pipe(ws: WebSocket, tcp: Socket): void {
  const watcher = new FrontendWatcher();
  const resumeTcp = () => {
    if (tcp.isPaused() && ws.bufferedAmount < WS_HIGH_WATER) tcp.resume();
  };
  ws.on('message', (data: Buffer) => {
    if (tcp.writableEnded) return;
    const seen = watcher.inspect(data);
    if (seen === 'invalid') {
      ws.close(1002, 'Not the Postgres protocol');
      tcp.destroy();
      return;
    }
    if (!tcp.write(data) && !ws.isPaused) {
      ws.pause();
      tcp.once('drain', () => ws.resume());
    }
    if (seen === 'terminate') tcp.end();
  });
  tcp.on('data', (chunk: Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(chunk, BINARY, resumeTcp);
    if (ws.bufferedAmount >= WS_HIGH_WATER) tcp.pause();
  });
  // Either side ending ends the other; errors are followed by 'close'.
  ws.on('close', () => tcp.end());
  ws.on('error', () => tcp.destroy());
  tcp.on('close', () => ws.close(1000));
}

/**
 * Follows the framing of what the client sends, for two reasons:
 *
 * - Terminate ('X'): the Neon driver never closes its WebSocket after sending it (pg
 *   passes `stream.write` a callback where the driver's socket expects an encoding, so
 *   the `stream.end()` inside never runs); it waits for the server to hang up. Postgres
 *   does, pglite-socket does not, so every `pool.end()` would leak a PGlite connection.
 * - Bytes that are not frontend messages: an unknown message type sends PGlite into a
 *   loop that freezes the whole process, and a bogus startup length makes pglite-socket
 *   buffer up to that many bytes, so such a client is cut off instead.
 */
class FrontendWatcher {
  /** Untyped messages (SSLRequest, StartupMessage) come first: length, then code. */
  private startup = true;
  private readonly header = Buffer.alloc(8);
  private have = 0;
  private skip = 0;

  inspect(chunk: Buffer): 'pass' | 'terminate' | 'invalid' {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const size = this.startup ? 8 : 5;
      const n = Math.min(size - this.have, chunk.length - i);
      chunk.copy(this.header, this.have, i, i + n);
      this.have += n;
      i += n;
      if (this.have < size) break;
      this.have = 0;
      if (this.startup) {
        const length = this.header.readInt32BE(0);
        if (length > MAX_STARTUP_LENGTH) return 'invalid';
        const code = this.header.readInt32BE(4);
        this.skip = length - 8;
        this.startup = code === SSL_REQUEST || code === GSSENC_REQUEST;
      } else {
        const type = this.header[0]!;
        if (!FRONTEND_TYPES.has(type)) return 'invalid';
        if (type === TERMINATE) return 'terminate';
        this.skip = this.header.readInt32BE(1) - 4;
      }
      if (this.skip < 0) return 'invalid';
    }
    return 'pass';
  }
}

/** Parses `host:port` or `[v6]:port`. */
function parseAddress(address: string | null): { host: string; port: number } | undefined {
  const colon = address?.lastIndexOf(':') ?? -1;
  if (!address || colon < 1) return undefined;
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port };
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
function refuse(client: Duplex, status: number, reason: string): void {
  client.on('error', () => client.destroy());
  client.once('finish', () => client.destroy());
  client.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
