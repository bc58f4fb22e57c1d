import { describe, expect, it } from 'vitest';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';

/** /v1/admin/products: catalog writes behind `catalog:write`, each on the audit trail. */
let adminToken: string | undefined;
async function admin() {
  adminToken ??= (await login('admin@agora.dev')).accessToken;
  return bearer(adminToken);
}

async function refs() {
  const { body } = await json('/v1/products?limit=1');
  const p = body.items[0];
  return { brandSlug: p.brand.slug as string, categorySlug: p.category.slug as string };
}

const newProduct = async (over: Record<string, unknown> = {}) => {
  const tag = crypto.randomUUID().slice(0, 8);
  return {
    slug: `admin-test-${tag}`,
    name: `Zephyrine Lantern ${tag}`,
    description: 'A lantern made for route tests.',
    ...(await refs()),
    variants: [{ sku: `ADM-${tag}`, name: 'Default', price: 4599, attributes: { color: 'amber' } }],
    ...over,
  };
};

describe('/v1/admin/products', () => {
  it('creates, updates and archives; the storefront sees each change at once; each is audited', async () => {
    const h = await admin();
    const input = await newProduct();
    const created = await json('/v1/admin/products', jsonInit('POST', input, h));
    expect(created.res.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    expect(created.body).toMatchObject({ slug: input.slug, status: 'active' });
    expect((await json(`/v1/products/${input.slug}`)).body.id).toBe(id);

    const updated = await json(`/v1/admin/products/${id}`, jsonInit('PATCH', { name: 'Zephyrine Lantern Pro' }, h));
    expect(updated.body.name).toBe('Zephyrine Lantern Pro');
    expect((await json(`/v1/products/${id}`)).body.name).toBe('Zephyrine Lantern Pro');

    const archived = await json(`/v1/admin/products/${id}`, { method: 'DELETE', headers: h });
    expect(archived.body.status).toBe('archived');
    await problem(`/v1/products/${id}`, 404, 'NOT_FOUND');

    const audit = await json(`/v1/admin/audit-log?targetId=${id}`, { headers: h });
    expect(audit.body.items.map((e: { action: string }) => e.action).reverse()).toEqual([
      'catalog.product.created',
      'catalog.product.updated',
      'catalog.product.archived',
    ]);
  });

  it('two creations of one slug or SKU at once: one is created, the other is a 409, never a 500', async () => {
    const h = await admin();
    const input = await newProduct();
    const same = await Promise.all([0, 1, 2].map(() => json('/v1/admin/products', jsonInit('POST', input, h))));
    expect(same.map((r) => r.res.status).sort(), JSON.stringify(same.map((r) => r.body))).toEqual([201, 409, 409]);
    // Another slug, the same SKU.
    const other = await newProduct();
    const sku = (other.variants as { sku: string }[])[0]!.sku;
    const bySku = await Promise.all(
      ['a', 'b'].map((x) => json('/v1/admin/products', jsonInit('POST', { ...other, slug: `${other.slug}-${x}`, variants: [{ sku, name: 'Default', price: 4599 }] }, h))),
    );
    expect(bySku.map((r) => r.res.status).sort(), JSON.stringify(bySku.map((r) => r.body))).toEqual([201, 409]);
  });

  it('lets an integration with catalog:write in, and keeps everyone else out', async () => {
    const input = await newProduct();
    await problem('/v1/admin/products', 401, 'UNAUTHENTICATED', jsonInit('POST', input));
    await problem('/v1/admin/products', 403, 'FORBIDDEN', jsonInit('POST', input, bearer((await newCustomer()).accessToken)));
    await problem('/v1/admin/products', 403, 'FORBIDDEN', jsonInit('POST', input, bearer((await login('staff@agora.dev')).accessToken)));

    const client = await json('/v1/admin/clients', jsonInit('POST', { name: 'PIM', role: 'integration', scopes: ['catalog:write'] }, await admin()));
    const token = await json('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.body.id, client_secret: client.body.clientSecret }).toString(),
    });
    const created = await json('/v1/admin/products', jsonInit('POST', input, bearer(token.body.access_token)));
    expect(created.res.status).toBe(201);
  });

  it('refuses bad input with 4xx and writes nothing', async () => {
    const h = await admin();
    const base = await newProduct();
    await problem('/v1/admin/products', 400, 'VALIDATION_FAILED', jsonInit('POST', { ...base, variants: [] }, h));
    await problem('/v1/admin/products', 400, 'VALIDATION_FAILED', jsonInit('POST', { ...base, currency: 'EUR' }, h));
    await problem('/v1/admin/products', 422, 'UNPROCESSABLE', jsonInit('POST', { ...base, brandSlug: 'no-such-brand' }, h));
    await problem(`/v1/products/${base.slug}`, 404, 'NOT_FOUND');
    const first = await json('/v1/admin/products', jsonInit('POST', base, h));
    expect(first.res.status).toBe(201);
    await problem('/v1/admin/products', 409, 'CONFLICT', jsonInit('POST', base, h));
    await problem('/v1/admin/products/not-an-id', 400, 'VALIDATION_FAILED', jsonInit('PATCH', { name: 'x' }, h));
    await problem(`/v1/admin/products/prd_${'0'.repeat(26)}`, 404, 'NOT_FOUND', jsonInit('PATCH', { name: 'x' }, h));
    await problem(`/v1/admin/products/${first.body.id}`, 400, 'VALIDATION_FAILED', jsonInit('PATCH', { slug: 'renamed' }, h));
  });
});
