import { auditRow, type AuditEntry } from '../../shared/audit/audit';
import type { AnyDb } from '../../shared/db/client';
import { type EventEnvelope, type OrderSnapshot } from '../../shared/events';
import { cancelledBy, isExtraRefund } from '../../durable-objects/order/order.stub';
import { projectOrderOnce, type ProjectOutcome } from './orders.repo';

/** The consumer name of the order projection (processed_events.consumer). */
export const ORDER_PROJECTION_CONSUMER = 'orders.projection';
/** The consumer name of the orders' `user.erased` handler (log lines): never rename it. */
export const ORDER_ERASURE_CONSUMER = 'orders.erase-customer';

/**
 * Projects one order event into Postgres and writes the audit rows of the money it moved, in one
 * statement (one round trip, one transaction), once per event id. The projection keeps the newest
 * version (events arrive in any order); the audit rows are written for every event exactly once,
 * whatever its order.
 */
export async function projectOrderEvent(db: AnyDb, event: EventEnvelope<OrderSnapshot>): Promise<{ processed: boolean; outcome?: ProjectOutcome }> {
  const meta = { requestId: event.correlationId, actor: null, ip: null };
  const at = new Date(event.occurredAt);
  return projectOrderOnce(db, { consumer: ORDER_PROJECTION_CONSUMER, eventId: event.id }, event.data, auditEntries(event).map((e) => auditRow(e, meta, at)));
}

function actorOf(by: string): AuditEntry['actor'] {
  const [kind, id] = by.split(':', 2);
  if ((kind === 'user' || kind === 'client') && id) return { kind, id };
  // Money a provider moved outside Agora (a refund made in the Stripe dashboard): the provider's name.
  if (kind === 'provider' && id) return { kind: 'system', id };
  return { kind: 'system', id: null };
}

/** Every money movement and every status change of an order is on the audit trail. */
function auditEntries(event: EventEnvelope<OrderSnapshot>): AuditEntry[] {
  const o = event.data;
  const target = { kind: 'order', id: o.orderId };
  const base = { orderId: o.orderId, version: o.version, currency: o.currency, eventId: event.id };
  const placedBy = { kind: o.placedBy.kind as 'user' | 'client', id: o.placedBy.id };
  const captured = (): AuditEntry => ({ action: 'order.payment.captured', outcome: 'success', actor: { kind: 'system', id: null }, target, data: { ...base, amount: o.payment.amountCaptured, method: o.payment.method, providerRef: o.payment.providerRef } });
  const shipmentCreated = (): AuditEntry[] => {
    const last = o.shipments[o.shipments.length - 1];
    return last ? [{ action: 'order.shipment.created', outcome: 'success', actor: { kind: 'system', id: null }, target, data: { ...base, shipmentId: last.shipmentId, warehouseId: last.warehouseId, carrier: last.carrier } }] : [];
  };
  switch (event.type) {
    case 'order.placed':
      return [{ action: 'order.placed', outcome: 'success', actor: placedBy, target, data: { ...base, total: o.total, method: o.payment.method } }];
    case 'order.paid':
      return [captured()];
    case 'order.delivered':
      // Cash on delivery: the courier collected the money with the last parcel.
      return o.change === 'cod_collected' ? [captured()] : [];
    case 'order.payment_failed':
      return [{ action: 'order.payment.failed', outcome: 'failure', actor: { kind: 'system', id: null }, target, data: { ...base, method: o.payment.method } }];
    case 'order.cancelled': {
      // The person who cancelled (the customer, an admin, a POS agent), named in the change; the
      // system's own cancellations (deadline, mismatched payment, cart refusal) name nobody.
      const by = cancelledBy(o.change);
      const cancelled: AuditEntry = { action: 'order.cancelled', outcome: 'success', actor: by ? actorOf(by) : { kind: 'system', id: null }, target, data: { ...base, reason: o.cancelReason, refundPending: o.refunds.filter((r) => r.status === 'pending').reduce((s, r) => s + r.amount, 0) } };
      // Cancelling a paid order requests its refund in the same change: that money movement is on
      // the trail too, as a late payment's refund is (the two orders of a cancel racing a payment
      // then leave the same rows).
      const refund = o.refunds.find((r) => r.refundId === `${o.orderId}-cancel`);
      return refund ? [cancelled, { action: 'order.refund.requested', outcome: 'success', actor: actorOf(refund.requestedBy), target, data: { ...base, refundId: refund.refundId, amount: refund.amount, reason: refund.reason } }] : [cancelled];
    }
    case 'order.shipped':
    case 'order.partially_shipped':
      return shipmentCreated();
    case 'order.refunded':
    case 'order.partially_refunded':
    case 'order.changed': {
      // The event names its refund; events from before it did: the newest requested, or the last settled.
      const named = o.refundId ? o.refunds.find((r) => r.refundId === o.refundId) : undefined;
      if (o.change === 'cod_collected') return [captured()];
      // A parcel shipped from a PARTIALLY_REFUNDED order changes no status (0.3.14: it had no row).
      if (o.change === 'shipment') return shipmentCreated();
      if (
        o.change === 'refund_requested' ||
        o.change === 'late_payment_refunded' ||
        o.change === 'mismatched_payment_refunded' ||
        o.change === 'duplicate_payment_refunded' ||
        o.change === 'excess_payment_refunded'
      ) {
        const last = named ?? o.refunds[o.refunds.length - 1];
        return last ? [{ action: 'order.refund.requested', outcome: 'success', actor: actorOf(last.requestedBy), target, data: { ...base, refundId: last.refundId, amount: last.amount, reason: last.reason } }] : [];
      }
      if (o.change === 'refund_owed') {
        // A given-up order whose refunds kept failing (the saga's own retries are spent): what the
        // shop still owes the customer, for an admin to pay back by other means.
        const out = o.refunds.filter((r) => r.status !== 'failed' && !isExtraRefund(r)).reduce((s, r) => s + r.amount, 0);
        const owed = Math.max(0, o.payment.amountCaptured - out);
        return [{ action: 'order.refund.failed', outcome: 'failure', actor: { kind: 'system', id: null }, target, data: { ...base, refundId: named?.refundId ?? null, amount: owed, refundOwed: owed, change: 'refund_owed' } }];
      }
      if (o.change === 'dispute_opened' || o.change === 'dispute_updated' || o.change === 'dispute_closed') {
        // A chargeback: someone must answer it before the evidence is due; lost, the money is gone.
        const d = o.payment.dispute;
        if (!d) return [];
        const action = o.change === 'dispute_opened' ? 'order.payment.dispute.opened' : o.change === 'dispute_closed' ? 'order.payment.dispute.closed' : 'order.payment.dispute.updated';
        return [{ action, outcome: d.status === 'won' || d.status === 'warning_closed' ? 'success' : 'failure', actor: actorOf(`provider:${o.payment.provider}`), target, data: { ...base, disputeRef: d.disputeRef, status: d.status, amount: d.amount, reason: d.reason, evidenceDueBy: d.evidenceDueBy, providerRef: o.payment.providerRef } }];
      }
      if (event.type !== 'order.changed' || o.change === 'refund_succeeded' || o.change === 'refund_failed') {
        const settled = o.refunds.filter((r) => r.status !== 'pending');
        const last = named && named.status !== 'pending' ? named : settled[settled.length - 1];
        if (!last) return [];
        // A refund made at the provider outside Agora (the Stripe dashboard) names the provider.
        const external = last.requestedBy.startsWith('provider:');
        return [
          {
            action: last.status === 'succeeded' ? 'order.refund.succeeded' : 'order.refund.failed',
            outcome: last.status === 'succeeded' ? 'success' : 'failure',
            actor: external ? actorOf(last.requestedBy) : { kind: 'system', id: null },
            target,
            data: { ...base, refundId: last.refundId, amount: last.amount, providerRefundRef: last.providerRefundRef, ...(external ? { external: true } : {}) },
          },
        ];
      }
      return [];
    }
    default:
      return [];
  }
}
