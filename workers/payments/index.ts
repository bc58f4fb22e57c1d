import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { razorpayWebhookRoute, stripeWebhookRoute } from './payments.routes';
import type { PaymentsService } from './payments.service';

/**
 * Payments' public surface (README.md): the service the order saga calls, the webhook router,
 * the ports it needs wired, and our own payment types.
 */
export { makePaymentsService, type PaymentsDeps, type PaymentsService } from './payments.service';
export { paymentsConfig, strategyFor, type PaymentsConfig, type ResilienceEnv } from './payments.factory';
export { DrizzleWebhookEventStore } from './payments.repo';
export type { PaymentEventSink, PaymentStrategy, WebhookEventStore } from './payments.ports';
export { PaymentProviderError, PaymentUnavailableError } from './resilience';
export { STRIPE_WEBHOOK_EVENTS } from './adapters/stripe-webhook';
export {
  BeginPaymentSchema,
  CancelPaymentSchema,
  CapturePaymentSchema,
  PaymentEventSchema,
  PaymentMethodSchema,
  PaymentStatusSchema,
  RefundPaymentSchema,
  type Amount,
  type BeginPaymentInput,
  type CancelPaymentInput,
  type CapturePaymentInput,
  type ClientAction,
  type PaymentEvent,
  type PaymentEventType,
  type PaymentFailure,
  type PaymentMethod,
  type PaymentProvider,
  type PaymentResult,
  type PaymentSnapshot,
  type PaymentStatus,
  type ReconcileOutcome,
  type RefundPaymentInput,
  type RefundResult,
  type RefundStatus,
  type UnknownAttempt,
  type WebhookAck,
} from './payments.schemas';

export function paymentsRouter(service: (c: Context<AppEnv>) => PaymentsService) {
  const app = createRouter();
  app.openapi(stripeWebhookRoute, async (c) =>
    c.json(await service(c).handleStripeWebhook(await c.req.text(), c.req.valid('header')['stripe-signature']), 200),
  );
  app.openapi(razorpayWebhookRoute, async (c) => {
    const h = c.req.valid('header');
    return c.json(await service(c).handleRazorpayWebhook(await c.req.text(), h['x-razorpay-signature'], h['x-razorpay-event-id']), 200);
  });
  return app;
}
