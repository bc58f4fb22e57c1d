import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, login } from './auth';
import { rows } from './db';
import { call, json } from './http';

/** Helpers of the order tests (workers project): fresh stocked products, the Stripe emulator. */
const config = readConfig(env);
export const STRIPE = config.STRIPE_API_BASE!;

let adminToken: string | undefined;
export async function admin() {
  adminToken ??= (await login('admin@agora.dev')).accessToken;
  return bearer(adminToken);
}

let staff: { token: string; warehouseId: string } | undefined;
export async function staffSession() {
  if (!staff) {
    const s = await login('staff@agora.dev');
    staff = { token: s.accessToken, warehouseId: s.user.warehouseIds[0]! };
  }
  return staff;
}

/**
 * A fresh product (one variant, its own SKU) with `units` in the staff member's warehouse only,
 * priced in the store's currency, or in `opts.currency` (e.g. INR: Razorpay's UPI and netbanking
 * take rupees only, and the store's currency in tests is USD).
 */
export async function stockedProduct(units: number, price = 2500, opts: { currency?: string } = {}) {
  const h = await admin();
  const { body: list } = await json('/v1/products?limit=1');
  const tag = crypto.randomUUID().slice(0, 8);
  const created = await json(
    '/v1/admin/products',
    jsonInit(
      'POST',
      {
        slug: `order-test-${tag}`,
        name: `Order Test ${tag}`,
        description: 'made by the orders tests',
        brandSlug: list.items[0].brand.slug,
        categorySlug: list.items[0].category.slug,
        variants: [{ sku: `ORD-${tag}`, name: 'Default', price, attributes: {} }],
      },
      h,
    ),
  );
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  const { warehouseId, token } = await staffSession();
  const sku = `ORD-${tag}`;
  const made = await json(
    `/v1/warehouses/${warehouseId}/stock/adjustments`,
    jsonInit('POST', { sku, delta: units, reason: 'receipt' }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }),
  );
  expect(made.res.status, JSON.stringify(made.body)).toBe(201);
  const productId = created.body.id as string;
  if (opts.currency) {
    // The admin API prices every product in the store's currency (workers/catalog save-product:
    // no currency in its input), so another currency is set in the database. Only the currency
    // changes; amounts stay in minor units.
    await rows(sql`update product_variants set currency = ${opts.currency} where product_id = ${productId}`);
    await rows(sql`update products set currency = ${opts.currency} where id = ${productId}`);
    // A no-op admin change bumps the catalog cache generation, so no cache layer answers the old
    // price (variants not sent: kept as stored, currency included).
    const bump = await json(`/v1/admin/products/${productId}`, jsonInit('PATCH', { description: `priced in ${opts.currency}` }, h));
    expect(bump.res.status, JSON.stringify(bump.body)).toBe(200);
    expect(bump.body.variants[0].price).toEqual({ amount: price, currency: opts.currency });
  }
  const currency = (opts.currency ?? created.body.variants[0].price.currency) as string;
  return { productId, variantId: created.body.variants[0].id as string, sku, warehouseId, price, currency };
}

export async function available(sku: string): Promise<number> {
  return (await json(`/v1/inventory/${sku}`)).body.available as number;
}

export async function emulator(path: string, init: RequestInit = {}) {
  const res = await fetch(`${STRIPE}${path}`, init);
  if (!res.ok) throw new Error(`${path} → ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
}

/** Posts the emulator's signed webhooks about `needle` (a PaymentIntent id) to our route, as Stripe would. */
export async function deliverWebhooks(needle: string, times = 1): Promise<string[]> {
  // Only this payment's webhooks: other test files share the emulator.
  const { deliveries: mine } = (await emulator(`/_emulator/webhooks?match=${encodeURIComponent(needle)}`)) as { deliveries: Array<{ type: string; headers: Record<string, string>; body: string }> };
  for (let i = 0; i < times; i++) {
    for (const d of mine) {
      const res = await call('/v1/payments/webhooks/stripe', { method: 'POST', headers: d.headers, body: d.body });
      expect(res.status, await res.clone().text()).toBe(200);
    }
  }
  return mine.map((d) => d.type);
}

export function paymentIntentOf(order: { payment: { clientAction: { type: string; clientSecret?: string } | null } }): string {
  const secret = order.payment.clientAction?.clientSecret;
  expect(secret, JSON.stringify(order.payment)).toBeTruthy();
  return secret!.split('_secret_')[0]!;
}

export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  let last = await read();
  while (!ok(last) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    last = await read();
  }
  return last;
}

/** Signs a Stripe event body as Stripe does, at time `t` (seconds): `t=…,v1=HMAC-SHA256(secret, "${t}.${body}")`. */
export async function signStripe(body: string, t = Math.floor(Date.now() / 1000)): Promise<Record<string, string>> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.STRIPE_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.${body}`)))].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}` };
}
