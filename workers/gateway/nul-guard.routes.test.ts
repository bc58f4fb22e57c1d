import { describe, expect, it } from 'vitest';
import { bearer, freshIp, jsonInit, login, newCustomer, STRONG_PASSWORD } from '../../test/support/auth';
import { call, json, problem } from '../../test/support/http';
import { adminSession } from '../../test/support/products';

// Postgres cannot store U+0000 in text; before this guard each of these reached a query and
// answered 500. Now every one is a 400 naming where the character was, and nothing is written.
const NUL = 'a\u0000b';
const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';

describe('the NUL character (U+0000) is refused with 400, wherever it is sent', () => {
  it('in a path parameter or a query parameter', async () => {
    const inPath = await problem('/v1/products/%00', 400, 'VALIDATION_FAILED');
    expect(inPath.errors).toEqual([{ path: 'path', message: NUL_MESSAGE }]);
    const inQuery = await problem('/v1/products?q=a%00b', 400, 'VALIDATION_FAILED');
    expect(inQuery.errors).toEqual([{ path: 'query', message: NUL_MESSAGE }]);
    // An escaped percent sign is text, not a NUL.
    const { res } = await json('/v1/products?q=100%2500');
    expect(res.status).toBe(200);
  });

  it('in a JSON body: registering writes no account, and the same email then registers cleanly', async () => {
    const email = `nul-${crypto.randomUUID()}@example.com`;
    const refused = await problem('/v1/auth/register', 400, 'VALIDATION_FAILED', jsonInit('POST', { email, password: STRONG_PASSWORD, name: NUL }));
    expect(refused.errors).toEqual([{ path: 'body', message: NUL_MESSAGE }]);
    const { res, body } = await json<{ user: { name: string } }>('/v1/auth/register', jsonInit('POST', { email, password: STRONG_PASSWORD, name: 'Clean Name' }));
    expect(res.status).toBe(201);
    expect(body.user.name).toBe('Clean Name');
  });

  it('a backslash followed by "u0000" is ordinary text and is kept as sent', async () => {
    const literal = 'a\\u0000b';
    const { res, body } = await json<{ user: { name: string } }>(
      '/v1/auth/register',
      jsonInit('POST', { email: `nul-${crypto.randomUUID()}@example.com`, password: STRONG_PASSWORD, name: literal }),
    );
    expect(res.status).toBe(201);
    expect(body.user.name).toBe(literal);
  });

  it('in an update: PATCH /v1/me leaves the name as it was', async () => {
    const me = await newCustomer('Before Patch');
    await problem('/v1/me', 400, 'VALIDATION_FAILED', jsonInit('PATCH', { name: NUL }, bearer(me.accessToken)));
    const { body } = await json<{ name: string }>('/v1/me', { headers: bearer(me.accessToken) });
    expect(body.name).toBe('Before Patch');
  });

  it('in an admin write: no product is created', async () => {
    const { token } = await adminSession();
    const ref = (await json<{ items: { brand: { slug: string }; category: { slug: string } }[] }>('/v1/products?limit=1')).body.items[0]!;
    const slug = `nul-guard-${crypto.randomUUID().slice(0, 8)}`;
    await problem(
      '/v1/admin/products',
      400,
      'VALIDATION_FAILED',
      jsonInit('POST', { slug, name: NUL, brandSlug: ref.brand.slug, categorySlug: ref.category.slug, variants: [{ sku: `${slug}-1`.toUpperCase(), name: 'One', price: 100 }] }, bearer(token)),
    );
    await problem(`/v1/products/${slug}`, 404, 'NOT_FOUND');
  });

  it('the token endpoint answers in OAuth\'s own error format', async () => {
    const res = await call('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': freshIp() },
      body: 'grant_type=client_credentials&client_id=%00&client_secret=x',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'client_id must not contain the NUL character' });
  });

  it('ordinary requests are untouched (a login with a JSON body still works)', async () => {
    const session = await login('shopper@agora.dev');
    expect(session.user.email).toBe('shopper@agora.dev');
  });
});
