import type { PaymentEvent, PaymentEventType } from '../payments.schemas';
import { toHex } from '../../../shared/kernel/hex';
import { z } from 'zod';
import { EpochSeconds, WebhookShapeError, WebhookSignatureError } from './stripe-webhook';

/**
 * Razorpay webhooks: `X-Razorpay-Signature` is the hex HMAC-SHA256 of the RAW body keyed with
 * the webhook secret (not the API key secret); `X-Razorpay-Event-Id` identifies the event
 * across redeliveries.
 */
const encoder = new TextEncoder();

async function hmacHex(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(body)));
  return toHex(mac);
}

/** Compares two hex digests in time independent of where they differ (their length is public). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export interface RazorpayWebhook {
  eventId: string;
  body: RazorpayWebhookBody;
}

interface RzpEntity {
  id: string;
  amount: number;
  currency: string;
  status?: string;
  order_id?: string | null;
  payment_id?: string;
  receipt?: string | null;
  notes?: Record<string, string> | unknown[];
  error_code?: string | null;
  error_description?: string | null;
  error_reason?: string | null;
}

export interface RazorpayWebhookBody {
  entity: 'event';
  event: string;
  contains?: string[];
  payload: { payment?: { entity: RzpEntity }; order?: { entity: RzpEntity }; refund?: { entity: RzpEntity } };
  created_at: number;
}

const Entity = z.object({
  id: z.string().min(1).max(255),
  amount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  currency: z.string().regex(/^[A-Za-z]{3}$/),
  created_at: EpochSeconds.optional(),
});
/** What normaliseRazorpayEvent reads; a signed body without it is a 400 (Razorpay's own never lack it). */
const RazorpayBodyShape = z.object({
  event: z.string().min(1).max(255),
  created_at: EpochSeconds,
  payload: z.object({
    payment: z.object({ entity: Entity }).optional(),
    order: z.object({ entity: Entity }).optional(),
    refund: z.object({ entity: Entity }).optional(),
  }),
});

export async function verifyRazorpayWebhook(rawBody: string, signature: string | undefined, eventId: string | undefined, secret: string): Promise<RazorpayWebhook> {
  if (!signature) throw new WebhookSignatureError('X-Razorpay-Signature header is missing');
  if (!constantTimeEqual(await hmacHex(secret, rawBody), signature.trim().toLowerCase())) {
    throw new WebhookSignatureError('X-Razorpay-Signature does not match the body');
  }
  let body: RazorpayWebhookBody;
  try {
    body = JSON.parse(rawBody) as RazorpayWebhookBody;
  } catch {
    throw new WebhookSignatureError('The signed body is not JSON');
  }
  const shape = RazorpayBodyShape.safeParse(body);
  if (!shape.success) throw new WebhookShapeError(shape.error.issues);
  // Razorpay always sends the event id; without it, the signed body itself identifies the event.
  const id = eventId?.trim() || `sha256:${(await hmacHex('agora-razorpay-event', rawBody)).slice(0, 40)}`;
  return { eventId: id, body };
}

/** Notes as Razorpay keeps them (string values; an empty set arrives as `[]`). */
const notes = (n: RzpEntity['notes']): Record<string, string> =>
  n && typeof n === 'object' && !Array.isArray(n) ? Object.fromEntries(Object.entries(n).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};

const TYPES: Record<string, PaymentEventType> = {
  'payment.authorized': 'authorized',
  'payment.captured': 'succeeded',
  'order.paid': 'succeeded',
  'payment.failed': 'failed',
  'refund.processed': 'refunded',
  'refund.failed': 'refund_failed',
};

export function normaliseRazorpayEvent(w: RazorpayWebhook): PaymentEvent | null {
  const type = TYPES[w.body.event];
  if (!type) return null;
  const payment = w.body.payload.payment?.entity;
  const order = w.body.payload.order?.entity;
  const refund = w.body.payload.refund?.entity;
  const providerRef = order?.id ?? payment?.order_id ?? null;
  if (!providerRef) return null;
  const isRefund = type === 'refunded' || type === 'refund_failed';
  // Our refunds carry the order in their own notes; payments carry Checkout's notes only when
  // Checkout passed them (an event without any is correlated by its Razorpay order: payments.service).
  const n = { ...notes(order?.notes), ...notes(payment?.notes), ...(isRefund ? notes(refund?.notes) : {}) };
  const money = isRefund ? refund : (payment ?? order);
  return {
    id: `razorpay:${w.eventId}`,
    provider: 'razorpay',
    providerEventId: w.eventId,
    providerType: w.body.event,
    type,
    attemptId: n.attemptId ?? order?.receipt ?? null,
    orderId: n.orderId ?? null,
    refundId: isRefund ? (notes(refund?.notes).refundId ?? refund?.receipt ?? null) : null,
    providerRef,
    providerObjectRef: isRefund ? (refund?.id ?? null) : (payment?.id ?? null),
    amount: money ? { amount: money.amount, currency: money.currency } : null,
    failure:
      type === 'failed' && payment
        ? { code: payment.error_reason ?? payment.error_code ?? 'payment_failed', message: payment.error_description ?? 'The payment failed', ...(payment.error_reason ? { declineCode: payment.error_reason } : {}) }
        : type === 'refund_failed'
          ? { code: 'refund_failed', message: 'The refund failed' }
          : null,
    occurredAt: new Date(w.body.created_at * 1000).toISOString(),
  };
}
