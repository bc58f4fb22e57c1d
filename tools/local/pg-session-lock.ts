/**
 * A TCP proxy in front of pglite-socket that gives the one PGlite session to one client
 * connection at a time, for whole protocol exchanges.
 *
 * Why: pglite-socket serialises single protocol messages across connections but pins a
 * connection only inside an SQL transaction, so concurrent extended-protocol batches
 * (Parse/Bind/Execute/Sync) from two connections interleave in the shared session and one
 * binds the other's unnamed statement ("unnamed prepared statement does not exist", or wrong
 * rows): electric-sql/pglite#1046. Real Postgres has a session per connection and needs none
 * of this.
 *
 * How: a connection takes the lock when it has bytes to send and releases it once the server
 * has answered every Sync/Query it sent (one ReadyForQuery each) and the last ReadyForQuery says
 * idle (`I`); inside a transaction (`T`, `E`) it keeps it. The startup exchange holds the lock
 * until the first ReadyForQuery. Others' bytes wait in their buffers meanwhile.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export interface SessionLockProxy {
  port: number;
  close(): Promise<void>;
}

export async function startSessionLockProxy(upstreamHost: string, upstreamPort: number, host = '127.0.0.1', listenPort = 0): Promise<SessionLockProxy> {
  let owner: Conn | null = null;
  const waiting: Conn[] = [];

  const grant = () => {
    while (!owner && waiting.length > 0) {
      const next = waiting.shift()!;
      if (next.closed) continue;
      owner = next;
      next.onGranted();
    }
  };
  const release = (c: Conn) => {
    if (owner === c) {
      owner = null;
      grant();
    }
  };

  class Conn {
    closed = false;
    private pending: Buffer[] = [];
    private startup = true;
    /** The client's partial frontend message bytes (messages are counted when complete). */
    private inBuf = Buffer.alloc(0);
    private outBuf = Buffer.alloc(0);
    private awaiting = 0;
    private sslAnswerPending = false;
    private lastStatus = 'I';
    private queued = false;
    /** Messages were sent since the last Sync/Query (an exchange in progress: Parse, Bind, ...). */
    private openExchange = false;

    constructor(
      private readonly client: Socket,
      private readonly upstream: Socket,
    ) {}

    fromClient(data: Buffer) {
      this.pending.push(data);
      if (owner === this) this.flush();
      else if (!this.queued) {
        this.queued = true;
        waiting.push(this);
        grant();
      }
    }

    onGranted() {
      this.queued = false;
      this.flush();
    }

    private flush() {
      const data = Buffer.concat(this.pending);
      this.pending = [];
      if (data.length === 0) return;
      this.countFrontend(data);
      this.upstream.write(data);
    }

    /** Counts the messages that each expect one ReadyForQuery: Sync ('S'), Query ('Q'), the startup. */
    private countFrontend(data: Buffer) {
      this.inBuf = Buffer.concat([this.inBuf, data]);
      for (;;) {
        if (this.startup) {
          if (this.inBuf.length < 8) return;
          const len = this.inBuf.readInt32BE(0);
          if (this.inBuf.length < len) return;
          const code = this.inBuf.readInt32BE(4);
          this.inBuf = this.inBuf.subarray(len);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            this.sslAnswerPending = true; // answered by one byte ('N'), then the real startup follows
            continue;
          }
          this.startup = false;
          this.awaiting += 1; // authentication ends with ReadyForQuery
          continue;
        }
        if (this.inBuf.length < 5) return;
        const len = this.inBuf.readInt32BE(1);
        if (this.inBuf.length < 1 + len) return;
        const type = String.fromCharCode(this.inBuf[0]!);
        this.inBuf = this.inBuf.subarray(1 + len);
        if (type === 'S' || type === 'Q') {
          this.awaiting += 1;
          this.openExchange = false;
        } else if (type !== 'X') this.openExchange = true;
      }
    }

    /** Watches ReadyForQuery messages; releases the session when everything sent was answered and it is idle. */
    fromUpstream(data: Buffer) {
      this.client.write(data);
      let buf = Buffer.concat([this.outBuf, data]);
      if (this.sslAnswerPending && buf.length > 0) {
        this.sslAnswerPending = false;
        buf = buf.subarray(1);
      }
      let ready = false;
      for (;;) {
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        if (buf[0] === 0x5a /* Z */) {
          this.awaiting = Math.max(0, this.awaiting - 1);
          this.lastStatus = String.fromCharCode(buf[5]!);
          ready = true;
        }
        buf = buf.subarray(1 + len);
      }
      this.outBuf = buf;
      // Only a ReadyForQuery ends an exchange (other messages, e.g. ParameterStatus, may come any time).
      if (ready && owner === this && this.awaiting === 0 && this.lastStatus === 'I' && !this.openExchange && this.pending.length === 0) release(this);
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      this.client.destroy();
      this.upstream.destroy();
      // pglite-socket rolls back a transaction left open by a dropped connection.
      release(this);
    }
  }

  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, upstreamHost);
    const conn = new Conn(client, upstream);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => conn.fromClient(d));
    upstream.on('data', (d) => conn.fromUpstream(d));
    const done = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      conn.close();
    };
    client.on('close', done);
    upstream.on('close', done);
    client.on('error', done);
    upstream.on('error', done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('session lock proxy: no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
