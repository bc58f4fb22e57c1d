import type { SqliteMigration } from '../sqlite-migrations';

/** Append-only migrations of an order object's SQLite storage (never edit a shipped one). */
export const ORDER_MIGRATIONS: readonly SqliteMigration[] = [
  {
    name: '0001_saga',
    sql: `
      -- One document per order: the order and the saga's bookkeeping (steps, outbox, op ids,
      -- applied event ids), rewritten in one UPDATE per change.
      CREATE TABLE state (k TEXT PRIMARY KEY CHECK (k = 'order'), doc TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
    `,
  },
];
