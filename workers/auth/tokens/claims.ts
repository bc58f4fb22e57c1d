import { z } from 'zod';

/**
 * Who a token speaks for, and the rules that bind roles to what they need (README.md, "Claims").
 * One set of rules for both directions: `issueAccessToken` refuses to sign claims that break
 * them and `verifyAccessToken` refuses tokens whose (signed) claims break them.
 */
import { ROLES, RoleSchema, type Role } from '../../../shared/kernel/roles';

export { ROLES, RoleSchema, type Role };

export const TOKEN_KINDS = ['user', 'client'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** Roles a machine client (POST /v1/auth/token) may hold: never a shopper's, never an administrator's. */
export const CLIENT_ROLES: readonly Role[] = ['warehouse_staff', 'pos_agent', 'integration'];

/** Bounds that keep a token small enough for a header and cheap to parse. */
export const MAX_WAREHOUSES = 50;
export const MAX_SCOPES = 50;

/** Ids of subjects, warehouses, stores and sessions: our prefixed ids and other printable, header-safe ids. */
const Ident = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_:.@-]+$/, 'must be letters, digits or _ : . @ -');

/** An RFC 6749 scope-token, kept to a conventional alphabet (`orders:read`, `catalog.write`). */
const Scope = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.:/-]*$/, 'must be lower-case letters, digits or _ . : / - and start with a letter');

/** What the issuer states about the subject (camelCase: the shape services see). */
export const AccessClaimsSchema = z
  .object({
    sub: Ident,
    kind: z.enum(TOKEN_KINDS),
    roles: z.array(RoleSchema).min(1).max(ROLES.length),
    scopes: z.array(Scope).max(MAX_SCOPES).default([]),
    warehouseIds: z.array(Ident).max(MAX_WAREHOUSES).default([]),
    storeId: Ident.optional(),
    /** The login session (refresh-token family) this token was minted for, when there is one. */
    sessionId: Ident.optional(),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const has = (r: Role) => c.roles.includes(r);
    if (new Set(c.roles).size !== c.roles.length) issue('roles', 'roles must not repeat');
    if (new Set(c.scopes).size !== c.scopes.length) issue('scopes', 'scopes must not repeat');
    if (new Set(c.warehouseIds).size !== c.warehouseIds.length) issue('warehouseIds', 'warehouse ids must not repeat');

    if (has('warehouse_staff') !== c.warehouseIds.length > 0) {
      issue('warehouseIds', 'warehouse_staff needs at least one warehouse, and only warehouse_staff has warehouses');
    }
    if (has('pos_agent') !== (c.storeId !== undefined)) {
      issue('storeId', 'pos_agent needs a store, and only pos_agent has a store');
    }
    if (has('integration')) {
      if (c.roles.length !== 1) issue('roles', 'integration is acting by scopes only and holds no other role');
      if (c.scopes.length === 0) issue('scopes', 'integration needs at least one scope');
    }
    if (c.kind === 'user') {
      if (has('integration')) issue('roles', 'integration is a client role');
      if (c.scopes.length > 0) issue('scopes', 'user tokens carry roles, not scopes');
    } else {
      for (const r of c.roles) if (!CLIENT_ROLES.includes(r)) issue('roles', `a client cannot hold ${r}`);
    }
  });

export type AccessClaimsInput = z.input<typeof AccessClaimsSchema>;
export type AccessClaims = z.output<typeof AccessClaimsSchema>;

/**
 * The JWT payload as signed (RFC 9068 names where one exists: `scope` is a space-separated
 * string, `roles` an array; snake_case for ours). Unknown claims are ignored.
 */
const NumericDate = z.number().int().nonnegative();
export const AccessTokenPayloadSchema = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  sub: z.string(),
  iat: NumericDate,
  /**
   * Ours: the issue time in milliseconds (`iat` has whole seconds). The revocation list compares
   * with it, so a token issued in the same second as a revocation, but after it, stands. Absent in
   * tokens signed before 0.3.12: those count from the start of their `iat` second.
   */
  iat_ms: z.number().int().nonnegative().optional(),
  nbf: NumericDate.optional(),
  exp: NumericDate,
  jti: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  kind: z.enum(TOKEN_KINDS),
  roles: z.array(z.string()),
  scope: z.string().max(MAX_SCOPES * 65).optional(),
  warehouse_ids: z.array(z.string()).optional(),
  store_id: z.string().optional(),
  sid: z.string().optional(),
});
export type AccessTokenPayload = z.infer<typeof AccessTokenPayloadSchema>;

/** Our claims in JWT form (the registered claims are added by the signer). */
export function claimsToPayload(c: AccessClaims): Record<string, unknown> {
  const payload: Record<string, unknown> = { kind: c.kind, roles: c.roles };
  if (c.scopes.length) payload.scope = c.scopes.join(' ');
  if (c.warehouseIds.length) payload.warehouse_ids = c.warehouseIds;
  if (c.storeId !== undefined) payload.store_id = c.storeId;
  if (c.sessionId !== undefined) payload.sid = c.sessionId;
  return payload;
}

/** Back from JWT form; the result still has to pass AccessClaimsSchema. */
export function payloadToClaims(p: AccessTokenPayload): AccessClaimsInput {
  return {
    sub: p.sub,
    kind: p.kind,
    roles: p.roles as Role[],
    scopes: p.scope === undefined ? [] : p.scope.split(' '),
    warehouseIds: p.warehouse_ids ?? [],
    storeId: p.store_id,
    sessionId: p.sid,
  };
}
