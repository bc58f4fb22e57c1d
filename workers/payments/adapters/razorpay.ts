import type { PaymentStrategy } from '../payments.ports';
import type {
  BeginPaymentInput,
  CancelPaymentInput,
  CapturePaymentInput,
  PaymentFailure,
  PaymentResult,
  PaymentSnapshot,
  RefundPaymentInput,
  RefundResult,
} from '../payments.schemas';
import { toPaymentResult } from '../payments.schemas';
import { PaymentProviderError, ProviderFailure, withResilience, type Resilience } from '../resilience';

/**
 * UPI and NETBANKING through Razorpay Orders, over its documented REST API with Basic auth
 * (key_id:key_secret). One Razorpay order per attempt: `receipt` = our attempt id, and every
 * create is preceded by a lookup (GET /v1/orders?receipt=) inside the same retried call, so a
 * create that timed out after it was processed is found, not repeated. Refunds carry
 * `X-Refund-Idempotency: <refund id>`.
 */
export interface RazorpaySettings {
  keyId: string;
  keySecret: string;
  /** Unset = https://api.razorpay.com. */
  apiBase?: string;
  timeoutMs: number;
}

interface RzpOrder {
  id: string;
  entity: 'order';
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  receipt: string | null;
  status: 'created' | 'attempted' | 'paid';
  notes: Record<string, string> | unknown[];
  created_at: number;
}

interface RzpPayment {
  id: string;
  entity: 'payment';
  amount: number;
  currency: string;
  status: 'created' | 'authorized' | 'captured' | 'refunded' | 'failed';
  order_id: string | null;
  method: string;
  amount_refunded: number;
  captured: boolean;
  notes: Record<string, string> | unknown[];
  error_code: string | null;
  error_description: string | null;
  error_reason: string | null;
  created_at: number;
}

interface RzpRefund {
  id: string;
  entity: 'refund';
  amount: number;
  payment_id: string;
  status: 'pending' | 'processed' | 'failed';
}

interface RzpCollection<T> {
  entity: 'collection';
  count: number;
  items: T[];
}

const notesOf = (n: RzpOrder['notes']): Record<string, string> => (Array.isArray(n) ? {} : n);

export class RazorpayApi {
  readonly base: string;
  readonly #auth: string;

  constructor(readonly settings: RazorpaySettings) {
    this.base = (settings.apiBase ?? 'https://api.razorpay.com').replace(/\/+$/, '');
    this.#auth = `Basic ${btoa(`${settings.keyId}:${settings.keySecret}`)}`;
  }

  /** One HTTP call with a timeout; non-2xx become ProviderFailures. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: this.#auth,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (controller.signal.aborted) throw new ProviderFailure('timeout', `razorpay ${method} ${path} timed out after ${this.settings.timeoutMs}ms`, { cause: err });
      throw new ProviderFailure('network', `razorpay ${method} ${path}: ${String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new ProviderFailure('server', `razorpay ${method} ${path}: response is not JSON`, { status, cause: err });
      }
    }
    let error: { code?: string; description?: string; reason?: string } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      // a proxy's HTML error page
    }
    const message = `razorpay ${method} ${path} → ${status}: ${error.description ?? text.slice(0, 200)}`;
    const providerCode = error.reason && error.reason !== 'NA' ? error.reason : error.code;
    if (status === 429) {
      const seconds = Number(retryAfter);
      throw new ProviderFailure('rate_limited', message, {
        status,
        mayHaveReachedProvider: false,
        ...(retryAfter && Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : {}),
        providerCode,
      });
    }
    if (status >= 500) throw new ProviderFailure('server', message, { status, providerCode });
    if (status === 401 || status === 403) throw new ProviderFailure('auth', message, { status, providerCode });
    if (status === 404) throw new ProviderFailure('not_found', message, { status, providerCode });
    if (status === 409) throw new ProviderFailure('conflict', message, { status, providerCode });
    throw new ProviderFailure('invalid', message, { status, providerCode });
  }
}

function failureOf(p: RzpPayment): PaymentFailure {
  return {
    code: p.error_code === 'BAD_REQUEST_ERROR' && p.error_reason ? p.error_reason : (p.error_code ?? 'payment_failed'),
    message: p.error_description ?? 'The payment failed',
    ...(p.error_reason ? { declineCode: p.error_reason } : {}),
  };
}

/**
 * The order's payments that were captured (refunded since or not), earliest first (ties by id):
 * one order may be paid more than once. The first is the order's payment; the same order here
 * and in the saga's duplicate check, whatever order Razorpay lists them in.
 */
export function capturedPayments(payments: RzpPayment[]): RzpPayment[] {
  return payments
    .filter((p) => p.status === 'captured' || p.status === 'refunded')
    .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function normaliseRazorpay(order: RzpOrder, payments: RzpPayment[], keyId: string): PaymentSnapshot {
  const notes = notesOf(order.notes);
  const captured = capturedPayments(payments);
  const settled = captured[0];
  const authorized = payments.find((p) => p.status === 'authorized');
  const inFlight = payments.find((p) => p.status === 'created');
  const base = {
    provider: 'razorpay' as const,
    providerRef: order.id,
    amount: { amount: order.amount, currency: order.currency },
    attemptId: notes.attemptId ?? order.receipt ?? null,
    orderId: notes.orderId ?? null,
    amountRefunded: settled?.amount_refunded ?? 0,
  };
  if (settled || order.status === 'paid') {
    return {
      ...base,
      status: 'captured',
      amountCaptured: settled?.amount ?? order.amount_paid,
      captures: captured.map((p) => ({ paymentRef: p.id, amount: p.amount, amountRefunded: p.amount_refunded })),
    };
  }
  if (authorized) return { ...base, status: 'authorized', amountCaptured: 0 };
  if (inFlight) return { ...base, status: 'pending', amountCaptured: 0 };
  const lastFailed = payments.filter((p) => p.status === 'failed').sort((a, b) => b.created_at - a.created_at)[0];
  if (lastFailed) return { ...base, status: 'failed', amountCaptured: 0, failure: failureOf(lastFailed) };
  return {
    ...base,
    status: 'requires_action',
    amountCaptured: 0,
    clientAction: { type: 'razorpay_order', orderId: order.id, keyId, amount: order.amount, currency: order.currency },
  };
}

export class RazorpayStrategy implements PaymentStrategy {
  readonly provider = 'razorpay' as const;

  constructor(
    private readonly api: RazorpayApi,
    private readonly resilience: Resilience,
  ) {}

  #call<T>(fn: () => Promise<T>): Promise<T> {
    return withResilience('razorpay', this.resilience, fn).catch((err: unknown) => {
      if (err instanceof ProviderFailure) throw new PaymentProviderError('razorpay', err);
      throw err;
    });
  }

  async #snapshot(order: RzpOrder): Promise<PaymentSnapshot> {
    const payments = await this.api.request<RzpCollection<RzpPayment>>('GET', `/v1/orders/${encodeURIComponent(order.id)}/payments`);
    return normaliseRazorpay(order, payments.items, this.api.settings.keyId);
  }

  async #findByReceipt(attemptId: string): Promise<RzpOrder | null> {
    const found = await this.api.request<RzpCollection<RzpOrder>>('GET', `/v1/orders?receipt=${encodeURIComponent(attemptId)}&count=1`);
    return found.items[0] ?? null;
  }

  begin(input: BeginPaymentInput): Promise<PaymentResult> {
    return this.#call(async () => {
      const existing = await this.#findByReceipt(input.attemptId);
      const order =
        existing ??
        (await this.api.request<RzpOrder>('POST', '/v1/orders', {
          amount: input.amount.amount,
          currency: input.amount.currency,
          receipt: input.attemptId,
          notes: { attemptId: input.attemptId, orderId: input.orderId, method: input.method },
        }));
      return toPaymentResult(existing ? await this.#snapshot(order) : normaliseRazorpay(order, [], this.api.settings.keyId));
    });
  }

  capture(input: CapturePaymentInput): Promise<PaymentResult> {
    return this.#call(async () => {
      const order = await this.api.request<RzpOrder>('GET', `/v1/orders/${encodeURIComponent(input.providerRef)}`);
      const payments = (await this.api.request<RzpCollection<RzpPayment>>('GET', `/v1/orders/${encodeURIComponent(order.id)}/payments`)).items;
      const authorized = payments.find((p) => p.status === 'authorized');
      if (!authorized) return toPaymentResult(normaliseRazorpay(order, payments, this.api.settings.keyId));
      try {
        await this.api.request<RzpPayment>('POST', `/v1/payments/${encodeURIComponent(authorized.id)}/capture`, {
          amount: input.amount.amount,
          currency: input.amount.currency,
        });
      } catch (err) {
        // A concurrent capture won the race: fall through and report the order as it is now.
        if (!(err instanceof ProviderFailure && err.kind === 'invalid')) throw err;
      }
      return toPaymentResult(await this.#snapshot(order));
    });
  }

  refund(input: RefundPaymentInput): Promise<RefundResult> {
    return this.#call(async () => {
      const payments = capturedPayments((await this.api.request<RzpCollection<RzpPayment>>('GET', `/v1/orders/${encodeURIComponent(input.providerRef)}/payments`)).items);
      // The order's payment (its first capture), or the duplicate named, which must be one of this order's.
      const captured = input.paymentRef ? payments.find((p) => p.id === input.paymentRef) : payments[0];
      if (!captured) return { status: 'failed' as const, providerRefundRef: '', failure: { code: 'not_captured', message: input.paymentRef ? `No captured payment ${input.paymentRef} of this order` : 'No captured payment to refund' } };
      try {
        const refund = await this.api.request<RzpRefund>(
          'POST',
          `/v1/payments/${encodeURIComponent(captured.id)}/refund`,
          { amount: input.amount.amount, receipt: input.refundId, notes: { refundId: input.refundId, ...(input.orderId ? { orderId: input.orderId } : {}) } },
          { 'x-refund-idempotency': input.refundId },
        );
        return toRefundResult(refund);
      } catch (err) {
        if (err instanceof ProviderFailure && err.kind === 'invalid') {
          return { status: 'failed' as const, providerRefundRef: '', failure: { code: err.opts.providerCode ?? 'refund_failed', message: err.message } };
        }
        throw err;
      }
    });
  }

  retrieveRefund(providerRefundRef: string): Promise<RefundResult> {
    return this.#call(async () => {
      return toRefundResult(await this.api.request<RzpRefund>('GET', `/v1/refunds/${encodeURIComponent(providerRefundRef)}`));
    });
  }

  retrieve(providerRef: string): Promise<PaymentSnapshot> {
    return this.#call(async () => this.#snapshot(await this.api.request<RzpOrder>('GET', `/v1/orders/${encodeURIComponent(providerRef)}`)));
  }

  locate(attemptId: string): Promise<PaymentSnapshot | null> {
    return this.#call(async () => {
      const order = await this.#findByReceipt(attemptId);
      return order ? this.#snapshot(order) : null;
    });
  }

  /**
   * Razorpay orders cannot be voided; an authorized payment that is never captured is refunded
   * by Razorpay automatically. So cancel only reports `canceled` when nothing was captured.
   */
  async cancel(input: CancelPaymentInput): Promise<PaymentResult> {
    const now = await this.retrieve(input.providerRef);
    if (now.status === 'captured') return toPaymentResult(now);
    return { status: 'canceled', provider: 'razorpay', providerRef: input.providerRef };
  }
}

/** A Razorpay refund in our terms (created or read back). */
function toRefundResult(refund: RzpRefund): RefundResult {
  const status = refund.status === 'processed' ? ('succeeded' as const) : refund.status === 'failed' ? ('failed' as const) : ('pending' as const);
  return { status, providerRefundRef: refund.id, ...(status === 'failed' ? { failure: { code: 'refund_failed', message: 'The refund failed' } } : {}) };
}
