import { createRoute, z } from '@hono/zod-openapi';
import { problemContent } from '../../shared/http/problem';
import { WebhookAckSchema } from './payments.schemas';

const problem = (description: string) => ({ description, content: problemContent });

const rawBodyNote =
  'The body is read raw (never re-serialised) because the signature covers its exact bytes. Verified events are recorded once per provider event id and handed to the order saga; duplicates and unknown event types are acknowledged with 200.';

export const stripeWebhookRoute = createRoute({
  method: 'post',
  path: '/v1/payments/webhooks/stripe',
  operationId: 'payments.stripeWebhook',
  tags: ['Payments'],
  summary: 'Stripe webhook endpoint (Stripe-Signature verified)',
  description: rawBodyNote,
  request: { headers: z.object({ 'stripe-signature': z.string().optional() }) },
  responses: {
    200: { description: 'Recorded (or a duplicate, or a type we do not use)', content: { 'application/json': { schema: WebhookAckSchema } } },
    400: problem('Missing or invalid signature'),
    503: problem('Stripe webhooks are not configured'),
  },
});

export const razorpayWebhookRoute = createRoute({
  method: 'post',
  path: '/v1/payments/webhooks/razorpay',
  operationId: 'payments.razorpayWebhook',
  tags: ['Payments'],
  summary: 'Razorpay webhook endpoint (X-Razorpay-Signature verified)',
  description: rawBodyNote,
  request: { headers: z.object({ 'x-razorpay-signature': z.string().optional(), 'x-razorpay-event-id': z.string().optional() }) },
  responses: {
    200: { description: 'Recorded (or a duplicate, or a type we do not use)', content: { 'application/json': { schema: WebhookAckSchema } } },
    400: problem('Missing or invalid signature'),
    503: problem('Razorpay webhooks are not configured'),
  },
});
