/**
 * Loads the demo catalog from scripts/seed/catalog-data.ts into a migrated database:
 * categories, brands, warehouses, products, variants, stock and search terms.
 * One transaction of batched multi-row inserts with ON CONFLICT DO NOTHING, so a second
 * run changes nothing and a failed run leaves nothing behind.
 *
 *   DATABASE_URL=postgres://... npx tsx scripts/seed.ts
 */
import { fileURLToPath } from 'node:url';
import { count, getTableName } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { PgTable } from 'drizzle-orm/pg-core';
import pg from 'pg';
import {
  brands,
  catalogSearchTerms,
  categories,
  productVariants,
  products,
  stockLevels,
  warehouses,
} from '../shared/db/schema/index.ts';
import { generateCatalog } from './seed/catalog-data.ts';

/** Rows per INSERT statement; well under Postgres' 65,535 bind parameters for every table. */
const BATCH_SIZE = 200;

type Tx = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0];

export interface SeedResult {
  /** False when every row was already there. */
  inserted: boolean;
  /** Rows now in each seeded table, by table name. */
  counts: Record<string, number>;
}

export async function seedDatabase(databaseUrl: string, opts: { log?: (m: string) => void } = {}): Promise<SeedResult> {
  const log = opts.log ?? (() => {});
  const catalog = generateCatalog();
  // Parents before children, so every foreign key already has its row.
  const steps = [
    seedStep(categories, catalog.categories),
    seedStep(brands, catalog.brands),
    seedStep(warehouses, catalog.warehouses),
    seedStep(products, catalog.products),
    seedStep(productVariants, catalog.productVariants),
    seedStep(stockLevels, catalog.stockLevels),
    seedStep(catalogSearchTerms, catalog.searchTerms),
  ];

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const db = drizzle(client);
    const insertedRows = await db.transaction(async (tx) => {
      let total = 0;
      for (const step of steps) {
        const inserted = await step.insert(tx);
        log(`${step.table}: ${inserted} of ${step.rows} rows inserted`);
        total += inserted;
      }
      return total;
    });

    const counts: Record<string, number> = {};
    for (const step of steps) counts[step.table] = await step.count(db);
    return { inserted: insertedRows > 0, counts };
  } finally {
    await client.end();
  }
}

/** Inserting into and counting one table, typed against that table's rows. */
function seedStep<T extends PgTable>(table: T, rows: T['$inferInsert'][]) {
  return {
    table: getTableName(table),
    rows: rows.length,
    async insert(tx: Tx): Promise<number> {
      let inserted = 0;
      for (let i = 0; i < rows.length; i += BATCH_SIZE) {
        const batch = rows.slice(i, i + BATCH_SIZE);
        const result = await tx.insert(table).values(batch).onConflictDoNothing();
        inserted += result.rowCount ?? 0;
      }
      return inserted;
    },
    async count(db: NodePgDatabase): Promise<number> {
      // from() cannot check a still-generic table, hence the widening.
      const [row] = await db.select({ n: count() }).from(table as PgTable);
      return row?.n ?? 0;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is not set');
    process.exit(2);
  }
  const started = performance.now();
  const { inserted, counts } = await seedDatabase(url);
  const tables = Object.entries(counts)
    .map(([table, n]) => `${table} ${n}`)
    .join(', ');
  const ms = Math.round(performance.now() - started);
  console.log(`${inserted ? 'seeded' : 'already seeded, nothing inserted'} in ${ms} ms; rows now: ${tables}`);
}
