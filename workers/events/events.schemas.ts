import { z } from '@hono/zod-openapi';
import { isId } from '../../shared/kernel/ids';
import { queryInt } from '../../shared/http/query';

const Timestamp = z.string().datetime({ offset: true });

export const DEAD_LETTER_STATUSES = ['open', 'redriven', 'discarded'] as const;
export type DeadLetterStatus = (typeof DEAD_LETTER_STATUSES)[number];

export const DeadLetterQuerySchema = z.object({
  status: z.enum(DEAD_LETTER_STATUSES).optional(),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'an event type such as user.erased')
    .max(64)
    .optional(),
  limit: queryInt(1, 100).default(50),
  cursor: z.string().max(2048).optional(),
});
export type DeadLetterQuery = z.infer<typeof DeadLetterQuerySchema>;

export const DeadLetterIdParamSchema = z.object({
  id: z
    .string()
    .refine((v) => isId('deadLetter', v), 'a dead-letter id (dlt_…)')
    .openapi({ param: { name: 'id', in: 'path' }, example: 'dlt_01jc5v8gq3z6m4n7p9r2s5t8vw' }),
});

export const DeadLetterSchema = z
  .object({
    id: z.string(),
    queue: z.string().openapi({ example: 'agora-events' }),
    eventId: z.string(),
    type: z.string().nullable(),
    status: z.enum(DEAD_LETTER_STATUSES),
    error: z.string(),
    attempts: z.number().int(),
    firstFailedAt: Timestamp,
    lastFailedAt: Timestamp,
    redrivenAt: Timestamp.nullable(),
    /** The message as it was received (normally an event envelope). */
    body: z.unknown(),
  })
  .openapi('DeadLetter');
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export const DeadLetterPageSchema = z
  .object({ items: z.array(DeadLetterSchema), nextCursor: z.string().nullable() })
  .openapi('DeadLetterPage');
export type DeadLetterPage = z.infer<typeof DeadLetterPageSchema>;

/** What the queue consumers record (not an HTTP input). */
export interface DeadLetterInput {
  /** The queue the message failed on (not the DLQ). */
  queue: string;
  /** The queue's own message id, used when the body carries no event id. */
  messageId: string;
  body: unknown;
  error: string;
  attempts: number;
}
