import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { registerAuthHandlers } from './auth.handlers';
import type { AuthService } from './service';

/** Identity's public surface: its service, its router, and what the composition root needs to build it. */
export { hasNoCredentials, makeAuthService, type AuthDeps, type AuthService } from './service';
export { loadSigningKeys } from './tokens/signing-keys';
export { KvRevocationList } from './adapters/kv-revocation-list';

export function authRouter(service: (c: Context<AppEnv>) => AuthService) {
  const app = createRouter();
  registerAuthHandlers(app, service);
  return app;
}
