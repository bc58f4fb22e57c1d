/**
 * Malformed input generated from the served OpenAPI document (/openapi.json), over every operation
 * it lists, as a role allowed to call it (admin for /v1/admin and reservations, warehouse staff for
 * /v1/warehouses and fulfilments, a fresh customer otherwise) and anonymously. API.md: "errors are
 * application/problem+json with ... a stable UPPER_SNAKE code, requestId ... Never a 500 for bad
 * input." Each answer is checked for: no 5xx; every 4xx a problem+json with `code` and `requestId`;
 * the status declared for that operation in the document; no 2xx for input the document forbids.
 * Then the state the requests aimed at is compared with what it was before (nothing half-written).
 *
 * Complements no-server-errors (5xx only, fixed hostile values), nul-guard (U+0000) and
 * api-contract (hand-written contract cases): here the values come from each operation's schema
 * (types, bounds, enums, patterns, required headers) and the whole answer is checked.
 */
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/env';
import { bearer, freshIp, jsonInit, newCustomer, STRONG_PASSWORD } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { call, json } from '../../test/support/http';
import { admin, eventually, signStripe, staffSession, stockedProduct } from '../../test/support/orders';

const config = readConfig(env);

type Schema = { $ref?: string; type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; pattern?: string; minLength?: number; maxLength?: number; minimum?: number; maximum?: number; minItems?: number; maxItems?: number; additionalProperties?: unknown; format?: string; anyOf?: Schema[] };
type Param = { name: string; in: string; required?: boolean; schema?: Schema };
interface Op { key: string; method: string; path: string; params: Param[]; body?: Schema; form: boolean; bodyRequired: boolean; declared: Set<number>; role: Actor }
type Actor = 'anonymous' | 'customer' | 'admin' | 'staff' | 'leaver';

let doc: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, Schema> } };
const ops: Op[] = [];
const tokens: Partial<Record<Actor, Record<string, string>>> = { anonymous: {} };
const F = {} as { sku: string; productId: string; variantId: string; warehouseId: string; otherWh: string; addressId: string; cartId: string; itemId: string; orderId: string; orderItemId: string; victimId: string; tag: string; email: string; customerId: string; brand: string; category: string };

// ------------------------------------------------------------------ what every answer is checked for
const undocumented = new Map<string, string>();
const suspicious: string[] = [];
let broken: string[] = [];

/** One request. `garbage`: the document forbids this input, so a 2xx is suspicious. */
async function hit(op: Op, actor: Actor, input: string, url: string, init: RequestInit & { headers?: Record<string, string> }, garbage = true): Promise<number | null> {
  // A write the document allows would change what the last tests compare: only malformed writes are sent.
  if (!garbage && op.method !== 'GET' && !op.path.includes('/webhooks/')) return null;
  const headers = { 'cf-connecting-ip': freshIp(), ...tokens[actor], ...init.headers };
  const tag = `${op.method} ${url.length > 140 ? `${url.slice(0, 140)}…(${url.length})` : url} [${actor}] ${input}`;
  let res: Response;
  try {
    res = await call(url, { ...init, headers });
  } catch (e) {
    broken.push(`${tag} → threw ${String(e).slice(0, 120)}`);
    return null;
  }
  const text = await res.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const s = res.status;
  if (s >= 500) broken.push(`${tag} → ${s} ${text.slice(0, 160)}`);
  else if (s >= 400 && op.path !== '/v1/auth/token') {
    // RFC 6749 gives the token endpoint its own error format; every other 4xx is a problem.
    const ct = res.headers.get('content-type');
    if (ct !== 'application/problem+json' || typeof body?.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(body.code) || typeof body.requestId !== 'string' || body.requestId !== res.headers.get('x-request-id') || body.status !== s)
      broken.push(`${tag} → ${s} not a problem: ${ct} ${text.slice(0, 160)}`);
  }
  if (s < 500 && !op.declared.has(s) && !undocumented.has(`${op.key} → ${s}`)) undocumented.set(`${op.key} → ${s}`, `${tag} ${body?.code ?? ''}`);
  if (garbage && s < 300) suspicious.push(`${tag} → ${s}`);
  return s;
}

/** Runs the jobs `width` at a time. */
async function pool(jobs: Array<() => Promise<unknown>>, width = 12) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) await jobs[next++]!();
  }));
}

/** Each operation as its allowed role and anonymously (the webhooks are checked on their own). */
function each(make: (op: Op, actor: Actor) => Array<() => Promise<unknown>>, filter: (op: Op) => boolean) {
  return ops.filter((o) => filter(o) && !o.path.includes('/webhooks/')).flatMap((o) => [...make(o, o.role), ...make(o, 'anonymous')]);
}

// ------------------------------------------------------------------ values from the document
const resolve = (s: Schema | undefined): Schema => {
  while (s?.$ref) s = doc.components.schemas[s.$ref.split('/').pop()!];
  return s?.anyOf ? resolve(s.anyOf[0]) : s ?? {};
};
const typeOf = (s: Schema) => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type) ?? (s.properties ? 'object' : 'string');
const nullable = (s: Schema) => Array.isArray(s.type) && s.type.includes('null');
const zeros = (n: number) => '0'.repeat(n);

/** A value the schema accepts (ids of this run's fixtures where a pattern asks for one). */
function sample(s0: Schema | undefined, name = ''): unknown {
  const s = resolve(s0);
  if (s.enum) return s.enum[0];
  switch (typeOf(s)) {
    case 'integer':
    case 'number':
      return Math.max(s.minimum ?? 1, 1);
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: Math.max(s.minItems ?? 0, 1) }, () => sample(s.items));
    case 'object':
      return Object.fromEntries((s.required ?? []).map((k) => [k, sample(s.properties?.[k], k)]));
  }
  const candidates = [...(name === 'sku' ? [F.sku] : []), 'fuzz-value', 'IN', '+919876543210', F.cartId, F.otherWh, F.productId, `adr_${zeros(26)}`, `rsv_${zeros(32)}`, `trf_${zeros(32)}`, 'KB-1042-BLK'];
  const re = s.pattern ? new RegExp(s.pattern) : null;
  const id = s.pattern?.match(/^\^([a-z]+)_\[[^\]]+\]\{(\d+)\}\$$/);
  if (id) return `${id[1]}_${zeros(Number(id[2]))}`;
  return candidates.find((c) => c && (!re || re.test(c)) && c.length >= (s.minLength ?? 0) && c.length <= (s.maxLength ?? 1e9)) ?? 'x';
}

/** The path with each parameter a fixture of this run (or a well-formed unknown id). */
function validParam(op: Op, p: Param): string {
  const known: Record<string, string> = {
    '/v1/me/addresses/{id}': F.addressId, '/v1/admin/users/{id}': F.victimId, '/v1/admin/products/{id}': F.productId, '/v1/products/{id}': F.productId,
    '/v1/orders/{id}': F.orderId, '/v1/admin/orders/{id}': F.orderId, '/v1/carts/{id}': F.cartId, '/v1/warehouses/{id}': F.warehouseId, '/v1/me/wishlist/{productId}': F.productId,
    '/v1/inventory/{sku}': F.sku, '/v1/admin/inventory/{sku}': F.sku, '/v1/carts/{id}/items/{itemId}': F.itemId, '/v1/admin/dead-letters/{id}': `dlt_${zeros(26)}`,
  };
  const prefix = Object.keys(known).filter((k) => op.path.startsWith(k)).sort((a, b) => b.length - a.length)[0];
  if (prefix?.endsWith(`{${p.name}}`)) return known[prefix]!;
  return sample(p.schema, p.name) as string;
}
const urlOf = (op: Op, override: Record<string, string> = {}) => op.path.replace(/\{([^}]+)\}/g, (_, n: string) => override[n] ?? validParam(op, op.params.find((p) => p.name === n)!));

/** A body the schema accepts, made to aim at this run's fixtures. */
function baseBody(op: Op): Record<string, unknown> {
  const overrides: Record<string, () => Record<string, unknown>> = {
    'POST /v1/auth/register': () => ({ email: F.email, password: STRONG_PASSWORD }),
    'POST /v1/auth/login': () => ({ email: `nobody-${F.tag}@example.com`, password: 'not the password' }),
    'PATCH /v1/me': () => ({ name: 'Renamed By Fuzz' }),
    'DELETE /v1/me': () => ({ password: 'not the password' }),
    'POST /v1/admin/products': () => ({ slug: `fuzz-${F.tag}`, name: 'Fuzz', brandSlug: F.brand, categorySlug: F.category, variants: [{ sku: `FUZZ-${F.tag}`, name: 'One', price: 100 }] }),
    'PATCH /v1/admin/users/{id}': () => ({ status: 'disabled' }),
    'POST /v1/admin/clients': () => ({ name: `fuzz-${F.tag}`, role: 'integration' }),
    'POST /v1/carts/{id}/items': () => ({ productId: F.productId, variantId: F.variantId, quantity: 1 }),
    'POST /v1/me/wishlist': () => ({ productId: F.productId }),
    'POST /v1/me/wishlist/{productId}/move-to-cart': () => ({ variantId: F.variantId, quantity: 1 }),
    'POST /v1/orders': () => ({ items: [{ productId: F.productId, variantId: F.variantId, quantity: 1 }], paymentMethod: 'COD' }),
    'POST /v1/orders/{id}/cancel': () => ({ reason: 'fuzz' }),
    'POST /v1/orders/{id}/fulfillments': () => ({ warehouseId: F.warehouseId, carrier: 'acme', trackingNumber: `FZ-${F.tag}`, items: [{ itemId: F.orderItemId, quantity: 1 }] }),
    'POST /v1/warehouses/{id}/stock/transfers': () => ({ sku: F.sku, toWarehouseId: F.otherWh, quantity: 1 }),
  };
  return overrides[op.key]?.() ?? (sample(op.body) as Record<string, unknown>);
}

const needsKey = (op: Op) => op.params.some((p) => p.in === 'header' && p.name === 'idempotency-key');
const keyRequired = (op: Op) => op.params.some((p) => p.in === 'header' && p.name === 'idempotency-key' && p.required);
/** A request carrying `body` (JSON text unless a content type is given), with a valid key where the operation takes one. */
const send = (op: Op, body: string | undefined, headers: Record<string, string> = {}): RequestInit & { headers: Record<string, string> } => ({
  method: op.method,
  headers: { ...(body !== undefined ? { 'content-type': op.form ? 'application/x-www-form-urlencoded' : 'application/json' } : {}), ...(needsKey(op) ? { 'idempotency-key': `fz-${crypto.randomUUID()}` } : {}), ...headers },
  ...(body !== undefined ? { body } : {}),
});
const validBody = (op: Op) => (op.body ? (op.form ? 'grant_type=client_credentials&client_id=nobody&client_secret=x' : JSON.stringify(baseBody(op))) : undefined);

/** JSON text with raw number tokens JSON.stringify cannot write (1e309, -0, 2^53+1). */
const RAW = (t: string) => `@@RAW${t}@@`;
const text = (v: unknown) => JSON.stringify(v).replace(/"@@RAW(.*?)@@"/g, '$1');
const deep = (open: string, leaf: string, close: string, n: number) => open.repeat(n) + leaf + close.repeat(n);

/** [label, wrong value, forbidden by the schema?] for one property. */
function wrongValues(s0: Schema): Array<[string, unknown, boolean]> {
  const s = resolve(s0);
  const out: Array<[string, unknown, boolean]> = [['null', null, !nullable(s)], ['object', { a: 1 }, typeOf(s) !== 'object']];
  if (s.enum) return [...out, ['unknown enum', 'NOT_A_VALUE', true], ['other case', String(s.enum[0]).toUpperCase() === s.enum[0] ? String(s.enum[0]).toLowerCase() : String(s.enum[0]).toUpperCase(), true], ['number', 42, true]];
  switch (typeOf(s)) {
    case 'integer':
    case 'number': {
      const min = s.minimum ?? -Infinity;
      const max = s.maximum ?? Infinity;
      return [...out, ['numeric string', '1', true], ['1.5', 1.5, typeOf(s) === 'integer'], ['1e309', RAW('1e309'), true], ['-0', RAW('-0'), min > 0], ['2^53+1', RAW('9007199254740993'), true], ['2^31', 2 ** 31, 2 ** 31 > max], ['-1', -1, -1 < min], ...(Number.isFinite(max) ? [['max+1', max + 1, true] as [string, unknown, boolean]] : []), ['boolean', true, true]];
    }
    case 'boolean':
      return [...out, ['"true"', 'true', true], ['1', 1, true]];
    case 'array':
      return [...out, ['string', 'x', true], ['empty', [], (s.minItems ?? 0) > 0], ['[null]', [null], true], ['maxItems+1', Array.from({ length: (s.maxItems ?? 1000) + 1 }, () => sample(s.items)), true]];
    case 'object':
      return [...out, ['array', [], true], ['string', 'x', true], ['nested 3000 deep', JSON.parse(deep('{"a":', '1', '}', 3000)), true]];
  }
  return [...out, ['number', 12345, true], ['array', ['x'], true], ['100 KB', 'x'.repeat(100_000), (s.maxLength ?? Infinity) < 100_000], ['empty', '', (s.minLength ?? 0) > 0 || !!s.pattern], ['lone surrogate', '\ud800', false]];
}

/** Every property mutation of the operation's body, nested objects and array items included. */
function mutations(s0: Schema, base: any, at: string, depth = 0): Array<[string, unknown, boolean]> {
  const s = resolve(s0);
  if (typeOf(s) !== 'object' || !s.properties || depth > 2) return [];
  const out: Array<[string, unknown, boolean]> = s.additionalProperties === false ? [[`${at}.unknownProperty`, { ...base, zzzUnknown: 1 }, true]] : [];
  for (const [k, p] of Object.entries(s.properties)) {
    for (const [label, v, bad] of wrongValues(p)) out.push([`${at}.${k} = ${label}`, { ...base, [k]: v }, bad]);
    const rp = resolve(p);
    const child = base?.[k] ?? sample(rp);
    if (typeOf(rp) === 'object') for (const [l, v, bad] of mutations(rp, child, `${at}.${k}`, depth + 1)) out.push([l, { ...base, [k]: v }, bad]);
    if (typeOf(rp) === 'array' && Array.isArray(child)) for (const [l, v, bad] of mutations(rp.items!, child[0], `${at}.${k}[0]`, depth + 1)) out.push([l, { ...base, [k]: [v, ...child.slice(1)] }, bad]);
  }
  return out;
}

// ------------------------------------------------------------------ fixtures and the state before
async function snapshot() {
  const c = tokens.customer!;
  const ex = (await json('/v1/me/export', { headers: c })).body;
  return {
    user: ex.user,
    addresses: ex.addresses,
    cart: ex.cart && { lines: ex.cart.lines, version: ex.cart.version, status: ex.cart.status },
    wishlist: ex.wishlist,
    orders: ex.orders.map((o: any) => ({ id: o.id ?? o.orderId, status: o.status, shipments: o.shipments?.length, refunds: o.refunds?.length })),
    stock: (await json(`/v1/inventory/${F.sku}`)).body,
    ledger: (await rows(sql`select count(*)::int as n from stock_adjustments where sku = ${F.sku}`).catch(() => [{ n: 'n/a' }]))[0],
    product: (await json(`/v1/products/${F.productId}`)).body,
    victim: (await json(`/v1/admin/users/${F.victimId}`, { headers: tokens.admin })).body,
    registered: (await json(`/v1/admin/users?email=${encodeURIComponent(F.email)}`, { headers: tokens.admin })).body.items,
    createdProduct: (await call(`/v1/products/fuzz-${F.tag}`)).status,
    clients: (await json('/v1/admin/clients', { headers: tokens.admin })).body.items?.filter((x: any) => x.name === `fuzz-${F.tag}`),
  };
}
let before: Awaited<ReturnType<typeof snapshot>>;

beforeAll(async () => {
  doc = (await (await call('/openapi.json')).json()) as typeof doc;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase();
      const content = op.requestBody?.content ?? {};
      const role: Actor = ['POST /v1/auth/logout', 'DELETE /v1/me'].includes(`${method} ${path}`) ? 'leaver'
        : path.startsWith('/v1/admin/') || path.includes('/reservations') ? 'admin' : path.startsWith('/v1/warehouses/') || path.endsWith('/fulfillments') ? 'staff' : 'customer';
      ops.push({ key: `${method} ${path}`, method, path, params: op.parameters ?? [], body: content['application/json']?.schema ?? content['application/x-www-form-urlencoded']?.schema, form: !content['application/json'] && !!content['application/x-www-form-urlencoded'], bodyRequired: !!op.requestBody?.required, declared: new Set(Object.keys(op.responses).map(Number)), role });
    }
  }
  const [adminH, staff, customer, leaver, victim, p] = await Promise.all([admin(), staffSession(), newCustomer('Fuzz Target'), newCustomer('Fuzz Leaver'), newCustomer('Fuzz Victim'), stockedProduct(50, 1234)]);
  Object.assign(tokens, { admin: adminH, staff: bearer(staff.token), customer: bearer(customer.accessToken), leaver: bearer(leaver.accessToken) });
  const ref = (await json('/v1/products?limit=1')).body.items[0];
  const tag = crypto.randomUUID().slice(0, 8);
  Object.assign(F, { sku: p.sku, productId: p.productId, variantId: p.variantId, warehouseId: p.warehouseId, victimId: victim.user.id, customerId: customer.user.id, tag, email: `fuzz-${tag}@example.com`, brand: ref.brand.slug, category: ref.category.slug });
  F.otherWh = (await rows<{ id: string }>(sql`select id from warehouses where id <> ${p.warehouseId} order by id limit 1`))[0]!.id;
  const c = tokens.customer!;
  F.addressId = (await json('/v1/me/addresses', jsonInit('POST', { name: 'Fuzz', line1: '1 Main St', city: 'Pune', postalCode: '411001', country: 'IN' }, c))).body.id;
  const placed = await json('/v1/orders', jsonInit('POST', { items: [{ productId: p.productId, variantId: p.variantId, quantity: 2 }], paymentMethod: 'COD' }, { ...c, 'idempotency-key': crypto.randomUUID() }));
  expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
  Object.assign(F, { orderId: placed.body.orderId, orderItemId: placed.body.items[0].itemId });
  F.cartId = (await json('/v1/carts', { method: 'POST', headers: c })).body.id;
  F.itemId = (await json(`/v1/carts/${F.cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 1 }, c))).body.lines[0].itemId;
  expect((await call('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, c))).status).toBe(201);
  for (const v of Object.values(F)) expect(v, JSON.stringify(F)).toBeTruthy();
  // The order and the stock reach the export and the catalog through the queue: wait for both.
  before = await eventually(snapshot, (s) => s.orders.length === 1 && s.product.inStock === true);
  expect(before.orders, 'the fixture order never reached the export').toHaveLength(1);
}, 120_000);

// ------------------------------------------------------------------ the malformations
describe('malformed requests generated from /openapi.json: never a 5xx, every 4xx a problem+json', () => {
  it('the document lists the operations this file walks', () => {
    expect(ops.length).toBeGreaterThan(50);
    expect(ops.filter((o) => o.body).length).toBeGreaterThan(20);
  });

  it('path parameters: garbage, too long, unicode, percent-encoded slashes, broken escapes', { timeout: 120_000 }, async () => {
    broken = [];
    const VALUES = ['garbage!', 'x'.repeat(2048), '%F0%9F%98%80%E2%80%AE', 'a%2Fb', '..%2F..%2Fv1%2Fme', '%2F', '%25', '%', '%ZZ', '%C0%AF', '%E0%A4%A', '%FF', '__proto__', '1e309', '-0', '%20', 'A'.repeat(65)];
    await pool(each((op, actor) => op.params.filter((p) => p.in === 'path').flatMap((p) => VALUES.map((v) => () => hit(op, actor, `path ${p.name}=${v.slice(0, 20)}`, urlOf(op, { [p.name]: v }), send(op, validBody(op)), op.path !== '/v1/products/{id}' || v.length > 120))), (o) => o.path.includes('{')));
    expect(broken).toEqual([]);
  });

  it('query parameters: wrong type, negative, huge, repeated, unknown enum values, impossible dates, garbage cursors', { timeout: 120_000 }, async () => {
    broken = [];
    const query = (p: Param): Array<[string, boolean]> => {
      const s = resolve(p.schema);
      if (s.enum) return [['NOT_A_VALUE', true], [String(s.enum[0]).toUpperCase() === s.enum[0] ? String(s.enum[0]).toLowerCase() : String(s.enum[0]).toUpperCase(), true], ['', true], [`${s.enum[0]}&${p.name}=${s.enum[1]}`, true]];
      if (typeOf(s) === 'integer') {
        const min = s.minimum ?? -Infinity;
        return [['abc', true], ['-1', -1 < min], ['0', 0 < min], ['1.5', true], ['1e309', true], ['99999999999999999999', true], ['2147483648', 2147483648 > (s.maximum ?? Infinity)], ['0x10', true], ['NaN', true], ['Infinity', true], [`1&${p.name}=2`, true]];
      }
      if (s.format === 'date-time') return [['yesterday', true], ['2024-13-01T00:00:00Z', true], ['0000-01-01T00:00:00Z', false], ['9999-12-31T23:59:59-23:59', false], ['275760-09-13T00:00:00Z', true]];
      if (p.name === 'cursor') return [['garbage', true], ['x'.repeat(3000), true], [btoa('{"p":{},"f":"x"}'), true], [btoa('null'), true], ['%', true]];
      return [['x'.repeat(5000), (s.maxLength ?? Infinity) < 5000], ['%FF%FE', false], [`a&${p.name}=b`, false], ['%', false]];
    };
    await pool(each((op, actor) => [
      () => hit(op, actor, 'unknown query param', `${urlOf(op)}?zzz=1`, send(op, validBody(op)), false),
      ...op.params.filter((p) => p.in === 'query').flatMap((p) => query(p).map(([v, bad]) => () => hit(op, actor, `query ${p.name}=${v.slice(0, 40)}`, `${urlOf(op)}?${p.name}=${v}`, send(op, validBody(op)), bad))),
    ], (o) => o.params.some((p) => p.in === 'query')));
    expect(broken).toEqual([]);
  });

  it('JSON bodies that are not an object: broken JSON, arrays, null, numbers, strings, deep nesting', { timeout: 120_000 }, async () => {
    broken = [];
    const BODIES = ['', '{"a":', 'nope', "{'a':1}", '{"a":1,}', '{"a":1}{"b":2}', 'NaN', '[]', '[{}]', 'null', '0', '1e309', '"text"', 'true', deep('{"a":', '1', '}', 20_000), deep('[', '1', ']', 20_000), '{"__proto__":{"isAdmin":true}}'];
    await pool(each((op, actor) => BODIES.map((b) => () => hit(op, actor, `body ${JSON.stringify(b.slice(0, 24))}${b.length > 24 ? `…(${b.length})` : ''}`, urlOf(op), send(op, b, { 'content-type': 'application/json' }), b !== '' || op.bodyRequired)), (o) => !!o.body && !o.form));
    expect(broken).toEqual([]);
  });

  it('JSON bodies with each property wrong: types, 100 KB strings, 1e309, -0, 2^53+1, 2^31, bounds, unknown enums, extra keys', { timeout: 180_000 }, async () => {
    broken = [];
    await pool(each((op, actor) => mutations(op.body!, baseBody(op), 'body').map(([label, b, bad]) => () => hit(op, actor, label, urlOf(op), send(op, text(b)), bad)), (o) => !!o.body && !o.form), 16);
    expect(broken).toEqual([]);
  });

  it('content types: a valid body as text/plain, form, multipart, XML or none; a JSON body where none is taken; over 1 MiB', { timeout: 120_000 }, async () => {
    broken = [];
    const TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', 'application/json, text/plain', null];
    await pool(each((op, actor) => {
      const body = validBody(op) ?? '{"unexpected":true}';
      const big = JSON.stringify({ pad: 'x'.repeat(1_100_000) });
      if (!op.body) return [() => hit(op, actor, 'JSON body where none is taken', urlOf(op), send(op, body, { 'content-type': 'application/json' }), false)];
      const jobs = [() => hit(op, actor, 'body over 1 MiB', urlOf(op), send(op, big, op.form ? {} : { 'content-type': 'application/json' }), true)];
      return [...jobs, ...TYPES.filter((t) => !(op.form && t?.startsWith('application/x-www'))).map((t) => () => {
        const init = send(op, body);
        if (t) init.headers['content-type'] = t;
        else delete init.headers['content-type'];
        return hit(op, actor, `content-type ${t}`, urlOf(op), init, true);
      })];
    }, (o) => o.method !== 'GET'));
    expect(broken).toEqual([]);
  });

  it('Idempotency-Key: missing where required, empty, over-long, characters outside its pattern', { timeout: 60_000 }, async () => {
    broken = [];
    await pool(each((op, actor) => {
      const s = resolve(op.params.find((p) => p.name === 'idempotency-key')!.schema);
      const re = new RegExp(s.pattern ?? '.*');
      const keys: Array<[string, string | null]> = [['missing', null], ['empty', ''], ['101 chars', 'k'.repeat(101)], ['256 chars', 'k'.repeat(256)], ['8000 chars', 'k'.repeat(8000)], ['space', 'has space'], ['slash', 'a/b'], ['quote', '"k"']];
      return keys.map(([label, k]) => () => {
        const init = send(op, validBody(op));
        if (k === null) delete init.headers['idempotency-key'];
        else init.headers['idempotency-key'] = k;
        const bad = k === null ? keyRequired(op) : k.length > (s.maxLength ?? Infinity) || !re.test(k.trim()) || k.trim().length < 1;
        return hit(op, actor, `Idempotency-Key ${label}`, urlOf(op), init, bad);
      });
    }, needsKey));
    expect(broken).toEqual([]);
  });
});

// ------------------------------------------------------------------ webhooks
describe('webhooks: a bad signature is a 400/401 problem+json; a signed body that is not an event is a 4xx, never a 5xx', () => {
  const hex = async (secret: string, raw: string) => {
    const k = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return [...new Uint8Array(await crypto.subtle.sign('HMAC', k, new TextEncoder().encode(raw)))].map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  const BODIES = ['{"a":', 'null', '[]', '{}', '"x"', '{"id":123,"type":["x"],"data":null}', '{"id":"evt_fz","type":"payment_intent.succeeded","data":{"object":{"id":42,"metadata":"x","amount":"1"}}}', '{"id":"evt_fz2","type":"charge.refunded","data":{"object":null}}', `{"id":"evt_fz3","object":"event","type":"payment_intent.succeeded","created":${Math.floor(Date.now() / 1000)},"data":{"object":{"id":"pi_fz","object":"payment_intent"}}}`, '{"event":"payment.captured","payload":{"payment":{"entity":null}},"created_at":"x"}', '{"event":"payment.captured"}', '{"event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_fz","order_id":"order_fz","amount":"x","currency":7}}}}', '{"event":42}', '{"eventId":"e","trackingNumber":"NOPE","status":"in_transit","occurredAt":"0000-01-01T00:00:00Z"}', '{"eventId":["e"],"trackingNumber":1,"status":"lost","occurredAt":"soon"}'];
  const op = (path: string) => ops.find((o) => o.path === path)!;

  it('bad signatures: missing, malformed, stale, overlong, another secret', { timeout: 60_000 }, async () => {
    broken = [];
    const body = '{"id":"evt_x","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x"}}}';
    const t = Math.floor(Date.now() / 1000);
    const stripe = [null, 'nope', 't=abc,v1=zz', `t=${t}`, `v1=${zeros(64)}`, `t=99999999999999999999,v1=${zeros(64)}`, `t=${t},v1=${zeros(64)},v1=${'g'.repeat(64)}`, `t=${t},v1=${'a'.repeat(8000)}`, (await signStripe(body, t - 86_400))['stripe-signature']!];
    const razor = [null, 'nope', zeros(64), 'Z'.repeat(64), 'a'.repeat(8000), await hex('another secret', body)];
    const carrier = [null, 'nope', zeros(64), 'Z'.repeat(64), 'a'.repeat(199), 'a'.repeat(201), await hex('another secret', body)];
    const jobs: Array<() => Promise<unknown>> = [];
    const sig = (o: Op, header: string, values: Array<string | null>, url = o.path) => {
      for (const v of values) for (const b of [body, ...BODIES.slice(0, 3)]) {
        jobs.push(async () => {
          const input = `${header}=${String(v).slice(0, 24)} body ${b.slice(0, 16)}`;
          const s = await hit(o, 'anonymous', input, url, { method: 'POST', headers: { 'content-type': 'application/json', ...(v === null ? {} : { [header]: v }) }, body: b });
          if (s !== null && s < 500 && ![400, 401].includes(s)) broken.push(`POST ${url} ${input} → ${s}, expected 400/401`);
        });
      }
    };
    sig(op('/v1/payments/webhooks/stripe'), 'stripe-signature', stripe);
    sig(op('/v1/payments/webhooks/razorpay'), 'x-razorpay-signature', razor);
    sig(op('/v1/shipping/webhooks/{carrier}'), 'x-carrier-signature', carrier, '/v1/shipping/webhooks/acme');
    for (const c of ['A', 'x'.repeat(41), '%2F', '..%2Fstripe', '%F0%9F%92%A5']) jobs.push(() => hit(op('/v1/shipping/webhooks/{carrier}'), 'anonymous', `carrier=${c.slice(0, 20)}`, `/v1/shipping/webhooks/${c}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-carrier-signature': zeros(64) }, body }));
    await pool(jobs, 8);
    expect(broken).toEqual([]);
  });

  const signed: Record<string, [string, (b: string) => Promise<Record<string, string>>]> = {
    stripe: ['/v1/payments/webhooks/stripe', (b) => signStripe(b)],
    razorpay: ['/v1/payments/webhooks/razorpay', async (b) => ({ 'content-type': 'application/json', 'x-razorpay-signature': await hex(config.RAZORPAY_WEBHOOK_SECRET!, b), 'x-razorpay-event-id': `ev_fz_${crypto.randomUUID()}` })],
    carrier: ['/v1/shipping/webhooks/acme', async (b) => ({ 'content-type': 'application/json', 'x-carrier-signature': await hex(config.CARRIER_WEBHOOK_SECRET!, b) })],
  };
  for (const [provider, [url, sign]] of Object.entries(signed)) {
    it(`${provider}: correctly signed bodies that are not well-formed events are refused with a 4xx`, { timeout: 60_000 }, async () => {
      broken = [];
      const o = op(provider === 'carrier' ? '/v1/shipping/webhooks/{carrier}' : url);
      await pool(BODIES.map((b) => async () => hit(o, 'anonymous', `signed ${b.slice(0, 90)}`, url, { method: 'POST', headers: await sign(b), body: b }, false)), 8);
      expect(broken).toEqual([]);
    });
  }
});

// ------------------------------------------------------------------ ill-formed text
describe('a JSON string holding a lone surrogate (ill-formed UTF-16, not storable as UTF-8 text)', () => {
  it('PATCH /v1/me and POST /v1/me/addresses: refused with 400, or kept exactly as sent', async () => {
    const c = await newCustomer('Surrogate Probe');
    const h = { ...bearer(c.accessToken), 'content-type': 'application/json' };
    const esc = (v: unknown) => JSON.stringify(v);
    const patched = await call('/v1/me', { method: 'PATCH', headers: h, body: '{"name":"a\\ud800b"}' });
    const name = (await json('/v1/me', { headers: h })).body.name;
    const added = await call('/v1/me/addresses', { method: 'POST', headers: h, body: '{"name":"N","line1":"x\\udc00y","city":"C","postalCode":"1","country":"IN"}' });
    const line1 = (await json('/v1/me/addresses', { headers: h })).body.items?.[0]?.line1 ?? null;
    expect({ patch: patched.status, name: esc(name), add: added.status, line1: esc(line1) }).toEqual({
      patch: patched.status === 200 ? 200 : 400, name: esc(patched.status === 200 ? 'a\ud800b' : 'Surrogate Probe'),
      add: added.status === 201 ? 201 : 400, line1: esc(added.status === 201 ? 'x\udc00y' : null),
    });
  });
});

// ------------------------------------------------------------------ what the answers added up to
describe('after every malformed request', () => {
  it('nothing was written: the customer, the fixtures, the stock, the victim account, no product, user or client made', async () => {
    // Lone surrogates are shown escaped (the runner cannot print them).
    const clean = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/\\ud[89a-f][0-9a-f]{2}/gi, (m) => `\\${m}`));
    expect(clean(await snapshot())).toEqual(clean(before));
  });

  it('every status answered is declared for its operation in /openapi.json', () => {
    expect([...undocumented].map(([k, example]) => `${k}   e.g. ${example}`).sort()).toEqual([]);
  });

  it('no 2xx for input the document forbids', () => {
    expect(suspicious.sort()).toEqual([]);
  });
});
