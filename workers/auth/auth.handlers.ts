import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { actorOf, requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { withHeaders } from '../../shared/http/response-headers';
import {
  createAddressRoute,
  createClientRoute,
  deleteAddressRoute,
  eraseMeRoute,
  exportMeRoute,
  getMeRoute,
  getUserRoute,
  jwksRoute,
  listAddressesRoute,
  listClientsRoute,
  listUsersRoute,
  loginRoute,
  logoutRoute,
  refreshRoute,
  registerRoute,
  revokeClientRoute,
  tokenRoute,
  updateAddressRoute,
  updateMeRoute,
  updateUserRoute,
} from './auth.routes';
import { OAuthError, type AuthService } from './service';
import type { TokenForm } from './service/client-token';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Glue only: valid input → one service verb → status + DTO. */
export function registerAuthHandlers(app: OpenAPIHono<AppEnv>, service: (c: Context<AppEnv>) => AuthService) {
  app.openapi(registerRoute, async (c) => withHeaders(c.json(await service(c).register(c.req.valid('json'), requestMeta(c)), 201), NO_STORE));
  app.openapi(loginRoute, async (c) => withHeaders(c.json(await service(c).login(c.req.valid('json'), requestMeta(c)), 200), NO_STORE));
  app.openapi(refreshRoute, async (c) => withHeaders(c.json(await service(c).refresh(c.req.valid('json').refreshToken, requestMeta(c)), 200), NO_STORE));
  app.openapi(logoutRoute, async (c) => {
    await actorOf(c);
    // The body is optional (a bearer token alone ends its session); when sent it was validated.
    const input = (c.req.valid as unknown as (t: 'json') => { refreshToken?: string; allSessions?: boolean } | undefined)('json');
    await service(c).logout(input ?? {}, requestMeta(c));
    return c.body(null, 204);
  });

  // The token endpoint parses its own form so every malformed request gets an RFC 6749 error body.
  app.openAPIRegistry.registerPath(tokenRoute);
  app.post(tokenRoute.path, async (c) => {
    try {
      const form = await readTokenForm(c);
      return withHeaders(c.json(await service(c).clientToken(form, c.req.header('authorization'), requestMeta(c)), 200), NO_STORE);
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      c.get('log').oauthError = e.error;
      return c.json({ error: e.error, error_description: e.description }, e.status, { ...NO_STORE, ...e.headers });
    }
  });

  app.openapi(jwksRoute, async (c) =>
    withHeaders(c.json(await service(c).jwks(), 200), { 'Cache-Control': 'public, max-age=300, stale-while-revalidate=600' }),
  );

  app.openapi(getMeRoute, async (c) => withHeaders(c.json(await service(c).getMe(requestMeta(c)), 200), NO_STORE));
  app.openapi(updateMeRoute, async (c) => withHeaders(c.json(await service(c).updateMe(c.req.valid('json'), requestMeta(c)), 200), NO_STORE));
  app.openapi(exportMeRoute, async (c) =>
    withHeaders(c.json(await service(c).exportMe(requestMeta(c)), 200), { ...NO_STORE, 'Content-Disposition': 'attachment; filename="agora-my-data.json"' }),
  );
  app.openapi(eraseMeRoute, async (c) => {
    await service(c).eraseMe(c.req.valid('json').password, requestMeta(c));
    return c.body(null, 204);
  });
  app.openapi(listAddressesRoute, async (c) => withHeaders(c.json(await service(c).listAddresses(requestMeta(c)), 200), NO_STORE));
  app.openapi(createAddressRoute, async (c) => withHeaders(c.json(await service(c).createAddress(c.req.valid('json'), requestMeta(c)), 201), NO_STORE));
  app.openapi(updateAddressRoute, async (c) =>
    withHeaders(c.json(await service(c).updateAddress(c.req.valid('param').id, c.req.valid('json'), requestMeta(c)), 200), NO_STORE),
  );
  app.openapi(deleteAddressRoute, async (c) => {
    await service(c).deleteAddress(c.req.valid('param').id, requestMeta(c));
    return c.body(null, 204);
  });

  app.openapi(listUsersRoute, async (c) => withHeaders(c.json(await service(c).listUsers(c.req.valid('query')), 200), NO_STORE));
  app.openapi(getUserRoute, async (c) => withHeaders(c.json(await service(c).getUser(c.req.valid('param').id), 200), NO_STORE));
  app.openapi(updateUserRoute, async (c) =>
    withHeaders(c.json(await service(c).updateUser(c.req.valid('param').id, c.req.valid('json'), requestMeta(c)), 200), NO_STORE),
  );
  app.openapi(createClientRoute, async (c) => withHeaders(c.json(await service(c).createClient(c.req.valid('json'), requestMeta(c)), 201), NO_STORE));
  app.openapi(listClientsRoute, async (c) => withHeaders(c.json(await service(c).listClients(), 200), NO_STORE));
  app.openapi(revokeClientRoute, async (c) => withHeaders(c.json(await service(c).revokeClient(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE));
}

const FORM_FIELDS = new Set(['grant_type', 'scope', 'client_id', 'client_secret']);

/** RFC 6749 §3.2: form-encoded, each parameter at most once; unknown parameters are ignored. */
async function readTokenForm(c: Context<AppEnv>): Promise<TokenForm> {
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'Send the token request as application/x-www-form-urlencoded');
  }
  // Bytes, then UTF-8 (workerd warns about .text() on a form body).
  const params = new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()));
  const form: Record<string, string> = {};
  for (const [k, v] of params) {
    if (!FORM_FIELDS.has(k)) continue;
    if (k in form) throw new OAuthError('invalid_request', `${k} must not be repeated`);
    if (v.length > 2048) throw new OAuthError('invalid_request', `${k} is too long`);
    if (v.includes('\u0000')) throw new OAuthError('invalid_request', `${k} must not contain the NUL character`);
    form[k] = v;
  }
  return form;
}
