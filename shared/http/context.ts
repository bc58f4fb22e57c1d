import type { Config } from '../env';
import type { TraceContext } from './trace';

/** The authenticated caller, when there is one (identity fills this in). */
export interface Actor {
  kind: 'user' | 'client';
  id: string;
  roles: string[];
}

/** Fields of the one wide log event written per request; anything may add to it. */
export type LogFields = Record<string, unknown>;

export interface AppVariables {
  requestId: string;
  trace: TraceContext;
  log: LogFields;
  config: Config;
  actor: Actor | null;
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
}
