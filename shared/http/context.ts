import type { Config } from '../env';
import type { Role } from '../kernel/roles';
import type { TraceContext } from './trace';

/** The authenticated caller, from a verified access token (workers/auth). */
export interface Actor {
  kind: 'user' | 'client';
  /** A user id (`usr_…`) or a client id (`cli_…`). */
  id: string;
  roles: Role[];
  /** Granted scopes (clients only). */
  scopes: string[];
  /** The warehouses a warehouse_staff actor works in. */
  warehouseIds: string[];
  /** The store a pos_agent actor is bound to. */
  storeId: string | null;
  /** The login session (refresh-token family) of a user token. */
  sessionId: string | null;
}

/** Resolves the request's bearer token to an actor (null without one); throws UNAUTHENTICATED for a bad one. */
export type Authenticator = (authorization: string | undefined) => Promise<Actor | null>;

/** Fields of the one wide log event written per request; anything may add to it. */
export type LogFields = Record<string, unknown>;

export interface AppVariables {
  requestId: string;
  trace: TraceContext;
  log: LogFields;
  config: Config;
  actor: Actor | null;
  /** Set by the gateway; `requires(...)` calls it on routes that need a caller. */
  authenticate: Authenticator;
  /** Per-request service registry built by the gateway's composition root. */
  services: unknown;
}

export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}

/** What a service verb gets to know about the request that called it. */
export interface RequestMeta {
  requestId: string;
  traceparent: string;
  actor: Actor | null;
  /** The client's IP as Cloudflare saw it (`cf-connecting-ip`), for rate limits and the audit trail. */
  ip?: string | null;
  userAgent?: string | null;
}
