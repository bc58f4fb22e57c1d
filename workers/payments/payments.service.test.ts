/** Webhook acceptance with a sink that fails: recorded, answered 2xx, redelivered later (record-and-retry). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makePaymentsService } from './payments.service';
import type { DeliveryOutcome, PaymentEventSink, WebhookEventStore } from './payments.ports';
import type { PaymentEvent } from './payments.schemas';

class MemoryStore implements WebhookEventStore {
  rows = new Map<string, { event: PaymentEvent; deliveredAt: Date | null; attempts: number; lastError: string | null }>();
  async record(event: PaymentEvent, outcome: DeliveryOutcome) {
    const deliveredAt = 'deliveredAt' in outcome ? outcome.deliveredAt : null;
    const lastError = 'error' in outcome ? outcome.error : null;
    const row = this.rows.get(event.id);
    if (!row) {
      this.rows.set(event.id, { event, deliveredAt, attempts: 1, lastError });
      return { inserted: true, wasDelivered: false };
    }
    if (row.deliveredAt) return { inserted: false, wasDelivered: true };
    Object.assign(row, { deliveredAt, attempts: row.attempts + 1, lastError });
    return { inserted: false, wasDelivered: false };
  }
  async markDelivered(event: PaymentEvent, at: Date) {
    const row = this.rows.get(event.id)!;
    row.attempts++;
    row.deliveredAt ??= at;
    row.lastError = null;
  }
  async markFailed(event: PaymentEvent, error: string) {
    const row = this.rows.get(event.id)!;
    row.attempts++;
    row.lastError = error;
  }
  async undelivered(limit: number) {
    return [...this.rows.values()].filter((r) => !r.deliveredAt).slice(0, limit).map((r) => r.event);
  }
}

const SECRET = 'rzp_whsec_unit';
function razorpayHook(event: string, id: string) {
  const body = JSON.stringify({
    entity: 'event',
    event,
    contains: ['payment'],
    payload: { payment: { entity: { id: 'pay_1', amount: 5000, currency: 'INR', status: 'captured', order_id: 'order_1', notes: { attemptId: 'pat_0123456789', orderId: 'ord_1' } } } },
    created_at: 1_800_000_000,
  });
  return { body, sig: createHmac('sha256', SECRET).update(body).digest('hex'), id };
}

function service(sink: PaymentEventSink, store = new MemoryStore()) {
  return {
    store,
    svc: makePaymentsService({
      config: { razorpayWebhookSecret: SECRET, retry: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 }, breaker: { threshold: 1, cooldownMs: 1 } },
      store: () => store,
      sink,
      clock: { now: () => new Date('2027-01-01T00:00:00Z') },
    }),
  };
}

describe('webhook delivery to the sink', () => {
  it('a sink failure still acknowledges (recorded), and redeliverPending delivers it later, once', async () => {
    let failing = true;
    const offered: string[] = [];
    const applied = new Map<string, unknown[]>();
    const { svc, store } = service({
      // Like the order saga: every copy is offered, each event id is applied once.
      async deliver(e) {
        offered.push(e.id);
        if (failing) throw new Error('saga not ready');
        if (!applied.has(e.id)) applied.set(e.id, [e.type, e.attemptId, e.providerRef]);
      },
    });
    const h = razorpayHook('payment.captured', 'evt_unit_1');
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toEqual({ received: true, duplicate: false, ignored: false, delivered: false });
    expect(store.rows.get('razorpay:evt_unit_1')).toMatchObject({ deliveredAt: null, lastError: 'saga not ready', attempts: 1 });

    // The provider's redelivery of an undelivered event tries the sink again.
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toMatchObject({ duplicate: true, delivered: false });
    expect(store.rows.get('razorpay:evt_unit_1')).toMatchObject({ deliveredAt: null, attempts: 2 });

    failing = false;
    expect(await svc.redeliverPending()).toEqual({ delivered: 1, failed: 0 });
    expect(await svc.redeliverPending()).toEqual({ delivered: 0, failed: 0 });
    expect([...applied]).toEqual([['razorpay:evt_unit_1', ['succeeded', 'pat_0123456789', 'order_1']]]);
    expect(store.rows.get('razorpay:evt_unit_1')).toMatchObject({ deliveredAt: new Date('2027-01-01T00:00:00Z'), attempts: 3 });
    // A copy after delivery is offered (the sink ignores the id it applied) and leaves the row as it was.
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toMatchObject({ duplicate: true, delivered: false });
    expect(offered).toEqual(Array(4).fill('razorpay:evt_unit_1'));
    expect(store.rows.get('razorpay:evt_unit_1')).toMatchObject({ attempts: 3, lastError: null });
  });

  it('a first delivery that the sink takes is recorded as delivered in the same write', async () => {
    const { svc, store } = service({ deliver: async () => undefined });
    const h = razorpayHook('payment.captured', 'evt_unit_3');
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toEqual({ received: true, duplicate: false, ignored: false, delivered: true });
    expect(store.rows.get('razorpay:evt_unit_3')).toMatchObject({ deliveredAt: new Date('2027-01-01T00:00:00Z'), attempts: 1, lastError: null });
    expect(await svc.redeliverPending()).toEqual({ delivered: 0, failed: 0 });
  });

  it('a failed inbox write fails the webhook (the provider sends it again) after the sink took it', async () => {
    const store = new MemoryStore();
    store.record = async () => {
      throw new Error('database unreachable');
    };
    const offered: string[] = [];
    const { svc } = service({ deliver: async (e) => void offered.push(e.id) }, store);
    const h = razorpayHook('payment.captured', 'evt_unit_4');
    await expect(svc.handleRazorpayWebhook(h.body, h.sig, h.id)).rejects.toThrow('database unreachable');
    expect(offered).toEqual(['razorpay:evt_unit_4']);
  });

  it('rejects a wrong signature without touching the store', async () => {
    const { svc, store } = service({ deliver: async () => undefined });
    const h = razorpayHook('payment.captured', 'evt_unit_2');
    await expect(svc.handleRazorpayWebhook(h.body, h.sig.replace(/.$/, (c) => (c === '0' ? '1' : '0')), h.id)).rejects.toMatchObject({
      code: 'WEBHOOK_SIGNATURE_INVALID',
      status: 400,
    });
    await expect(svc.handleStripeWebhook('{}', 't=1,v1=00')).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    expect(store.rows.size).toBe(0);
  });
});
