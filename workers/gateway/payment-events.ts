import type { PaymentEventInput } from '../../durable-objects/order/order.stub';
import type { PaymentEvent, PaymentEventSink } from '../payments';

/** A verified provider event as the saga's input (null: nothing for the saga to do). */
export function toSagaEvent(e: PaymentEvent): PaymentEventInput | null {
  const type = (
    { succeeded: 'succeeded', authorized: 'authorized', failed: 'failed', canceled: 'cancelled', refunded: 'refund_succeeded', refund_failed: 'refund_failed', disputed: 'dispute' } as const
  )[e.type as 'succeeded' | 'authorized' | 'failed' | 'canceled' | 'refunded' | 'refund_failed' | 'disputed'];
  if (!type) return null;
  return {
    eventId: e.id,
    provider: e.provider,
    type,
    attemptId: e.attemptId,
    refundId: e.refundId,
    providerRef: type.startsWith('refund') ? (e.providerObjectRef ?? null) : e.providerRef,
    amount: e.amount?.amount ?? null,
    currency: e.amount?.currency ? e.amount.currency.toUpperCase() : null,
    failure: e.failure ? { code: e.failure.code, message: e.failure.message } : null,
    occurredAt: e.occurredAt,
    // A dispute (chargeback): its id and the provider's word on it; the saga records it on the order.
    dispute: e.dispute && e.providerObjectRef ? { disputeRef: e.providerObjectRef, status: e.dispute.status, reason: e.dispute.reason, evidenceDueBy: e.dispute.evidenceDueBy } : null,
  };
}


/** The payments context's sink: each verified webhook event goes to its order's saga. */
export function orderSagaSink(apply: (orderId: string, event: PaymentEventInput) => Promise<void>, log?: Record<string, unknown>): PaymentEventSink {
  return {
    async deliver(event) {
      const input = toSagaEvent(event);
      if (!input) return;
      if (!event.orderId) {
        // Our begin() always sets the order id in the provider's metadata/notes; an event
        // without one is not ours to apply (logged, acknowledged).
        if (log) log.paymentEventWithoutOrder = event.id;
        return;
      }
      await apply(event.orderId, input);
    },
  };
}
