import type { TestProject } from 'vitest/node';
import { generateLocalSecrets } from '../tools/local/dev-secrets.ts';
import { startTestStack } from './stack-client.ts';
import { startPaymentEmulators } from '../tools/local/emulators/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    wsProxy: string;
    sqlEndpoint: string;
    databaseKind: string;
    upstashUrl: string;
    upstashToken: string;
    authSigningKeys: string;
    piiEncryptionKeys: string;
    piiIndexKey: string;
    stripeApiBase: string;
    stripeSecretKey: string;
    stripeWebhookSecret: string;
    razorpayApiBase: string;
    razorpayKeyId: string;
    razorpayKeySecret: string;
    razorpayWebhookSecret: string;
  }
}

/**
 * Starts Postgres (PGlite or a scratch database on DATABASE_URL), migrates and seeds it; with
 * REDIS_URL set, also the Upstash REST bridge, so the Worker runs with its Upstash layers.
 */
export default async function setup(project: TestProject) {
  const { info, stop } = await startTestStack(process.env.REDIS_URL ? ['--seed', '--redis'] : ['--seed']);
  project.provide('databaseUrl', info.databaseUrl);
  project.provide('wsProxy', info.wsProxy);
  project.provide('sqlEndpoint', info.sqlEndpoint);
  project.provide('databaseKind', info.kind);
  project.provide('upstashUrl', info.upstash?.url ?? '');
  project.provide('upstashToken', info.upstash?.token ?? '');
  // Fresh keys per run: tokens and encrypted fields from another run never verify or decrypt here.
  const secrets = await generateLocalSecrets('test-1');
  project.provide('authSigningKeys', secrets.AUTH_SIGNING_KEYS);
  project.provide('piiEncryptionKeys', secrets.PII_ENCRYPTION_KEYS);
  project.provide('piiIndexKey', secrets.PII_INDEX_KEY);
  // Stripe and Razorpay emulators (tools/local/emulators): the Worker reaches them over fetch.
  const payments = await startPaymentEmulators();
  for (const [k, v] of Object.entries(payments.provide)) project.provide(k as keyof typeof payments.provide, v);
  return async () => {
    await payments.stop();
    await stop();
  };
}
