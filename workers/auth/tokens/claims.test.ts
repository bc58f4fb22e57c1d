import { describe, expect, it } from 'vitest';
import { AccessClaimsSchema, AccessTokenPayloadSchema, claimsToPayload, payloadToClaims, type AccessClaimsInput } from './claims';

const valid: [string, AccessClaimsInput][] = [
  ['a customer', { sub: 'usr_01hzz', kind: 'user', roles: ['customer'] }],
  ['an admin who also shops', { sub: 'usr_01hzz', kind: 'user', roles: ['admin', 'customer'] }],
  ['warehouse staff bound to two warehouses', { sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'], warehouseIds: ['wh_a', 'wh_b'] }],
  ['a POS agent bound to a store', { sub: 'usr_1', kind: 'user', roles: ['pos_agent'], storeId: 'st_1' }],
  ['a POS device (client) bound to a store', { sub: 'cli_pos_7', kind: 'client', roles: ['pos_agent'], storeId: 'st_1', scopes: ['pos:sync'] }],
  ['an integration with scopes', { sub: 'cli_erp', kind: 'client', roles: ['integration'], scopes: ['orders:read', 'catalog:write'] }],
  ['a user with a session id', { sub: 'usr_1', kind: 'user', roles: ['customer'], sessionId: 'fam_123' }],
];

const invalid: [string, AccessClaimsInput, string][] = [
  ['no role', { sub: 'usr_1', kind: 'user', roles: [] }, 'roles'],
  ['an unknown role', { sub: 'usr_1', kind: 'user', roles: ['root' as never] }, 'roles'],
  ['a repeated role', { sub: 'usr_1', kind: 'user', roles: ['customer', 'customer'] }, 'roles'],
  ['warehouse_staff without warehouses', { sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'] }, 'warehouseIds'],
  ['warehouses without warehouse_staff', { sub: 'usr_1', kind: 'user', roles: ['customer'], warehouseIds: ['wh_a'] }, 'warehouseIds'],
  ['repeated warehouses', { sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'], warehouseIds: ['wh_a', 'wh_a'] }, 'warehouseIds'],
  ['pos_agent without a store', { sub: 'usr_1', kind: 'user', roles: ['pos_agent'] }, 'storeId'],
  ['a store without pos_agent', { sub: 'usr_1', kind: 'user', roles: ['admin'], storeId: 'st_1' }, 'storeId'],
  ['integration with another role', { sub: 'cli_1', kind: 'client', roles: ['integration', 'pos_agent'], storeId: 'st_1', scopes: ['a'] }, 'roles'],
  ['integration without scopes', { sub: 'cli_1', kind: 'client', roles: ['integration'] }, 'scopes'],
  ['integration on a user', { sub: 'usr_1', kind: 'user', roles: ['integration'], scopes: ['a'] }, 'roles'],
  ['scopes on a user', { sub: 'usr_1', kind: 'user', roles: ['customer'], scopes: ['orders:read'] }, 'scopes'],
  ['a client holding admin', { sub: 'cli_1', kind: 'client', roles: ['admin'] }, 'roles'],
  ['a client holding customer', { sub: 'cli_1', kind: 'client', roles: ['customer'] }, 'roles'],
  ['a scope with a space', { sub: 'cli_1', kind: 'client', roles: ['integration'], scopes: ['orders read'] }, 'scopes'],
  ['an empty subject', { sub: '', kind: 'user', roles: ['customer'] }, 'sub'],
  ['a subject with a space', { sub: 'usr 1', kind: 'user', roles: ['customer'] }, 'sub'],
  ['an unknown kind', { sub: 'usr_1', kind: 'robot' as never, roles: ['customer'] }, 'kind'],
];

describe('AccessClaimsSchema (role bindings)', () => {
  it.each(valid)('accepts %s', (_why, claims) => {
    expect(AccessClaimsSchema.safeParse(claims).success).toBe(true);
  });

  it.each(invalid)('refuses %s', (_why, claims, path) => {
    const result = AccessClaimsSchema.safeParse(claims);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path[0])).toContain(path);
  });
});

describe('JWT payload mapping', () => {
  it('uses RFC 9068 names (space-separated scope) and snake_case, omitting empty claims', () => {
    const integration = AccessClaimsSchema.parse({ sub: 'cli_erp', kind: 'client', roles: ['integration'], scopes: ['orders:read', 'catalog:write'] });
    expect(claimsToPayload(integration)).toEqual({ kind: 'client', roles: ['integration'], scope: 'orders:read catalog:write' });
    const staff = AccessClaimsSchema.parse({ sub: 'usr_1', kind: 'user', roles: ['warehouse_staff'], warehouseIds: ['wh_a'], sessionId: 'fam_1' });
    expect(claimsToPayload(staff)).toEqual({ kind: 'user', roles: ['warehouse_staff'], warehouse_ids: ['wh_a'], sid: 'fam_1' });
  });

  it.each(valid)('round-trips %s', (_why, input) => {
    const claims = AccessClaimsSchema.parse(input);
    const payload = AccessTokenPayloadSchema.parse({ iss: 'i', aud: 'a', sub: claims.sub, iat: 1, exp: 2, jti: 'abcdefghijklmnopqrstuv', ...claimsToPayload(claims) });
    expect(AccessClaimsSchema.parse(payloadToClaims(payload))).toEqual(claims);
  });

  it('refuses an empty scope string on the way back (it would be one empty scope)', () => {
    const payload = AccessTokenPayloadSchema.parse({ iss: 'i', aud: 'a', sub: 'cli_1', iat: 1, exp: 2, jti: 'abcdefghijklmnopqrstuv', kind: 'client', roles: ['integration'], scope: '' });
    expect(AccessClaimsSchema.safeParse(payloadToClaims(payload)).success).toBe(false);
  });
});
