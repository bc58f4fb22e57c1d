import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../shared/http/context';

/** Serves the OpenAPI 3.1 document generated from the same zod schemas that validate requests. */
export function registerOpenApi(app: OpenAPIHono<AppEnv>) {
  app.doc31('/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: {
      title: 'Agora commerce API',
      version: '0.1.0',
      description:
        'Edge-native commerce platform. Errors are application/problem+json with a stable `code` and the `requestId`. Money is integer minor units plus an ISO currency.',
      license: { name: 'Apache-2.0' },
    },
    servers: [{ url: new URL(c.req.url).origin }],
    tags: [
      { name: 'Catalog', description: 'Browse, search and facet the product catalog' },
      { name: 'Operations', description: 'Health and liveness' },
    ],
  }));
}
