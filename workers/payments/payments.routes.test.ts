/**
 * Webhook routes through the real Worker, fed by the emulators' signed deliveries: valid,
 * bad signature, duplicate, out of order, unknown type. The payments come from the real
 * strategies (stripe SDK in workerd, Razorpay over fetch) against the emulators.
 */
import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DbProvider } from '../../shared/db/client';
import { paymentWebhookEvents } from '../../shared/db/schema';
import { readConfig } from '../../shared/env';
import { newId } from '../../shared/kernel/ids';
import { call, json, problem } from '../../test/support/http';
import { paymentsConfig, strategyFor } from './payments.factory';
import { DrizzleWebhookEventStore } from './payments.repo';
import type { PaymentEvent } from './payments.schemas';

const config = readConfig(env);
const db = new DbProvider(config).http();
const STRIPE = config.STRIPE_API_BASE!;
const RAZORPAY = config.RAZORPAY_API_BASE!;

interface Delivery {
  eventId: string;
  type: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

async function control(base: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, init);
  if (!res.ok) throw new Error(`${path} → ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
}

/** The emulator's pending webhooks that concern `needle` (our attempt or provider ref). */
async function deliveries(base: string, needle: string): Promise<Delivery[]> {
  // Only this payment's webhooks: other test files share the emulator.
  const { deliveries } = (await control(base, `/_emulator/webhooks?match=${encodeURIComponent(needle)}`)) as { deliveries: Delivery[] };
  return deliveries;
}

const post = (d: Delivery) => json(d.path, { method: 'POST', headers: d.headers, body: d.body });

const rows = (attemptOrRef: { attemptId?: string; providerRef?: string }) =>
  db
    .select()
    .from(paymentWebhookEvents)
    .where(
      attemptOrRef.attemptId ? eq(paymentWebhookEvents.attemptId, attemptOrRef.attemptId) : eq(paymentWebhookEvents.providerRef, attemptOrRef.providerRef!),
    );

async function cardPayment(opts: { token?: string; capture?: 'manual' | 'automatic' } = {}) {
  const attemptId = newId('paymentAttempt');
  const orderId = newId('order');
  const r = await strategyFor('CARD', paymentsConfig(config)).begin({
    attemptId,
    orderId,
    amount: { amount: 2599, currency: 'USD' },
    method: 'CARD',
    captureMethod: opts.capture ?? 'automatic',
  });
  expect(r.status).toBe('requires_action');
  return { attemptId, orderId, providerRef: r.providerRef };
}

describe('POST /v1/payments/webhooks/stripe', () => {
  it('verifies, records and delivers payment_intent.succeeded; payment_intent.created is acknowledged and ignored', async () => {
    const p = await cardPayment();
    await control(STRIPE, `/_emulator/payment_intents/${p.providerRef}/succeed`, { method: 'POST' });
    const ds = await deliveries(STRIPE, p.attemptId);
    // charge.succeeded carries no metadata, so it is not among the deliveries mentioning the attempt.
    expect(ds.map((d) => d.type)).toEqual(['payment_intent.created', 'payment_intent.succeeded']);
    const acks = [];
    for (const d of ds) {
      const { res, body } = await post(d);
      expect(res.status).toBe(200);
      acks.push(body);
    }
    expect(acks[0]).toEqual({ received: true, duplicate: false, ignored: true, delivered: false });
    expect(acks[1]).toEqual({ received: true, duplicate: false, ignored: false, delivered: true });
    const recorded = await rows({ attemptId: p.attemptId });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ provider: 'stripe', type: 'succeeded', providerType: 'payment_intent.succeeded', orderId: p.orderId, providerRef: p.providerRef });
    expect(recorded[0]!.deliveredAt).toBeInstanceOf(Date);
    expect(recorded[0]!.event).toMatchObject({ id: `stripe:${ds[1]!.eventId}`, amount: { amount: 2599, currency: 'USD' }, attemptId: p.attemptId });
  });

  it('a bad or missing signature is a 400 problem and nothing is recorded', async () => {
    const p = await cardPayment();
    await control(STRIPE, `/_emulator/payment_intents/${p.providerRef}/fail`, { method: 'POST' });
    const failed = (await deliveries(STRIPE, p.attemptId)).find((d) => d.type === 'payment_intent.payment_failed')!;
    const tampered = failed.body.replace('"amount": 2599', '"amount": 1');
    await problem(failed.path, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: failed.headers, body: tampered });
    const { 'stripe-signature': _, ...unsigned } = failed.headers;
    await problem(failed.path, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: unsigned, body: failed.body });
    const forged = { ...failed.headers, 'stripe-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` };
    await problem(failed.path, 400, 'WEBHOOK_SIGNATURE_INVALID', { method: 'POST', headers: forged, body: failed.body });
    expect(await rows({ attemptId: p.attemptId })).toHaveLength(0);
    // The genuine delivery still goes through, as a normalised failure.
    expect((await post(failed)).res.status).toBe(200);
    const [row] = await rows({ attemptId: p.attemptId });
    expect(row!.event).toMatchObject({ type: 'failed', failure: { code: 'card_declined', declineCode: 'generic_decline' } });
  });

  it('duplicate deliveries are recorded and delivered once', async () => {
    // Faults are scoped to this payment: other test files share the emulator.
    const p = await cardPayment();
    await control(STRIPE, '/_emulator/faults', { method: 'POST', body: JSON.stringify({ duplicateWebhooks: p.providerRef }) });
    await control(STRIPE, `/_emulator/payment_intents/${p.providerRef}/succeed`, { method: 'POST' });
    const succeeded = (await deliveries(STRIPE, p.attemptId)).filter((d) => d.type === 'payment_intent.succeeded');
    expect(succeeded).toHaveLength(2);
    expect(succeeded[0]!.eventId).toBe(succeeded[1]!.eventId);
    const first = await post(succeeded[0]!);
    const second = await post(succeeded[1]!);
    expect(first.body).toMatchObject({ duplicate: false, delivered: true });
    expect(second.res.status).toBe(200);
    expect(second.body).toMatchObject({ duplicate: true, delivered: false });
    const recorded = await rows({ attemptId: p.attemptId });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.deliveryAttempts).toBe(1);
  });

  it('out-of-order deliveries (succeeded before authorized) are both recorded and delivered', async () => {
    const p = await cardPayment({ capture: 'manual' });
    await control(STRIPE, '/_emulator/faults', { method: 'POST', body: JSON.stringify({ outOfOrderWebhooks: p.providerRef }) });
    await control(STRIPE, `/_emulator/payment_intents/${p.providerRef}/succeed`, { method: 'POST' });
    await strategyFor('CARD', paymentsConfig(config)).capture({ attemptId: p.attemptId, method: 'CARD', providerRef: p.providerRef, amount: { amount: 2599, currency: 'USD' } });
    await control(STRIPE, `/_emulator/webhooks/flush?match=${p.providerRef}`, { method: 'POST' });
    const ds = (await deliveries(STRIPE, p.attemptId)).filter((d) => d.type !== 'payment_intent.created');
    expect(ds.map((d) => d.type)).toEqual(['payment_intent.succeeded', 'payment_intent.amount_capturable_updated']);
    for (const d of ds) expect((await post(d)).body).toMatchObject({ duplicate: false, ignored: false, delivered: true });
    const recorded = await rows({ attemptId: p.attemptId });
    expect(recorded.map((r) => r.type).sort()).toEqual(['authorized', 'succeeded']);
    expect(recorded.every((r) => r.deliveredAt !== null)).toBe(true);
  });
});

describe('POST /v1/payments/webhooks/razorpay', () => {
  async function upi() {
    const attemptId = newId('paymentAttempt');
    const orderId = newId('order');
    const r = await strategyFor('UPI', paymentsConfig(config)).begin({ attemptId, orderId, amount: { amount: 149900, currency: 'INR' }, method: 'UPI' });
    return { attemptId, orderId, providerRef: r.providerRef };
  }

  it('verifies the HMAC of the raw body, records payment.authorized / payment.captured / order.paid once each', async () => {
    const p = await upi();
    await control(RAZORPAY, `/_emulator/orders/${p.providerRef}/pay`, { method: 'POST', body: JSON.stringify({ method: 'upi', outcome: 'captured' }) });
    const ds = await deliveries(RAZORPAY, p.providerRef);
    expect(ds.map((d) => d.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid']);
    for (const d of ds) expect((await post(d)).body).toMatchObject({ received: true, ignored: false, delivered: true });
    // Redelivery of the same event id is a duplicate.
    expect((await post(ds[1]!)).body).toMatchObject({ duplicate: true });
    const recorded = await rows({ providerRef: p.providerRef });
    expect(recorded.map((r) => r.providerType).sort()).toEqual(['order.paid', 'payment.authorized', 'payment.captured']);
    expect(recorded.every((r) => r.attemptId === p.attemptId && r.orderId === p.orderId)).toBe(true);
  });

  it('rejects a bad signature with 400 and acknowledges an event type we do not use', async () => {
    const p = await upi();
    await control(RAZORPAY, `/_emulator/orders/${p.providerRef}/pay`, { method: 'POST', body: JSON.stringify({ outcome: 'failed' }) });
    const [failed] = await deliveries(RAZORPAY, p.providerRef);
    expect(failed!.type).toBe('payment.failed');
    await problem(failed!.path, 400, 'WEBHOOK_SIGNATURE_INVALID', {
      method: 'POST',
      headers: { ...failed!.headers, 'x-razorpay-signature': failed!.headers['x-razorpay-signature']!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) },
      body: failed!.body,
    });
    expect(await rows({ providerRef: p.providerRef })).toHaveLength(0);
    expect((await post(failed!)).body).toMatchObject({ delivered: true });
    const [row] = await rows({ providerRef: p.providerRef });
    expect(row).toMatchObject({ type: 'failed' });

    const unknown = JSON.stringify({ entity: 'event', event: 'settlement.processed', contains: [], payload: {}, created_at: 1 });
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.RAZORPAY_WEBHOOK_SECRET!), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const sig = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(unknown)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const res = await call('/v1/payments/webhooks/razorpay', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-razorpay-signature': sig, 'x-razorpay-event-id': `evt_${newId('event')}` },
      body: unknown,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ignored: true });
  });
});

describe('the webhook inbox (DrizzleWebhookEventStore) on the real database', () => {
  it('records each copy with its outcome in one statement and leaves a delivered row alone', async () => {
    const store = new DrizzleWebhookEventStore(() => new DbProvider(config).pool());
    const ref = `pi_inbox_${newId('event')}`;
    const event: PaymentEvent = {
      id: `stripe:evt_${ref}`,
      provider: 'stripe',
      providerEventId: `evt_${ref}`,
      providerType: 'payment_intent.succeeded',
      type: 'succeeded',
      attemptId: null,
      orderId: null,
      refundId: null,
      providerRef: ref,
      providerObjectRef: null,
      amount: { amount: 100, currency: 'USD' },
      failure: null,
      occurredAt: new Date().toISOString(),
    };
    const at = new Date('2027-03-01T10:00:00Z');
    expect(await store.record(event, { error: 'saga not ready' })).toEqual({ inserted: true, wasDelivered: false });
    expect(await rows({ providerRef: ref })).toMatchObject([{ deliveredAt: null, deliveryAttempts: 1, lastError: 'saga not ready' }]);
    expect(await store.record(event, { deliveredAt: at })).toEqual({ inserted: false, wasDelivered: false });
    expect(await rows({ providerRef: ref })).toMatchObject([{ deliveredAt: at, deliveryAttempts: 2, lastError: null }]);
    expect(await store.record(event, { error: 'late copy' })).toEqual({ inserted: false, wasDelivered: true });
    expect(await rows({ providerRef: ref })).toMatchObject([{ deliveredAt: at, deliveryAttempts: 2, lastError: null }]);
    expect(await store.undelivered(1000)).not.toContainEqual(expect.objectContaining({ id: event.id }));
  });
});

describe('OpenAPI', () => {
  it('documents both webhook operations', async () => {
    const { body } = await json('/openapi.json');
    expect(body.paths['/v1/payments/webhooks/stripe'].post.operationId).toBe('payments.stripeWebhook');
    expect(body.paths['/v1/payments/webhooks/razorpay'].post.operationId).toBe('payments.razorpayWebhook');
  });
});

