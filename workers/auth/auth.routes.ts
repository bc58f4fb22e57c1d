import { createRoute, type z } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import {
  AddressIdParamSchema,
  AddressListSchema,
  AddressSchema,
  AdminUpdateUserBodySchema,
  AdminUserListQuerySchema,
  AdminUserListSchema,
  AdminUserSchema,
  ClientIdParamSchema,
  ClientListSchema,
  ClientSchema,
  CreateAddressBodySchema,
  CreateClientBodySchema,
  CreatedClientSchema,
  EraseMeBodySchema,
  ExportSchema,
  JwksSchema,
  LoginBodySchema,
  LogoutBodySchema,
  OAuthErrorSchema,
  RefreshBodySchema,
  RegisterBodySchema,
  LoginSessionSchema,
  SessionSchema,
  TokenFormSchema,
  TokenResponseSchema,
  UpdateAddressBodySchema,
  UpdateMeBodySchema,
  UserIdParamSchema,
  UserSchema,
} from './auth.schemas';

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { content: json(schema), required: true } });
const bearer = [{ bearerAuth: [] }];
const problems = (...codes: (400 | 401 | 403 | 404 | 409 | 422 | 429)[]) => {
  const text: Record<number, string> = {
    400: 'Invalid request',
    401: 'Missing, expired or invalid credentials',
    403: 'Not allowed',
    404: 'Not found',
    409: 'Conflicts with the current state',
    422: 'Cannot be processed',
    429: 'Rate limited (see Retry-After)',
  };
  return Object.fromEntries(codes.map((c) => [c, { description: text[c]!, content: problemContent }]));
};
const rateLimitHeader = { 'Retry-After': { description: 'Seconds to wait (on 429)', schema: { type: 'integer' as const } } };

// ---- accounts and sessions ----

export const registerRoute = createRoute({
  method: 'post',
  path: '/v1/auth/register',
  operationId: 'auth.register',
  tags: ['Identity'],
  summary: 'Create a customer account and sign in',
  request: body(RegisterBodySchema),
  responses: {
    201: { description: 'The account and its first session', content: json(SessionSchema) },
    ...problems(400, 409, 429),
  },
});

export const loginRoute = createRoute({
  method: 'post',
  path: '/v1/auth/login',
  operationId: 'auth.login',
  tags: ['Identity'],
  summary: 'Sign in with email and password',
  description: 'Unknown email, wrong password and inactive account all answer the same 401 INVALID_CREDENTIALS.',
  request: body(LoginBodySchema),
  responses: {
    200: { description: 'A new session (with the cart merge report when a guest cartId was passed)', content: json(LoginSessionSchema) },
    ...problems(400, 401, 429),
  },
});

export const refreshRoute = createRoute({
  method: 'post',
  path: '/v1/auth/refresh',
  operationId: 'auth.refresh',
  tags: ['Identity'],
  summary: 'Rotate a refresh token',
  description: 'Returns a new access token and a new refresh token; the old refresh token stops working. Presenting a rotated token again revokes the whole session.',
  request: body(RefreshBodySchema),
  responses: {
    200: { description: 'The rotated session', content: json(SessionSchema) },
    ...problems(400, 401, 429),
  },
});

export const logoutRoute = createRoute({
  method: 'post',
  path: '/v1/auth/logout',
  operationId: 'auth.logout',
  tags: ['Identity'],
  summary: 'End a session (or all of them)',
  security: [{ bearerAuth: [] }, {}],
  request: { body: { content: json(LogoutBodySchema), required: false } },
  responses: { 204: { description: 'Signed out' }, ...problems(400, 401, 403) },
});

export const tokenRoute = createRoute({
  method: 'post',
  path: '/v1/auth/token',
  operationId: 'auth.token',
  tags: ['Identity'],
  summary: 'OAuth2 client credentials grant (POS devices, integrations)',
  description:
    'RFC 6749 §4.4, `application/x-www-form-urlencoded`. Authenticate with HTTP Basic (`client_id:client_secret`) or `client_id`/`client_secret` in the body. Errors use the RFC 6749 §5.2 body (`error`, `error_description`).',
  security: [{ clientBasic: [] }, {}],
  request: { body: { content: { 'application/x-www-form-urlencoded': { schema: TokenFormSchema } }, required: true } },
  responses: {
    200: { description: 'An access token', content: json(TokenResponseSchema) },
    400: { description: 'OAuth error (invalid_request, unsupported_grant_type, invalid_scope)', content: json(OAuthErrorSchema) },
    401: { description: 'invalid_client', content: json(OAuthErrorSchema) },
    429: { description: 'Rate limited', headers: rateLimitHeader, content: problemContent },
  },
});

export const jwksRoute = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  operationId: 'auth.jwks',
  tags: ['Identity'],
  summary: 'Public keys that verify access tokens',
  responses: { 200: { description: 'JWK Set (RFC 7517)', content: json(JwksSchema) } },
});

// ---- me ----

export const getMeRoute = createRoute({
  method: 'get',
  path: '/v1/me',
  operationId: 'users.getMe',
  tags: ['Me'],
  summary: 'My profile',
  security: bearer,
  middleware: [requires('self')] as const,
  responses: { 200: { description: 'The signed-in user', content: json(UserSchema) }, ...problems(401, 403) },
});

export const updateMeRoute = createRoute({
  method: 'patch',
  path: '/v1/me',
  operationId: 'users.updateMe',
  tags: ['Me'],
  summary: 'Change my profile or password',
  security: bearer,
  middleware: [requires('self')] as const,
  request: body(UpdateMeBodySchema),
  responses: { 200: { description: 'The updated profile', content: json(UserSchema) }, ...problems(400, 401, 403) },
});

export const exportMeRoute = createRoute({
  method: 'get',
  path: '/v1/me/export',
  operationId: 'users.exportMe',
  tags: ['Me'],
  summary: 'Everything stored about me (GDPR export)',
  security: bearer,
  middleware: [requires('self')] as const,
  responses: { 200: { description: 'My data as JSON', content: json(ExportSchema) }, ...problems(401, 403) },
});

export const eraseMeRoute = createRoute({
  method: 'delete',
  path: '/v1/me',
  operationId: 'users.eraseMe',
  tags: ['Me'],
  summary: 'Erase my personal data and end every session (GDPR erasure)',
  security: bearer,
  middleware: [requires('self')] as const,
  request: body(EraseMeBodySchema),
  responses: { 204: { description: 'Erased' }, ...problems(400, 401, 403, 409, 429) },
});

export const listAddressesRoute = createRoute({
  method: 'get',
  path: '/v1/me/addresses',
  operationId: 'users.listAddresses',
  tags: ['Me'],
  summary: 'My addresses',
  security: bearer,
  middleware: [requires('self')] as const,
  responses: { 200: { description: 'Addresses', content: json(AddressListSchema) }, ...problems(401, 403) },
});

export const createAddressRoute = createRoute({
  method: 'post',
  path: '/v1/me/addresses',
  operationId: 'users.createAddress',
  tags: ['Me'],
  summary: 'Add an address',
  security: bearer,
  middleware: [requires('self')] as const,
  request: body(CreateAddressBodySchema),
  responses: { 201: { description: 'The new address', content: json(AddressSchema) }, ...problems(400, 401, 403, 409) },
});

export const updateAddressRoute = createRoute({
  method: 'patch',
  path: '/v1/me/addresses/{id}',
  operationId: 'users.updateAddress',
  tags: ['Me'],
  summary: 'Change an address',
  security: bearer,
  middleware: [requires('self')] as const,
  request: { params: AddressIdParamSchema, ...body(UpdateAddressBodySchema) },
  responses: { 200: { description: 'The address', content: json(AddressSchema) }, ...problems(400, 401, 403, 404, 409) },
});

export const deleteAddressRoute = createRoute({
  method: 'delete',
  path: '/v1/me/addresses/{id}',
  operationId: 'users.deleteAddress',
  tags: ['Me'],
  summary: 'Delete an address',
  security: bearer,
  middleware: [requires('self')] as const,
  request: { params: AddressIdParamSchema },
  responses: { 204: { description: 'Deleted' }, ...problems(400, 401, 403, 404) },
});

// ---- admin ----

export const listUsersRoute = createRoute({
  method: 'get',
  path: '/v1/admin/users',
  operationId: 'admin.listUsers',
  tags: ['Admin'],
  summary: 'Find users',
  security: bearer,
  middleware: [requires('users:read')] as const,
  request: { query: AdminUserListQuerySchema },
  responses: { 200: { description: 'A page of users', content: json(AdminUserListSchema) }, ...problems(400, 401, 403) },
});

export const getUserRoute = createRoute({
  method: 'get',
  path: '/v1/admin/users/{id}',
  operationId: 'admin.getUser',
  tags: ['Admin'],
  summary: 'One user',
  security: bearer,
  middleware: [requires('users:read')] as const,
  request: { params: UserIdParamSchema },
  responses: { 200: { description: 'The user', content: json(AdminUserSchema) }, ...problems(400, 401, 403, 404) },
});

export const updateUserRoute = createRoute({
  method: 'patch',
  path: '/v1/admin/users/{id}',
  operationId: 'admin.updateUser',
  tags: ['Admin'],
  summary: 'Change roles, places or status',
  security: bearer,
  middleware: [requires('users:manage')] as const,
  request: { params: UserIdParamSchema, ...body(AdminUpdateUserBodySchema) },
  responses: { 200: { description: 'The user', content: json(AdminUserSchema) }, ...problems(400, 401, 403, 404, 409, 422) },
});

export const createClientRoute = createRoute({
  method: 'post',
  path: '/v1/admin/clients',
  operationId: 'admin.createClient',
  tags: ['Admin'],
  summary: 'Create an OAuth2 client (the secret is shown once)',
  security: bearer,
  middleware: [requires('clients:manage')] as const,
  request: body(CreateClientBodySchema),
  responses: { 201: { description: 'The client and its secret', content: json(CreatedClientSchema) }, ...problems(400, 401, 403, 422) },
});

export const listClientsRoute = createRoute({
  method: 'get',
  path: '/v1/admin/clients',
  operationId: 'admin.listClients',
  tags: ['Admin'],
  summary: 'OAuth2 clients',
  security: bearer,
  middleware: [requires('clients:manage')] as const,
  responses: { 200: { description: 'Clients (never their secrets)', content: json(ClientListSchema) }, ...problems(401, 403) },
});

export const revokeClientRoute = createRoute({
  method: 'delete',
  path: '/v1/admin/clients/{id}',
  operationId: 'admin.revokeClient',
  tags: ['Admin'],
  summary: 'Revoke a client',
  security: bearer,
  middleware: [requires('clients:manage')] as const,
  request: { params: ClientIdParamSchema },
  responses: { 200: { description: 'The revoked client', content: json(ClientSchema) }, ...problems(400, 401, 403, 404) },
});
