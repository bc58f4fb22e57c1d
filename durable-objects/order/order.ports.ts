import type { EventEnvelope } from '../../shared/events';
import type { ClientAction, PaymentMethod, ReservedItem } from './order.schemas';

/**
 * What the order saga needs from outside: inventory (reserve, commit, release, restock), the
 * payment provider of the order's method, and the order-events queue. The gateway builds them
 * from the Worker's env and registers the factory (`registerOrderSagaPorts`), so the object
 * never imports another context. Every call is retry-safe: it carries an id derived from the
 * order, which inventory and the providers treat as an idempotency key.
 *
 * A port THROWS when the outcome is unknown (network, timeout, breaker open): the saga keeps the
 * step and retries it later with the same ids. It RETURNS a refusal when the answer is known.
 */
export type ReserveOutcome = { ok: true; items: ReservedItem[] } | { ok: false; code: string; message: string; sku: string | null };

export interface InventoryPort {
  reserve(input: {
    opId: string;
    reservationId: string;
    orderId: string;
    ttlSeconds: number;
    items: Array<{ sku: string; quantity: number; shards: number }>;
    distances?: Record<string, number>;
  }): Promise<ReserveOutcome>;
  /**
   * Stock leaves: the reservation becomes a sale. Done (or already done) resolves. `soldAt` (the
   * time the order was paid, or placed for cash on delivery) dates the sale if the hold has lapsed.
   */
  commit(input: { opId: string; reservationId: string; items: ReservedItem[]; soldAt: string }): Promise<void>;
  /** Units come back to available (cancelled or payment failed before commit). */
  release(input: { opId: string; reservationId: string; items: ReservedItem[]; reason: 'cancelled' | 'payment_failed' }): Promise<void>;
  /** Committed units go back on hand (an order cancelled after payment, before shipping). */
  restock(input: { opId: string; items: ReservedItem[]; note: string }): Promise<void>;
}

export type BeginOutcome =
  | { status: 'requires_action'; providerRef: string; clientAction: ClientAction }
  | { status: 'captured'; providerRef: string; amountCaptured: number }
  | { status: 'failed'; providerRef: string | null; failure: { code: string; message: string } };

/** One captured payment of a provider order (Razorpay: a `pay_…`; one order may be paid more than once). */
export interface CapturedPayment {
  paymentRef: string;
  amount: number;
  /** What the provider has refunded of it already. */
  amountRefunded: number;
}

export type RetrieveOutcome =
  | {
      status: 'captured';
      amountCaptured: number;
      /**
       * Razorpay: every payment of the order that was captured, earliest first (the first is the
       * order's; any other is a duplicate the saga refunds). Absent for providers where an
       * attempt is paid at most once (Stripe).
       */
      captures?: CapturedPayment[];
    }
  | { status: 'failed'; failure: { code: string; message: string } }
  | { status: 'cancelled' }
  /** Authorized, not captured (a Razorpay account set to capture by hand): the saga captures it. */
  | { status: 'authorized' }
  | { status: 'open' };

export interface PaymentsPort {
  begin(input: { attemptId: string; orderId: string; method: PaymentMethod; amount: number; currency: string; userId: string }): Promise<BeginOutcome>;
  /** Asks the provider how an attempt stands (reconciliation, the unpaid-order timeout). */
  retrieve(input: { attemptId: string; method: PaymentMethod; providerRef: string | null }): Promise<RetrieveOutcome>;
  /**
   * Captures an attempt the provider only authorized (the saga asked for automatic capture).
   * Answers `captured` with the amount, also when it was captured already.
   */
  capture(input: { attemptId: string; method: PaymentMethod; providerRef: string; amount: number; currency: string }): Promise<{ status: 'captured'; amountCaptured: number }>;
  /** Cancels an attempt not yet paid. Answers how it ended: `captured` means it was paid meanwhile. */
  cancel(input: { attemptId: string; method: PaymentMethod; providerRef: string | null }): Promise<{ status: 'cancelled' | 'captured'; amountCaptured?: number }>;
  refund(input: {
    refundId: string;
    /** Written into the provider's refund (metadata/notes), so its webhooks find the order. */
    orderId: string;
    attemptId: string;
    method: PaymentMethod;
    providerRef: string | null;
    /** The provider payment to refund when it is not the order's own (a duplicate capture); null: the order's payment. */
    paymentRef?: string | null;
    amount: number;
    currency: string;
  }): Promise<{ status: 'succeeded' | 'pending' | 'failed'; providerRefundRef: string | null; failure?: { code: string; message: string } }>;
  /** Asks the provider how a refund it answered `pending` stands now. */
  refundStatus(input: { method: PaymentMethod; providerRefundRef: string }): Promise<{ status: 'succeeded' | 'pending' | 'failed' }>;
}

export interface SagaConfig {
  /** How long an unpaid order (card, UPI) waits for its payment before it cancels itself. */
  paymentTimeoutMs: number;
}

export interface SagaPorts {
  inventory: InventoryPort;
  payments: PaymentsPort;
  publish(events: EventEnvelope[]): Promise<void>;
  config: SagaConfig;
}

let factory: ((env: Env) => SagaPorts) | null = null;

/** Called once by the Worker's entry (workers/gateway) with the composition of the saga's ports. */
export function registerOrderSagaPorts(make: (env: Env) => SagaPorts): void {
  factory = make;
}

export function sagaPortsFor(env: Env): SagaPorts {
  if (!factory) throw new Error('order saga ports are not registered (workers/gateway/index.ts registers them)');
  return factory(env);
}
