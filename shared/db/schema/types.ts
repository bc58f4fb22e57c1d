import { customType } from 'drizzle-orm/pg-core';

/** Postgres `tsvector` (full-text search documents). */
export const tsvector = customType<{ data: string }>({
  dataType: () => 'tsvector',
});
