import type { SqliteMigration } from '../sqlite-migrations';

/**
 * The inventory object's SQLite schema. APPEND-ONLY: never edit, reorder or delete an entry once
 * it has shipped; add a new one at the end (applied by ../sqlite-migrations.ts in the object's
 * constructor, inside blockConcurrencyWhile). Times are epoch milliseconds.
 *
 * One object holds one SKU (or one shard of a SKU), so no table has a sku column.
 */
export const INVENTORY_MIGRATIONS: readonly SqliteMigration[] = [
  {
    name: '0001_inventory_core',
    sql: `
      -- Stock per warehouse. available = on_hand - reserved (computed, never stored).
      -- on_hand may go negative only through an offline sale (the SKU is then flagged).
      CREATE TABLE levels (
        warehouse_id TEXT PRIMARY KEY,
        on_hand INTEGER NOT NULL DEFAULT 0,
        reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        updated_at INTEGER NOT NULL
      );

      -- Holds for an order or a checkout; stock leaves on commit, comes back on release/expiry.
      CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        ref_kind TEXT NOT NULL CHECK (ref_kind IN ('order', 'checkout')),
        ref_id TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        status TEXT NOT NULL CHECK (status IN ('reserved', 'committed', 'released', 'expired')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        closed_at INTEGER,
        close_reason TEXT
      );
      CREATE INDEX reservations_closed_at ON reservations (closed_at) WHERE closed_at IS NOT NULL;

      CREATE TABLE reservation_lines (
        reservation_id TEXT NOT NULL REFERENCES reservations (id),
        warehouse_id TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, warehouse_id)
      );

      -- Idempotency: every mutating call's op id with its payload and first result, replayed verbatim.
      CREATE TABLE operations (
        op_id TEXT PRIMARY KEY,
        method TEXT NOT NULL,
        payload TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX operations_created_at ON operations (created_at);

      -- What the single alarm has to do, and when: reservation expiry, transfer redelivery, pruning.
      CREATE TABLE due (
        kind TEXT NOT NULL CHECK (kind IN ('expire', 'deliver', 'prune')),
        ref TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, ref)
      );
      CREATE INDEX due_due_at ON due (due_at);

      -- needs_reconciliation and future flags; a row present means the flag is up.
      CREATE TABLE flags (
        name TEXT PRIMARY KEY,
        raised_at INTEGER NOT NULL,
        reason TEXT NOT NULL
      );

      -- Shard count for the SKU, kept by shard 0 (the object named sku:<id>).
      CREATE TABLE shard_config (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        shards INTEGER NOT NULL CHECK (shards BETWEEN 1 AND 64),
        updated_at INTEGER NOT NULL
      );

      -- Units moved between shards of one SKU. 'out' rows stay in_flight until the receiver has
      -- them (the alarm redelivers); 'in' rows make a redelivery a no-op.
      CREATE TABLE transfers (
        id TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        sku_id TEXT NOT NULL,
        from_shard INTEGER NOT NULL,
        to_shard INTEGER NOT NULL,
        lines TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('in_flight', 'delivered', 'received')),
        created_at INTEGER NOT NULL,
        settled_at INTEGER,
        PRIMARY KEY (id, direction)
      );

      -- Append-only ledger of every change to on_hand/reserved (feed for projections and audits).
      CREATE TABLE movements (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        warehouse_id TEXT NOT NULL,
        on_hand_delta INTEGER NOT NULL,
        reserved_delta INTEGER NOT NULL,
        ref TEXT,
        op_id TEXT
      );
      CREATE INDEX movements_at ON movements (at);
    `,
  },
  {
    name: '0002_outbox',
    sql: `
      -- inventory.updated / inventory.low_stock envelopes written in the transaction of the change,
      -- relayed to the agora-events queue after it and deleted once the queue has them.
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
      );

      -- The object's aggregate version (aggregateVersion of its events, strictly increasing) and
      -- its low-stock threshold (NULL: the default).
      CREATE TABLE aggregate (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL DEFAULT 0,
        low_stock_threshold INTEGER
      );
      INSERT INTO aggregate (id, version) VALUES (1, 0);

      -- The single alarm also retries the outbox relay: 'flush' joins the kinds of due. SQLite
      -- cannot alter a CHECK constraint, so the table is rebuilt with its rows.
      CREATE TABLE due_v2 (
        kind TEXT NOT NULL CHECK (kind IN ('expire', 'deliver', 'prune', 'flush')),
        ref TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, ref)
      );
      INSERT INTO due_v2 (kind, ref, due_at, attempts) SELECT kind, ref, due_at, attempts FROM due;
      DROP TABLE due;
      ALTER TABLE due_v2 RENAME TO due;
      CREATE INDEX due_due_at ON due (due_at);
    `,
  },
  {
    name: '0003_due_by_kind',
    sql: `
      -- "Is any reservation due to expire?" is asked by every call: an index range, not a walk over
      -- every open reservation's due row (that walk was most of a flash sale's CPU).
      CREATE INDEX due_kind_due_at ON due (kind, due_at);
    `,
  },
  {
    name: '0004_warehouse_transfers',
    sql: `
      -- Units that left a warehouse for another warehouse of this SKU and have not been received
      -- (or cancelled) yet: counted in no warehouse's on hand, never available, never lost.
      ALTER TABLE levels ADD COLUMN in_transit_out INTEGER NOT NULL DEFAULT 0;

      -- Warehouse-to-warehouse transfers (staff): in_transit until received by the destination or
      -- cancelled by the source. Not the shard-to-shard 'transfers' above.
      CREATE TABLE warehouse_transfers (
        id TEXT PRIMARY KEY,
        from_warehouse_id TEXT NOT NULL,
        to_warehouse_id TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        status TEXT NOT NULL CHECK (status IN ('in_transit', 'received', 'cancelled')),
        note TEXT,
        created_at INTEGER NOT NULL,
        closed_at INTEGER
      );
    `,
  },
  {
    name: '0005_sku_low_stock_and_growth',
    sql: `
      -- Shard 0 of a sharded SKU judges its low stock on the sum over the shards: the other
      -- shards report their available units (and the units they have in flight to a sibling)
      -- here, newest report per shard (seq) wins.
      CREATE TABLE shard_available (
        shard INTEGER PRIMARY KEY CHECK (shard BETWEEN 1 AND 63),
        seq INTEGER NOT NULL,
        available INTEGER NOT NULL,
        -- JSON [{ "transferId": ..., "units": n }]: units sent to a sibling, not yet settled.
        in_flight TEXT NOT NULL DEFAULT '[]',
        reported_at INTEGER NOT NULL
      );
      -- Shard-to-shard transfers a receiver has reported received (so the units the giver still
      -- lists in flight are not counted twice).
      CREATE TABLE shard_received (
        transfer_id TEXT PRIMARY KEY,
        at INTEGER NOT NULL
      );
      -- A shard > 0 counts the changes it owes shard 0 a report of (report_seq) and the last one
      -- shard 0 has (reported_seq).
      ALTER TABLE aggregate ADD COLUMN report_seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE aggregate ADD COLUMN reported_seq INTEGER NOT NULL DEFAULT 0;

      -- Every growth of the shard count (kept by shard 0). prior = 1: the shards that existed
      -- before may hold reservations placed under the old count, so a reservation retried after
      -- the growth looks for itself there first (until at + the op retention).
      CREATE TABLE shard_growth (
        at INTEGER NOT NULL,
        from_shards INTEGER NOT NULL,
        to_shards INTEGER NOT NULL,
        prior INTEGER NOT NULL,
        PRIMARY KEY (to_shards)
      );

      -- 'report' (a shard > 0 owes shard 0 its available units) joins the kinds of due.
      CREATE TABLE due_v3 (
        kind TEXT NOT NULL CHECK (kind IN ('expire', 'deliver', 'prune', 'flush', 'report')),
        ref TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, ref)
      );
      INSERT INTO due_v3 (kind, ref, due_at, attempts) SELECT kind, ref, due_at, attempts FROM due;
      DROP TABLE due;
      ALTER TABLE due_v3 RENAME TO due;
      CREATE INDEX due_due_at ON due (due_at);
      CREATE INDEX due_kind_due_at ON due (kind, due_at);
    `,
  },
  {
    name: '0006_reservation_owner',
    sql: `
      -- Who placed a hold through the public API (a user or client id): only they release it
      -- through POST /v1/inventory/{sku}/reservations/{id}/release. NULL: the order saga's hold
      -- (or one placed before this column), which that route never frees (404).
      ALTER TABLE reservations ADD COLUMN owner TEXT;
    `,
  },
];
