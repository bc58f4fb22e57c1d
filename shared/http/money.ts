import { z } from '@hono/zod-openapi';

/**
 * Money in every answer (API.md, "Conventions"): integer minor units plus an ISO 4217 currency.
 * Registered once as the `Money` component; a field says what the amount is in its own schema's
 * description, never by re-describing this component (that would rename it for every user).
 */
export const MoneySchema = z
  .object({
    amount: z.number().int().openapi({ description: 'Integer minor units', example: 399900 }),
    currency: z.string().length(3).openapi({ description: 'ISO 4217', example: 'USD' }),
  })
  .openapi('Money', { description: 'Integer minor units plus an ISO 4217 currency' });
