import { registerOrderSagaPorts, type PaymentsPort } from '../../durable-objects/order/order.stub';
import { readConfig } from '../../shared/env';
import { AppError } from '../../shared/kernel/app-error';
import { makeSagaPorts } from '../orders';
import { PaymentProviderError, PaymentUnavailableError, type PaymentsService } from '../payments';
import { buildServices } from './services';

/**
 * Composition of the order saga's ports (durable-objects/order/order.ports.ts): inventory's
 * objects, the payments context's strategies, and the order-events queue. Registered once when
 * the Worker's module loads, before any order object is constructed.
 */

/** Errors after which the outcome is unknown or the provider is down: the saga retries the step later. */
const retryable = (e: unknown) => e instanceof PaymentUnavailableError || (e instanceof PaymentProviderError && e.failure.retryable) || !(e instanceof AppError);

export function paymentsPort(payments: PaymentsService): PaymentsPort {
  return {
    async begin(input) {
      try {
        const r = await payments.begin({
          attemptId: input.attemptId,
          orderId: input.orderId,
          amount: { amount: input.amount, currency: input.currency },
          method: input.method,
          customer: { id: input.userId },
          captureMethod: 'automatic',
        });
        if (r.status === 'captured') return { status: 'captured', providerRef: r.providerRef, amountCaptured: input.amount };
        if (r.status === 'failed' || r.status === 'canceled') {
          return { status: 'failed', providerRef: r.providerRef, failure: { code: r.failure?.code ?? 'declined', message: r.failure?.message ?? 'the payment was declined' } };
        }
        const action = r.clientAction;
        if (!action) throw new Error('the provider returned no client action');
        return {
          status: 'requires_action',
          providerRef: r.providerRef,
          clientAction: action.type === 'stripe_client_secret' ? action : { type: 'razorpay_order', razorpayOrderId: action.orderId, keyId: action.keyId },
        };
      } catch (e) {
        if (retryable(e)) throw e;
        // Refused for good (4xx other than 429, validation): the payment fails; nothing was charged.
        const code = e instanceof PaymentProviderError ? (e.failure.opts.providerCode ?? e.failure.kind) : e instanceof AppError ? e.code : 'payment_error';
        return { status: 'failed', providerRef: null, failure: { code: String(code).toLowerCase(), message: e instanceof Error ? e.message : String(e) } };
      }
    },
    async retrieve({ method, providerRef }) {
      if (!providerRef) return { status: 'open' };
      const p = await payments.retrieve(method, providerRef);
      if (p.status === 'captured') return { status: 'captured', amountCaptured: p.amountCaptured, ...(p.captures ? { captures: p.captures } : {}) };
      if (p.status === 'failed') return { status: 'failed', failure: { code: p.failure?.code ?? 'declined', message: p.failure?.message ?? 'the payment failed' } };
      if (p.status === 'canceled') return { status: 'cancelled' };
      if (p.status === 'authorized') return { status: 'authorized' };
      return { status: 'open' };
    },
    async capture({ attemptId, method, providerRef, amount, currency }) {
      try {
        const r = await payments.capture({ attemptId, method, providerRef, amount: { amount, currency } });
        if (r.status === 'captured') return { status: 'captured', amountCaptured: amount };
      } catch (e) {
        if (retryable(e)) throw e;
        // Refused (captured meanwhile, say): how it stands is asked below.
      }
      const p = await payments.retrieve(method, providerRef);
      if (p.status === 'captured') return { status: 'captured', amountCaptured: p.amountCaptured };
      throw new Error(`the authorized payment could not be captured (it is ${p.status})`);
    },
    async cancel({ attemptId, method, providerRef }) {
      if (!providerRef) return { status: 'cancelled' };
      const r = await payments.cancel({ attemptId, method, providerRef });
      if (r.status === 'captured') {
        const p = await payments.retrieve(method, providerRef);
        return { status: 'captured', amountCaptured: p.amountCaptured };
      }
      // Stripe refuses to cancel an intent still `processing` (the money is on its way): not
      // cancelled yet, and it may still be captured. The step is retried until the intent settles,
      // so a capture is seen (and refunded) even if its webhook never comes.
      if (r.status === 'pending') throw new Error(`the payment ${providerRef} is still processing at the provider; it cannot be cancelled yet`);
      return { status: 'cancelled' };
    },
    async refund({ refundId, orderId, method, providerRef, paymentRef, amount, currency }) {
      if (!providerRef) return { status: 'failed', providerRefundRef: null, failure: { code: 'no_payment', message: 'nothing was charged at the provider' } };
      const r = await payments.refund({ refundId, orderId, method, providerRef, ...(paymentRef ? { paymentRef } : {}), amount: { amount, currency }, reason: 'requested_by_customer' });
      return { status: r.status, providerRefundRef: r.providerRefundRef, ...(r.failure ? { failure: { code: r.failure.code, message: r.failure.message } } : {}) };
    },
    async refundStatus({ method, providerRefundRef }) {
      return { status: (await payments.retrieveRefund(method, providerRefundRef)).status };
    },
  };
}

registerOrderSagaPorts((env) => {
  const config = readConfig(env);
  const services = buildServices(env, config, (p) => void p.catch(() => undefined));
  return makeSagaPorts({
    objects: env,
    payments: paymentsPort(services.payments),
    queue: env.ORDER_EVENTS,
    paymentTimeoutMs: config.ORDER_PAYMENT_TIMEOUT_SECONDS * 1000,
  });
});
