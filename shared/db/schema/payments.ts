import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Payments context (workers/payments/README.md): every verified provider webhook we accepted,
 * once per (provider, provider event id), with the normalised PaymentEvent handed to the
 * PaymentEventSink. `delivered_at` is null until the sink accepted it; the scheduled
 * redelivery retries those (record-and-retry).
 */
export const paymentWebhookEvents = pgTable(
  'payment_webhook_events',
  {
    id: text('id').primaryKey(),
    /** stripe | razorpay */
    provider: text('provider').notNull(),
    /** The provider's event id (Stripe `evt_…`, Razorpay `X-Razorpay-Event-Id`). */
    eventId: text('event_id').notNull(),
    /** The provider's event type, e.g. `payment_intent.succeeded`, `payment.captured`. */
    providerType: text('provider_type').notNull(),
    /** Our normalised type: authorized | succeeded | failed | canceled | pending | refunded | refund_failed. */
    type: text('type').notNull(),
    attemptId: text('attempt_id'),
    orderId: text('order_id'),
    /** PaymentIntent id (Stripe) or Razorpay order id: what begin() returned as providerRef. */
    providerRef: text('provider_ref').notNull(),
    /** The normalised PaymentEvent, exactly as delivered to the sink. */
    event: jsonb('event').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    deliveryAttempts: integer('delivery_attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (t) => [
    uniqueIndex('payment_webhook_events_provider_event_uq').on(t.provider, t.eventId),
    index('payment_webhook_events_undelivered_idx').on(t.receivedAt).where(sql`${t.deliveredAt} is null`),
    index('payment_webhook_events_attempt_idx').on(t.attemptId),
    index('payment_webhook_events_ref_idx').on(t.provider, t.providerRef),
    check('payment_webhook_events_provider_ck', sql`${t.provider} in ('stripe', 'razorpay')`),
  ],
);
