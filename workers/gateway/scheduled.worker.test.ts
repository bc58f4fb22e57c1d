/**
 * The Worker's `scheduled` handler: an order whose payment succeeded at the provider, but whose
 * webhook never arrived, ends PAID; refresh successors past their replay grace are forgotten.
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

describe('the scheduled run', () => {
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

  it('forgets the sealed successor of a refresh token once its replay grace has passed', async () => {
    const c = await newCustomer();
    const refreshed = await json('/v1/auth/refresh', jsonInit('POST', { refreshToken: c.refreshToken }));
    expect(refreshed.res.status).toBe(200);
    const sealed = async () =>
      ((await db().execute(sql`select successor_sealed as s from refresh_tokens where user_id = ${c.user.id} and status = 'rotated'`)) as unknown as { rows: { s: string | null }[] }).rows[0]!.s;
    const runCron = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '*/5 * * * *' }), env, ctx);
      await waitOnExecutionContext(ctx);
    };
    await runCron();
    expect(await sealed()).toBeTruthy(); // still inside the grace
    await db().execute(sql`update refresh_tokens set rotated_at = now() - interval '1 hour' where user_id = ${c.user.id} and status = 'rotated'`);
    await runCron();
    expect(await sealed()).toBeNull();
    // The old token is now plain reuse: the session ends.
    expect((await json('/v1/auth/refresh', jsonInit('POST', { refreshToken: c.refreshToken }))).res.status).toBe(401);
    expect((await json('/v1/auth/refresh', jsonInit('POST', { refreshToken: refreshed.body.refreshToken }))).res.status).toBe(401);
  });
});
