/** The first value `pick` finds on an error or its causes (drizzle wraps the driver's error in `cause`). */
function fromCauses<T>(e: unknown, pick: (cur: Record<string, unknown>) => T | undefined): T | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const found = pick(cur as Record<string, unknown>);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Postgres SQLSTATE of an error from any driver, looking through drizzle's wrapper (`cause`). */
export const sqlState = (e: unknown): string | undefined =>
  fromCauses(e, (cur) => (typeof cur.code === 'string' && /^[0-9A-Z]{5}$/.test(cur.code) ? cur.code : undefined));

export const isUniqueViolation = (e: unknown): boolean => sqlState(e) === '23505';

/** The constraint a Postgres error names (a unique index on a violation), looking through drizzle's wrapper. */
export const violatedConstraint = (e: unknown): string | undefined => fromCauses(e, (cur) => (typeof cur.constraint === 'string' && cur.constraint ? cur.constraint : undefined));
