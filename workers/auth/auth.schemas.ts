import { z } from '@hono/zod-openapi';
import { ROLES, SCOPES } from '../../shared/kernel/roles';
import { PASSWORD_MAX_LENGTH } from './password/password-policy';
import { queryInt } from '../../shared/http/query';

/**
 * Public DTOs of identity (accounts, sessions, clients, profile, addresses, admin). Every
 * request body is `.strict()`: an unknown field (say `roles` in PATCH /v1/me) is a 400, never
 * silently ignored and never applied.
 */
const Email = z.string().min(3).max(320).openapi({ example: 'ann@example.com' });
/** Length and common-list rules are checked by the policy (so each gets its own message). */
const NewPassword = z.string().min(1).max(PASSWORD_MAX_LENGTH * 4).openapi({ example: 'correct horse battery staple' });
const Name = z.string().trim().min(1).max(100);
/** E.164: `+` and 8 to 15 digits. */
const Phone = z.string().regex(/^\+[1-9][0-9]{7,14}$/, 'Use international E.164 form, e.g. +919876543210');
const Timestamp = z.string().datetime({ offset: true }).openapi({ example: '2026-11-24T10:00:00.000Z' });
const UserId = z.string().regex(/^usr_[0-9a-z]{26}$/, 'must be a user id (usr_…)');
const AddressId = z.string().regex(/^adr_[0-9a-z]{26}$/, 'must be an address id (adr_…)');
const ClientId = z.string().regex(/^cli_[0-9a-z]{26}$/, 'must be a client id (cli_…)');
const Ident = z.string().min(1).max(64).regex(/^[A-Za-z0-9_:.@-]+$/);
const Limit = queryInt(1, 100).default(20).openapi({ example: 20 });
const Cursor = z.string().max(2048).optional();

// ---------------------------------------------------------------------------------------------
// Accounts and sessions

export const RegisterBodySchema = z
  .object({
    email: Email,
    password: NewPassword,
    name: Name.optional(),
    marketingOptIn: z.boolean().optional(),
  })
  .strict()
  .openapi('RegisterRequest');

export const LoginBodySchema = z
  .object({
    email: z.string().min(1).max(320),
    password: z.string().min(1).max(PASSWORD_MAX_LENGTH * 4),
    /** A guest cart to merge into the user's cart once signed in (docs/cart.md). */
    cartId: z
      .string()
      .regex(/^crt_[0-9a-z]{26}$/, 'must be a cart id (crt_…)')
      .optional()
      .openapi({ description: "A guest cart to merge into your cart (quantities combined within the limits); the guest cart is closed" }),
  })
  .strict()
  .openapi('LoginRequest');

export const RefreshBodySchema = z
  .object({ refreshToken: z.string().min(1).max(128) })
  .strict()
  .openapi('RefreshRequest');

export const LogoutBodySchema = z
  .object({
    refreshToken: z.string().min(1).max(128).optional(),
    /** With an access token: end every session of the user, on every device. */
    allSessions: z.boolean().optional(),
  })
  .strict()
  .openapi('LogoutRequest');

export const RoleEnum = z.enum(ROLES).openapi('Role');
export const ScopeEnum = z.enum(SCOPES).openapi('Scope');

export const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    phone: z.string().nullable(),
    roles: z.array(RoleEnum),
    warehouseIds: z.array(z.string()),
    storeId: z.string().nullable(),
    marketingOptIn: z.boolean(),
    createdAt: Timestamp,
  })
  .openapi('User');
export type User = z.infer<typeof UserSchema>;

export const SessionSchema = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal('Bearer'),
    /** Seconds until the access token expires. */
    expiresIn: z.number().int(),
    refreshToken: z.string(),
    refreshTokenExpiresAt: Timestamp,
    user: UserSchema,
  })
  .openapi('Session');
export type Session = z.infer<typeof SessionSchema>;

/** The login answer: a session, plus the merge report when a guest `cartId` was passed. */
export const LoginSessionSchema = SessionSchema.extend({
  cart: z
    .object({
      /** The user's cart after the merge (null when the merge failed). */
      id: z.string().nullable(),
      merge: z.object({
        status: z.enum(['merged', 'skipped', 'failed']),
        reason: z.string().optional(),
        lines: z.array(
          z.object({
            variantId: z.string(),
            sku: z.string(),
            requested: z.number().int(),
            merged: z.number().int(),
            // The cart's report (workers/cart, CartMergeReport); kept a string here so identity
            // does not import the cart's schemas.
            clampedBy: z.string().nullable().openapi({
              description:
                'What capped the line: a cart limit (`maxLineQuantity`, `maxUnits`, `maxLines`) or the stock (`out_of_stock`: nothing available, not added; `insufficient_stock`: fewer units than asked); null when merged whole',
            }),
          }),
        ),
      }),
    })
    .optional(),
}).openapi('LoginSession');
export type LoginSession = z.infer<typeof LoginSessionSchema>;

// ---------------------------------------------------------------------------------------------
// OAuth2 client credentials (RFC 6749 §4.4)

export const TokenFormSchema = z
  .object({
    grant_type: z.string().max(64).optional(),
    scope: z.string().max(2048).optional(),
    client_id: z.string().max(64).optional(),
    client_secret: z.string().max(256).optional(),
  })
  .openapi('ClientCredentialsRequest');

export const TokenResponseSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
    scope: z.string().optional(),
  })
  .openapi('TokenResponse');
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

export const OAuthErrorSchema = z
  .object({
    error: z.enum(['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope']),
    error_description: z.string(),
  })
  .openapi('OAuthError');

export const JwksSchema = z
  .object({
    keys: z.array(
      z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), use: z.literal('sig'), alg: z.literal('ES256') }),
    ),
  })
  .openapi('JsonWebKeySet');

// ---------------------------------------------------------------------------------------------
// Me

export const UpdateMeBodySchema = z
  .object({
    name: Name.nullable().optional(),
    phone: Phone.nullable().optional(),
    marketingOptIn: z.boolean().optional(),
    /** Changing the password needs the current one; every other session is signed out. */
    currentPassword: z.string().min(1).max(PASSWORD_MAX_LENGTH * 4).optional(),
    newPassword: NewPassword.optional(),
  })
  .strict()
  .refine((b) => (b.newPassword === undefined) === (b.currentPassword === undefined), {
    message: 'newPassword and currentPassword go together',
    path: ['currentPassword'],
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'Send at least one field to change' })
  .openapi('UpdateMeRequest');
export type UpdateMeInput = z.infer<typeof UpdateMeBodySchema>;

const Country = z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2, e.g. IN, NL, US');
const Line = z.string().trim().min(1).max(200);

export const AddressFieldsSchema = z
  .object({
    label: z.string().trim().min(1).max(50).optional(),
    name: Name,
    line1: Line,
    line2: Line.optional(),
    city: z.string().trim().min(1).max(100),
    region: z.string().trim().min(1).max(100).optional(),
    postalCode: z.string().trim().min(1).max(20),
    country: Country,
    phone: Phone.optional(),
  })
  .strict();
export type AddressFields = z.infer<typeof AddressFieldsSchema>;

export const CreateAddressBodySchema = AddressFieldsSchema.extend({ isDefault: z.boolean().optional() }).strict().openapi('CreateAddressRequest');
export type CreateAddressInput = z.infer<typeof CreateAddressBodySchema>;

export const UpdateAddressBodySchema = z
  .object({
    label: z.string().trim().min(1).max(50).nullable().optional(),
    name: Name.optional(),
    line1: Line.optional(),
    line2: Line.nullable().optional(),
    city: z.string().trim().min(1).max(100).optional(),
    region: z.string().trim().min(1).max(100).nullable().optional(),
    postalCode: z.string().trim().min(1).max(20).optional(),
    country: Country.optional(),
    phone: Phone.nullable().optional(),
    isDefault: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'Send at least one field to change' })
  .openapi('UpdateAddressRequest');
export type UpdateAddressInput = z.infer<typeof UpdateAddressBodySchema>;

export const AddressSchema = AddressFieldsSchema.extend({
  id: z.string(),
  isDefault: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
}).openapi('Address');
export type Address = z.infer<typeof AddressSchema>;

export const AddressListSchema = z.object({ items: z.array(AddressSchema) }).openapi('AddressList');
export const AddressIdParamSchema = z.object({ id: AddressId.openapi({ param: { name: 'id', in: 'path' } }) });

export const EraseMeBodySchema = z
  .object({
    /** The account's password, so a stolen access token alone cannot erase an account. */
    password: z.string().min(1).max(PASSWORD_MAX_LENGTH * 4),
  })
  .strict()
  .openapi('EraseMeRequest');

export const ExportSchema = z
  .object({
    exportedAt: Timestamp,
    user: UserSchema.extend({ status: z.string(), lastLoginAt: Timestamp.nullable(), passwordChangedAt: Timestamp.nullable() }),
    addresses: z.array(AddressSchema),
    sessions: z.array(z.object({ id: z.string(), createdAt: Timestamp, expiresAt: Timestamp, status: z.string(), userAgent: z.string().nullable() })),
    auditTrail: z.array(z.object({ action: z.string(), outcome: z.string(), occurredAt: Timestamp, ip: z.string().nullable(), requestId: z.string().nullable() })),
    cart: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'Your active cart as `GET /v1/carts/{id}` shows it (a `Cart`), or null' }),
    wishlist: z.array(z.record(z.string(), z.unknown())).openapi({ description: 'Your wishlist entries as `GET /v1/me/wishlist` shows them (`WishlistItem`)' }),
    orders: z
      .array(z.record(z.string(), z.unknown()))
      .openapi({ description: 'Your orders as `GET /v1/orders/{id}` shows them (`Order`, shipping address included), oldest first' }),
  })
  .openapi('PersonalDataExport');
export type PersonalDataExport = z.infer<typeof ExportSchema>;

// ---------------------------------------------------------------------------------------------
// Admin: users and clients

export const AdminUserSchema = UserSchema.extend({
  status: z.enum(['active', 'disabled', 'erased']),
  email: z.string().nullable(),
  lastLoginAt: Timestamp.nullable(),
}).openapi('AdminUser');
export type AdminUser = z.infer<typeof AdminUserSchema>;

export const AdminUserListQuerySchema = z.object({
  role: RoleEnum.optional(),
  status: z.enum(['active', 'disabled', 'erased']).optional(),
  /** Email prefix (normalised, case-insensitive). */
  email: z.string().trim().min(1).max(320).optional(),
  limit: Limit,
  cursor: Cursor,
});
export type AdminUserListQuery = z.infer<typeof AdminUserListQuerySchema>;

export const AdminUserListSchema = z.object({ items: z.array(AdminUserSchema), nextCursor: z.string().nullable() }).openapi('AdminUserList');
export const UserIdParamSchema = z.object({ id: UserId.openapi({ param: { name: 'id', in: 'path' } }) });

export const AdminUpdateUserBodySchema = z
  .object({
    roles: z.array(z.enum(['customer', 'admin', 'warehouse_staff', 'pos_agent'])).min(1).max(4).optional(),
    warehouseIds: z.array(Ident).max(50).optional(),
    storeId: Ident.nullable().optional(),
    status: z.enum(['active', 'disabled']).optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'Send at least one field to change' })
  .openapi('AdminUpdateUserRequest');
export type AdminUpdateUserInput = z.infer<typeof AdminUpdateUserBodySchema>;

export const CreateClientBodySchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    role: z.enum(['pos_agent', 'warehouse_staff', 'integration']),
    scopes: z.array(ScopeEnum).max(SCOPES.length).optional(),
    warehouseIds: z.array(Ident).max(50).optional(),
    storeId: Ident.optional(),
    tokenTtlSeconds: z.number().int().min(60).max(3600).optional(),
  })
  .strict()
  .openapi('CreateClientRequest');
export type CreateClientInput = z.infer<typeof CreateClientBodySchema>;

export const ClientSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    roles: z.array(RoleEnum),
    scopes: z.array(z.string()),
    warehouseIds: z.array(z.string()),
    storeId: z.string().nullable(),
    tokenTtlSeconds: z.number().int(),
    createdAt: Timestamp,
    revokedAt: Timestamp.nullable(),
    lastUsedAt: Timestamp.nullable(),
  })
  .openapi('Client');
export type Client = z.infer<typeof ClientSchema>;

export const CreatedClientSchema = ClientSchema.extend({
  /** Shown once; only its hash is stored. */
  clientSecret: z.string(),
}).openapi('CreatedClient');
export type CreatedClient = z.infer<typeof CreatedClientSchema>;

export const ClientListSchema = z.object({ items: z.array(ClientSchema) }).openapi('ClientList');
export const ClientIdParamSchema = z.object({ id: ClientId.openapi({ param: { name: 'id', in: 'path' } }) });
