/** Time as a port, so tests can control it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Whether an ISO timestamp names an instant Postgres `timestamptz` stores: UTC years 1 to 9999.
 * `z.iso.datetime` accepts year 0000, and an offset can carry 9999-12-31 into year 10000; either
 * reached a query as a 500 ("date/time field value out of range") before 0.3.14.
 */
export function isStorableInstant(iso: string): boolean {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return false;
  const year = new Date(ms).getUTCFullYear();
  return year >= 1 && year <= 9999;
}
