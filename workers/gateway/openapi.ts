import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';

/** Serves the OpenAPI 3.1 document generated from the same zod schemas that validate requests. */
export function registerOpenApi(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'ES256 access token from /v1/auth/login, /v1/auth/refresh or /v1/auth/token; keys at /.well-known/jwks.json',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'clientBasic', {
    type: 'http',
    scheme: 'basic',
    description: 'OAuth2 client_id:client_secret (client_secret_basic) for /v1/auth/token',
  });
  const config = (c: Context<AppEnv>) => ({
    openapi: '3.1.0',
    info: {
      title: 'Agora commerce API',
      version: '0.3.15',
      description:
        'Edge-native commerce platform. Errors are application/problem+json with a stable `code` and the `requestId`. Money is integer minor units plus an ISO currency.',
      license: { name: 'Apache-2.0' },
    },
    servers: [{ url: new URL(c.req.url).origin }],
    tags: [
      { name: 'Identity', description: 'Accounts, sessions, OAuth2 client credentials and signing keys' },
      { name: 'Me', description: 'The signed-in user: profile, addresses, export and erasure' },
      { name: 'Catalog', description: 'Browse, search and facet the product catalog' },
      { name: 'Inventory', description: 'Live availability per warehouse; warehouse staff stock views and adjustments' },
      { name: 'Cart', description: 'Guest and signed-in carts (one Durable Object per cart): lines at current prices, limits, merge at login' },
      { name: 'Wishlist', description: 'Products the signed-in user saved for later; move to cart' },
      { name: 'Orders', description: 'Place, pay, track, cancel, fulfil and refund orders (one saga object per order)' },
      { name: 'Payments', description: 'Provider webhooks (Stripe, Razorpay): verified, deduplicated, handed to the order saga' },
      { name: 'Admin', description: 'Users, clients, products, the audit trail and the event bus\'s dead letters (admin role or scopes)' },
      { name: 'Operations', description: 'Health and liveness' },
    ],
  });
  app.get('/openapi.json', (c) => c.json(withTransportRefusals(app.getOpenAPI31Document(config(c)))));
}

type Document = ReturnType<OpenAPIHono<AppEnv>['getOpenAPI31Document']>;

/**
 * The gateway's own refusals of a request body, answered before any route sees it: 413 (over
 * 1 MiB) and 415 (not JSON). Every operation that takes a body declares 413 (the token endpoint's
 * form body too, since 0.3.14), and every one that takes a JSON body 415.
 */
function withTransportRefusals(doc: Document): Document {
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { requestBody?: { content?: Record<string, unknown> }; responses?: Record<string, unknown> }>)) {
      if (!op || typeof op !== 'object' || !op.requestBody?.content || !op.responses) continue;
      op.responses['413'] ??= problem('PAYLOAD_TOO_LARGE: the body is larger than 1 MiB');
      if (op.requestBody.content['application/json']) op.responses['415'] ??= problem('UNSUPPORTED_MEDIA_TYPE: the body is not application/json');
    }
  }
  return doc;
}
