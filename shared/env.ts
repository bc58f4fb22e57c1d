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

  // Identity (workers/auth/tokens/README.md, docs/security.md). AUTH_SIGNING_KEYS is checked by
  // the key loader, which never echoes key material into an error.
  AUTH_SIGNING_KEYS: z.string().min(1, 'AUTH_SIGNING_KEYS is required (see workers/auth/tokens/README.md)'),
  AUTH_ISSUER: z.string().url().default('https://agora.local'),
  AUTH_AUDIENCE: z.string().min(1).default('agora-api'),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),
  REFRESH_TOKEN_IDLE_TTL_SECONDS: z.coerce.number().int().min(300).max(90 * 86_400).default(30 * 86_400),
  REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS: z.coerce.number().int().min(300).max(365 * 86_400).default(90 * 86_400),
  /**
   * A rotated refresh token presented again this soon after its rotation gets the same successor
   * back (a retried refresh whose answer was lost), not a revoked session. 0 turns it off.
   */
  REFRESH_TOKEN_REPLAY_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  PII_ENCRYPTION_KEYS: PiiEncryptionKeysSecret,
  PII_INDEX_KEY: PiiIndexKeySecret,
  /** `on` (default) or `off`: switch every rate limit off, e.g. for a load test of the KDF alone. */
  RATE_LIMITS: z.enum(['on', 'off']).default('on'),

  // Cart (docs/cart.md). A cart nobody changed for CART_IDLE_TTL_SECONDS expires (cart.abandoned).
  CART_IDLE_TTL_SECONDS: z.coerce.number().int().min(60).max(365 * 86_400).default(30 * 86_400),
  /** Most units of one variant in one cart. */
  CART_MAX_LINE_QUANTITY: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Most units in one cart, all lines together. */
  CART_MAX_UNITS: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Most distinct lines (variants) in one cart. */
  CART_MAX_LINES: z.coerce.number().int().min(1).max(500).default(50),
  /** How long an add-to-cart availability read far above the line limit is reused per isolate, ms (0: every check live; workers/cart/availability-memo.ts). */
  CART_AVAILABILITY_MEMO_MS: z.coerce.number().int().min(0).max(10_000).default(1000),

  // Payments (workers/payments/README.md). Unset API bases mean the real providers; a provider
  // without keys is "not configured" (its methods and webhook answer 503).
  STRIPE_SECRET_KEY: z.string().optional(),
  STRIPE_WEBHOOK_SECRET: z.string().optional(),
  /** e.g. `http://127.0.0.1:12111` for the local emulator; unset = https://api.stripe.com. */
  STRIPE_API_BASE: optionalUrl,
  RAZORPAY_KEY_ID: z.string().optional(),
  RAZORPAY_KEY_SECRET: z.string().optional(),
  RAZORPAY_WEBHOOK_SECRET: z.string().optional(),
  /** Unset = https://api.razorpay.com. */
  RAZORPAY_API_BASE: optionalUrl,
  /** Timeout of one provider HTTP call. */
  PAYMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(8000),
  /** Retries after the first try, on retryable failures only (network, timeout, 5xx, 429). */
  PAYMENT_MAX_RETRIES: z.coerce.number().int().min(0).max(5).default(3),
  PAYMENT_RETRY_BASE_MS: z.coerce.number().int().min(0).max(10_000).default(250),
  /**
   * Wall time one provider call may take with its retries: no retry starts that could end past it
   * (docs/payments.md). A request that starts a payment (placing an order, a webhook's capture)
   * answers within about this long when the provider hangs; the order's alarm retries later.
   */
  PAYMENT_CALL_BUDGET_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Consecutive retryable failures that open a provider's circuit breaker. */
  PAYMENT_BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(100).default(5),
  /** How long an open breaker fails fast before letting one probe through (half-open). */
  PAYMENT_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),

  // Orders (docs/orders.md).
  /** An unpaid card/UPI order cancels itself (releasing its stock) this long after it was placed. */
  ORDER_PAYMENT_TIMEOUT_SECONDS: z.coerce.number().int().min(10).max(7 * 86_400).default(30 * 60),
  /** Shared secret of the carrier tracking webhook (hex HMAC-SHA256 of the raw body); unset = webhook answers 503. */
  CARRIER_WEBHOOK_SECRET: z.string().min(16).optional(),
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
