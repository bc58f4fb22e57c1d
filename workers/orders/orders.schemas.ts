import { z } from '@hono/zod-openapi';
import { MoneySchema } from '../../shared/http/money';
import { isStorableInstant } from '../../shared/kernel/clock';
import { queryInt } from '../../shared/http/query';

/** An ISO timestamp with offset that Postgres can store (UTC years 1 to 9999). */
const StorableTimestamp = z.iso.datetime({ offset: true }).refine(isStorableInstant, 'a time between the years 1 and 9999 (UTC)');

/** Public DTOs of the orders context (never the object's storage or the projection's rows). */

const key = (description: string) =>
  z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only')
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, description });

export const PlaceOrderHeaderSchema = z.object({
  'idempotency-key': key('Strongly recommended: a retry with the same key and body answers the same order; with another body, 422.').optional(),
});
export const IdempotencyHeaderSchema = z.object({ 'idempotency-key': key('Retries with the same key and body have one effect') });

export const PAYMENT_METHOD_VALUES = ['CARD', 'UPI', 'NETBANKING', 'COD', 'POS_CASH', 'POS_CARD_PRESENT'] as const;

const OrderItemInputSchema = z
  .object({
    productId: z.string().min(1).max(64),
    variantId: z.string().min(1).max(64).optional().openapi({ description: "Omitted: the product's first variant that is in stock (the original design's body has no variants)" }),
    quantity: z.number().int().min(1).max(1000).optional(),
    qty: z.number().int().min(1).max(1000).optional().openapi({ description: 'The original design’s name for `quantity`' }),
  })
  .strict()
  .refine((i) => (i.quantity === undefined) !== (i.qty === undefined), { message: 'give exactly one of quantity or qty', path: ['quantity'] });

export const ShippingAddressSchema = z
  .object({
    name: z.string().min(1).max(120),
    line1: z.string().min(1).max(200),
    line2: z.string().max(200).optional(),
    city: z.string().min(1).max(100),
    region: z.string().max(100).optional(),
    postalCode: z.string().min(1).max(20),
    country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2'),
    phone: z.string().max(30).optional(),
  })
  .strict()
  .openapi('ShippingAddress');

export const PlaceOrderBodySchema = z
  .object({
    userId: z.string().min(1).max(64).optional().openapi({ description: 'Whom the order is for. Defaults to the caller; a POS agent or admin may name a customer.' }),
    cartId: z.string().min(1).max(64).optional().openapi({ description: 'Order the content of this cart (then closed). Give either cartId or items.' }),
    items: z.array(OrderItemInputSchema).min(1).max(100).optional(),
    paymentMethod: z.enum(PAYMENT_METHOD_VALUES).openapi({ description: 'UPI and NETBANKING (Razorpay) are for items priced in INR only: another currency is a 422 PAYMENT_METHOD_NOT_ALLOWED' }),
    shippingAddress: ShippingAddressSchema.optional(),
  })
  .strict()
  .refine((b) => (b.cartId === undefined) !== (b.items === undefined), { message: 'give either cartId or items', path: ['items'] })
  .openapi('PlaceOrder', {
    example: { items: [{ productId: 'prd_…', quantity: 2 }], paymentMethod: 'CARD' },
  });
export type PlaceOrderBody = z.infer<typeof PlaceOrderBodySchema>;

const Money = MoneySchema;

export const OrderItemSchema = z
  .object({
    itemId: z.string(),
    productId: z.string(),
    variantId: z.string(),
    sku: z.string(),
    name: z.string(),
    quantity: z.number().int(),
    unitPrice: Money,
    lineTotal: Money,
  })
  .openapi('OrderItem');

export const ClientActionSchema = z
  .union([
    z.object({ type: z.literal('stripe_client_secret'), clientSecret: z.string() }),
    z.object({ type: z.literal('razorpay_order'), razorpayOrderId: z.string(), keyId: z.string() }),
  ])
  .openapi('PaymentClientAction', { description: 'What the client needs to complete the payment with the provider (Stripe.js, Razorpay Checkout)' });

export const TrackingEventSchema = z
  .object({ eventId: z.string(), status: z.string(), description: z.string(), location: z.string().nullable(), occurredAt: z.string() })
  .openapi('TrackingEvent');

export const ShipmentSchema = z
  .object({
    shipmentId: z.string(),
    warehouseId: z.string(),
    carrier: z.string(),
    trackingNumber: z.string(),
    status: z.string(),
    lines: z.array(z.object({ itemId: z.string(), quantity: z.number().int() })),
    createdAt: z.string(),
    events: z.array(TrackingEventSchema),
  })
  .openapi('Shipment');

export const RefundSchema = z
  .object({ refundId: z.string(), amount: Money, status: z.string(), reason: z.string(), createdAt: z.string() })
  .openapi('Refund');

export const OrderSchema = z
  .object({
    orderId: z.string().openapi({ example: 'ord_01jd9x6k2e8q0p7m3v4c5b6n7a' }),
    status: z.enum(['PENDING', 'PAID', 'PARTIALLY_SHIPPED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'PAYMENT_FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED']),
    fulfilmentStatus: z.enum(['unfulfilled', 'partially_shipped', 'shipped', 'delivered']),
    version: z.number().int(),
    userId: z.string(),
    channel: z.enum(['web', 'pos']),
    items: z.array(OrderItemSchema),
    subtotal: Money,
    total: Money,
    payment: z.object({
      method: z.enum(PAYMENT_METHOD_VALUES),
      status: z.string(),
      amountCaptured: Money,
      /**
       * Refunds of the order's money that succeeded, also those made at the provider outside Agora
       * (`ext:…`); a duplicate payment's or an overpayment's refund is not counted.
       */
      amountRefunded: Money,
      refundOwed: Money.openapi({
        description:
          'Money the customer paid and is still owed with no refund under way: after a refund failed. On an order that can never ship (cancelled, payment failed, refunded) the saga refunds it again by itself, a bounded number of times, then leaves it here for an admin; on one that can still ship, an admin decides. Also a duplicate payment, or the excess of an overpayment, whose refund failed. 0 normally.',
      }),
      clientAction: ClientActionSchema.nullable(),
      failure: z.object({ code: z.string(), message: z.string() }).nullable(),
      retryAt: z.string().nullable().openapi({ description: 'When the provider could not be reached: when the saga asks again' }),
      dispute: z
        .object({
          disputeRef: z.string().openapi({ description: "The provider's dispute id (Stripe `dp_…`)" }),
          status: z.string().openapi({ description: "The provider's word: needs_response, under_review, won, lost, warning_needs_response, warning_under_review, warning_closed" }),
          amount: Money,
          reason: z.string().nullable().openapi({ description: 'e.g. fraudulent, product_not_received' }),
          evidenceDueBy: z.string().nullable().openapi({ description: 'When the evidence must be in at the provider (null: none asked)' }),
          openedAt: z.string(),
          updatedAt: z.string(),
        })
        .nullable()
        .openapi({ description: "The cardholder disputed the payment (a chargeback), as the provider last reported it; null when never disputed. Answered in the provider's dashboard" }),
    }),
    paymentDueAt: z.string().nullable().openapi({ description: 'An unpaid order cancels itself (and releases its stock) at this time' }),
    shippingAddress: ShippingAddressSchema.partial()
      .nullable()
      .openapi({ description: "Where the order ships (null when none was given). After the customer's account is erased, only `country` once the order no longer needs the rest (docs/orders.md)" }),
    allocations: z
      .array(z.object({ sku: z.string(), warehouseId: z.string(), quantity: z.number().int() }))
      .openapi({ description: 'Where the stock of each SKU is held (and ships from): chosen by inventory at placement' }),
    shipments: z.array(ShipmentSchema),
    refunds: z.array(RefundSchema),
    cancelReason: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Order');
export type OrderDto = z.infer<typeof OrderSchema>;

export const OrderSummarySchema = z
  .object({
    orderId: z.string(),
    status: z.string(),
    fulfilmentStatus: z.string(),
    total: Money,
    itemCount: z.number().int(),
    paymentMethod: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('OrderSummary');

export const OrderListSchema = z.object({ items: z.array(OrderSummarySchema), nextCursor: z.string().nullable() }).openapi('OrderList');

export const OrderListQuerySchema = z.object({
  limit: queryInt(1, 100).default(20),
  cursor: z.string().max(2048).optional(),
  status: z.enum(['PENDING', 'PAID', 'PARTIALLY_SHIPPED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'PAYMENT_FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED']).optional(),
});
export type OrderListQuery = z.infer<typeof OrderListQuerySchema>;

export const AdminOrderListQuerySchema = OrderListQuerySchema.extend({
  userId: z.string().max(64).optional(),
  storeId: z.string().max(64).optional(),
  sku: z.string().max(64).optional(),
  paymentMethod: z.enum(PAYMENT_METHOD_VALUES).optional(),
  createdFrom: StorableTimestamp.optional(),
  createdTo: StorableTimestamp.optional(),
});
export type AdminOrderListQuery = z.infer<typeof AdminOrderListQuerySchema>;

export const OrderParamSchema = z.object({ id: z.string().regex(/^ord_[0-9a-hjkmnp-tv-z]{26}$/, 'an order id (ord_…)').openapi({ param: { name: 'id', in: 'path' } }) });

export const CancelBodySchema = z.object({ reason: z.string().max(200).optional() }).strict().openapi('CancelOrder');

export const RefundBodySchema = z
  .object({
    amount: z.number().int().min(1).max(100_000_000_000).openapi({ description: 'Minor units; at most what is still refundable' }),
    reason: z.string().min(1).max(200),
  })
  .strict()
  .openapi('RefundRequest');

/** A carrier's code, as the tracking webhook's path names it (`/v1/shipping/webhooks/{carrier}`). */
export const CARRIER_CODE = /^[a-z0-9-]{2,40}$/;
/** "DHL Express" → `dhl-express`: how a fulfilment's carrier is stored, so its webhook finds the parcel. */
export const carrierCode = (carrier: string): string =>
  carrier
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

export const FulfilmentBodySchema = z
  .object({
    warehouseId: z.string().min(1).max(64),
    carrier: z
      .string()
      .min(1)
      .max(60)
      .refine((c) => CARRIER_CODE.test(carrierCode(c)), 'a carrier code: 2 to 40 letters, digits or dashes once lowercased (e.g. dhl, ups, blue-dart)')
      .openapi({ description: 'The carrier, stored as its code: lowercased, other characters as dashes ("DHL Express" → `dhl-express`), the `{carrier}` of its tracking webhook' }),
    trackingNumber: z.string().min(1).max(100),
    items: z.array(z.object({ itemId: z.string().min(1).max(40), quantity: z.number().int().min(1).max(1000) }).strict()).min(1).max(100),
  })
  .strict()
  .openapi('Fulfilment');

export const TrackingSchema = z
  .object({
    orderId: z.string(),
    status: z.string(),
    fulfilmentStatus: z.string(),
    timeline: z.array(
      z.object({ at: z.string(), kind: z.enum(['order', 'shipment']), status: z.string(), description: z.string(), shipmentId: z.string().nullable(), location: z.string().nullable() }),
    ),
    shipments: z.array(ShipmentSchema),
  })
  .openapi('OrderTracking');

export const CarrierParamSchema = z.object({ carrier: z.string().regex(/^[a-z0-9-]{2,40}$/).openapi({ param: { name: 'carrier', in: 'path' } }) });

/** The documented webhook body of our generic carrier adapter (docs/orders.md). */
export const CarrierUpdateSchema = z
  .object({
    eventId: z.string().min(1).max(200),
    trackingNumber: z.string().min(1).max(100),
    status: z.enum(['label_created', 'in_transit', 'out_for_delivery', 'delivered', 'exception']),
    description: z.string().max(500).default(''),
    location: z.string().max(200).nullable().default(null),
    occurredAt: StorableTimestamp,
  })
  .strict();
export type CarrierUpdate = z.infer<typeof CarrierUpdateSchema>;
