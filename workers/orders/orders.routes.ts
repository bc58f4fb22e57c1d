import { createRoute, z } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import {
  AdminOrderListQuerySchema,
  CancelBodySchema,
  CarrierParamSchema,
  FulfilmentBodySchema,
  IdempotencyHeaderSchema,
  OrderListQuerySchema,
  OrderListSchema,
  OrderParamSchema,
  OrderSchema,
  PlaceOrderBodySchema,
  PlaceOrderHeaderSchema,
  RefundBodySchema,
  TrackingSchema,
} from './orders.schemas';

const problem = (description: string) => ({ description, content: problemContent });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
/** A write's 201, which a replay of its Idempotency-Key answers again (the order as it stands), marked. */
const created = <T extends z.ZodType>(schema: T, description: string) => ({
  ...json(schema, `${description}. The same Idempotency-Key and body again answers 201 too, with \`Idempotent-Replayed: true\` and the order as it stands`),
  headers: { 'Idempotent-Replayed': { description: '`true` on a replay of the Idempotency-Key', schema: { type: 'string' as const, enum: ['true'] } } },
});
const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });
const auth = [{ bearerAuth: [] }];

export const placeOrderRoute = createRoute({
  method: 'post',
  path: '/v1/orders',
  operationId: 'orders.place',
  tags: ['Orders'],
  summary: 'Place an order from a cart or from items',
  description:
    "Prices are re-read from the catalog and stock is reserved all-or-nothing. The answer is the order in PENDING with `payment.clientAction` (for cards, Stripe's client secret). Also accepts the original design's body `{ userId, items: [{ productId, qty }], paymentMethod }`.",
  security: auth,
  middleware: [requires('orders:place')] as const,
  request: { headers: PlaceOrderHeaderSchema, ...body(PlaceOrderBodySchema) },
  responses: {
    201: created(OrderSchema, 'The order, PENDING (or PAID when paid at the till)'),
    400: problem('Invalid body'),
    401: problem('No valid access token'),
    403: problem('Ordering for someone else without being an agent'),
    404: problem('Unknown cart'),
    409: problem('OUT_OF_STOCK, or the cart was already checked out'),
    410: problem('The cart was merged into a user\'s cart at login (CART_CLOSED) or expired (CART_EXPIRED)'),
    422: problem('Unknown product or variant, not for sale, quantity limit, method not allowed (PAYMENT_METHOD_NOT_ALLOWED: a till method without being a POS agent, or UPI/NETBANKING for items not priced in INR), CUSTOMER_NOT_FOUND (the userId named is no active account), or the key was used with another body'),
    503: problem('Inventory could not be reached: retry with the same Idempotency-Key'),
  },
});

export const listMyOrdersRoute = createRoute({
  method: 'get',
  path: '/v1/orders',
  operationId: 'orders.listMine',
  tags: ['Orders'],
  summary: 'My orders, newest first',
  security: auth,
  middleware: [requires('self')] as const,
  request: { query: OrderListQuerySchema },
  responses: { 200: json(OrderListSchema, 'A page of orders'), 400: problem('Invalid query'), 401: problem('No valid access token'), 403: problem('Not a user') },
});

export const getOrderRoute = createRoute({
  method: 'get',
  path: '/v1/orders/{id}',
  operationId: 'orders.get',
  tags: ['Orders'],
  summary: 'One order, live from its object',
  security: auth,
  middleware: [requires('orders:read')] as const,
  request: { params: OrderParamSchema },
  responses: { 200: json(OrderSchema, 'The order'), 400: problem('Invalid id'), 401: problem('No valid access token'), 403: problem('A client without orders:read'), 404: problem('No such order (or not yours)') },
});

export const trackingRoute = createRoute({
  method: 'get',
  path: '/v1/orders/{id}/tracking',
  operationId: 'orders.tracking',
  tags: ['Orders'],
  summary: "An order's timeline: its transitions and every parcel's carrier events",
  security: auth,
  middleware: [requires('orders:read')] as const,
  request: { params: OrderParamSchema },
  responses: { 200: json(TrackingSchema, 'The timeline'), 400: problem('Invalid id'), 401: problem('No valid access token'), 403: problem('A client without orders:read'), 404: problem('No such order (or not yours)') },
});

export const cancelOrderRoute = createRoute({
  method: 'post',
  path: '/v1/orders/{id}/cancel',
  operationId: 'orders.cancel',
  tags: ['Orders'],
  summary: 'Cancel before anything ships (stock released; refunded when paid)',
  security: auth,
  middleware: [requires('orders:read')] as const,
  request: { params: OrderParamSchema, body: { content: { 'application/json': { schema: CancelBodySchema } }, required: false } },
  responses: {
    200: json(OrderSchema, 'The order, CANCELLED (a refund pending or done when it was paid)'),
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not the customer, an admin or a POS agent of its store; a sale paid at the till only by the last two'),
    404: problem('No such order (or not yours)'),
    409: problem('ORDER_NOT_CANCELLABLE: shipped, delivered, failed or refunded'),
  },
});

export const fulfilRoute = createRoute({
  method: 'post',
  path: '/v1/orders/{id}/fulfillments',
  operationId: 'orders.fulfil',
  tags: ['Orders'],
  summary: 'Ship some or all items from a warehouse (staff bound to it, admins)',
  security: auth,
  middleware: [requires('orders:fulfil')] as const,
  request: { params: OrderParamSchema, headers: IdempotencyHeaderSchema, ...body(FulfilmentBodySchema) },
  responses: {
    201: created(OrderSchema, 'The order with the new shipment'),
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such order'),
    409: problem('ORDER_NOT_SHIPPABLE (unpaid, cancelled, already shipped), TRACKING_NUMBER_IN_USE (a parcel of this order has this carrier and tracking number)'),
    422: problem("More than is left to ship (SHIPMENT_EXCEEDS_ORDER); a line not held in this warehouse, or more of it than was held there (WRONG_WAREHOUSE); the key was used with another body"),
  },
});

export const refundRoute = createRoute({
  method: 'post',
  path: '/v1/admin/orders/{id}/refunds',
  operationId: 'orders.refund',
  tags: ['Orders'],
  summary: 'Refund captured money, fully or partially (admins)',
  security: auth,
  middleware: [requires('orders:refund')] as const,
  request: { params: OrderParamSchema, headers: IdempotencyHeaderSchema, ...body(RefundBodySchema) },
  responses: {
    201: created(OrderSchema, 'The order with the refund (pending until the provider confirms)'),
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not an admin'),
    404: problem('No such order'),
    409: problem('NOTHING_TO_REFUND'),
    422: problem('REFUND_EXCEEDS_CAPTURED, or the key was used with another body'),
  },
});

export const adminListRoute = createRoute({
  method: 'get',
  path: '/v1/admin/orders',
  operationId: 'orders.adminList',
  tags: ['Orders'],
  summary: 'Search every order (admins): by status, user, store, SKU, payment method, time',
  security: auth,
  middleware: [requires('orders:admin')] as const,
  request: { query: AdminOrderListQuerySchema },
  responses: { 200: json(OrderListSchema, 'A page of orders'), 400: problem('Invalid query'), 401: problem('No valid access token'), 403: problem('Not an admin') },
});

export const carrierWebhookRoute = createRoute({
  method: 'post',
  path: '/v1/shipping/webhooks/{carrier}',
  operationId: 'orders.carrierWebhook',
  tags: ['Orders'],
  summary: "A carrier's tracking update (HMAC-SHA256 of the raw body in x-carrier-signature)",
  request: {
    params: CarrierParamSchema,
    headers: z.object({ 'x-carrier-signature': z.string().max(200).optional().openapi({ param: { name: 'x-carrier-signature', in: 'header' } }) }),
  },
  responses: {
    200: json(z.object({ received: z.literal(true), applied: z.number().int() }), 'Applied (or already applied)'),
    400: problem('Bad signature or body'),
    404: problem('Unknown tracking number (the carrier retries)'),
  },
});
