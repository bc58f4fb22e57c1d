/**
 * The scheduled reconciliation through the Worker's `scheduled` handler: an order whose payment
 * succeeded at the provider, but whose webhook never arrived, ends PAID.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { json } from '../../test/support/http';
import { available, emulator, eventually, paymentIntentOf, stockedProduct } from '../../test/support/orders';
import worker from './index';

const db = () => new DbProvider(readConfig(env)).http();

describe('scheduled payment reconciliation', () => {
  it('settles an unpaid order whose webhook was lost by asking the provider', async () => {
    const p = await stockedProduct(3);
    const c = await newCustomer();
    const placed = await json('/v1/orders', jsonInit('POST', { items: [{ productId: p.productId, quantity: 1 }], paymentMethod: 'CARD' }, { ...bearer(c.accessToken), 'idempotency-key': crypto.randomUUID() }));
    const orderId = placed.body.orderId as string;
    await emulator(`/_emulator/payment_intents/${paymentIntentOf(placed.body)}/succeed`, { method: 'POST' });
    // The webhook is lost. Once the projection has the order, age it past the reconciliation delay.
    await eventually(
      async () => ((await db().execute(sql`select status from orders where id = ${orderId}`)) as unknown as { rows: unknown[] }).rows.length,
      (n) => n === 1,
    );
    await db().execute(sql`update orders set updated_at = now() - interval '1 hour' where id = ${orderId}`);

    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    const order = await json(`/v1/orders/${orderId}`, { headers: bearer(c.accessToken) });
    expect(order.body).toMatchObject({ status: 'PAID', payment: { status: 'captured' } });
    expect(await available(p.sku)).toBe(2);
  });
});
