import { neon, NeonDbError, Pool } from '@neondatabase/serverless';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureNeonForLocal } from './neon-node.ts';
import { startPglite, type PgliteServer } from './pglite-server.ts';
import { startWsBridge, type WsBridge } from './ws-bridge.ts';

const REAL_PG = 'postgres://postgres@127.0.0.1:5432/test';
const table = `bridge_test_${process.pid}_${Date.now()}`;

/** A GET with a request target that fetch() would normalise away; resolves the raw response. */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let response = '';
    const socket = connect(port, '127.0.0.1', () => socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => (response += chunk));
    socket.on('end', () => resolve(response));
    socket.on('error', reject);
  });
}

let pglite: PgliteServer;
let bridge: WsBridge;

beforeAll(async () => {
  [pglite, bridge] = await Promise.all([startPglite({ maxConnections: 5 }), startWsBridge()]);
  configureNeonForLocal(bridge);
});
afterAll(async () => {
  await bridge.stop();
  await pglite.stop();
});

describe.each([
  ['PGlite', () => pglite.url],
  ['PostgreSQL', () => REAL_PG],
])('%s through the bridge', (_name, databaseUrl) => {
  beforeAll(async () => {
    const sql = neon(databaseUrl());
    await sql.query(`CREATE TABLE ${table} (id int PRIMARY KEY, doc jsonb, at timestamptz, note text)`);
  });
  afterAll(async () => {
    await neon(databaseUrl()).query(`DROP TABLE IF EXISTS ${table}`);
  });

  it('runs Pool queries over the WebSocket, transactions included', async () => {
    const pool = new Pool({ connectionString: databaseUrl() });
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3, NULL)`, [1, { sku: 'kb-1' }, new Date('2026-01-02T03:04:05Z')]);
      await client.query('COMMIT');
      client.release();
      const { rows } = await pool.query(`SELECT id, doc, at, note FROM ${table} WHERE id = $1`, [1]);
      expect(rows).toEqual([{ id: 1, doc: { sku: 'kb-1' }, at: new Date('2026-01-02T03:04:05Z'), note: null }]);
    } finally {
      await pool.end();
    }
  });

  it('closes the database connection when a Pool ends', async () => {
    // PGlite accepts 5 connections: leaked tunnels would exhaust it.
    for (let i = 0; i < 12; i++) {
      const pool = new Pool({ connectionString: databaseUrl() });
      expect((await pool.query('SELECT $1::int AS i', [i])).rows).toEqual([{ i }]);
      await pool.end();
    }
  });

  it('answers neon() over HTTP with typed values', async () => {
    const sql = neon(databaseUrl());
    await sql`INSERT INTO ${sql.unsafe(table)} VALUES (2, ${{ tags: ['usb', 'rgb'] }}, ${new Date('2026-05-06T07:08:09Z')}, ${null})`;
    const rows = await sql`SELECT id, doc, at, note, ${'x'}::text AS param, 10000000000::int8 AS big FROM ${sql.unsafe(table)} WHERE id = ${2}`;
    expect(rows).toEqual([
      { id: 2, doc: { tags: ['usb', 'rgb'] }, at: new Date('2026-05-06T07:08:09Z'), note: null, param: 'x', big: '10000000000' },
    ]);
    const full = await sql.query('SELECT 1 AS a, 2 AS b', [], { arrayMode: true, fullResults: true });
    expect(full).toMatchObject({ command: 'SELECT', rowCount: 1, rows: [[1, 2]], fields: [{ name: 'a', dataTypeID: 23 }, { name: 'b' }] });
  });

  it('reports Postgres errors with their fields', async () => {
    const sql = neon(databaseUrl());
    const err = await sql`INSERT INTO ${sql.unsafe(table)} (id) VALUES (2)`.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NeonDbError);
    expect(err).toMatchObject({ code: '23505', constraint: `${table}_pkey`, severity: 'ERROR' });
    await expect(sql`SELECT * FROM no_such_table`).rejects.toMatchObject({ code: '42P01' });
  });

  it('runs a batch in one transaction, with its options', async () => {
    const sql = neon(databaseUrl());
    const failed = sql.transaction([
      sql`INSERT INTO ${sql.unsafe(table)} (id) VALUES (3)`,
      sql`INSERT INTO ${sql.unsafe(table)} (id) VALUES (3)`,
    ]);
    await expect(failed).rejects.toMatchObject({ code: '23505' });
    expect(await sql`SELECT id FROM ${sql.unsafe(table)} WHERE id = 3`).toEqual([]);

    const [level] = await sql.transaction([sql`SHOW transaction_isolation`], { isolationLevel: 'Serializable' });
    expect(level).toEqual([{ transaction_isolation: 'serializable' }]);
    const readOnly = sql.transaction([sql`INSERT INTO ${sql.unsafe(table)} (id) VALUES (4)`], { readOnly: true });
    await expect(readOnly).rejects.toMatchObject({ code: '25006' });
  });
});

describe('bridge safety', () => {
  it('refuses database hosts outside allowHosts', async () => {
    const ws = new WebSocket(`ws://${bridge.wsProxy}?address=example.com:5432`);
    const status = await new Promise((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode)));
    expect(status).toBe(403);
    await expect(neon('postgres://postgres@example.com/db')`SELECT 1`).rejects.toThrow(/HTTP status 403/);
  });

  it('survives clients that misbehave', async () => {
    // Garbage instead of a startup message (read as a 1.8 GB length).
    const garbage = new WebSocket(`ws://${bridge.wsProxy}?address=127.0.0.1:${pglite.port}`);
    await new Promise((resolve) => garbage.on('open', resolve));
    garbage.send(Buffer.from('not postgres at all'));
    expect(await new Promise((resolve) => garbage.on('close', resolve))).toBe(1002);
    // A startup message, then a message type no client sends (it would freeze PGlite).
    const invalid = new WebSocket(`ws://${bridge.wsProxy}?address=127.0.0.1:${pglite.port}`);
    await new Promise((resolve) => invalid.on('open', resolve));
    const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    invalid.send(Buffer.concat([startup, params, Buffer.from([0x5a, 0, 0, 0, 4])]));
    expect(await new Promise((resolve) => invalid.on('close', resolve))).toBe(1002);
    // Nothing listening at the address: the tunnel closes with 1011.
    const refused = new WebSocket(`ws://${bridge.wsProxy}?address=127.0.0.1:1`);
    const code = await new Promise((resolve) => refused.on('close', resolve));
    expect(code).toBe(1011);
    const badJson = await fetch(bridge.sqlEndpoint, {
      method: 'POST',
      headers: { 'Neon-Connection-String': pglite.url },
      body: '{"query":',
    });
    expect(badJson.status).toBe(400);
    expect(await rawGet(bridge.port, '//')).toMatch(/^HTTP\/1.1 404/);

    const pool = new Pool({ connectionString: pglite.url });
    expect((await pool.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await pool.end();
  });
});
