import type {
  BeginPaymentInput,
  CancelPaymentInput,
  CapturePaymentInput,
  PaymentEvent,
  PaymentProvider,
  PaymentResult,
  PaymentSnapshot,
  RefundPaymentInput,
  RefundResult,
} from './payments.schemas';

/**
 * The payment port: one STRATEGY per payment method, chosen by the factory
 * (payments.factory.ts). Adapters implement it; only adapters/* know a provider's SDK or API.
 *
 * Every method is idempotent by OUR id (attemptId / refundId), which becomes the provider's
 * idempotency key: calling begin() twice with the same attempt gives the same provider object.
 * A decline is a result (`status: 'failed'`), not an exception. Provider trouble throws
 * PaymentUnavailableError (retry later / reconcile) or PaymentProviderError (will not work).
 */
export interface PaymentStrategy {
  readonly provider: PaymentProvider;
  begin(input: BeginPaymentInput): Promise<PaymentResult>;
  capture(input: CapturePaymentInput): Promise<PaymentResult>;
  refund(input: RefundPaymentInput): Promise<RefundResult>;
  /** How a refund the provider answered `pending` stands now (reconciliation of refunds). */
  retrieveRefund(providerRefundRef: string): Promise<RefundResult>;
  /** The provider's current view of the payment (for reconciliation). */
  retrieve(providerRef: string, hint?: { attemptId: string; amount: BeginPaymentInput['amount'] }): Promise<PaymentSnapshot>;
  /** Finds an attempt's provider object by our attempt id when begin() never returned its ref; null if the provider has none. */
  locate(attemptId: string, hint?: { amount: BeginPaymentInput['amount'] }): Promise<PaymentSnapshot | null>;
  cancel(input: CancelPaymentInput): Promise<PaymentResult>;
}

/**
 * Where verified, normalised provider events go (the order saga). deliver() must be idempotent
 * by `event.id` and tolerate any order: an event may arrive before begin() returned to the saga,
 * twice, or after a later one. Throwing means "not now": the event is recorded undelivered and
 * is offered again (provider redelivery or redeliverPending).
 */
export interface PaymentEventSink {
  /**
   * Takes one verified event. Every copy a provider sends is offered (the inbox is written after
   * the offer, off the path to the order's new state), so a sink must apply an event id once:
   * the order saga keeps the ids it applied.
   */
  deliver(event: PaymentEvent): Promise<void>;
}

/** What offering an event to the sink came to: taken (when), or its error. */
export type DeliveryOutcome = { deliveredAt: Date } | { error: string };

/** The webhook inbox (payment_webhook_events): one row per (provider, provider event id). */
export interface WebhookEventStore {
  /**
   * Records the event with the outcome of offering it, in one statement: a new row; or, for a row
   * not yet delivered, one more attempt with this outcome; a row already delivered stays as it is.
   * `inserted`: the row is new; `wasDelivered`: an earlier copy had already been delivered.
   */
  record(event: PaymentEvent, outcome: DeliveryOutcome): Promise<{ inserted: boolean; wasDelivered: boolean }>;
  markDelivered(event: PaymentEvent, at: Date): Promise<void>;
  markFailed(event: PaymentEvent, error: string): Promise<void>;
  /** Recorded but not yet accepted by the sink, oldest first. */
  undelivered(limit: number): Promise<PaymentEvent[]>;
}
