import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../kernel/app-error';
import type { Role, Scope } from '../kernel/roles';
import type { Actor, AppEnv, RequestMeta } from './context';

/**
 * The one authorisation check (docs/security.md). Every protected route declares the
 * permission it needs with `requires(...)` in its route definition; services then scope every
 * query by owner, warehouse or store with the helpers below.
 *
 * A permission lists the roles that hold it, and the scope that grants it to an integration
 * client. An integration holds no role rights: only scopes.
 */
interface Policy {
  roles: readonly Role[];
  scope?: Scope;
}

export const PERMISSIONS = {
  /** Own profile, addresses, export, erasure, wishlist, carts, orders: every signed-in person. */
  'self': { roles: ['customer', 'admin', 'warehouse_staff', 'pos_agent'] },
  'users:manage': { roles: ['admin'] },
  'users:read': { roles: ['admin'], scope: 'users:read' },
  'clients:manage': { roles: ['admin'] },
  'audit:read': { roles: ['admin'], scope: 'audit:read' },
  'catalog:write': { roles: ['admin'], scope: 'catalog:write' },
  'inventory:read': { roles: ['admin', 'warehouse_staff'], scope: 'inventory:read' },
  'inventory:write': { roles: ['admin', 'warehouse_staff'], scope: 'inventory:write' },
  /** Holding stock for a checkout or an order: the order service, admins, integrations with inventory:write. */
  'inventory:reserve': { roles: ['admin'], scope: 'inventory:write' },
  /** Shard configuration of hot SKUs. */
  'inventory:admin': { roles: ['admin'] },
  /** The event bus's dead letters: list, redrive, discard. */
  'events:manage': { roles: ['admin'] },
  /** Placing an order: for oneself (customers), or for a customer (POS agents, admins, integrations with orders:write). */
  'orders:place': { roles: ['customer', 'admin', 'pos_agent'], scope: 'orders:write' },
  /** Reading an order: one's own, a POS agent its store's, staff their warehouses' (the service scopes it). */
  'orders:read': { roles: ['customer', 'admin', 'pos_agent', 'warehouse_staff'], scope: 'orders:read' },
  /** Shipping an order from a warehouse one is bound to. */
  'orders:fulfil': { roles: ['admin', 'warehouse_staff'] },
  /** Money back to a customer, and searching every order. */
  'orders:refund': { roles: ['admin'] },
  'orders:admin': { roles: ['admin'], scope: 'orders:read' },
} as const satisfies Record<string, Policy>;

export type Permission = keyof typeof PERMISSIONS;

/** Whether `actor` holds `permission` (before any resource-level check). */
export function can(actor: Actor | null, permission: Permission): boolean {
  if (!actor) return false;
  const policy: Policy = PERMISSIONS[permission];
  if (actor.roles.includes('integration')) return policy.scope !== undefined && actor.scopes.includes(policy.scope);
  if (actor.kind === 'client' && policy.scope !== undefined && actor.scopes.includes(policy.scope)) return true;
  return actor.roles.some((r) => policy.roles.includes(r));
}

/** The caller, authenticating the bearer token on first use (null when there is none). */
export async function actorOf(c: Context<AppEnv>): Promise<Actor | null> {
  const known = c.get('actor');
  if (known) return known;
  const actor = await c.get('authenticate')(c.req.header('authorization'));
  if (actor) {
    c.set('actor', actor);
    c.get('log').actorKind = actor.kind;
  }
  return actor;
}

const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

/**
 * Route middleware: 401 without a valid bearer token, 403 when the caller lacks `permission`.
 * Runs before body validation, so an anonymous caller learns nothing about the payload rules.
 */
export function requires(permission: Permission): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = await actorOf(c);
    if (!actor) throw new AppError('UNAUTHENTICATED', 'This route needs an access token', { headers: BEARER_CHALLENGE });
    if (!can(actor, permission)) {
      c.get('log').denied = permission;
      throw new AppError('FORBIDDEN', `This needs the '${permission}' permission`);
    }
    await next();
  };
}

/** The actor of a request that passed `requires(...)`. */
export function mustActor(meta: Pick<RequestMeta, 'actor'>): Actor {
  if (!meta.actor) throw new AppError('UNAUTHENTICATED', 'This route needs an access token', { headers: BEARER_CHALLENGE });
  return meta.actor;
}

/** The signed-in user's id; a machine client has no "me". */
export function selfUserId(meta: Pick<RequestMeta, 'actor'>): string {
  const actor = mustActor(meta);
  if (actor.kind !== 'user') throw new AppError('FORBIDDEN', 'Only a signed-in user has a profile');
  return actor.id;
}

/** Warehouse-scoped work: admins anywhere, staff only in the warehouses they are bound to. */
export function assertWarehouseAccess(actor: Actor, warehouseId: string): void {
  if (actor.roles.includes('admin')) return;
  if (actor.roles.includes('integration')) return;
  if (!actor.warehouseIds.includes(warehouseId)) {
    throw new AppError('FORBIDDEN', `You are not bound to warehouse '${warehouseId}'`);
  }
}

/** Store-scoped work: admins anywhere, POS agents only at their store. */
export function assertStoreAccess(actor: Actor, storeId: string): void {
  if (actor.roles.includes('admin')) return;
  if (actor.storeId !== storeId) throw new AppError('FORBIDDEN', `You are not bound to store '${storeId}'`);
}

/** An IPv4 or IPv6 address as Cloudflare writes it; anything else is not trusted as a key. */
const IP = /^[0-9A-Fa-f:.]{2,45}$/;

/** Request metadata for a service verb. */
export function requestMeta(c: Context<AppEnv>): RequestMeta {
  return {
    requestId: c.get('requestId'),
    traceparent: c.req.header('traceparent') ?? '',
    actor: c.get('actor'),
    ip: clientIp(c.req.header('cf-connecting-ip')),
    userAgent: c.req.header('user-agent')?.slice(0, 256) ?? null,
  };
}

/**
 * `cf-connecting-ip` (Cloudflare sets it; locally anyone can). A value that is not an address
 * becomes `invalid`, one shared bucket, so garbage cannot dodge a per-IP limit or bloat its key.
 */
export function clientIp(header: string | undefined): string | null {
  if (header === undefined) return null;
  const value = header.trim();
  return IP.test(value) ? value : 'invalid';
}
