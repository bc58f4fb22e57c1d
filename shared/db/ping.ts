import { sql } from 'drizzle-orm';
import type { AnyDb, HttpDb } from './client';

/** Round-trips a trivial query; resolves with the latency in milliseconds. */
export async function pingDatabase(db: AnyDb | HttpDb): Promise<number> {
  const started = performance.now();
  await db.execute(sql`select 1`);
  return Math.round((performance.now() - started) * 100) / 100;
}
