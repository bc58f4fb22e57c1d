import { DEFAULT_DEV_PASSWORD } from '../../scripts/dev-accounts.ts';
import { fileURLToPath } from 'node:url';
import { defineScenario, defineScriptReferences, fixedRate, saturation, target, type SetupContext } from '../lib/scenario.ts';

/**
 * Identity. Login is dominated by the password KDF by design (scrypt, about 165 ms of CPU), so
 * it is measured at the 10 logins/s next to the KDF alone; token verification is
 * measured as the difference between two requests to the same route that differ only in
 * whether a token is verified (see README.md).
 */
const PASSWORD = 'bench passphrase for shoppers 7';
const USERS = 40;
/** A distinct client IP per request, as real shoppers have (the per-IP limit is 30 logins/min). */
const ip = (seq: number) => `198.18.${(seq >> 8) & 255}.${seq & 255}`;

defineScenario({
  name: 'auth.login',
  title: 'login (POST /v1/auth/login)',
  tags: ['auth', 'login', 'identity'],
  setup: async (ctx) => {
    const emails: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const email = `bench-${Date.now().toString(36)}-${i}@example.com`;
      await ctx.json('/v1/auth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': `198.19.0.${i + 1}` },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      emails.push(email);
    }
    ctx.log(`${emails.length} shoppers registered`);
    return { emails };
  },
  request: (seq, { emails }: { emails: string[] }) => ({
    method: 'POST',
    path: '/v1/auth/login',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip(seq) },
    body: JSON.stringify({ email: emails[seq % emails.length], password: PASSWORD }),
  }),
  runs: [fixedRate(10, { duration: 20 })],
  warmup: 1,
  targets: [target.p99Under(250, { rate: 10 })],
});

defineScenario({
  name: 'auth.kdf',
  title: 'password KDF alone (argon2id 19 MiB, t=2 in workerd)',
  tags: ['auth', 'login', 'kdf', 'reference'],
  reference: true,
  script: fileURLToPath(new URL('../lib/kdf-worker.js', import.meta.url)),
  scriptModules: [
    ...['lib/argon2id.js', 'lib/blake2b.js'].map((f) => fileURLToPath(new URL(`../../node_modules/argon2id/${f}`, import.meta.url))),
    ...['argon2id-simd.wasm', 'argon2id-no-simd.wasm'].map((f) => fileURLToPath(new URL(`../../workers/auth/password/wasm/${f}`, import.meta.url))),
  ],
  request: { path: '/' },
  runs: [fixedRate(10, { duration: 20 }), saturation({ connections: 4, duration: 10 })],
  warmup: 1,
});

/**
 * Access tokens alone (lib/token-worker.ts): ES256 sign, verify of a token not seen before in
 * this isolate's memo, and refusal of a bad signature, each one per request in a bare Worker.
 * Read against the bare Worker of the same run: the difference is the operation's cost.
 */
defineScriptReferences('auth.token', fileURLToPath(new URL('../lib/token-worker.ts', import.meta.url)), ['auth', 'tokens'], [
  ['verify', 'verify an access token (ES256), alone'],
  ['sign', 'issue an access token (ES256), alone'],
  ['reject', 'refuse a badly signed access token, alone'],
]);

interface Tokens {
  customer: string;
}

async function customerToken(ctx: SetupContext): Promise<Tokens> {
  const session = await ctx.json<{ accessToken: string }>('/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': '198.19.1.1' },
    body: JSON.stringify({ email: 'shopper@agora.dev', password: DEFAULT_DEV_PASSWORD }),
  });
  return { customer: session.accessToken };
}

// The pair below hits one admin route with the same middleware and no database: without a
// token it stops at 401 before any verification; with a customer's token it verifies the
// ES256 signature and claims, then stops at 403. The difference is what verification adds.
defineScenario({
  name: 'auth.verify.none',
  title: 'admin route, no token (401, nothing verified)',
  tags: ['auth', 'verify'],
  request: { path: '/v1/admin/users' },
  expectStatus: [401],
  runs: [saturation(), fixedRate(1000)],
});

defineScenario<Tokens>({
  name: 'auth.verify.token',
  title: 'admin route, customer token (403 after ES256 verify)',
  tags: ['auth', 'verify'],
  setup: customerToken,
  request: (_seq, t) => ({ path: '/v1/admin/users', headers: { authorization: `Bearer ${t.customer}` } }),
  expectStatus: [403],
  runs: [saturation(), fixedRate(1000)],
});

defineScenario<Tokens>({
  name: 'auth.me',
  title: 'authenticated read (GET /v1/me)',
  tags: ['auth', 'me', 'identity', 'db'],
  setup: customerToken,
  request: (_seq, t) => ({ path: '/v1/me', headers: { authorization: `Bearer ${t.customer}` } }),
  runs: [fixedRate(100), saturation()],
});
