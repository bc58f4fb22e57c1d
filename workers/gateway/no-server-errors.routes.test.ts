import { describe, expect, it } from 'vitest';
import { bearer, freshIp, newCustomer } from '../../test/support/auth';
import { call, json } from '../../test/support/http';
import { adminSession } from '../../test/support/products';

/**
 * "No 500 for anything a client can send", over every operation of the OpenAPI document: each
 * path parameter, query parameter and JSON body is replaced by hostile values (the NUL character,
 * overlong and non-ASCII text, broken JSON, wrong types) and sent anonymously, as a customer and
 * as an admin. Every answer must be below 500. Inputs are fixed (no randomness), so a failure
 * names a request that can be replayed.
 *
 * Left out: the operations that check the caller's password (`PATCH`/`DELETE /v1/me`), whose
 * refusals spend the account's failure budget (other tests sign in as these accounts), logout
 * (it would end the sessions the rest of the run uses), and provider webhooks, whose bodies are refused by their signature checks before anything else.
 */
interface Operation {
  method: string;
  path: string;
  params: { name: string; in: string }[];
  hasJsonBody: boolean;
}

const PATH_VALUES = ['%00', 'a%00b', 'x'.repeat(300), '%F0%9F%92%A5', '..%2F..%2Fetc', 'prd_00000000000000000000000000', '-1'];
const QUERY_VALUES = ['%00', '-1', '1e309', 'x'.repeat(3000), '%F0%9F%92%A5', '%5B%5D', 'true'];
const BODIES = [
  '{"a":',
  'null',
  '[]',
  '"text"',
  '{"x":"a\\u0000b"}',
  JSON.stringify({ items: [{ sku: 'x'.repeat(500), quantity: -1 }], name: 'é'.repeat(5000) }),
  '{"__proto__":{"admin":true},"constructor":{"prototype":{}}}',
];
const SKIPPED = new Set(['PATCH /v1/me', 'DELETE /v1/me', 'POST /v1/auth/logout']);

async function operations(): Promise<Operation[]> {
  const { body } = await json<{ paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content?: Record<string, unknown> } }>> }>('/openapi.json');
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(body.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const m = method.toUpperCase();
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(m) || path.includes('/webhooks/') || SKIPPED.has(`${m} ${path}`)) continue;
      ops.push({ method: m, path, params: op.parameters ?? [], hasJsonBody: Boolean(op.requestBody?.content?.['application/json']) });
    }
  }
  return ops;
}

function fill(path: string, value: string): string {
  return path.replace(/\{[^}]+\}/g, value);
}

describe('no client input gets a 5xx', () => {
  it('every operation of the OpenAPI document, with hostile path, query and body values', { timeout: 240_000 }, async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThan(40);
    const customer = await newCustomer('Fuzz Target');
    const { token: adminToken } = await adminSession();
    const actors: Record<string, Record<string, string>> = { anonymous: {}, customer: bearer(customer.accessToken), admin: bearer(adminToken) };
    const serverErrors: string[] = [];
    let sent = 0;
    const send = async (actor: string, method: string, url: string, body?: string) => {
      const headers: Record<string, string> = { ...actors[actor], 'cf-connecting-ip': freshIp(), 'idempotency-key': `fuzz-${sent % 5}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await call(url, { method, headers, ...(body !== undefined ? { body } : {}) });
      sent++;
      if (res.status >= 500) serverErrors.push(`${actor} ${method} ${url.slice(0, 160)} ${body?.slice(0, 80) ?? ''} → ${res.status} ${(await res.text()).slice(0, 200)}`);
      else await res.body?.cancel();
    };
    for (const actor of Object.keys(actors)) {
      for (const op of ops) {
        const hasPathParams = op.path.includes('{');
        const query = op.params.filter((p) => p.in === 'query').map((p) => p.name);
        const requests: [string, string | undefined][] = [];
        for (const [i, value] of PATH_VALUES.entries()) {
          if (!hasPathParams && i > 0) break;
          const q = query.length ? `?${query.map((n) => `${n}=${QUERY_VALUES[i % QUERY_VALUES.length]}`).join('&')}` : '';
          requests.push([`${fill(op.path, value)}${q}`, op.hasJsonBody ? '{}' : undefined]);
        }
        if (op.hasJsonBody) for (const body of BODIES) requests.push([fill(op.path, 'prd_00000000000000000000000000'), body]);
        for (const [url, body] of requests) await send(actor, op.method, url, body);
      }
    }
    expect(sent).toBeGreaterThan(500);
    expect(serverErrors).toEqual([]);
  });
});
