import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect as netConnect } from 'node:net';
import { startPglite, type PgliteServer } from './pglite-server.ts';

// A minimal Postgres wire client, to send an extended-protocol exchange in separate pieces.
const int16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const int32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const cstr = (s: string) => Buffer.from(`${s}\0`);
const msg = (type: string, ...parts: Buffer[]) => { const body = Buffer.concat(parts); return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]); };

async function rawConnect(port: number) {
  const socket = netConnect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  socket.on('data', (d) => { buf = Buffer.concat([buf, d]); waiter?.(); });
  const untilReady = async (): Promise<string> => {
    for (;;) {
      // ReadyForQuery: 'Z', length 5, status byte.
      const at = buf.indexOf(Buffer.from([0x5a, 0, 0, 0, 5]));
      if (at >= 0) { const text = buf.subarray(0, at + 6).toString('latin1'); buf = buf.subarray(at + 6); return text; }
      await new Promise<void>((r) => (waiter = r));
    }
  };
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const params = Buffer.concat([cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'), Buffer.from([0])]);
  socket.write(Buffer.concat([int32(params.length + 8), int32(196608), params]));
  await untilReady();
  return { send: (...parts: Buffer[]) => socket.write(Buffer.concat(parts)), untilReady, end: () => socket.end(msg('X')) };
}

describe('startPglite (in memory)', () => {
  let server: PgliteServer;
  const clients: pg.Client[] = [];

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client(server.url);
    await client.connect();
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    server = await startPglite({ maxConnections: 4 });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it('serves a postgres:// URL on the port it picked', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
  });

  it('accepts several connections at once', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const [ra, rb] = await Promise.all([a.query('SELECT 1 AS n'), b.query('SELECT 2 AS n')]);
    expect(ra.rows).toEqual([{ n: 1 }]);
    expect(rb.rows).toEqual([{ n: 2 }]);
  });

  it("keeps one connection's Parse/Bind/Execute apart from another's, even sent in pieces (pglite#1046)", async () => {
    const a = await rawConnect(server.port);
    const b = await rawConnect(server.port);
    // A parses the unnamed statement; B parses its own before A binds and executes.
    a.send(msg('P', cstr(''), cstr("SELECT 'from a' AS who"), int16(0)));
    await new Promise((r) => setTimeout(r, 50));
    b.send(msg('P', cstr(''), cstr("SELECT 'from b' AS who"), int16(0)), msg('B', cstr(''), cstr(''), int16(0), int16(0), int16(0)), msg('E', cstr(''), int32(0)), msg('S'));
    await new Promise((r) => setTimeout(r, 50));
    a.send(msg('B', cstr(''), cstr(''), int16(0), int16(0), int16(0)), msg('E', cstr(''), int32(0)), msg('S'));
    const [ra, rb] = await Promise.all([a.untilReady(), b.untilReady()]);
    expect(ra).toContain('from a');
    expect(ra).not.toContain('from b');
    expect(rb).toContain('from b');
    a.end();
    b.end();
  });

  it('has pg_trgm, fuzzystrmatch, unaccent, full-text search and jsonb', async () => {
    const c = await connect();
    for (const ext of ['pg_trgm', 'fuzzystrmatch', 'unaccent']) await c.query(`CREATE EXTENSION IF NOT EXISTS ${ext}`);
    const { rows } = await c.query(
      `SELECT similarity('keyboard', 'kyeboard') AS sim,
              levenshtein('kitten', 'sitting') AS edits,
              unaccent('Crème brûlée') AS plain,
              to_tsvector('english', 'Mechanical keyboards') @@ to_tsquery('english', 'keyboard') AS hit,
              $1::jsonb -> 'tags' ->> 1 AS tag`,
      [JSON.stringify({ tags: ['usb', 'rgb'] })],
    );
    expect(rows[0].sim).toBeGreaterThan(0.3);
    expect(rows[0]).toMatchObject({ edits: 3, plain: 'Creme brulee', hit: true, tag: 'rgb' });
  });

  it('holds other connections back while a transaction is open, and rolls back', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    await a.query('CREATE TABLE tx_probe (n int)');
    await a.query('BEGIN');
    await a.query('INSERT INTO tx_probe VALUES (1)');
    const other = b.query('SELECT count(*)::int AS n FROM tx_probe');
    await a.query('ROLLBACK');
    expect((await other).rows).toEqual([{ n: 0 }]);
    await a.query('DROP TABLE tx_probe');
  });

  it('frees the slot of a closed connection', async () => {
    // maxConnections is 4: sequential connect/close must not run out of slots.
    for (let i = 0; i < 8; i++) {
      const c = new pg.Client(server.url);
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
    }
  });
});

describe('startPglite (dataDir)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'agora-pglite-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps data across stop and start', async () => {
    const first = await startPglite({ dataDir });
    const a = new pg.Client(first.url);
    await a.connect();
    await a.query(`CREATE TABLE kept (doc jsonb); INSERT INTO kept VALUES ('{"sku":"kb-1"}')`);
    await a.end();
    await first.stop();

    const second = await startPglite({ dataDir });
    const b = new pg.Client(second.url);
    await b.connect();
    const { rows } = await b.query(`SELECT doc->>'sku' AS sku FROM kept`);
    await b.end();
    await second.stop();
    expect(rows).toEqual([{ sku: 'kb-1' }]);
  });
});
