import { z } from '@hono/zod-openapi';
import { createRoute } from '@hono/zod-openapi';
import { describe, expect, it, vi } from 'vitest';
import { env } from 'cloudflare:workers';
import { createRouter } from '../../shared/http/router';
import { call, json, problem } from '../../test/support/http';
import { onError } from './middleware/errors';
import { requestContext } from './middleware/request-context';

describe('operations endpoints', () => {
  it('GET /healthz checks the database', async () => {
    const { res, body } = await json('/healthz');
    expect(res.status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
    expect(typeof body.checks.database.latencyMs).toBe('number');
  });

  it('GET /livez answers without dependencies', async () => {
    const { res, body } = await json('/livez');
    expect(res.status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });

  it('GET /openapi.json is OpenAPI 3.1 generated from the route schemas', async () => {
    const { res, body } = await json('/openapi.json');
    expect(res.status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    expect(body.paths['/v1/products'].get.operationId).toBe('catalog.listProducts');
    expect(body.paths['/v1/products/{id}'].get.operationId).toBe('catalog.getProduct');
    expect(body.paths['/v1/categories'].get.operationId).toBe('catalog.listCategories');
    const params = body.paths['/v1/products'].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(expect.arrayContaining(['q', 'category', 'brand', 'minPrice', 'maxPrice', 'inStock', 'sort', 'limit', 'cursor']));
    expect(body.components.schemas.Problem).toBeDefined();
    expect(body.components.schemas.ProductList).toBeDefined();
  });

  it('GET /docs serves the interactive reference', async () => {
    const res = await call('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('/openapi.json');
  });
});

describe('request ids and tracing', () => {
  it('gives every response an x-request-id, honouring a sane inbound one', async () => {
    const generated = await call('/livez');
    expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);
    const echoed = await call('/livez', { headers: { 'x-request-id': 'client-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('client-123');
    const unsafe = await call('/livez', { headers: { 'x-request-id': 'has spaces in it' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('continues an inbound W3C trace with a new span, and starts one otherwise', async () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await call('/livez', { headers: { traceparent: parent } });
    const [version, traceId, spanId, flags] = res.headers.get('traceparent')!.split('-');
    expect(version).toBe('00');
    expect(traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe('00f067aa0ba902b7');
    expect(flags).toBe('01');
    const fresh = await call('/livez', { headers: { traceparent: 'garbage' } });
    expect(fresh.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.headers.get('traceparent')).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});

describe('CORS', () => {
  it('answers preflight and exposes the request id', async () => {
    const res = await call('/v1/products', {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const get = await call('/livez', { headers: { origin: 'https://shop.example' } });
    expect(get.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });
});

describe('an invalid Worker configuration', () => {
  it('is a 500 problem carrying the request id, and its log line says 500', async () => {
    const app = createRouter();
    app.use(requestContext(() => undefined));
    app.get('/anything', (c) => c.json({ reached: true }, 200));
    app.onError(onError);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const res = await app.request('/anything', { headers: { 'x-request-id': 'cfg-check-1' } }, { ...env, LOG_LEVEL: 'loud' }, {
        waitUntil: () => undefined,
        passThroughOnException: () => undefined,
        props: {},
      } as unknown as ExecutionContext);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('x-request-id')).toBe('cfg-check-1');
      const body = await res.json<{ code: string; requestId: string }>();
      expect(body).toMatchObject({ code: 'INTERNAL', requestId: 'cfg-check-1' });
      // The configuration's own text (which names settings) stays out of the answer.
      expect(JSON.stringify(body)).not.toContain('LOG_LEVEL');
      const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request');
      expect(line).toMatchObject({ level: 'error', requestId: 'cfg-check-1', status: 500, outcome: 'server_error' });
      expect(String((line!.error as { message?: string } | undefined)?.message ?? line!.error)).toContain('Invalid Worker configuration');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('a write that lost a race for a unique value', () => {
  it('is a 409 CONFLICT problem naming no internals, with the constraint in the log line; other database errors stay 500', async () => {
    const app = createRouter();
    app.use(requestContext(() => undefined));
    // As drizzle throws it: "Failed query: ..." wrapping the driver's error (SQLSTATE and constraint).
    const dbError = (code: string, constraint: string) =>
      Object.assign(new Error('Failed query: insert into "things" ...'), { cause: Object.assign(new Error('duplicate key value'), { code, constraint }) });
    app.post('/unique', () => {
      throw dbError('23505', 'things_slug_uq');
    });
    app.post('/foreign', () => {
      throw dbError('23503', 'things_owner_fk');
    });
    app.onError(onError);
    const lines: string[] = [];
    const spies = (['log', 'warn', 'error'] as const).map((m) => vi.spyOn(console, m).mockImplementation((line: unknown) => void lines.push(String(line))));
    const ctx = { waitUntil: () => undefined, passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
    try {
      const res = await app.request('/unique', { method: 'POST', headers: { 'x-request-id': 'race-1' } }, { ...env, LOG_LEVEL: 'info' }, ctx);
      expect(res.status).toBe(409);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const body = await res.json<{ code: string }>();
      expect(body.code).toBe('CONFLICT');
      expect(JSON.stringify(body)).not.toMatch(/things|insert|duplicate/);
      const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === 'race-1');
      expect(line).toMatchObject({ level: 'warn', status: 409, conflict: 'things_slug_uq' });
      const other = await app.request('/foreign', { method: 'POST' }, { ...env, LOG_LEVEL: 'info' }, ctx);
      expect(other.status).toBe(500);
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
  });
});

describe('JSON bodies through the shared router and error handler', () => {
  // The public JSON routes arrive with identity; this exercises the same router factory,
  // validation hook and error handler every context uses.
  const app = createRouter();
  app.use(requestContext(() => undefined));
  app.openapi(
    createRoute({
      method: 'post',
      path: '/echo',
      request: { body: { required: true, content: { 'application/json': { schema: z.object({ qty: z.number().int().min(1) }) } } } },
      responses: { 200: { description: 'ok' } },
    }),
    (c) => c.json(c.req.valid('json'), 200),
  );
  app.onError(onError);
  const post = (body: string, type = 'application/json') =>
    app.request('/echo', { method: 'POST', body, headers: { 'content-type': type } }, env, {
      waitUntil: () => undefined,
      passThroughOnException: () => undefined,
      props: {},
    } as unknown as ExecutionContext);

  it('malformed JSON → 400 MALFORMED_JSON problem', async () => {
    const res = await post('{"qty":');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await res.json<{ code: string }>()).code).toBe('MALFORMED_JSON');
  });

  it('a wrong field → 400 with the body path', async () => {
    const res = await post('{"qty":0}');
    const body = await res.json<{ code: string; errors: { path: string }[] }>();
    expect(res.status).toBe(400);
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.errors.map((e) => e.path)).toEqual(['body.qty']);
  });

  it('a valid body passes', async () => {
    const res = await post('{"qty":2}');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ qty: 2 });
  });
});

describe('problem+json for everything', () => {
  it('a huge body is refused with 413, not read', async () => {
    await problem('/v1/products', 413, 'PAYLOAD_TOO_LARGE', {
      method: 'POST',
      body: 'x'.repeat(1024 * 1024 + 10),
      headers: { 'content-type': 'application/json' },
    });
  });
});
