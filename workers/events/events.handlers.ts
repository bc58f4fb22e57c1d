import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { NO_STORE, withHeaders } from '../../shared/http/response-headers';
import { discardDeadLetterRoute, listDeadLettersRoute, redriveDeadLetterRoute } from './events.routes';
import type { EventsService } from './events.service';

export function registerEventsHandlers(app: OpenAPIHono<AppEnv>, service: (c: Context<AppEnv>) => EventsService) {
  app.openapi(listDeadLettersRoute, async (c) => withHeaders(c.json(await service(c).list(c.req.valid('query')), 200), NO_STORE));
  app.openapi(redriveDeadLetterRoute, async (c) =>
    withHeaders(c.json(await service(c).redrive(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE),
  );
  app.openapi(discardDeadLetterRoute, async (c) =>
    withHeaders(c.json(await service(c).discard(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE),
  );
}
