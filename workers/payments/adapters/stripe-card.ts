import Stripe from 'stripe';
import type { PaymentStrategy } from '../payments.ports';
import type {
  BeginPaymentInput,
  CancelPaymentInput,
  CapturePaymentInput,
  PaymentFailure,
  PaymentResult,
  PaymentSnapshot,
  PaymentStatus,
  RefundPaymentInput,
  RefundResult,
} from '../payments.schemas';
import { toPaymentResult } from '../payments.schemas';
import { PaymentProviderError, ProviderFailure, withResilience, type Resilience } from '../resilience';

/**
 * CARD through Stripe PaymentIntents with the official SDK over fetch. Our attempt id is the
 * Idempotency-Key of the create (capture/cancel use `<attemptId>:capture|cancel`, refunds our
 * refund id), and the SDK's own retries are off: withResilience retries with the same key.
 */
export interface StripeSettings {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111 (emulator); unset = api.stripe.com. */
  apiBase?: string;
  timeoutMs: number;
}

export function createStripeClient(s: StripeSettings): Stripe {
  const config: Stripe.StripeConfig = {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 0,
    timeout: s.timeoutMs,
    telemetry: false,
  };
  if (s.apiBase) {
    const url = new URL(s.apiBase);
    config.protocol = url.protocol === 'http:' ? 'http' : 'https';
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'http:' ? 80 : 443);
  }
  return new Stripe(s.secretKey, config);
}

interface StripeLikeError {
  type?: string;
  statusCode?: number;
  code?: string;
  decline_code?: string;
  message?: string;
  raw?: { payment_intent?: Stripe.PaymentIntent };
  payment_intent?: Stripe.PaymentIntent;
}

/** Stripe SDK errors → ProviderFailure (retryable or not). */
export function stripeFailure(err: unknown): ProviderFailure {
  const e = err as StripeLikeError;
  const message = e?.message ?? String(err);
  switch (e?.type) {
    case 'StripeConnectionError':
      return new ProviderFailure(/timeout/i.test(message) ? 'timeout' : 'network', message, { cause: err });
    case 'StripeRateLimitError':
      return new ProviderFailure('rate_limited', message, { status: 429, mayHaveReachedProvider: false, cause: err });
    case 'StripeAPIError':
      return new ProviderFailure('server', message, { status: e.statusCode, cause: err });
    case 'StripeCardError':
      return new ProviderFailure('declined', message, { status: 402, providerCode: e.code, cause: err });
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
      return new ProviderFailure('auth', message, { status: e.statusCode, cause: err });
    case 'StripeIdempotencyError':
      return new ProviderFailure('conflict', message, { status: e.statusCode, providerCode: e.code, cause: err });
    case 'StripeInvalidRequestError':
      return new ProviderFailure(e.statusCode === 404 ? 'not_found' : 'invalid', message, { status: e.statusCode, providerCode: e.code, cause: err });
    default:
      if (typeof e?.statusCode === 'number' && e.statusCode >= 500) return new ProviderFailure('server', message, { status: e.statusCode, cause: err });
      if (e?.statusCode === 429) return new ProviderFailure('rate_limited', message, { status: 429, mayHaveReachedProvider: false, cause: err });
      if (typeof e?.statusCode === 'number') return new ProviderFailure('invalid', message, { status: e.statusCode, providerCode: e.code, cause: err });
      return new ProviderFailure('network', message, { cause: err });
  }
}

function piStatus(pi: Stripe.PaymentIntent): PaymentStatus {
  switch (pi.status) {
    case 'requires_payment_method':
      return pi.last_payment_error ? 'failed' : 'requires_action';
    case 'requires_confirmation':
    case 'requires_action':
      return 'requires_action';
    case 'processing':
      return 'pending';
    case 'requires_capture':
      return 'authorized';
    case 'succeeded':
      return 'captured';
    case 'canceled':
      return 'canceled';
    default:
      return 'pending';
  }
}

function piFailure(pi: Stripe.PaymentIntent): PaymentFailure | undefined {
  const e = pi.last_payment_error;
  if (!e || pi.status !== 'requires_payment_method') return undefined;
  return { code: e.code ?? 'payment_failed', message: e.message ?? 'The payment failed', ...(e.decline_code ? { declineCode: e.decline_code } : {}) };
}

export function normalisePaymentIntent(pi: Stripe.PaymentIntent): PaymentSnapshot {
  const status = piStatus(pi);
  const charge = typeof pi.latest_charge === 'object' && pi.latest_charge ? pi.latest_charge : null;
  const failure = piFailure(pi);
  return {
    status,
    provider: 'stripe',
    providerRef: pi.id,
    ...(status === 'requires_action' && pi.client_secret ? { clientAction: { type: 'stripe_client_secret' as const, clientSecret: pi.client_secret } } : {}),
    ...(failure ? { failure } : {}),
    amount: { amount: pi.amount, currency: pi.currency.toUpperCase() },
    amountCaptured: pi.amount_received ?? 0,
    amountRefunded: charge?.amount_refunded ?? 0,
    attemptId: pi.metadata?.attemptId ?? null,
    orderId: pi.metadata?.orderId ?? null,
  };
}

export class StripeCardStrategy implements PaymentStrategy {
  readonly provider = 'stripe' as const;

  constructor(
    private readonly stripe: Stripe,
    private readonly resilience: Resilience,
  ) {}

  /** One provider call under the breaker and retries; SDK errors become ProviderFailures. */
  #call<T>(fn: () => Promise<T>): Promise<T> {
    return withResilience('stripe', this.resilience, async () => {
      try {
        return await fn();
      } catch (err) {
        throw stripeFailure(err);
      }
    });
  }

  #refuse(err: unknown): never {
    if (err instanceof ProviderFailure) throw new PaymentProviderError('stripe', err);
    throw err;
  }

  async begin(input: BeginPaymentInput): Promise<PaymentResult> {
    const confirmNow = input.paymentMethodToken !== undefined;
    const params: Stripe.PaymentIntentCreateParams = {
      amount: input.amount.amount,
      currency: input.amount.currency.toLowerCase(),
      capture_method: input.captureMethod ?? 'manual',
      description: `Order ${input.orderId}`,
      metadata: { attemptId: input.attemptId, orderId: input.orderId, ...(input.customer?.id ? { customerId: input.customer.id } : {}) },
      ...(input.customer?.email ? { receipt_email: input.customer.email } : {}),
      automatic_payment_methods: confirmNow ? { enabled: true, allow_redirects: 'never' } : { enabled: true },
      ...(confirmNow ? { payment_method: input.paymentMethodToken, confirm: true } : {}),
    };
    try {
      const pi = await this.#call(() => this.stripe.paymentIntents.create(params, { idempotencyKey: input.attemptId }));
      return toPaymentResult(normalisePaymentIntent(pi));
    } catch (err) {
      if (err instanceof ProviderFailure && err.kind === 'declined') return this.#declined(err);
      return this.#refuse(err);
    }
  }

  #declined(err: ProviderFailure): PaymentResult {
    const e = err.cause as StripeLikeError;
    const pi = e?.raw?.payment_intent ?? e?.payment_intent;
    return {
      status: 'failed',
      provider: 'stripe',
      providerRef: pi?.id ?? '',
      failure: { code: e?.code ?? 'card_declined', message: err.message, ...(e?.decline_code ? { declineCode: e.decline_code } : {}) },
    };
  }

  async capture(input: CapturePaymentInput): Promise<PaymentResult> {
    try {
      const pi = await this.#call(() =>
        this.stripe.paymentIntents.capture(input.providerRef, { amount_to_capture: input.amount.amount }, { idempotencyKey: `${input.attemptId}:capture` }),
      );
      return toPaymentResult(normalisePaymentIntent(pi));
    } catch (err) {
      // Already captured (or canceled) by an earlier call: report where it is now.
      if (err instanceof ProviderFailure && err.opts.providerCode === 'payment_intent_unexpected_state') {
        return toPaymentResult(await this.retrieve(input.providerRef));
      }
      return this.#refuse(err);
    }
  }

  async cancel(input: CancelPaymentInput): Promise<PaymentResult> {
    try {
      const pi = await this.#call(() => this.stripe.paymentIntents.cancel(input.providerRef, {}, { idempotencyKey: `${input.attemptId}:cancel` }));
      return toPaymentResult(normalisePaymentIntent(pi));
    } catch (err) {
      if (err instanceof ProviderFailure && err.opts.providerCode === 'payment_intent_unexpected_state') {
        return toPaymentResult(await this.retrieve(input.providerRef));
      }
      return this.#refuse(err);
    }
  }

  async refund(input: RefundPaymentInput): Promise<RefundResult> {
    try {
      const refund = await this.#call(() =>
        this.stripe.refunds.create(
          {
            payment_intent: input.providerRef,
            amount: input.amount.amount,
            reason: 'requested_by_customer',
            metadata: { refundId: input.refundId, ...(input.orderId ? { orderId: input.orderId } : {}), ...(input.reason ? { note: input.reason } : {}) },
          },
          { idempotencyKey: input.refundId },
        ),
      );
      return toRefundResult(refund);
    } catch (err) {
      if (err instanceof ProviderFailure && (err.kind === 'invalid' || err.kind === 'declined')) {
        return { status: 'failed', providerRefundRef: '', failure: { code: err.opts.providerCode ?? 'refund_failed', message: err.message } };
      }
      return this.#refuse(err);
    }
  }

  async retrieveRefund(providerRefundRef: string): Promise<RefundResult> {
    try {
      return toRefundResult(await this.#call(() => this.stripe.refunds.retrieve(providerRefundRef)));
    } catch (err) {
      return this.#refuse(err);
    }
  }

  async retrieve(providerRef: string): Promise<PaymentSnapshot> {
    try {
      const pi = await this.#call(() => this.stripe.paymentIntents.retrieve(providerRef, { expand: ['latest_charge'] }));
      return normalisePaymentIntent(pi);
    } catch (err) {
      return this.#refuse(err);
    }
  }

  /** Finds the PaymentIntent of an attempt by its metadata (search), or null. */
  async locate(attemptId: string): Promise<PaymentSnapshot | null> {
    try {
      const found = await this.#call(() => this.stripe.paymentIntents.search({ query: `metadata['attemptId']:'${attemptId.replace(/'/g, '')}'`, limit: 1 }));
      const pi = found.data[0];
      return pi ? normalisePaymentIntent(pi) : null;
    } catch (err) {
      return this.#refuse(err);
    }
  }
}

/** A Stripe Refund in our terms (created or read back). */
function toRefundResult(refund: Stripe.Refund): RefundResult {
  const status = refund.status === 'succeeded' ? 'succeeded' : refund.status === 'failed' || refund.status === 'canceled' ? 'failed' : 'pending';
  return {
    status,
    providerRefundRef: refund.id,
    ...(status === 'failed' ? { failure: { code: refund.failure_reason ?? 'refund_failed', message: 'The refund failed' } } : {}),
  };
}
