import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Orders context: the Postgres projection of the order objects (durable-objects/order), kept by
 * the order-events consumer. The object is authoritative; these rows serve listings, admin
 * search and reporting. Each order row keeps the version of the event that wrote it, and an
 * older event never overwrites a newer one.
 */
export const orders = pgTable(
  'orders',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    status: text('status').notNull(),
    fulfilmentStatus: text('fulfilment_status').notNull(),
    version: bigint('version', { mode: 'number' }).notNull(),
    channel: text('channel').notNull(),
    storeId: text('store_id'),
    currency: text('currency').notNull(),
    subtotal: bigint('subtotal', { mode: 'number' }).notNull(),
    total: bigint('total', { mode: 'number' }).notNull(),
    amountCaptured: bigint('amount_captured', { mode: 'number' }).notNull().default(0),
    amountRefunded: bigint('amount_refunded', { mode: 'number' }).notNull().default(0),
    paymentMethod: text('payment_method').notNull(),
    paymentStatus: text('payment_status').notNull(),
    itemCount: integer('item_count').notNull(),
    /** The whole order as of `version` (the event's data), for detail reads from the projection. */
    snapshot: jsonb('snapshot').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('orders_user_created_idx').on(t.userId, t.createdAt.desc(), t.id.desc()),
    index('orders_status_created_idx').on(t.status, t.createdAt.desc(), t.id.desc()),
    index('orders_created_idx').on(t.createdAt.desc(), t.id.desc()),
    index('orders_store_created_idx').on(t.storeId, t.createdAt.desc()).where(sql`${t.storeId} is not null`),
  ],
);

export const orderItems = pgTable(
  'order_items',
  {
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    itemId: text('item_id').notNull(),
    productId: text('product_id').notNull(),
    variantId: text('variant_id').notNull(),
    sku: text('sku').notNull(),
    name: text('name').notNull(),
    quantity: integer('quantity').notNull(),
    unitPrice: bigint('unit_price', { mode: 'number' }).notNull(),
    lineTotal: bigint('line_total', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.itemId] }), index('order_items_sku_idx').on(t.sku)],
);

export const orderPayments = pgTable(
  'order_payments',
  {
    attemptId: text('attempt_id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    method: text('method').notNull(),
    provider: text('provider').notNull(),
    providerRef: text('provider_ref'),
    status: text('status').notNull(),
    amountCaptured: bigint('amount_captured', { mode: 'number' }).notNull(),
  },
  (t) => [index('order_payments_order_idx').on(t.orderId), index('order_payments_provider_ref_idx').on(t.providerRef)],
);

export const orderRefunds = pgTable(
  'order_refunds',
  {
    refundId: text('refund_id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    status: text('status').notNull(),
    reason: text('reason').notNull(),
    providerRefundRef: text('provider_refund_ref'),
    requestedBy: text('requested_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('order_refunds_order_idx').on(t.orderId)],
);

export const orderShipments = pgTable(
  'order_shipments',
  {
    shipmentId: text('shipment_id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    warehouseId: text('warehouse_id').notNull(),
    carrier: text('carrier').notNull(),
    trackingNumber: text('tracking_number').notNull(),
    status: text('status').notNull(),
    lines: jsonb('lines').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('order_shipments_order_idx').on(t.orderId), index('order_shipments_tracking_idx').on(t.carrier, t.trackingNumber)],
);

/**
 * Customers whose account was erased (`user.erased`), as the orders context learnt it: an order
 * projected after the erasure (placed just before it, or with an access token still valid) is
 * told to forget its shipping address too (`eraseCustomer` and `afterFirstProjection` in
 * workers/orders/orders.service.ts). Holds only the
 * pseudonymous user id.
 */
export const erasedCustomers = pgTable('erased_customers', {
  userId: text('user_id').primaryKey(),
  erasedAt: timestamp('erased_at', { withTimezone: true }).notNull(),
});
