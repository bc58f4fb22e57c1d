import { z } from 'zod';
import { defineEvent, type EventDefinition } from './envelope';

/**
 * orders: every transition of an order (and every change inside a status: a refund recorded, a
 * tracking update) is one event on the `agora-order-events` queue. All carry the same data, the
 * order as it stands after the change, and `aggregateVersion` = the order's version, so a
 * projection keeps the newest and ignores older or repeated deliveries (any order, at least once).
 */
const Money = z.number().int().nonnegative();

export const OrderSnapshot = z.object({
  orderId: z.string(),
  userId: z.string(),
  status: z.string(),
  fulfilmentStatus: z.string(),
  version: z.number().int().nonnegative(),
  channel: z.string(),
  storeId: z.string().nullable(),
  placedBy: z.object({ kind: z.string(), id: z.string(), role: z.string() }),
  currency: z.string(),
  subtotal: Money,
  total: Money,
  items: z.array(
    z.object({
      itemId: z.string(),
      productId: z.string(),
      variantId: z.string(),
      sku: z.string(),
      name: z.string(),
      quantity: z.number().int().positive(),
      unitPrice: Money,
      lineTotal: Money,
    }),
  ),
  payment: z.object({
    attemptId: z.string(),
    method: z.string(),
    provider: z.string(),
    status: z.string(),
    providerRef: z.string().nullable(),
    amountCaptured: Money,
    /** The cardholder's dispute (chargeback) of the payment, as last reported. Absent: never disputed (and in older events). */
    dispute: z
      .object({
        disputeRef: z.string(),
        status: z.string(),
        amount: Money,
        reason: z.string().nullable(),
        evidenceDueBy: z.string().nullable(),
        openedAt: z.string(),
        updatedAt: z.string(),
      })
      .optional(),
  }),
  refunds: z.array(
    z.object({ refundId: z.string(), amount: Money, status: z.string(), reason: z.string(), providerRefundRef: z.string().nullable(), requestedBy: z.string(), createdAt: z.string() }),
  ),
  shipments: z.array(
    z.object({
      shipmentId: z.string(),
      warehouseId: z.string(),
      carrier: z.string(),
      trackingNumber: z.string(),
      status: z.string(),
      lines: z.array(z.object({ itemId: z.string(), quantity: z.number().int().positive() })),
      events: z.array(z.object({ eventId: z.string(), status: z.string(), description: z.string(), location: z.string().nullable(), occurredAt: z.string() })),
      createdAt: z.string(),
    }),
  ),
  cancelReason: z.string().nullable(),
  /** What this event records, e.g. `PENDING->PAID`, `refund_succeeded`, `tracking`, `dispute_opened`. */
  change: z.string(),
  /**
   * The refund this event is about (requested, succeeded or failed), when it is about one: refunds
   * settle in any order, so "the last one in the list" is not always it. Absent in older events.
   */
  refundId: z.string().nullable().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type OrderSnapshot = z.infer<typeof OrderSnapshot>;

export const ORDER_EVENT_TYPES = [
  'order.placed',
  'order.paid',
  'order.payment_failed',
  'order.cancelled',
  'order.partially_shipped',
  'order.shipped',
  'order.delivered',
  'order.partially_refunded',
  'order.refunded',
  /** A change inside a status: payment details, a refund requested or failed, a tracking event. */
  'order.changed',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

export const ORDER_EVENTS = Object.fromEntries(ORDER_EVENT_TYPES.map((t) => [t, defineEvent(t, 1, OrderSnapshot, { versioned: true })])) as Record<
  OrderEventType,
  EventDefinition<OrderSnapshot>
>;
