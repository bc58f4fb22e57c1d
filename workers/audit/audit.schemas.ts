import { z } from '@hono/zod-openapi';
import { isStorableInstant } from '../../shared/kernel/clock';
import { queryInt } from '../../shared/http/query';

const Timestamp = z.string().datetime({ offset: true }).refine(isStorableInstant, 'a time between the years 1 and 9999 (UTC)');

export const AuditQuerySchema = z
  .object({
    action: z.string().regex(/^[a-z_.]{1,64}\*?$/, 'an action such as auth.login.failed, or a prefix ending in * (auth.*)').optional(),
    outcome: z.enum(['success', 'failure']).optional(),
    actorId: z.string().min(1).max(64).optional(),
    targetId: z.string().min(1).max(64).optional(),
    requestId: z.string().min(1).max(128).optional(),
    from: Timestamp.optional(),
    to: Timestamp.optional(),
    limit: queryInt(1, 100).default(50),
    cursor: z.string().max(2048).optional(),
  })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: 'from must not be after to', path: ['from'] });
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    occurredAt: Timestamp,
    action: z.string(),
    outcome: z.string(),
    actor: z.object({ kind: z.string(), id: z.string().nullable() }),
    target: z.object({ kind: z.string(), id: z.string() }).nullable(),
    requestId: z.string().nullable(),
    ip: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEntry');

export const AuditPageSchema = z.object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() }).openapi('AuditLogPage');
export type AuditPage = z.infer<typeof AuditPageSchema>;
