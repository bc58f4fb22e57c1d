/** The emulators speak like the providers: Stripe's SDK verifies their webhook signatures; idempotency and faults behave. */
import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForm, startStripeEmulator } from './stripe.ts';
import { startRazorpayEmulator } from './razorpay.ts';
import { STRIPE_WEBHOOK_EVENTS } from '../../../workers/payments/index.ts';

let stripe: Awaited<ReturnType<typeof startStripeEmulator>>;
let razorpay: Awaited<ReturnType<typeof startRazorpayEmulator>>;

beforeAll(async () => {
  stripe = await startStripeEmulator({ secretKey: 'sk_test_e', webhookSecret: 'whsec_e' });
  razorpay = await startRazorpayEmulator({ keyId: 'rzp_test_e', keySecret: 's', webhookSecret: 'rzp_whsec_e' });
});
afterAll(async () => {
  await stripe?.stop();
  await razorpay?.stop();
});

const stripePost = (path: string, body: string, key?: string) =>
  fetch(`${stripe.url}${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_e', 'content-type': 'application/x-www-form-urlencoded', ...(key ? { 'idempotency-key': key } : {}) },
    body,
  });

describe('stripe emulator', () => {
  it('decodes Stripe form encoding', () => {
    expect(decodeForm('amount=5&metadata[a]=1&expand[0]=x&expand[1]=y&automatic_payment_methods[enabled]=true')).toEqual({
      amount: '5',
      metadata: { a: '1' },
      expand: ['x', 'y'],
      automatic_payment_methods: { enabled: 'true' },
    });
  });

  it('replays an Idempotency-Key, refuses it with other parameters, and rejects a wrong key', async () => {
    const a = await stripePost('/v1/payment_intents', 'amount=100&currency=usd', 'k-1');
    const b = await stripePost('/v1/payment_intents', 'amount=100&currency=usd', 'k-1');
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(((await a.json()) as { id: string }).id).toBe(((await b.json()) as { id: string }).id);
    const c = await stripePost('/v1/payment_intents', 'amount=200&currency=usd', 'k-1');
    expect(c.status).toBe(400);
    expect(await c.json()).toMatchObject({ error: { type: 'idempotency_error' } });
    const d = await fetch(`${stripe.url}/v1/payment_intents/x`, { headers: { authorization: 'Bearer sk_wrong' } });
    expect(d.status).toBe(401);
  });

  it('signs webhooks the way Stripe does (the SDK verifies them); duplicate and out-of-order switches', async () => {
    stripe.outbox.drain();
    await fetch(`${stripe.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ duplicateWebhooks: true, outOfOrderWebhooks: true }) });
    const pi = (await (await stripePost('/v1/payment_intents', 'amount=100&currency=usd&capture_method=manual&confirm=true&payment_method=pm_card_visa')).json()) as { id: string };
    await stripePost(`/v1/payment_intents/${pi.id}/capture`, '');
    expect(stripe.outbox.drain()).toEqual([]);
    await fetch(`${stripe.url}/_emulator/webhooks/flush`, { method: 'POST' });
    const { deliveries } = (await (await fetch(`${stripe.url}/_emulator/webhooks`)).json()) as { deliveries: Array<{ type: string; body: string; headers: Record<string, string> }> };
    expect(deliveries.map((d) => d.type)).toEqual([
      'payment_intent.succeeded',
      'payment_intent.succeeded',
      'payment_intent.amount_capturable_updated',
      'payment_intent.amount_capturable_updated',
      'payment_intent.created',
      'payment_intent.created',
    ]);
    for (const d of deliveries) {
      const event = await Stripe.webhooks.constructEventAsync(d.body, d.headers['stripe-signature']!, 'whsec_e');
      expect(event.type).toBe(d.type);
    }
    await expect(Stripe.webhooks.constructEventAsync(deliveries[0]!.body, deliveries[0]!.headers['stripe-signature']!, 'whsec_other')).rejects.toThrow();
    await fetch(`${stripe.url}/_emulator/faults`, { method: 'DELETE' });
  });

  it("delivers only the webhook endpoint's enabled events (Agora's list: no payment_intent.created or charge.succeeded)", async () => {
    const subscribed = await startStripeEmulator({ secretKey: 'sk_test_sub', webhookSecret: 'whsec_sub', enabledEvents: STRIPE_WEBHOOK_EVENTS });
    try {
      const post = (path: string, body: string) =>
        fetch(`${subscribed.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer sk_test_sub', 'content-type': 'application/x-www-form-urlencoded' }, body });
      const pi = (await (await post('/v1/payment_intents', 'amount=700&currency=usd&confirm=true&payment_method=pm_card_visa')).json()) as { id: string; status: string };
      expect(pi.status).toBe('succeeded');
      expect((await post('/v1/refunds', `payment_intent=${pi.id}&amount=200`)).status).toBe(200);
      expect(subscribed.outbox.drain().map((d) => d.type)).toEqual(['payment_intent.succeeded', 'refund.created']);
      // The same calls on the emulator subscribed to everything send the other types too.
      const all = (await (await stripePost('/v1/payment_intents', 'amount=700&currency=usd&confirm=true&payment_method=pm_card_visa')).json()) as { id: string };
      expect((await stripePost('/v1/refunds', `payment_intent=${all.id}&amount=200`)).status).toBe(200);
      expect(stripe.outbox.drain(all.id).map((d) => d.type)).toEqual(['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'refund.created', 'charge.refunded']);
    } finally {
      await subscribed.stop();
    }
  });

  it('injects 5xx and 429 without processing the request', async () => {
    await fetch(`${stripe.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ errors: [{ status: 503, times: 1 }, { status: 429, times: 1 }] }) });
    const before = stripe.intents.size;
    expect((await stripePost('/v1/payment_intents', 'amount=100&currency=usd')).status).toBe(503);
    const limited = await stripePost('/v1/payment_intents', 'amount=100&currency=usd');
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limit' } });
    expect(stripe.intents.size).toBe(before);
    expect((await stripePost('/v1/payment_intents', 'amount=100&currency=usd')).status).toBe(200);
  });
});

describe('razorpay emulator', () => {
  const auth = `Basic ${Buffer.from('rzp_test_e:s').toString('base64')}`;

  it('needs Basic auth, creates orders, signs webhooks with an HMAC of the raw body and sends the event id', async () => {
    expect((await fetch(`${razorpay.url}/v1/orders`, { method: 'POST', body: '{}' })).status).toBe(401);
    const order = (await (
      await fetch(`${razorpay.url}/v1/orders`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 50000, currency: 'INR', receipt: 'pat_emulator_1', notes: { attemptId: 'pat_emulator_1' } }),
      })
    ).json()) as { id: string; status: string };
    expect(order.status).toBe('created');
    await fetch(`${razorpay.url}/_emulator/orders/${order.id}/pay`, { method: 'POST', body: JSON.stringify({ outcome: 'captured' }) });
    const d = razorpay.outbox.drain();
    expect(d.map((x) => x.type)).toEqual(['payment.authorized', 'payment.captured', 'order.paid']);
    for (const x of d) {
      expect(x.headers['x-razorpay-signature']).toBe(createHmac('sha256', 'rzp_whsec_e').update(x.body).digest('hex'));
      expect(x.headers['x-razorpay-event-id']).toMatch(/^evt_/);
    }
    const found = (await (await fetch(`${razorpay.url}/v1/orders?receipt=pat_emulator_1`, { headers: { authorization: auth } })).json()) as { items: Array<{ id: string; status: string }> };
    expect(found.items).toEqual([expect.objectContaining({ id: order.id, status: 'paid' })]);
  });
});
