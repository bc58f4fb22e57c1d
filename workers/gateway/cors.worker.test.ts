import { env } from 'cloudflare:workers';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { setResponseHeaders } from '../../shared/http/response-headers';
import { cors, type CorsOptions } from './middleware/cors';
import { requestContext } from './middleware/request-context';

const OPTIONS: Omit<CorsOptions, 'origins'> = {
  allowHeaders: ['authorization', 'content-type'],
  allowMethods: ['GET', 'POST', 'OPTIONS'],
  exposeHeaders: ['x-request-id', 'x-cache'],
  maxAgeSeconds: 600,
};

function app(origins: string) {
  const a = new Hono();
  a.use(requestContext(() => undefined));
  a.use(cors({ origins, ...OPTIONS }));
  a.get('/json', (c) => {
    c.header('x-cache', 'hit');
    return c.json({ ok: true });
  });
  a.get('/redirect', () => Response.redirect('https://shop.example/elsewhere', 302));
  a.get('/boom', () => {
    throw new Error('boom');
  });
  a.onError((_e, c) => c.json({ title: 'failed' }, 500));
  return a;
}

const CTX = { waitUntil: () => undefined, passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
const send = (a: Hono, path: string, init: RequestInit = {}) => a.request(path, init, env, CTX);
const get = (a: Hono, path: string, headers: Record<string, string> = {}) => send(a, path, { headers });

describe('CORS without rebuilding the response', () => {
  it('any origin: allows *, exposes the headers, keeps the handler’s own headers and adds the request id', async () => {
    const res = await get(app('*'), '/json', { origin: 'https://shop.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toBe('x-request-id,x-cache');
    expect(res.headers.get('x-cache')).toBe('hit');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(res.headers.get('vary')).toBeNull();
    expect(await res.json()).toEqual({ ok: true });
  });

  it('a list of origins: echoes a listed origin, allows no other, and varies by Origin', async () => {
    const a = app('https://shop.example, https://admin.example');
    const listed = await get(a, '/json', { origin: 'https://admin.example' });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(listed.headers.get('vary')).toBe('Origin');
    const other = await get(a, '/json', { origin: 'https://evil.example' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin');
    expect(other.headers.get('access-control-expose-headers')).toBe('x-request-id,x-cache');
  });

  it('answers every OPTIONS as a preflight: 204, methods, headers, max age, no body', async () => {
    const a = app('https://shop.example');
    const res = await send(a, '/json', { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toBe('Origin, Access-Control-Request-Headers');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await res.text()).toBe('');
  });

  it('sets the headers on error responses too', async () => {
    const res = await get(app('*'), '/boom');
    expect(res.status).toBe(500);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('copies a response whose headers are immutable (Response.redirect) once, keeping its own', async () => {
    const res = await get(app('*'), '/redirect');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://shop.example/elsewhere');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('setResponseHeaders', () => {
  it('mutates a built response in place, and appends when asked', async () => {
    const a = new Hono();
    let before: Response | undefined;
    a.use(async (c, next) => {
      await next();
      before = c.res;
      setResponseHeaders(c, [['x-one', '1'], ['vary', 'Accept'], ['vary', 'Origin', 'append']]);
    });
    a.get('/', (c) => c.text('hi'));
    const res = await a.request('/');
    expect(res).toBe(before);
    expect(res.headers.get('x-one')).toBe('1');
    expect(res.headers.get('vary')).toBe('Accept, Origin');
  });

  it('lets errors other than immutable headers through', async () => {
    const a = new Hono();
    a.use(async (c, next) => {
      await next();
      setResponseHeaders(c, [['bad header name', 'x']]);
    });
    a.get('/', (c) => c.text('hi'));
    a.onError((e, c) => c.text(`caught ${e.name}`, 500));
    const res = await a.request('/');
    expect(await res.text()).toMatch(/^caught /);
  });
});
