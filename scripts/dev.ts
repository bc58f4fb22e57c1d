/**
 * `npm run dev`: the whole platform on this machine with nothing else installed.
 * Embedded Postgres (PGlite, kept in .data/pglite) or DATABASE_URL, the Neon bridge,
 * migrations, an idempotent seed, then `wrangler dev` on 127.0.0.1:8787. Ctrl-C stops all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runMigrations } from './migrate.ts';
import { seedDevAccounts } from './seed-dev-accounts.ts';
import { seedDatabase } from './seed.ts';
import { loadOrCreateLocalSecrets } from '../tools/local/dev-secrets.ts';
import { startLocalStack, type LocalStack } from '../tools/local/stack.ts';
import { startPaymentEmulators } from '../tools/local/emulators/index.ts';
import { STRIPE_WEBHOOK_EVENTS } from '../workers/payments/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 8787);
const DATA_DIR = `${ROOT}.data/pglite`;
const SECRETS_FILE = `${ROOT}.data/dev-secrets.json`;

const step = (msg: string) => console.log(`\x1b[36m[agora]\x1b[0m ${msg}`);

let stack: LocalStack | undefined;
let paymentEmulators: Awaited<ReturnType<typeof startPaymentEmulators>> | undefined;
let wrangler: ChildProcess | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    step('stopping…');
    if (wrangler && wrangler.exitCode === null) {
      const exited = new Promise((r) => wrangler!.once('exit', r));
      wrangler.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (wrangler.exitCode === null) wrangler.kill('SIGKILL');
    }
    await paymentEmulators?.stop().catch((err: unknown) => console.error(err));
    await stack?.stop().catch((err: unknown) => console.error(err));
    step('stopped');
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the Worker did not become healthy at ${url} within ${timeoutMs / 1000}s`);
}

async function main() {
  const started = Date.now();
  const external = process.env.DATABASE_URL;
  if (!external) mkdirSync(DATA_DIR, { recursive: true });
  step(external ? 'using the Postgres in DATABASE_URL' : `starting embedded Postgres (PGlite, data in .data/pglite)`);
  stack = await startLocalStack({
    databaseUrl: external,
    dataDir: external ? undefined : DATA_DIR,
    redisUrl: process.env.REDIS_URL ?? false,
    log: (m) => step(m),
  });

  step('applying migrations');
  await runMigrations(stack.databaseUrl);
  step('seeding the catalog (idempotent)');
  const seed = await seedDatabase(stack.databaseUrl);
  step(`${seed.inserted ? 'seeded' : 'already seeded'}: ${Object.entries(seed.counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);

  step('seeding the development accounts (one per role a person can hold) and the POS client');
  const dev = await seedDevAccounts(stack.databaseUrl, {
    password: process.env.AGORA_DEV_PASSWORD || undefined,
    clientSecret: process.env.AGORA_DEV_CLIENT_SECRET || undefined,
    appEnv: 'development',
  });
  const { secrets, created } = await loadOrCreateLocalSecrets(SECRETS_FILE);
  step(`${created ? 'generated' : 'using'} local signing and PII keys (.data/dev-secrets.json)`);

  const vars: Record<string, string> = {
    ...secrets,
    DATABASE_URL: stack.databaseUrl,
    NEON_WS_PROXY: stack.wsProxy,
    NEON_SQL_ENDPOINT: stack.sqlEndpoint,
  };
  // Carrier tracking webhook (POST /v1/shipping/webhooks/{carrier}): a fixed local secret, so
  // `npm run journey` can sign updates (scripts/journey.ts uses the same default).
  vars.CARRIER_WEBHOOK_SECRET = process.env.CARRIER_WEBHOOK_SECRET || 'agora-dev-carrier-webhook-secret';
  if (stack.upstash) {
    vars.UPSTASH_REDIS_REST_URL = stack.upstash.url;
    vars.UPSTASH_REDIS_REST_TOKEN = stack.upstash.token;
  }
  // Payments: the local Stripe and Razorpay emulators unless real keys are in the environment.
  const paymentVars = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_BASE', 'RAZORPAY_KEY_ID', 'RAZORPAY_KEY_SECRET', 'RAZORPAY_WEBHOOK_SECRET', 'RAZORPAY_API_BASE'];
  if (process.env.STRIPE_SECRET_KEY || process.env.RAZORPAY_KEY_ID) {
    for (const k of paymentVars) if (process.env[k]) vars[k] = process.env[k]!;
    step('payments: using the provider keys in the environment');
  } else {
    paymentEmulators = await startPaymentEmulators({
      webhookBase: `http://${HOST}:${PORT}`,
      stripePort: Number(process.env.STRIPE_EMULATOR_PORT ?? 12111),
      razorpayPort: Number(process.env.RAZORPAY_EMULATOR_PORT ?? 12112),
      // Subscribed as a deployment's Stripe webhook endpoint is (workers/payments/README.md).
      stripeEvents: STRIPE_WEBHOOK_EVENTS,
    });
    Object.assign(vars, paymentEmulators.vars);
    step(`payments: Stripe emulator ${paymentEmulators.stripe.url}, Razorpay emulator ${paymentEmulators.razorpay.url} (webhooks pushed to the Worker)`);
  }
  step(`starting the Worker (wrangler dev) on http://${HOST}:${PORT}`);
  wrangler = spawn(
    process.execPath,
    [
      `${ROOT}node_modules/wrangler/bin/wrangler.js`,
      'dev',
      '--ip',
      HOST,
      '--port',
      String(PORT),
      '--show-interactive-dev-session=false',
      ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
    ],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  );
  wrangler.on('exit', (code) => {
    if (!stopping) {
      console.error(`wrangler dev exited (${code})`);
      void shutdown(code ?? 1);
    }
  });

  await waitForHealth(`http://${HOST}:${PORT}/healthz`, 90_000);
  const base = `http://${HOST}:${PORT}`;
  console.log(`
\x1b[32mAgora is ready\x1b[0m in ${((Date.now() - started) / 1000).toFixed(1)}s
  API        ${base}/v1/products
  Docs       ${base}/docs
  OpenAPI    ${base}/openapi.json
  Health     ${base}/healthz
  Postgres   ${stack.embedded ? `PGlite (embedded) at ${stack.databaseUrl}` : 'DATABASE_URL'}

Development accounts (password: ${dev.password}):
${dev.accounts.map((a) => `  ${a.email.padEnd(20)} ${a.note}`).join('\n')}
POS client (OAuth2 client credentials at POST /v1/auth/token):
  client_id ${dev.posClient.id}  client_secret ${dev.posClient.secret}
Press Ctrl-C to stop everything.
`);
}

main().catch(async (err: unknown) => {
  console.error(err);
  await shutdown(1);
});
