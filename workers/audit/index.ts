import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { requires } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { problemContent } from '../../shared/http/problem';
import { createRouter } from '../../shared/http/router';
import { NO_STORE, withHeaders } from '../../shared/http/response-headers';
import { AuditPageSchema, AuditQuerySchema } from './audit.schemas';
import type { AuditService } from './audit.service';

/** The audit trail's public surface: reading it (admins, and integrations with `audit:read`). */
export { makeAuditService, type AuditDeps, type AuditService } from './audit.service';

export const listAuditRoute = createRoute({
  method: 'get',
  path: '/v1/admin/audit-log',
  operationId: 'admin.listAuditLog',
  tags: ['Admin'],
  summary: 'Security and admin events, newest first',
  security: [{ bearerAuth: [] }],
  middleware: [requires('audit:read')] as const,
  request: { query: AuditQuerySchema },
  responses: {
    200: { description: 'A page of audit entries', content: { 'application/json': { schema: AuditPageSchema } } },
    400: { description: 'Invalid filter', content: problemContent },
    401: { description: 'No valid access token', content: problemContent },
    403: { description: 'Not allowed', content: problemContent },
  },
});

export function auditRouter(service: (c: Context<AppEnv>) => AuditService) {
  const app = createRouter();
  app.openapi(listAuditRoute, async (c) => withHeaders(c.json(await service(c).list(c.req.valid('query')), 200), NO_STORE));
  return app;
}
