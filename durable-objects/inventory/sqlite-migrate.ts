/**
 * A small, append-only migration runner for a Durable Object's SQLite storage.
 *
 * Call it from the object's constructor inside `ctx.blockConcurrencyWhile`, so no request sees a
 * half-migrated database. Each migration runs in its own `transactionSync`: it is applied
 * completely and recorded in `_migrations`, or not at all.
 *
 * Append-only: ids are 1, 2, 3, ... in order; a migration that has been applied must never be
 * edited, renamed or removed (the runner refuses to start if an applied id has another name, or if
 * the database has migrations this code does not know, e.g. after a rollback of the code).
 *
 * Kept inside durable-objects/inventory/ for now; it has no inventory knowledge and can move to
 * durable-objects/ once a second object needs it.
 */
export interface SqliteMigration {
  /** 1, 2, 3, ... in order, never reused. */
  readonly id: number;
  /** Short stable name, e.g. `levels_and_reservations`. Stored; must never change once shipped. */
  readonly name: string;
  /** One or more SQL statements separated by `;` (no bindings). */
  readonly sql: string;
}

export class SqliteMigrationError extends Error {
  override readonly name = 'SqliteMigrationError';
}

/** Validates the list itself: ids 1..n in order, unique non-empty names. */
export function checkMigrationList(migrations: readonly SqliteMigration[]): void {
  const names = new Set<string>();
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) throw new SqliteMigrationError(`migration #${i + 1} has id ${m.id}: ids must be 1, 2, 3, ... in order`);
    if (!m.name.trim()) throw new SqliteMigrationError(`migration ${m.id} has no name`);
    if (names.has(m.name)) throw new SqliteMigrationError(`migration name "${m.name}" is used twice`);
    names.add(m.name);
    if (!m.sql.trim()) throw new SqliteMigrationError(`migration ${m.id} (${m.name}) has no SQL`);
  });
}

export interface MigrateResult {
  /** Ids applied by this call (empty when the database was current). */
  applied: number[];
  /** Id of the newest migration now applied (0 for none). */
  version: number;
}

/**
 * Applies the migrations not yet recorded, in order. Synchronous: safe to call from a constructor's
 * `blockConcurrencyWhile` callback with no await in between.
 */
export function migrateSqlite(storage: DurableObjectStorage, migrations: readonly SqliteMigration[], now: number = Date.now()): MigrateResult {
  checkMigrationList(migrations);
  const sql = storage.sql;
  sql.exec(`CREATE TABLE IF NOT EXISTS _migrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const done = sql.exec<{ id: number; name: string }>('SELECT id, name FROM _migrations ORDER BY id').toArray();
  for (const [i, row] of done.entries()) {
    if (row.id !== i + 1) throw new SqliteMigrationError(`recorded migrations are not contiguous: found ${row.id} where ${i + 1} was expected`);
    const known = migrations[row.id - 1];
    if (!known) {
      throw new SqliteMigrationError(`database has migration ${row.id} (${row.name}) that this code does not know: was the code rolled back?`);
    }
    if (known.name !== row.name) {
      throw new SqliteMigrationError(`migration ${row.id} was applied as "${row.name}" but the code calls it "${known.name}": migrations are append-only`);
    }
  }
  const applied: number[] = [];
  for (const m of migrations.slice(done.length)) {
    storage.transactionSync(() => {
      sql.exec(m.sql);
      sql.exec('INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)', m.id, m.name, now);
    });
    applied.push(m.id);
  }
  return { applied, version: migrations.length };
}
