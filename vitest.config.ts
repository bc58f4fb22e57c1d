import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/**
 * Two projects:
 * - `node`: pure logic, repositories/services against real Postgres, local tooling, the seed.
 * - `workers`: routes, Durable Objects and consumers inside workerd through the real Worker.
 * Both use PGlite by default and the server in DATABASE_URL when it is set.
 */
const WORKER_TESTS = ['**/*.routes.test.ts', '**/*.do.test.ts', '**/*.consumer.test.ts', '**/*.worker.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'workers/**/*.test.ts', 'durable-objects/**/*.test.ts', 'scripts/**/*.test.ts', 'tools/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...WORKER_TESTS],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                APP_ENV: 'test',
                LOG_LEVEL: 'warn',
                DATABASE_URL: inject('databaseUrl'),
                NEON_WS_PROXY: inject('wsProxy'),
                NEON_SQL_ENDPOINT: inject('sqlEndpoint'),
                UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
                UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
                AUTH_SIGNING_KEYS: inject('authSigningKeys'),
                AUTH_ISSUER: 'https://agora.test',
                PII_ENCRYPTION_KEYS: inject('piiEncryptionKeys'),
                PII_INDEX_KEY: inject('piiIndexKey'),
                STRIPE_API_BASE: inject('stripeApiBase'),
                STRIPE_SECRET_KEY: inject('stripeSecretKey'),
                STRIPE_WEBHOOK_SECRET: inject('stripeWebhookSecret'),
                RAZORPAY_API_BASE: inject('razorpayApiBase'),
                RAZORPAY_KEY_ID: inject('razorpayKeyId'),
                RAZORPAY_KEY_SECRET: inject('razorpayKeySecret'),
                RAZORPAY_WEBHOOK_SECRET: inject('razorpayWebhookSecret'),
                CARRIER_WEBHOOK_SECRET: 'test-carrier-webhook-secret-0123456789',
                // The order saga's breaker test waits out one cooldown.
                PAYMENT_BREAKER_COOLDOWN_MS: '1500',
                PAYMENT_TIMEOUT_MS: '1000',
                PAYMENT_RETRY_BASE_MS: '10',
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: WORKER_TESTS,
          // Spies on shared bindings (env.EVENTS.sendBatch) must not outlive their test: the
          // Durable Objects and the queue consumer use the same binding objects.
          restoreMocks: true,
          globalSetup: ['test/global-setup.workers.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
