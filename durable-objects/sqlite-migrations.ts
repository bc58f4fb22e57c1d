/**
 * Append-only schema migrations for a Durable Object's SQLite storage.
 *
 * Each object class keeps an ordered list of migrations; migration i (from 1) is recorded in
 * the bookkeeping table as (id = i, name). Run `applyMigrations` from the constructor inside
 * `ctx.blockConcurrencyWhile`, so no request sees a half-migrated object. It is synchronous:
 * each pending migration runs in its own `transactionSync` together with its bookkeeping row,
 * so a failing migration leaves neither its changes nor its record behind (and throws).
 *
 * Rules: never edit, reorder or remove a migration that has shipped; add a new one at the end.
 * If the recorded names disagree with the list (an edited or reordered list), it throws. If
 * the object has more migrations than the list knows (old code meeting an object migrated by
 * newer code during a gradual deployment), the extra ones are left alone: migrations are
 * additive, so the old code still finds everything it expects.
 */

export interface SqliteMigration {
  /** Stable, unique within the list, e.g. `0001_counters`. */
  readonly name: string;
  /** One or more SQL statements, separated by semicolons. */
  readonly sql: string;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Applies the pending migrations of `migrations`; returns the names it applied, in order. */
export function applyMigrations(
  storage: DurableObjectStorage,
  migrations: readonly SqliteMigration[],
  table = '_migrations',
): string[] {
  if (!TABLE_NAME.test(table)) throw new TypeError(`Invalid migrations table name: ${table}`);
  const names = new Set(migrations.map((m) => m.name));
  if (names.size !== migrations.length) throw new TypeError('Migration names must be unique');

  const { sql } = storage;
  sql.exec(`CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = sql.exec<{ id: number; name: string }>(`SELECT id, name FROM ${table} ORDER BY id`).toArray();
  applied.forEach((row, index) => {
    const expected = migrations[index];
    if (expected && (row.id !== index + 1 || row.name !== expected.name)) {
      throw new Error(
        `Migration ${index + 1} was recorded as ${JSON.stringify(row.name)} but the list has ${JSON.stringify(expected.name)}: migrations are append-only`,
      );
    }
  });

  const done: string[] = [];
  for (let index = applied.length; index < migrations.length; index++) {
    const migration = migrations[index]!;
    storage.transactionSync(() => {
      sql.exec(migration.sql);
      sql.exec(`INSERT INTO ${table} (id, name, applied_at) VALUES (?, ?, ?)`, index + 1, migration.name, Date.now());
    });
    done.push(migration.name);
  }
  return done;
}
