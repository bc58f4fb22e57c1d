import { z } from '@hono/zod-openapi';

const DECIMAL = /^\d{1,16}$/;

/**
 * A whole number in a query string, written in decimal digits only. `z.coerce.number()` also took
 * `0x10`, `0b1`, `1e1` and padded spaces (`?limit=0x10` listed 16 items before 0.3.14), which the
 * document, saying integer, does not allow.
 */
export function queryInt(min: number, max: number, message = `must be a whole number from ${min} to ${max}`) {
  return z
    .string()
    .regex(DECIMAL, message)
    .transform(Number)
    .pipe(z.number().int().min(min, message).max(max, message))
    .openapi({ type: 'integer', minimum: min, maximum: max });
}
