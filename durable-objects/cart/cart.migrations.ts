import type { SqliteMigration } from '../sqlite-migrations';

/**
 * The cart object's SQLite schema. APPEND-ONLY: never edit, reorder or delete an entry once it
 * has shipped; add a new one at the end (applied by ../sqlite-migrations.ts in the object's
 * constructor, inside blockConcurrencyWhile). Times are epoch milliseconds, money integer minor
 * units.
 *
 * An object is either one cart (named `cart:<crt_…>`: tables `cart`, `lines`, `idempotency`,
 * `merge_ops`) or one user's pointer to their active cart (named `user:<usr_…>`: tables
 * `user_cart`, `user_erased`). Both kinds share the schema; each uses its own tables. `due`
 * drives the one alarm of either kind.
 */
export const CART_MIGRATIONS: readonly SqliteMigration[] = [
  {
    name: '0001_cart_core',
    sql: `
      -- The cart itself: one row (id = 1). owner_id is null for a guest cart.
      CREATE TABLE cart (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cart_id TEXT NOT NULL,
        owner_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'checked_out', 'closed', 'expired')),
        version INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        idle_ttl_ms INTEGER NOT NULL,
        order_id TEXT,
        closed_reason TEXT,
        closed_at INTEGER
      );

      -- One line per variant. unit_price is the snapshot taken when the line was last added to.
      CREATE TABLE lines (
        item_id TEXT PRIMARY KEY,
        product_id TEXT NOT NULL,
        variant_id TEXT NOT NULL UNIQUE,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        variant_name TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        unit_price INTEGER NOT NULL,
        currency TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      -- Idempotency-Key of writes (and merge op ids): the body's hash and the first result, replayed verbatim.
      CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        method TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      -- What the single alarm has to do, and when: 'expire' (idle cart), 'purge' (closed cart's storage), 'retry'.
      CREATE TABLE due (
        kind TEXT PRIMARY KEY CHECK (kind IN ('expire', 'purge')),
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
      );

      -- cart.abandoned waiting for the queue (written in the expiry's transaction; deleted with the storage once sent).
      CREATE TABLE outbox (
        event_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
      );

      -- Pointer objects only: the user's active cart.
      CREATE TABLE user_cart (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cart_id TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    // 0.3.14: merge op ids get their own table, apart from the clients' Idempotency-Keys. In the
    // `idempotency` table a client key `merge:<guestId>` took the merge's place (the merge then
    // answered KEY_REUSED with the guest cart already closed), and the 24 h purge of client keys
    // dropped merge ops while the guest cart still hands its lines over for 7 days. Existing merge
    // rows are copied, not moved (additive: code from before still finds them where it looks).
    name: '0002_merge_ops',
    sql: `
      -- Merges into this cart (op id merge:<guestCartId>): the lines' hash and the first result, kept MERGE_OP_RETENTION_MS.
      CREATE TABLE merge_ops (
        op_id TEXT PRIMARY KEY,
        body_hash TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      INSERT INTO merge_ops (op_id, body_hash, result, created_at)
        SELECT key, body_hash, result, created_at FROM idempotency WHERE method = 'mergeFrom';
    `,
  },
  {
    // 0.3.14: pointer objects only. The user's account was erased: no cart is opened for them
    // any more (a token still valid somewhere must not put personal data back). Kept for
    // ERASED_POINTER_RETENTION_MS, then the object's storage is deleted by the alarm.
    name: '0003_user_erased',
    sql: `
      -- cart_id: the active cart the pointer named when the account was erased (deleted by the consumer; a redelivery deletes it again).
      CREATE TABLE user_erased (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        erased_at INTEGER NOT NULL,
        cart_id TEXT
      );
    `,
  },
];
