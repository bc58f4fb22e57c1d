/**
 * The rows of `db.execute(sql…)`: the Neon drivers and PGlite answer `{ rows }`, some drivers a
 * plain array. Raw statements (CTEs, aggregates the query builder cannot say) read through this.
 */
export function rowsOf(result: unknown): unknown[] {
  return Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
}
