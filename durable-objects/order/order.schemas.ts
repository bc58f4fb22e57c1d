import { z } from 'zod';

/**
 * The order saga's RPC inputs and its state (STYLE rule 1: zod is the one source of truth).
 * The object stores `OrderState` as one JSON document per order; only the object writes it.
 */

export const ORDER_STATUSES = [
  'PENDING',
  'PAID',
  'PARTIALLY_SHIPPED',
  'SHIPPED',
  'DELIVERED',
  'CANCELLED',
  'PAYMENT_FAILED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
] as const;
export const OrderStatus = z.enum(ORDER_STATUSES);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const PAYMENT_METHODS = ['CARD', 'UPI', 'NETBANKING', 'COD', 'POS_CASH', 'POS_CARD_PRESENT'] as const;
export const PaymentMethod = z.enum(PAYMENT_METHODS);
export type PaymentMethod = z.infer<typeof PaymentMethod>;

const Id = z.string().min(1).max(100);
const MinorUnits = z.number().int().nonnegative().max(1_000_000_000_00);
const Currency = z.string().regex(/^[A-Z]{3}$/);

export const OrderLine = z.object({
  itemId: z.string().min(1).max(40),
  productId: Id,
  variantId: Id,
  sku: z.string().min(1).max(64),
  name: z.string().max(300),
  quantity: z.number().int().positive().max(1000),
  unitPrice: MinorUnits,
  lineTotal: MinorUnits,
});
export type OrderLine = z.infer<typeof OrderLine>;

export const PaymentStatus = z.enum([
  /** Nothing asked of the provider yet (or the ask is being retried). */
  'not_started',
  /** The provider knows the attempt; the customer still has to act (card form, UPI app). */
  'requires_action',
  /** Authorised but not captured (not used by our providers today: capture is automatic). */
  'authorized',
  'captured',
  'failed',
  /** Cash on delivery: collected when the parcel arrives. */
  'due_on_delivery',
  'cancelled',
]);
export type PaymentStatus = z.infer<typeof PaymentStatus>;

export const ClientAction = z.union([
  z.object({ type: z.literal('stripe_client_secret'), clientSecret: z.string() }),
  z.object({ type: z.literal('razorpay_order'), razorpayOrderId: z.string(), keyId: z.string() }),
]);
export type ClientAction = z.infer<typeof ClientAction>;

/** A dispute (chargeback) of the order's payment, as the provider last reported it. */
export const DisputeState = z.object({
  /** The provider's dispute id (Stripe `dp_…`). */
  disputeRef: z.string().max(255),
  /** The provider's word: needs_response, under_review, won, lost, warning_needs_response, … */
  status: z.string().max(64),
  amount: MinorUnits,
  reason: z.string().max(64).nullable(),
  /** When evidence must be in (null: none asked). */
  evidenceDueBy: z.string().nullable(),
  openedAt: z.string(),
  /** The provider's time of the event this state comes from (an older one never overwrites it). */
  updatedAt: z.string(),
});
export type DisputeState = z.infer<typeof DisputeState>;

export const PaymentState = z.object({
  method: PaymentMethod,
  attemptId: z.string(),
  provider: z.enum(['stripe', 'razorpay', 'none']),
  status: PaymentStatus,
  providerRef: z.string().nullable(),
  clientAction: ClientAction.nullable(),
  amountCaptured: MinorUnits,
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** The provider could not be asked (breaker open, timeouts): the saga retries later. */
  retryAt: z.string().nullable(),
  /** The cardholder disputed the payment (a chargeback): the latest word on it. Absent: never disputed. */
  dispute: DisputeState.nullable().optional(),
});
export type PaymentState = z.infer<typeof PaymentState>;

export const ReservedItem = z.object({
  sku: z.string(),
  shard: z.number().int().nonnegative(),
  shards: z.number().int().positive(),
  lines: z.array(z.object({ warehouseId: z.string(), quantity: z.number().int().positive() })),
});
export type ReservedItem = z.infer<typeof ReservedItem>;

export const StockState = z.object({
  reservationId: z.string(),
  status: z.enum(['reserving', 'held', 'committed', 'released', 'restocked', 'refused']),
  items: z.array(ReservedItem),
});

export const RefundState = z.object({
  refundId: z.string(),
  amount: MinorUnits,
  reason: z.string().max(200),
  status: z.enum(['pending', 'succeeded', 'failed']),
  providerRefundRef: z.string().nullable(),
  requestedBy: z.string(),
  createdAt: z.string(),
  /**
   * The provider payment this refund returns when it is not the order's own (a second capture of
   * the same Razorpay order: `pay_…`). Absent for refunds of the order's money.
   */
  paymentRef: z.string().optional(),
});
export type RefundState = z.infer<typeof RefundState>;

export const TrackingEvent = z.object({
  eventId: z.string(),
  status: z.enum(['label_created', 'in_transit', 'out_for_delivery', 'delivered', 'exception']),
  description: z.string().max(500),
  location: z.string().max(200).nullable(),
  occurredAt: z.string(),
});
export type TrackingEvent = z.infer<typeof TrackingEvent>;

export const ShipmentState = z.object({
  shipmentId: z.string(),
  warehouseId: z.string(),
  carrier: z.string(),
  trackingNumber: z.string(),
  lines: z.array(z.object({ itemId: z.string(), quantity: z.number().int().positive() })),
  status: TrackingEvent.shape.status,
  createdAt: z.string(),
  events: z.array(TrackingEvent),
});
export type ShipmentState = z.infer<typeof ShipmentState>;

export const TransitionRecord = z.object({
  version: z.number().int(),
  from: z.union([OrderStatus, z.literal('NEW')]),
  to: OrderStatus,
  reason: z.string(),
  at: z.string(),
});

export const OrderState = z.object({
  orderId: z.string(),
  version: z.number().int().nonnegative(),
  status: OrderStatus,
  /** Internal phase before the order exists for anyone: `placing` until stock is held; `rejected` when it was not. */
  phase: z.enum(['placing', 'placed', 'rejected']),
  userId: z.string(),
  placedBy: z.object({ kind: z.enum(['user', 'client']), id: z.string(), role: z.string() }),
  channel: z.enum(['web', 'pos']),
  storeId: z.string().nullable(),
  cartId: z.string().nullable(),
  currency: Currency,
  lines: z.array(OrderLine),
  subtotal: MinorUnits,
  total: MinorUnits,
  shippingAddress: z.record(z.string(), z.string()).nullable(),
  /**
   * The customer's account was erased: the address is reduced to its country as soon as the order
   * no longer needs it (at once, or when it is delivered, cancelled or refunded). Absent on orders
   * stored before this field existed.
   */
  customerErased: z.boolean().optional(),
  payment: PaymentState,
  stock: StockState,
  refunds: z.array(RefundState),
  shipments: z.array(ShipmentState),
  history: z.array(TransitionRecord),
  cancelReason: z.string().nullable(),
  /**
   * Of an order that can still ship: what refunds that failed were to return and no later refund
   * has (the admin decides what to do; `refundOwed` in order.logic.ts). Absent on older orders.
   */
  refundFailedOwed: MinorUnits.optional(),
  rejection: z.object({ code: z.string(), message: z.string(), sku: z.string().nullable() }).nullable(),
  paymentDueAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  correlationId: z.string(),
});
export type OrderState = z.infer<typeof OrderState>;

// ---------------------------------------------------------------------------------------------
// RPC inputs
// ---------------------------------------------------------------------------------------------

export const PlaceInput = z.object({
  orderId: z.string(),
  requestHash: z.string().min(1).max(128),
  userId: z.string().min(1).max(64),
  placedBy: OrderState.shape.placedBy,
  channel: OrderState.shape.channel,
  storeId: z.string().nullable(),
  cartId: z.string().nullable(),
  currency: Currency,
  lines: z.array(OrderLine).min(1).max(100),
  shippingAddress: z.record(z.string(), z.string()).nullable(),
  paymentMethod: PaymentMethod,
  /** Shards per SKU (1 = not sharded), read by the caller from inventory. */
  shards: z.record(z.string(), z.number().int().positive()),
  distances: z.record(z.string(), z.number().min(0)).optional(),
  correlationId: z.string().max(128),
});
export type PlaceInput = z.infer<typeof PlaceInput>;

export const PaymentEventInput = z.object({
  eventId: z.string().min(1).max(200),
  provider: z.enum(['stripe', 'razorpay', 'pos']),
  type: z.enum(['succeeded', 'authorized', 'failed', 'refund_succeeded', 'refund_failed', 'requires_action', 'cancelled', 'dispute']),
  attemptId: z.string().nullable(),
  refundId: z.string().nullable().default(null),
  /** The provider's payment (Stripe PaymentIntent, Razorpay order); for refund events, the provider's refund id. */
  providerRef: z.string().nullable(),
  amount: MinorUnits.nullable(),
  /** ISO currency of `amount` as the provider reported it (null: not given). */
  currency: z.string().length(3).nullable().default(null),
  failure: z.object({ code: z.string(), message: z.string() }).nullable().default(null),
  occurredAt: z.string(),
  /** `dispute` events: the provider's dispute id and its word on it (the amount is `amount`). */
  dispute: z
    .object({ disputeRef: z.string().min(1).max(255), status: z.string().min(1).max(64), reason: z.string().max(64).nullable(), evidenceDueBy: z.string().nullable() })
    .nullable()
    .default(null),
});
export type PaymentEventInput = z.input<typeof PaymentEventInput>;

export const CancelInput = z.object({
  opId: z.string().min(1).max(200),
  by: z.string().min(1).max(100),
  reason: z.string().max(200),
});
export type CancelInput = z.infer<typeof CancelInput>;

export const RefundInput = z.object({
  refundId: z.string().min(1).max(100),
  requestHash: z.string(),
  amount: MinorUnits.refine((n) => n > 0, 'must be positive'),
  reason: z.string().max(200),
  by: z.string(),
});
export type RefundInput = z.infer<typeof RefundInput>;

export const FulfilInput = z.object({
  shipmentId: z.string().min(1).max(100),
  requestHash: z.string(),
  warehouseId: z.string().min(1).max(64),
  carrier: z.string().min(1).max(60),
  trackingNumber: z.string().min(1).max(100),
  lines: z.array(z.object({ itemId: z.string().min(1).max(40), quantity: z.number().int().positive() })).min(1).max(100),
  by: z.string(),
});
export type FulfilInput = z.infer<typeof FulfilInput>;

export const TrackingInput = z.object({
  trackingNumber: z.string().min(1).max(100),
  event: TrackingEvent,
});
export type TrackingInput = z.infer<typeof TrackingInput>;
