import { z } from 'zod';
import { PiiEncryptionKeysSecret, PiiIndexKeySecret } from './crypto/field-cipher';

/**
 * Typed configuration. Bindings come from `wrangler types` (worker-configuration.d.ts);
 * vars and secrets are parsed here once per isolate and env object.
 */
const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.string().url().optional())
  .optional();

export const ConfigSchema = z.object({
  APP_ENV: z.enum(['development', 'test', 'staging', 'production']).default('development'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  CORS_ORIGINS: z.string().default('*'),
  DATABASE_URL: z.string().url('DATABASE_URL must be a postgres:// URL'),
  /** Local only: host:port/path of the WebSocket-to-TCP bridge that stands in for Neon's proxy. */
  NEON_WS_PROXY: z.string().optional(),
  /** Local only: URL of the HTTP SQL endpoint that stands in for Neon's. */
  NEON_SQL_ENDPOINT: optionalUrl,
  UPSTASH_REDIS_REST_URL: optionalUrl,
  UPSTASH_REDIS_REST_TOKEN: z.string().optional(),
  CATALOG_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  CATALOG_GENERATION_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  STORE_CURRENCY: z.string().regex(/^[A-Z]{3}$/).default('USD'),

  // Identity (workers/auth/README.md). AUTH_SIGNING_KEYS is checked by the key loader, which
  // never echoes key material into an error.
  AUTH_SIGNING_KEYS: z.string().min(1, 'AUTH_SIGNING_KEYS is required (see workers/auth/tokens/README.md)'),
  AUTH_ISSUER: z.string().url().default('https://agora.local'),
  AUTH_AUDIENCE: z.string().min(1).default('agora-api'),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),
  REFRESH_TOKEN_IDLE_TTL_SECONDS: z.coerce.number().int().min(300).max(90 * 86_400).default(30 * 86_400),
  REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: z.coerce.number().int().min(300).max(365 * 86_400).default(90 * 86_400),
  PII_ENCRYPTION_KEYS: PiiEncryptionKeysSecret,
  PII_INDEX_KEY: PiiIndexKeySecret,
  /** `on` (default) or `off`: switch every rate limit off, e.g. for a load test of the KDF alone. */
  RATE_LIMITS: z.enum(['on', 'off']).default('on'),
});

export type Config = z.infer<typeof ConfigSchema>;

const cache = new WeakMap<object, Config>();

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the Worker's vars and secrets once per env object; throws ConfigError with every problem. */
export function readConfig(env: object): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid Worker configuration: ${problems}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
