/**
 * Access tokens are not looked up per request; the revocation list (docs/security.md) is what
 * stops one already issued when its account is disabled, narrowed or erased, or its client
 * revoked, on every route, not only the ones that read the account.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, jsonInit, login, newCustomer } from '../../test/support/auth';
import { call, json, problem } from '../../test/support/http';

afterEach(() => vi.restoreAllMocks());

const openCart = (token: string) => call('/v1/carts', jsonInit('POST', {}, bearer(token)));

async function adminHeaders() {
  return bearer((await login('admin@agora.dev')).accessToken);
}

describe('access tokens issued before a revocation', () => {
  it('a disabled account: its token is refused everywhere at once, also after the account is enabled again; a new login works', async () => {
    const c = await newCustomer();
    expect((await openCart(c.accessToken)).status).toBeLessThan(300);
    const admin = await adminHeaders();
    expect((await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { status: 'disabled' }, admin))).res.status).toBe(200);

    const refused = await call('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
    await problem('/v1/orders', 401, 'UNAUTHENTICATED', { headers: bearer(c.accessToken) });
    await problem('/v1/me/wishlist', 401, 'UNAUTHENTICATED', { headers: bearer(c.accessToken) });

    expect((await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { status: 'active' }, admin))).res.status).toBe(200);
    expect((await openCart(c.accessToken)).status).toBe(401);
    // Tokens issued from now on are not touched, also within the same second (the check compares `iat_ms`).
    const again = await json('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password }));
    expect(again.res.status).toBe(200);
    expect((await openCart(again.body.accessToken)).status).toBeLessThan(300);
  });

  it('a role taken away: the token that carries it stops working', async () => {
    const c = await newCustomer();
    const admin = await adminHeaders();
    const staff = await login('staff@agora.dev');
    const warehouseId = staff.user.warehouseIds[0]!;
    expect((await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { roles: ['customer', 'warehouse_staff'], warehouseIds: [warehouseId] }, admin))).res.status).toBe(200);
    const asStaff = await json('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password }));
    expect((await json(`/v1/warehouses/${warehouseId}/stock?limit=1`, { headers: bearer(asStaff.body.accessToken) })).res.status).toBe(200);

    expect((await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { roles: ['customer'] }, admin))).res.status).toBe(200);
    await problem(`/v1/warehouses/${warehouseId}/stock?limit=1`, 401, 'UNAUTHENTICATED', { headers: bearer(asStaff.body.accessToken) });
  });

  it('an erased account: the token that erased it is refused on every route', async () => {
    const c = await newCustomer();
    const res = await call('/v1/me', { method: 'DELETE', headers: { ...bearer(c.accessToken), 'content-type': 'application/json' }, body: JSON.stringify({ password: c.password }) });
    expect(res.status).toBe(204);
    expect((await openCart(c.accessToken)).status).toBe(401);
  });

  it('a revoked client: its access token is refused before it expires', async () => {
    const admin = await adminHeaders();
    const created = await json('/v1/admin/clients', jsonInit('POST', { name: 'Revoked soon', role: 'integration', scopes: ['audit:read'] }, admin));
    const token = await json('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.id, client_secret: created.body.clientSecret }).toString(),
    });
    const h = bearer(token.body.access_token);
    expect((await json('/v1/admin/audit-log?limit=1', { headers: h })).res.status).toBe(200);
    expect((await json(`/v1/admin/clients/${created.body.id}`, { method: 'DELETE', headers: admin })).res.status).toBe(200);
    await problem('/v1/admin/audit-log?limit=1', 401, 'UNAUTHENTICATED', { headers: h });
  });

  it("logout: the session's access token stops working; another session's goes on", async () => {
    const c = await newCustomer();
    const other = await json('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password }));
    expect(other.res.status).toBe(200);
    expect((await call('/v1/auth/logout', jsonInit('POST', {}, bearer(c.accessToken)))).status).toBe(204);
    expect((await openCart(c.accessToken)).status).toBe(401);
    expect((await openCart(other.body.accessToken)).status).toBeLessThan(300);
    // Signing out everywhere ends that one too.
    expect((await call('/v1/auth/logout', jsonInit('POST', { allSessions: true }, bearer(other.body.accessToken)))).status).toBe(204);
    expect((await openCart(other.body.accessToken)).status).toBe(401);
  });

  it("a password change: the other sessions' access tokens stop working, this one's goes on", async () => {
    const c = await newCustomer();
    const other = await json('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password }));
    const changed = await json('/v1/me', jsonInit('PATCH', { currentPassword: c.password, newPassword: `${c.password} and more` }, bearer(c.accessToken)));
    expect(changed.res.status, JSON.stringify(changed.body)).toBe(200);
    expect((await openCart(c.accessToken)).status).toBeLessThan(300);
    expect((await openCart(other.body.accessToken)).status).toBe(401);
  });

  it("a refresh token presented again (reuse): the family's access tokens, the thief's included, stop working; another session's goes on", async () => {
    const c = await newCustomer();
    const other = await json('/v1/auth/login', jsonInit('POST', { email: c.email, password: c.password }));
    // The thief rotates the stolen token first, twice, and holds a fresh access token of the family.
    const stolen = await json('/v1/auth/refresh', jsonInit('POST', { refreshToken: c.refreshToken }));
    expect(stolen.res.status).toBe(200);
    const thief = await json('/v1/auth/refresh', jsonInit('POST', { refreshToken: stolen.body.refreshToken }));
    expect(thief.res.status).toBe(200);
    expect((await openCart(thief.body.accessToken)).status).toBeLessThan(300);
    // The owner's client presents the same token, rotated twice since: reuse.
    await problem('/v1/auth/refresh', 401, 'UNAUTHENTICATED', jsonInit('POST', { refreshToken: c.refreshToken }));
    expect((await openCart(thief.body.accessToken)).status).toBe(401);
    expect((await openCart(c.accessToken)).status).toBe(401);
    expect((await openCart(other.body.accessToken)).status).toBeLessThan(300);
  });

  it('tokens stand when the list cannot be read (they still expire by themselves)', async () => {
    const c = await newCustomer();
    const get = env.CACHE_KV.get.bind(env.CACHE_KV);
    vi.spyOn(env.CACHE_KV, 'get').mockImplementation(((key: string, options?: unknown) => {
      if (key.startsWith('auth:revoked-before:')) return Promise.reject(new Error('KV unavailable'));
      return get(key, options as never);
    }) as typeof env.CACHE_KV.get);
    expect((await openCart(c.accessToken)).status).toBeLessThan(300);
  });
});
