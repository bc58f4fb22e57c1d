import { describe, expect, it } from 'vitest';
import { json, problem } from '../../test/support/http';
import { bearer, jsonInit, login, newCustomer, STRONG_PASSWORD } from '../../test/support/auth';

describe('POST /v1/auth/register and /login', () => {
  it('registers a customer who can then read their profile', async () => {
    const s = await newCustomer('Ann');
    expect(s.user.roles).toEqual(['customer']);
    const { res, body } = await json('/v1/me', { headers: bearer(s.accessToken) });
    expect(res.status).toBe(200);
    expect(body.email).toBe(s.email);
  });

  it('signs in the development admin', async () => {
    const s = await login('admin@agora.dev');
    expect(s.user.roles).toEqual(['admin']);
  });

  it('rejects a wrong password with 401 INVALID_CREDENTIALS', async () => {
    await problem('/v1/auth/login', 401, 'INVALID_CREDENTIALS', jsonInit('POST', { email: 'admin@agora.dev', password: STRONG_PASSWORD }));
  });
});
