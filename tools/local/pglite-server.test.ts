import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPglite, type PgliteServer } from './pglite-server.ts';

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
