/** Webhook acceptance with a sink that fails: recorded, answered 2xx, redelivered later (record-and-retry). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makePaymentsService } from './payments.service';
import type { PaymentEventSink, WebhookEventStore } from './payments.ports';
import type { PaymentEvent } from './payments.schemas';

class MemoryStore implements WebhookEventStore {
  rows = new Map<string, { event: PaymentEvent; deliveredAt: Date | null; attempts: number; lastError: string | null }>();
  async record(event: PaymentEvent) {
    const row = this.rows.get(event.id);
    if (row) return { inserted: false, delivered: row.deliveredAt !== null };
    this.rows.set(event.id, { event, deliveredAt: null, attempts: 0, lastError: null });
    return { inserted: true, delivered: false };
  }
  async markDelivered(event: PaymentEvent, at: Date) {
    const row = this.rows.get(event.id)!;
    row.attempts++;
    row.deliveredAt ??= at;
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
    const seen: PaymentEvent[] = [];
    const { svc, store } = service({
      async deliver(e) {
        if (failing) throw new Error('saga not ready');
        seen.push(e);
      },
    });
    const h = razorpayHook('payment.captured', 'evt_unit_1');
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toEqual({ received: true, duplicate: false, ignored: false, delivered: false });
    expect(store.rows.get('razorpay:evt_unit_1')).toMatchObject({ deliveredAt: null, lastError: 'saga not ready', attempts: 1 });

    // The provider's redelivery of an undelivered event tries the sink again.
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toMatchObject({ duplicate: true, delivered: false });

    failing = false;
    expect(await svc.redeliverPending()).toEqual({ delivered: 1, failed: 0 });
    expect(await svc.redeliverPending()).toEqual({ delivered: 0, failed: 0 });
    expect(seen.map((e) => [e.id, e.type, e.attemptId, e.providerRef])).toEqual([['razorpay:evt_unit_1', 'succeeded', 'pat_0123456789', 'order_1']]);
    // Once delivered, a duplicate is not offered again.
    expect(await svc.handleRazorpayWebhook(h.body, h.sig, h.id)).toMatchObject({ duplicate: true, delivered: false });
    expect(seen).toHaveLength(1);
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
