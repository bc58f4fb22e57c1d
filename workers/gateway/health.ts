import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from '../../shared/http/router';
import { pingDatabase } from '../../shared/db/ping';
import { services } from './services';

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checks: z.object({ database: z.object({ status: z.enum(['ok', 'down']), latencyMs: z.number().optional(), error: z.string().optional() }) }),
  })
  .openapi('Health');

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'gateway.health',
  tags: ['Operations'],
  summary: 'Readiness: the Worker and its database',
  responses: {
    200: { description: 'Healthy', content: { 'application/json': { schema: HealthSchema } } },
    503: { description: 'A dependency is down', content: { 'application/json': { schema: HealthSchema } } },
  },
});

const liveRoute = createRoute({
  method: 'get',
  path: '/livez',
  operationId: 'gateway.live',
  tags: ['Operations'],
  summary: 'Liveness: answers without touching any dependency',
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
});

export function healthRouter() {
  const app = createRouter();
  app.openapi(healthRoute, async (c) => {
    try {
      const latencyMs = await pingDatabase(services(c).db.http());
      return c.json({ status: 'ok' as const, checks: { database: { status: 'ok' as const, latencyMs } } }, 200);
    } catch (err) {
      c.get('log').dbError = err;
      return c.json(
        { status: 'degraded' as const, checks: { database: { status: 'down' as const, error: 'database unreachable' } } },
        503,
      );
    }
  });
  app.openapi(liveRoute, (c) => c.json({ status: 'ok' as const }, 200));
  return app;
}
