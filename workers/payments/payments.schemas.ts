import { z } from '@hono/zod-openapi';
import { CurrencySchema, MinorUnitsSchema } from '../../shared/kernel/money';

/**
 * Our own payment types. Provider objects (Stripe PaymentIntents, Razorpay orders/payments)
 * are translated into these at the adapter edge and never leave workers/payments/adapters.
 */
export const PaymentMethodSchema = z.enum(['CARD', 'UPI', 'NETBANKING', 'COD', 'POS_CASH', 'POS_CARD_PRESENT']);
export type PaymentMethod = z.infer<typeof PaymentMethodSchema>;

export const PaymentProviderSchema = z.enum(['stripe', 'razorpay', 'offline']);
export type PaymentProvider = z.infer<typeof PaymentProviderSchema>;

export const AmountSchema = z.object({ amount: MinorUnitsSchema.positive(), currency: CurrencySchema });
export type Amount = z.infer<typeof AmountSchema>;

/**
 * requires_action: the customer must act in the client (Stripe.js / Razorpay Checkout);
 * pending: the provider is processing, or settled later (COD at delivery);
 * authorized: funds held, capture() moves them; captured: money taken;
 * failed: declined or errored (see `failure`); canceled: voided before capture.
 */
export const PaymentStatusSchema = z.enum(['requires_action', 'pending', 'authorized', 'captured', 'failed', 'canceled']);
export type PaymentStatus = z.infer<typeof PaymentStatusSchema>;

export const RefundStatusSchema = z.enum(['pending', 'succeeded', 'failed']);
export type RefundStatus = z.infer<typeof RefundStatusSchema>;

export const PaymentFailureSchema = z.object({
  /** Provider-neutral reason: card_declined, insufficient_funds, authentication_required, payment_failed, … */
  code: z.string(),
  message: z.string(),
  /** Stripe's decline_code or Razorpay's error reason when there is one. */
  declineCode: z.string().optional(),
});
export type PaymentFailure = z.infer<typeof PaymentFailureSchema>;

export const BeginPaymentSchema = z.object({
  /** OUR id for this payment attempt (`pat_…`): the provider idempotency key. One attempt = one charge. */
  attemptId: z.string().min(10).max(40),
  orderId: z.string().min(1).max(64),
  amount: AmountSchema,
  method: PaymentMethodSchema,
  customer: z.object({ id: z.string().optional(), email: z.string().optional(), phone: z.string().optional() }).optional(),
  /**
   * CARD only: a Stripe PaymentMethod id already tokenised by Stripe.js or a terminal (`pm_…`),
   * to confirm server-side. Without it the client confirms with `clientSecret`. Never card data.
   */
  paymentMethodToken: z.string().startsWith('pm_').optional(),
  /** CARD only: `manual` (default) authorises now and captures with capture(); `automatic` charges at once. */
  captureMethod: z.enum(['manual', 'automatic']).optional(),
});
export type BeginPaymentInput = z.infer<typeof BeginPaymentSchema>;

export type ClientAction =
  | { type: 'stripe_client_secret'; clientSecret: string }
  | { type: 'razorpay_order'; orderId: string; keyId: string; amount: number; currency: string };

export interface PaymentResult {
  status: PaymentStatus;
  provider: PaymentProvider;
  /** Stripe PaymentIntent id, Razorpay order id, or our attempt id for offline methods. */
  providerRef: string;
  clientAction?: ClientAction;
  failure?: PaymentFailure;
}

export interface PaymentSnapshot extends PaymentResult {
  amount: Amount;
  amountCaptured: number;
  amountRefunded: number;
  attemptId: string | null;
  orderId: string | null;
  /**
   * Razorpay: every payment of the order that was captured (refunded since or not), earliest
   * first. One Razorpay order can be paid more than once (a UPI retry, two tabs): the first is the
   * order's payment, any other a duplicate the saga refunds. Absent for Stripe (a PaymentIntent
   * succeeds at most once).
   */
  captures?: Array<{ paymentRef: string; amount: number; amountRefunded: number }>;
}

/** A snapshot's result part (what begin, capture and cancel answer). */
export const toPaymentResult = (s: PaymentSnapshot): PaymentResult => ({
  status: s.status,
  provider: s.provider,
  providerRef: s.providerRef,
  ...(s.clientAction ? { clientAction: s.clientAction } : {}),
  ...(s.failure ? { failure: s.failure } : {}),
});

export const CapturePaymentSchema = z.object({
  attemptId: z.string().min(10).max(40),
  method: PaymentMethodSchema,
  providerRef: z.string().min(1),
  amount: AmountSchema,
});
export type CapturePaymentInput = z.infer<typeof CapturePaymentSchema>;

export const RefundPaymentSchema = z.object({
  /** OUR refund id (`rfd_…`): the provider idempotency key. */
  refundId: z.string().min(10).max(40),
  /** The order refunded: kept with the provider's refund so that its webhooks name the order. */
  orderId: z.string().min(1).max(64).optional(),
  method: PaymentMethodSchema,
  providerRef: z.string().min(1),
  /**
   * Razorpay: the payment (`pay_…`) of the order to refund, when it is not the order's first
   * capture (a duplicate payment). Unset: the order's first captured payment. Stripe ignores it.
   */
  paymentRef: z.string().min(1).max(64).optional(),
  amount: AmountSchema,
  reason: z.string().max(200).optional(),
});
export type RefundPaymentInput = z.infer<typeof RefundPaymentSchema>;

export interface RefundResult {
  status: RefundStatus;
  providerRefundRef: string;
  failure?: PaymentFailure;
}

export const CancelPaymentSchema = z.object({
  attemptId: z.string().min(10).max(40),
  method: PaymentMethodSchema,
  providerRef: z.string().min(1),
});
export type CancelPaymentInput = z.infer<typeof CancelPaymentSchema>;

/**
 * A provider webhook, verified and normalised. `id` is unique per provider event. `disputed`: the
 * cardholder disputed the charge (a chargeback), opened, updated or closed (`dispute.status`).
 */
export const PaymentEventTypeSchema = z.enum(['authorized', 'succeeded', 'failed', 'canceled', 'pending', 'refunded', 'refund_failed', 'disputed']);
export type PaymentEventType = z.infer<typeof PaymentEventTypeSchema>;

/**
 * A dispute (chargeback) of a payment: `status` as the provider says it (Stripe: warning_needs_response,
 * warning_under_review, warning_closed, needs_response, under_review, won, lost), `reason` (fraudulent,
 * product_not_received, …), and when evidence is due (ISO time; null when none is asked).
 */
export const PaymentDisputeSchema = z.object({
  status: z.string().min(1).max(64),
  reason: z.string().max(64).nullable(),
  evidenceDueBy: z.string().nullable(),
});
export type PaymentDispute = z.infer<typeof PaymentDisputeSchema>;

export const PaymentEventSchema = z.object({
  /** `<provider>:<provider event id>`: stable across redeliveries; dedupe on it. */
  id: z.string(),
  provider: z.enum(['stripe', 'razorpay']),
  providerEventId: z.string(),
  providerType: z.string(),
  type: PaymentEventTypeSchema,
  /** From the provider object's metadata/notes/receipt; null when the provider did not carry it (correlate by providerRef). */
  attemptId: z.string().nullable(),
  orderId: z.string().nullable(),
  /** Refund events: our refund id when it was carried. */
  refundId: z.string().nullable(),
  /** What begin() returned: PaymentIntent id or Razorpay order id. */
  providerRef: z.string(),
  /** Razorpay payment id (`pay_…`) or Stripe refund id (`re_…`) when relevant. */
  providerObjectRef: z.string().nullable(),
  amount: AmountSchema.nullable(),
  failure: PaymentFailureSchema.nullable(),
  occurredAt: z.string(),
  /** `disputed` events: the dispute as the provider states it (`providerObjectRef` is its id). */
  dispute: PaymentDisputeSchema.nullable().optional(),
});
export type PaymentEvent = z.infer<typeof PaymentEventSchema>;

export const WebhookAckSchema = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean(),
    ignored: z.boolean(),
    /** Whether the event reached the sink on this delivery (false: recorded, retried later). */
    delivered: z.boolean(),
  })
  .openapi('PaymentWebhookAck');
export type WebhookAck = z.infer<typeof WebhookAckSchema>;

/** Input to reconciliation: an attempt whose outcome we do not know (e.g. a timeout after send). */
export interface UnknownAttempt {
  /** The original begin() input, unchanged (the replay must carry the same parameters). */
  begin: BeginPaymentInput;
  /** Known when begin() returned before the uncertainty arose. */
  providerRef?: string;
}

export type ReconcileOutcome =
  | { attemptId: string; outcome: 'settled'; payment: PaymentSnapshot }
  | { attemptId: string; outcome: 'unknown'; error: { code: string; message: string; retryAfterMs?: number } };
