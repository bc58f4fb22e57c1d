import { Scalar } from '@scalar/hono-api-reference';
import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../shared/kernel/app-error';
import { createRouter } from '../../shared/http/router';
import { problemResponse } from '../../shared/http/problem';
import { auditRouter } from '../audit';
import { authRouter, hasNoCredentials } from '../auth';
import { catalogRouter } from '../catalog';
import { eventsRouter } from '../events';
import { inventoryRouter } from '../inventory';
import { cartRouter } from '../cart';
import { wishlistRouter } from '../wishlist';
import { paymentsRouter } from '../payments';
import { ordersRouter } from '../orders';
import { healthRouter } from './health';
import { methodIndex, notFound, onError } from './middleware/errors';
import { cors } from './middleware/cors';
import { rejectNulCharacters } from './middleware/nul-guard';
import { requestContext } from './middleware/request-context';
import { registerOpenApi } from './openapi';
import { services, type Services } from './services';

/** The HTTP gateway: edge concerns, then every context's router mounted in-process. */
export function createApp() {
  const app = createRouter();

  app.use(
    requestContext((c) => (c.get('services') as Services | undefined)?.db.close()),
  );
  let corsFor: { origins: string; handler: MiddlewareHandler } | undefined;
  app.use('*', (c, next) => {
    const origins = c.get('config').CORS_ORIGINS;
    if (corsFor?.origins !== origins) corsFor = { origins, handler: corsHandler(origins) };
    return corsFor.handler(c, next);
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => problemResponse(c, new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than 1 MiB')),
    }),
  );
  // U+0000 anywhere in the URL or a JSON body: 400 before any handler runs (middleware/nul-guard.ts).
  app.use('*', rejectNulCharacters());

  // Authentication is lazy: `requires(...)` on a route resolves the bearer token through this.
  // No Authorization header is an anonymous caller (what the authenticator answers too), without
  // building the identity service: guest carts and public catalog reads skip it.
  app.use('*', (c, next) => {
    c.set('authenticate', (header) => (hasNoCredentials(header) ? Promise.resolve(null) : services(c).auth.authenticator(header)));
    return next();
  });

  app.route('/', healthRouter());
  app.route('/', authRouter((c) => services(c).auth));
  app.route('/', auditRouter((c) => services(c).audit));
  app.route('/', catalogRouter((c) => services(c).catalog));
  app.route('/', eventsRouter((c) => services(c).events));
  app.route('/', inventoryRouter((c) => services(c).inventory));
  app.route('/', cartRouter((c) => services(c).cart));
  app.route('/', wishlistRouter((c) => services(c).wishlist));
  app.route('/', paymentsRouter((c) => services(c).payments));
  app.route('/', ordersRouter((c) => services(c).orders));

  registerOpenApi(app);
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Agora API reference' }));

  app.onError(onError);
  app.notFound(notFound(methodIndex(app.routes)));
  return app;
}

function corsHandler(origins: string): MiddlewareHandler {
  return cors({
    origins,
    allowHeaders: ['authorization', 'content-type', 'idempotency-key', 'traceparent', 'x-request-id'],
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders: ['x-request-id', 'traceparent', 'x-cache', 'retry-after', 'allow', 'idempotent-replayed'],
    maxAgeSeconds: 600,
  });
}
