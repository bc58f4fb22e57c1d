import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { applyMigrations, type SqliteMigration } from './sqlite-migrations';

/**
 * The runner needs a real SQLite-backed object: it borrows fresh RateLimiterDurableObjects and
 * keeps its bookkeeping in its own table, apart from the rate limiter's `_migrations`.
 */
const TABLE = '_test_migrations';
const freshObject = () => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`migrations-test:${crypto.randomUUID()}`));

const V1: SqliteMigration[] = [
  { name: '0001_items', sql: 'CREATE TABLE t_items (id INTEGER PRIMARY KEY, label TEXT NOT NULL); CREATE INDEX t_items_label ON t_items (label);' },
  { name: '0002_items_qty', sql: 'ALTER TABLE t_items ADD COLUMN qty INTEGER NOT NULL DEFAULT 0' },
];
const V2: SqliteMigration[] = [...V1, { name: '0003_tags', sql: 'CREATE TABLE t_tags (item_id INTEGER NOT NULL, tag TEXT NOT NULL)' }];

describe('applyMigrations', () => {
  it('applies pending migrations in order, once, recording each (multi-statement SQL included)', async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      expect(applyMigrations(state.storage, V1, TABLE)).toEqual(['0001_items', '0002_items_qty']);
      expect(applyMigrations(state.storage, V1, TABLE)).toEqual([]);
      expect(applyMigrations(state.storage, V2, TABLE)).toEqual(['0003_tags']);
      const recorded = state.storage.sql.exec<{ id: number; name: string }>(`SELECT id, name FROM ${TABLE} ORDER BY id`).toArray();
      expect(recorded).toEqual([
        { id: 1, name: '0001_items' },
        { id: 2, name: '0002_items_qty' },
        { id: 3, name: '0003_tags' },
      ]);
      state.storage.sql.exec("INSERT INTO t_items (label) VALUES ('a')");
      expect(state.storage.sql.exec<{ qty: number }>('SELECT qty FROM t_items').one().qty).toBe(0);
      const index = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 't_items_label'").toArray();
      expect(index).toHaveLength(1);
    });
  });

  it('rolls a failing migration back entirely and applies nothing after it', async () => {
    const broken: SqliteMigration[] = [
      V1[0]!,
      { name: '0002_broken', sql: 'CREATE TABLE t_half (id INTEGER); INSERT INTO no_such_table VALUES (1)' },
      { name: '0003_after', sql: 'CREATE TABLE t_after (id INTEGER)' },
    ];
    await runInDurableObject(freshObject(), (_instance, state) => {
      expect(() => applyMigrations(state.storage, broken, TABLE)).toThrow(/no such table/);
      const tables = state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't\\_%' ESCAPE '\\'")
        .toArray()
        .map((t) => t.name);
      expect(tables).toEqual(['t_items']);
      expect(state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${TABLE}`).one().n).toBe(1);
    });
  });

  it('refuses an edited or reordered list, tolerates migrations it does not know yet', async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      applyMigrations(state.storage, V2, TABLE);
      const renamed = [V1[0]!, { ...V1[1]!, name: '0002_renamed' }];
      expect(() => applyMigrations(state.storage, renamed, TABLE)).toThrow(/append-only/);
      expect(() => applyMigrations(state.storage, [V1[1]!, V1[0]!], TABLE)).toThrow(/append-only/);
      // Older code (a prefix of the list) meeting an object migrated by newer code.
      expect(applyMigrations(state.storage, V1, TABLE)).toEqual([]);
    });
  });

  it('rejects duplicate names and unsafe table names before touching storage', async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      expect(() => applyMigrations(state.storage, [V1[0]!, V1[0]!], TABLE)).toThrow(/unique/);
      expect(() => applyMigrations(state.storage, V1, 'x; DROP TABLE _migrations')).toThrow(TypeError);
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 't_items'").toArray()).toEqual([]);
    });
  });
});
