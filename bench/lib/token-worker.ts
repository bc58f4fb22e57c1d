/**
 * Access tokens alone, as the gateway signs and verifies them (workers/auth/tokens): ES256 through
 * jose on WebCrypto, the claim rules, nothing cached. `GET /sign` issues one token, `GET /verify`
 * verifies one (a different token each time, 256 in turn, so no per-isolate memo can answer),
 * `GET /reject` refuses one with a bad signature. No framework, database or limiter: the floor
 * under authenticated requests (the gateway also remembers tokens it has verified, which this
 * does not). Bundled by bench/lib/worker.ts (bundleScript).
 */
import { issueAccessToken, verifyAccessToken } from '../../workers/auth/tokens/access-token';
import type { AccessClaimsInput } from '../../workers/auth/tokens/claims';
import { formatSigningKeysSecret, generateSigningKey, loadSigningKeys, type SigningKeySet } from '../../workers/auth/tokens/signing-keys';

const ISSUER = 'https://bench.agora.dev';
const AUDIENCE = 'agora-api';
const STAFF: AccessClaimsInput = {
  sub: 'usr_01jd4s7k2m8q9r0t1v2w3x4y5z',
  kind: 'user',
  roles: ['warehouse_staff', 'customer'],
  warehouseIds: ['wh_01jd4s7k2m8q9r0t1v2w3x4y5z'],
  sessionId: 'fam_01jd4s7k2m8q9r0t1v2w3x4y5z',
};
const POOL = 256;

let ready: Promise<{ keys: SigningKeySet; tokens: string[]; bad: string }> | undefined;
let next = 0;

async function prepare() {
  const key = await generateSigningKey('2026-11-bench');
  const keys = await loadSigningKeys(formatSigningKeysSecret({ active: key.kid, keys: [key] }));
  const opts = { keys, issuer: ISSUER, audience: AUDIENCE };
  const tokens: string[] = [];
  for (let i = 0; i < POOL; i++) tokens.push((await issueAccessToken(STAFF, opts)).token);
  return { keys, tokens, bad: `${tokens[0]!.slice(0, -4)}AAAA` };
}

const ok = (body: string) => new Response(body, { headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request: Request): Promise<Response> {
    const { keys, tokens, bad } = await (ready ??= prepare());
    const opts = { keys, issuer: ISSUER, audience: AUDIENCE };
    const path = new URL(request.url).pathname;
    if (path === '/sign') {
      const issued = await issueAccessToken(STAFF, opts);
      return ok(`{"length":${issued.token.length}}`);
    }
    if (path === '/verify') {
      const verified = await verifyAccessToken(tokens[next++ % POOL]!, opts);
      return ok(`{"sub":"${verified.id}"}`);
    }
    if (path === '/reject') {
      const refused = await verifyAccessToken(bad, opts).then(
        () => false,
        () => true,
      );
      return refused ? ok('{"refused":true}') : new Response('accepted a bad signature', { status: 500 });
    }
    return new Response('not found', { status: 404 });
  },
};
