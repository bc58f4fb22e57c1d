import type { SqliteMigration } from '../sqlite-migrations';

/** Append-only migrations of an order object's SQLite storage (never edit a shipped one). */
export const ORDER_MIGRATIONS: readonly SqliteMigration[] = [
  {
    name: '0001_saga',
    sql: `
      CREATE TABLE state (k TEXT PRIMARY KEY CHECK (k = 'order'), doc TEXT NOT NULL, version INTEGER NOT NULL);
      -- First answer per operation id (place, refund, fulfil, cancel): a retry gets it again.
      CREATE TABLE ops (op_id TEXT PRIMARY KEY, request_hash TEXT NOT NULL, result TEXT, at INTEGER NOT NULL);
      -- Side effects persisted with the transition that needs them, run after it commits, retried by the alarm.
      CREATE TABLE steps (
        step_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        last_error TEXT
      );
      CREATE INDEX steps_next ON steps (next_at);
      -- Events written in the transition's transaction; relayed to the order-events queue.
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, next_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
      -- Provider and carrier events already applied (webhooks arrive more than once).
      CREATE TABLE applied_events (event_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
    `,
  },
];
