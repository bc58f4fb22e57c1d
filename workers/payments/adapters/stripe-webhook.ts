import Stripe from 'stripe';
import { z } from 'zod';
import type { PaymentEvent, PaymentEventType } from '../payments.schemas';

/** Verified Stripe webhooks (Stripe-Signature, 5 minutes tolerance) → PaymentEvent, or null when we do not use the type. */
const crypto = Stripe.createSubtleCryptoProvider();

export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';
}

/** A correctly signed body that is not the event shape we read (a 400, never a 500). */
export class WebhookShapeError extends Error {
  override name = 'WebhookShapeError';
  constructor(readonly issues: z.core.$ZodIssue[]) {
    super('The signed body is not a well-formed event');
  }
}

/** Seconds since the epoch that make a storable time (years 1970 to 9999). */
export const EpochSeconds = z.number().int().min(0).max(253_402_300_799);
const Currency = z.string().regex(/^[A-Za-z]{3}$/);
const Amount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Metadata = z.record(z.string(), z.string()).nullish();

const StripeEventShape = z.object({ id: z.string().min(1).max(255), type: z.string().min(1).max(255), created: EpochSeconds, data: z.object({ object: z.record(z.string(), z.unknown()) }) });
const PaymentIntentShape = z.object({
  id: z.string().min(1).max(255),
  amount: Amount,
  amount_received: Amount.nullish(),
  amount_capturable: Amount.nullish(),
  currency: Currency,
  metadata: Metadata,
});
const RefundShape = z.object({
  id: z.string().min(1).max(255),
  amount: Amount,
  currency: Currency,
  status: z.string().nullish(),
  payment_intent: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  metadata: Metadata,
});
const DisputeShape = z.object({
  id: z.string().min(1).max(255),
  amount: Amount,
  currency: Currency,
  status: z.string().min(1).max(64),
  reason: z.string().max(64).nullish(),
  payment_intent: z.union([z.string(), z.object({ id: z.string() })]).nullish(),
  evidence_details: z.object({ due_by: EpochSeconds.nullish() }).nullish(),
  metadata: Metadata,
});

export async function verifyStripeWebhook(rawBody: string, signature: string | undefined, secret: string, toleranceSeconds = 300): Promise<Stripe.Event> {
  if (!signature) throw new WebhookSignatureError('Stripe-Signature header is missing');
  let event: Stripe.Event;
  try {
    event = await Stripe.webhooks.constructEventAsync(rawBody, signature, secret, toleranceSeconds, crypto);
  } catch (err) {
    throw new WebhookSignatureError(err instanceof Error ? err.message : String(err));
  }
  // Signed, but read below only if it has the fields we use (Stripe's own events always do).
  const shape = StripeEventShape.safeParse(event);
  if (!shape.success) throw new WebhookShapeError(shape.error.issues);
  const object = PI_TYPES[event.type]
    ? PaymentIntentShape
    : (REFUND_TYPES as readonly string[]).includes(event.type)
      ? RefundShape
      : (DISPUTE_TYPES as readonly string[]).includes(event.type)
        ? DisputeShape
        : null;
  const inner = object?.safeParse(event.data.object);
  if (inner && !inner.success) throw new WebhookShapeError(inner.error.issues.map((i) => ({ ...i, path: ['data', 'object', ...i.path] })));
  return event;
}

const PI_TYPES: Readonly<Record<string, PaymentEventType>> = {
  'payment_intent.amount_capturable_updated': 'authorized',
  'payment_intent.succeeded': 'succeeded',
  'payment_intent.payment_failed': 'failed',
  'payment_intent.canceled': 'canceled',
  'payment_intent.processing': 'pending',
};

const REFUND_TYPES = ['refund.created', 'refund.updated', 'refund.failed'] as const;

/**
 * A cardholder's dispute (chargeback) of a charge: opened, its status changed (evidence
 * submitted, under review), closed (won, lost). Stripe takes the disputed amount from the balance
 * when it opens; someone must answer before `evidence_details.due_by`.
 */
const DISPUTE_TYPES = ['charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed'] as const;

/**
 * The Stripe event types this adapter turns into payment events: what a Stripe webhook endpoint
 * for Agora subscribes to (its `enabled_events`; workers/payments/README.md). Any other type is
 * acknowledged and ignored, so subscribing to more only costs requests.
 */
export const STRIPE_WEBHOOK_EVENTS: readonly string[] = [...Object.keys(PI_TYPES), ...REFUND_TYPES, ...DISPUTE_TYPES];

export function normaliseStripeEvent(event: Stripe.Event): PaymentEvent | null {
  const occurredAt = new Date(event.created * 1000).toISOString();
  const common = { id: `stripe:${event.id}`, provider: 'stripe' as const, providerEventId: event.id, providerType: event.type, occurredAt };
  const piType = PI_TYPES[event.type];
  if (piType) {
    const pi = event.data.object as Stripe.PaymentIntent;
    const amount =
      piType === 'authorized' ? pi.amount_capturable : piType === 'succeeded' ? pi.amount_received || pi.amount : pi.amount;
    const err = pi.last_payment_error;
    return {
      ...common,
      type: piType,
      attemptId: pi.metadata?.attemptId ?? null,
      orderId: pi.metadata?.orderId ?? null,
      refundId: null,
      providerRef: pi.id,
      providerObjectRef: null,
      amount: { amount, currency: pi.currency.toUpperCase() },
      failure:
        piType === 'failed'
          ? { code: err?.code ?? 'payment_failed', message: err?.message ?? 'The payment failed', ...(err?.decline_code ? { declineCode: err.decline_code } : {}) }
          : null,
    };
  }
  if ((REFUND_TYPES as readonly string[]).includes(event.type)) {
    const refund = event.data.object as Stripe.Refund;
    const type: PaymentEventType | null =
      refund.status === 'succeeded' ? 'refunded' : refund.status === 'failed' || refund.status === 'canceled' ? 'refund_failed' : null;
    const pi = typeof refund.payment_intent === 'string' ? refund.payment_intent : refund.payment_intent?.id;
    if (!type || !pi) return null;
    return {
      ...common,
      type,
      attemptId: null,
      // Set on refunds made since 0.3.13 (the order's saga passes it); older ones, and refunds made
      // in the Stripe dashboard, have none: correlated through their PaymentIntent (payments.service).
      orderId: refund.metadata?.orderId ?? null,
      refundId: refund.metadata?.refundId ?? null,
      providerRef: pi,
      providerObjectRef: refund.id,
      amount: { amount: refund.amount, currency: refund.currency.toUpperCase() },
      failure: type === 'refund_failed' ? { code: refund.failure_reason ?? 'refund_failed', message: 'The refund failed' } : null,
    };
  }
  if ((DISPUTE_TYPES as readonly string[]).includes(event.type)) {
    const dispute = event.data.object as Stripe.Dispute;
    const pi = typeof dispute.payment_intent === 'string' ? dispute.payment_intent : dispute.payment_intent?.id;
    // A dispute of a charge made without a PaymentIntent is not one of ours (we only use intents).
    if (!pi) return null;
    const dueBy = dispute.evidence_details?.due_by;
    return {
      ...common,
      type: 'disputed',
      // A dispute carries no metadata of ours: correlated through its PaymentIntent (payments.service).
      attemptId: dispute.metadata?.attemptId ?? null,
      orderId: dispute.metadata?.orderId ?? null,
      refundId: null,
      providerRef: pi,
      providerObjectRef: dispute.id,
      amount: { amount: dispute.amount, currency: dispute.currency.toUpperCase() },
      failure: null,
      dispute: { status: dispute.status, reason: dispute.reason ?? null, evidenceDueBy: typeof dueBy === 'number' ? new Date(dueBy * 1000).toISOString() : null },
    };
  }
  return null;
}
