import type { z } from '@hono/zod-openapi';
import { zodIssuesToFieldErrors } from '../../shared/http/problem';
import { AppError, validationFailed } from '../../shared/kernel/app-error';
import type { Clock } from '../../shared/kernel/clock';
import { normaliseRazorpayEvent, verifyRazorpayWebhook } from './adapters/razorpay-webhook';
import { normaliseStripeEvent, verifyStripeWebhook, WebhookShapeError, WebhookSignatureError } from './adapters/stripe-webhook';
import { realResilienceEnv, strategyFor, type PaymentsConfig, type ResilienceEnv } from './payments.factory';
import type { DeliveryOutcome, PaymentEventSink, WebhookEventStore } from './payments.ports';
import {
  BeginPaymentSchema,
  CancelPaymentSchema,
  CapturePaymentSchema,
  PaymentMethodSchema,
  RefundPaymentSchema,
  type BeginPaymentInput,
  type CancelPaymentInput,
  type CapturePaymentInput,
  type PaymentEvent,
  type PaymentMethod,
  type PaymentResult,
  type PaymentSnapshot,
  type ReconcileOutcome,
  type RefundPaymentInput,
  type RefundResult,
  type UnknownAttempt,
  type WebhookAck,
} from './payments.schemas';
import { PaymentProviderError, PaymentUnavailableError } from './resilience';

export interface PaymentsDeps {
  config: PaymentsConfig;
  /** The webhook inbox (DrizzleWebhookEventStore over the request's pool). */
  store: () => WebhookEventStore;
  /** Where normalised events go: the order saga (the gateway wires it). */
  sink: PaymentEventSink;
  clock: Clock;
  resilience?: ResilienceEnv;
  log?: Record<string, unknown>;
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw validationFailed(zodIssuesToFieldErrors('payment', r.error.issues));
  return r.data;
}

export function makePaymentsService(deps: PaymentsDeps) {
  const env = deps.resilience ?? realResilienceEnv;
  const strategy = (method: PaymentMethod) => strategyFor(method, deps.config, env);

  /**
   * Offers the event to the sink first, so the order sees its payment without waiting for
   * Postgres, then records it with the outcome in one statement (the inbox: dedupe for the
   * answer, and the list redeliverPending works from). A failed record throws: the provider sends
   * the event again and the sink, idempotent by event id, applies it once.
   */
  async function accept(event: PaymentEvent | null): Promise<WebhookAck> {
    if (!event) return { received: true, duplicate: false, ignored: true, delivered: false };
    const outcome = await offer(event);
    const { inserted, wasDelivered } = await deps.store().record(event, outcome);
    return { received: true, duplicate: !inserted, ignored: false, delivered: 'deliveredAt' in outcome && !wasDelivered };
  }

  /**
   * Names the order of an event that does not: a Razorpay payment event carries our notes only
   * when Checkout passed them (a `payment.failed` often has `notes: []`), and its Razorpay order,
   * which we created with our notes, names the order; a Stripe refund or dispute made outside
   * Agora names only its PaymentIntent, whose metadata (ours) names the order and attempt.
   */
  async function correlated(event: PaymentEvent): Promise<PaymentEvent> {
    if (event.orderId || !event.providerRef) return event;
    // Stripe: a PaymentIntent's own events carry its metadata; a refund made in the Stripe
    // dashboard and a dispute carry none of ours, only their PaymentIntent, whose metadata names
    // the order and the attempt (the saga then checks that the intent is the order's own).
    const viaIntent = event.provider === 'stripe' && (event.type === 'refunded' || event.type === 'refund_failed' || event.type === 'disputed');
    if (event.provider !== 'razorpay' && !viaIntent) return event;
    try {
      const found = await strategy(event.provider === 'stripe' ? 'CARD' : 'UPI').retrieve(event.providerRef);
      return { ...event, orderId: found.orderId ?? null, attemptId: event.attemptId ?? found.attemptId ?? null };
    } catch (e) {
      // The provider knows no such order or intent (not one of ours): nothing to correlate, the event is not ours.
      if (e instanceof PaymentProviderError && (e.failure.kind === 'not_found' || e.failure.kind === 'invalid')) return event;
      throw e;
    }
  }

  async function offer(event: PaymentEvent): Promise<DeliveryOutcome> {
    try {
      await deps.sink.deliver(await correlated(event));
      return { deliveredAt: deps.clock.now() };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (deps.log) deps.log.paymentSinkError = message;
      return { error: message };
    }
  }

  /** redeliverPending: offers a recorded, undelivered event again and records the outcome. */
  async function deliver(store: WebhookEventStore, event: PaymentEvent): Promise<boolean> {
    const outcome = await offer(event);
    if ('deliveredAt' in outcome) await store.markDelivered(event, outcome.deliveredAt);
    else await store.markFailed(event, outcome.error);
    return 'deliveredAt' in outcome;
  }

  const service = {
    /** Starts a payment attempt. Idempotent by attemptId. A decline is `status: 'failed'`. */
    begin(input: BeginPaymentInput): Promise<PaymentResult> {
      const valid = parse(BeginPaymentSchema, input);
      return strategy(valid.method).begin(valid);
    },

    capture(input: CapturePaymentInput): Promise<PaymentResult> {
      const valid = parse(CapturePaymentSchema, input);
      return strategy(valid.method).capture(valid);
    },

    /** Idempotent by refundId. */
    refund(input: RefundPaymentInput): Promise<RefundResult> {
      const valid = parse(RefundPaymentSchema, input);
      return strategy(valid.method).refund(valid);
    },

    cancel(input: CancelPaymentInput): Promise<PaymentResult> {
      const valid = parse(CancelPaymentSchema, input);
      return strategy(valid.method).cancel(valid);
    },

    retrieve(method: PaymentMethod, providerRef: string): Promise<PaymentSnapshot> {
      return strategy(parse(PaymentMethodSchema, method)).retrieve(providerRef);
    },

    /** How a refund answered `pending` stands now at its provider. */
    retrieveRefund(method: PaymentMethod, providerRefundRef: string): Promise<RefundResult> {
      return strategy(parse(PaymentMethodSchema, method)).retrieveRefund(providerRefundRef);
    },

    /**
     * Settles attempts whose outcome is unknown (timeout after send, crash mid-call): asks the
     * provider by providerRef, or finds the attempt by our id. Never creates or charges anything.
     * `not_found` means the provider has no object for the attempt (for Stripe, search can lag
     * about a minute behind a create: treat not_found as final only for attempts older than that).
     */
    async reconcile(attempts: UnknownAttempt[]): Promise<Array<ReconcileOutcome | { attemptId: string; outcome: 'not_found' }>> {
      const out: Array<ReconcileOutcome | { attemptId: string; outcome: 'not_found' }> = [];
      for (const a of attempts) {
        const begin = parse(BeginPaymentSchema, a.begin);
        try {
          const s = strategy(begin.method);
          const payment = a.providerRef
            ? await s.retrieve(a.providerRef, { attemptId: begin.attemptId, amount: begin.amount })
            : await s.locate(begin.attemptId, { amount: begin.amount });
          out.push(payment ? { attemptId: begin.attemptId, outcome: 'settled', payment } : { attemptId: begin.attemptId, outcome: 'not_found' });
        } catch (err) {
          if (err instanceof PaymentUnavailableError || err instanceof PaymentProviderError || err instanceof AppError) {
            out.push({
              attemptId: begin.attemptId,
              outcome: 'unknown',
              error: { code: err.code, message: err.message, ...(err instanceof PaymentUnavailableError ? { retryAfterMs: err.retryAfterMs } : {}) },
            });
          } else throw err;
        }
      }
      return out;
    },

    /** POST /v1/payments/webhooks/stripe: verify, dedupe, normalise, deliver. */
    async handleStripeWebhook(rawBody: string, signature: string | undefined): Promise<WebhookAck> {
      const secret = deps.config.stripeWebhookSecret;
      if (!secret) throw new AppError('DEPENDENCY_UNAVAILABLE', 'Stripe webhooks are not configured');
      let event;
      try {
        event = await verifyStripeWebhook(rawBody, signature, secret);
      } catch (err) {
        if (err instanceof WebhookSignatureError) throw new AppError('WEBHOOK_SIGNATURE_INVALID', err.message);
        if (err instanceof WebhookShapeError) throw validationFailed(zodIssuesToFieldErrors('body', err.issues));
        throw err;
      }
      if (deps.log) Object.assign(deps.log, { webhookProvider: 'stripe', webhookEvent: event.id, webhookType: event.type });
      return accept(normaliseStripeEvent(event));
    },

    /** POST /v1/payments/webhooks/razorpay. */
    async handleRazorpayWebhook(rawBody: string, signature: string | undefined, eventId: string | undefined): Promise<WebhookAck> {
      const secret = deps.config.razorpayWebhookSecret;
      if (!secret) throw new AppError('DEPENDENCY_UNAVAILABLE', 'Razorpay webhooks are not configured');
      let hook;
      try {
        hook = await verifyRazorpayWebhook(rawBody, signature, eventId, secret);
      } catch (err) {
        if (err instanceof WebhookSignatureError) throw new AppError('WEBHOOK_SIGNATURE_INVALID', err.message);
        if (err instanceof WebhookShapeError) throw validationFailed(zodIssuesToFieldErrors('body', err.issues));
        throw err;
      }
      if (deps.log) Object.assign(deps.log, { webhookProvider: 'razorpay', webhookEvent: hook.eventId, webhookType: hook.body.event });
      return accept(normaliseRazorpayEvent(hook));
    },

    /** Offers recorded-but-undelivered events to the sink again, oldest first (call from a scheduled handler). */
    async redeliverPending(limit = 100): Promise<{ delivered: number; failed: number }> {
      const store = deps.store();
      let delivered = 0;
      let failed = 0;
      for (const event of await store.undelivered(limit)) {
        if (await deliver(store, event)) delivered++;
        else failed++;
      }
      return { delivered, failed };
    },
  };
  return service;
}

export type PaymentsService = ReturnType<typeof makePaymentsService>;
