import { z } from 'zod';

/** The platform's roles (API.md). What each may do: shared/http/authorize.ts. */
export const ROLES = ['customer', 'admin', 'warehouse_staff', 'pos_agent', 'integration'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/**
 * Scopes an integration client can be granted (RFC 6749 scope tokens). A scope names what a
 * machine may do; roles stay the only thing a person holds.
 */
export const SCOPES = [
  'catalog:read',
  'catalog:write',
  'inventory:read',
  'inventory:write',
  'orders:read',
  'orders:write',
  'users:read',
  'audit:read',
] as const;
export const ScopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof ScopeSchema>;
