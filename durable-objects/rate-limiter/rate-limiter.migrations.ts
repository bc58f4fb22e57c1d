import type { SqliteMigration } from '../sqlite-migrations';

/**
 * SQLite schema of RateLimiterDurableObject. Append-only: never edit a migration that has
 * shipped; add the next one at the end of the list.
 *
 * One row per (rule, key): the sliding-window counter state (see rate-limiter.logic.ts) and
 * `expires_at`, the instant from which the row means nothing (both of its windows are over);
 * the alarm deletes such rows. `window_ms` is stored so that a rule whose window changes
 * starts afresh instead of misreading old counts. An object normally holds a single row (one
 * object per rule and key), so there is no index on `expires_at`: it would cost a second row
 * write on every request to speed up a scan of one row.
 */
export const RATE_LIMITER_MIGRATIONS: readonly SqliteMigration[] = [
  {
    name: '0001_rate_limit_counters',
    sql: `
      CREATE TABLE rate_limit_counters (
        rule TEXT NOT NULL,
        key TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        window_start INTEGER NOT NULL,
        current_count INTEGER NOT NULL,
        previous_count INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (rule, key)
      ) WITHOUT ROWID;
    `,
  },
];
