import { env } from 'cloudflare:workers';
import type { sql } from 'drizzle-orm';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';

/** The rows of a raw query against the test database (inside workerd). */
export async function rows<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await new DbProvider(readConfig(env)).http().execute(query)) as unknown as { rows: T[] }).rows;
}
