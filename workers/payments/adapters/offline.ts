import type { PaymentStrategy } from '../payments.ports';
import type {
  BeginPaymentInput,
  CancelPaymentInput,
  CapturePaymentInput,
  PaymentMethod,
  PaymentResult,
  PaymentSnapshot,
  RefundPaymentInput,
  RefundResult,
} from '../payments.schemas';

/**
 * Methods with no provider. The provider ref is our attempt id.
 * - COD: begin → `pending` (settled at delivery); capture() when the courier collected the cash
 *   → `captured`; cancel → `canceled`; a refund is money staff paid back (bank transfer, cash):
 *   the admin records it once paid out → `succeeded`.
 * - POS_CASH / POS_CARD_PRESENT: the till already took the money (the POS reports it captured):
 *   begin → `captured`; a refund is given at the till → `succeeded`.
 * There is nothing to reconcile: retrieve() answers from the method alone.
 */
export class OfflineStrategy implements PaymentStrategy {
  readonly provider = 'offline' as const;

  constructor(readonly method: Extract<PaymentMethod, 'COD' | 'POS_CASH' | 'POS_CARD_PRESENT'>) {}

  get #atTill(): boolean {
    return this.method !== 'COD';
  }

  async begin(input: BeginPaymentInput): Promise<PaymentResult> {
    return { status: this.#atTill ? 'captured' : 'pending', provider: 'offline', providerRef: input.attemptId };
  }

  async capture(input: CapturePaymentInput): Promise<PaymentResult> {
    return { status: 'captured', provider: 'offline', providerRef: input.providerRef };
  }

  /** Given at the till, or paid out by staff before the admin records it: done either way. */
  async refund(input: RefundPaymentInput): Promise<RefundResult> {
    return { status: 'succeeded', providerRefundRef: input.refundId };
  }

  /** Nobody to ask: what was recorded is what happened. */
  async retrieveRefund(providerRefundRef: string): Promise<RefundResult> {
    return { status: 'succeeded', providerRefundRef };
  }

  async retrieve(providerRef: string, hint?: { attemptId: string; amount: BeginPaymentInput['amount'] }): Promise<PaymentSnapshot> {
    const amount = hint?.amount ?? { amount: 0, currency: 'XXX' };
    return {
      status: this.#atTill ? 'captured' : 'pending',
      provider: 'offline',
      providerRef,
      amount,
      amountCaptured: this.#atTill ? amount.amount : 0,
      amountRefunded: 0,
      attemptId: hint?.attemptId ?? providerRef,
      orderId: null,
    };
  }

  async locate(attemptId: string, hint?: { amount: BeginPaymentInput['amount'] }): Promise<PaymentSnapshot | null> {
    return this.retrieve(attemptId, hint ? { attemptId, amount: hint.amount } : undefined);
  }

  async cancel(input: CancelPaymentInput): Promise<PaymentResult> {
    return { status: this.#atTill ? 'captured' : 'canceled', provider: 'offline', providerRef: input.providerRef };
  }
}
