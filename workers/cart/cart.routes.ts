import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { actorOf } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { problemContent } from '../../shared/http/problem';
import {
  AddItemBodySchema,
  CartIdParamSchema,
  CartItemParamSchema,
  CartSchema,
  IdempotencyHeaderSchema,
  UpdateItemBodySchema,
} from './cart.schemas';

const problem = (description: string) => ({ description, content: problemContent });
const cartContent = { 'application/json': { schema: CartSchema } };

/**
 * Carts work with or without an access token: without one, a guest cart (its unguessable id is
 * the capability); with one, the user's cart (only its owner reaches it; anyone else gets 404).
 * A token that is present but invalid is still a 401.
 */
const optionalActor: MiddlewareHandler<AppEnv> = async (c, next) => {
  await actorOf(c);
  await next();
};

const security: Record<string, string[]>[] = [{}, { bearerAuth: [] }];

export const createCartRoute = createRoute({
  method: 'post',
  path: '/v1/carts',
  operationId: 'cart.create',
  tags: ['Cart'],
  summary: 'Open a cart (signed in: your cart, the same on every device)',
  description:
    "Without a token: a new guest cart, addressed by its unguessable id. With a user's token: the user's active cart (200 when it exists, 201 when a new one was opened, e.g. after a checkout).",
  security,
  middleware: [optionalActor] as const,
  responses: {
    200: { description: 'Your active cart', content: cartContent },
    201: { description: 'A new cart', content: cartContent },
    401: problem('The access token is not valid, or its account was erased'),
    409: problem('Two devices opened the user\'s cart at the same moment and this one lost twice (CONFLICT): try again'),
  },
});

export const getCartRoute = createRoute({
  method: 'get',
  path: '/v1/carts/{id}',
  operationId: 'cart.get',
  tags: ['Cart'],
  summary: 'A cart, at current prices',
  description: 'Each line shows the current catalog price and the price when it was added; `priceChanged` flags the lines whose price moved.',
  security,
  middleware: [optionalActor] as const,
  request: { params: CartIdParamSchema },
  responses: {
    200: { description: 'The cart', content: cartContent },
    400: problem('Malformed cart id'),
    401: problem('The access token is not valid'),
    404: problem("No such cart, or another user's (CART_NOT_FOUND)"),
  },
});

const writeRefusals = {
  400: problem('Invalid request (unknown fields included)'),
  401: problem('The access token is not valid'),
  404: problem("No such cart or item, or another user's cart (CART_NOT_FOUND, CART_ITEM_NOT_FOUND)"),
  409: problem('Checked out (CART_CHECKED_OUT), or not enough stock (OUT_OF_STOCK, INSUFFICIENT_STOCK)'),
  410: problem('Closed by a merge (CART_CLOSED) or expired (CART_EXPIRED)'),
  422: problem('Unknown product or variant, not sellable, over a quantity limit, Idempotency-Key reused with another body'),
};

export const addItemRoute = createRoute({
  method: 'post',
  path: '/v1/carts/{id}/items',
  operationId: 'cart.addItem',
  tags: ['Cart'],
  summary: 'Add units of a variant',
  description:
    'Checks the product is sold and that enough units are available (nothing is reserved: that happens at checkout). Adding a variant already in the cart adds to its line. Accepts `Idempotency-Key`.',
  security,
  middleware: [optionalActor] as const,
  request: {
    params: CartIdParamSchema,
    headers: IdempotencyHeaderSchema,
    body: { content: { 'application/json': { schema: AddItemBodySchema } }, required: true },
  },
  responses: { 201: { description: 'The cart after the change', content: cartContent }, ...writeRefusals },
});

export const updateItemRoute = createRoute({
  method: 'patch',
  path: '/v1/carts/{id}/items/{itemId}',
  operationId: 'cart.updateItem',
  tags: ['Cart'],
  summary: "Set a line's quantity",
  security,
  middleware: [optionalActor] as const,
  request: { params: CartItemParamSchema, body: { content: { 'application/json': { schema: UpdateItemBodySchema } }, required: true } },
  responses: { 200: { description: 'The cart after the change', content: cartContent }, ...writeRefusals },
});

export const removeItemRoute = createRoute({
  method: 'delete',
  path: '/v1/carts/{id}/items/{itemId}',
  operationId: 'cart.removeItem',
  tags: ['Cart'],
  summary: 'Remove a line',
  security,
  middleware: [optionalActor] as const,
  request: { params: CartItemParamSchema },
  responses: { 200: { description: 'The cart after the change', content: cartContent }, ...writeRefusals },
});
