import { createRoute, type z } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import {
  AdjustmentBodySchema,
  AdjustmentResultSchema,
  AvailabilitySchema,
  IdempotencyHeaderSchema,
  ReleaseQuerySchema,
  ReservationParamSchema,
  ReservationSchema,
  ReserveBodySchema,
  ShardsBodySchema,
  ShardsResultSchema,
  SkuParamSchema,
  TransferBodySchema,
  TransferListQuerySchema,
  TransferListSchema,
  TransferParamSchema,
  TransferSchema,
  WarehouseParamSchema,
  WarehouseStockQuerySchema,
  WarehouseStockSchema,
} from './inventory.schemas';

const problem = (description: string) => ({ description, content: problemContent });
/** A keyed write's 201, which a replay of its Idempotency-Key answers again (the first answer), marked as the orders routes do. */
const created = <T extends z.ZodType>(schema: T, description: string) => ({
  description: `${description}. The same Idempotency-Key and body again answers 201 with the first answer, marked \`Idempotent-Replayed: true\``,
  content: { 'application/json': { schema } },
  headers: { 'Idempotent-Replayed': { description: '`true` on a replay of the Idempotency-Key', schema: { type: 'string' as const, enum: ['true'] } } },
});

export const availabilityRoute = createRoute({
  method: 'get',
  path: '/v1/inventory/{sku}',
  operationId: 'inventory.availability',
  tags: ['Inventory'],
  summary: 'Availability of a SKU per warehouse (live)',
  description: "Read from the SKU's Durable Object, which serialises every stock change: what it says can be sold, can be reserved.",
  request: { params: SkuParamSchema },
  responses: {
    200: { description: 'Available units per warehouse', content: { 'application/json': { schema: AvailabilitySchema } } },
    400: problem('Invalid SKU'),
    404: problem('No such SKU'),
  },
});

export const warehouseStockRoute = createRoute({
  method: 'get',
  path: '/v1/warehouses/{id}/stock',
  operationId: 'inventory.warehouseStock',
  tags: ['Inventory'],
  summary: "A warehouse's stock (staff bound to it, admins)",
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:read')] as const,
  request: { params: WarehouseParamSchema, query: WarehouseStockQuerySchema },
  responses: {
    200: { description: 'A page of SKUs with live levels', content: { 'application/json': { schema: WarehouseStockSchema } } },
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such warehouse'),
  },
});

export const adjustStockRoute = createRoute({
  method: 'post',
  path: '/v1/warehouses/{id}/stock/adjustments',
  operationId: 'inventory.adjustStock',
  tags: ['Inventory'],
  summary: 'Adjust stock with a reason code (receipt, cycle count, damage, return to stock)',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:write')] as const,
  request: {
    params: WarehouseParamSchema,
    headers: IdempotencyHeaderSchema,
    body: { content: { 'application/json': { schema: AdjustmentBodySchema } }, required: true },
  },
  responses: {
    201: created(AdjustmentResultSchema, 'The adjustment and the level it left'),
    400: problem('Invalid request (Idempotency-Key is required)'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such warehouse or SKU'),
    409: problem('Not enough stock to remove (the Idempotency-Key is not used up: the same key may be sent again once stock has come)'),
    422: problem('Idempotency-Key reused with another body, or a reason that contradicts the sign of delta'),
  },
});

export const reserveRoute = createRoute({
  method: 'post',
  path: '/v1/inventory/{sku}/reservations',
  operationId: 'inventory.reserve',
  tags: ['Inventory'],
  summary: 'Hold units of a SKU for a checkout or an order (never more than exist)',
  description:
    'Serialised by the SKU\'s Durable Object (or spread over its shards for a hot SKU). The hold expires by itself after `ttlSeconds`. The same Idempotency-Key and body answer the same reservation (also after the SKU was split over more shards); another body is 422. A 409 does not use the key up: the same key may be sent again once stock has come.',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:reserve')] as const,
  request: {
    params: SkuParamSchema,
    headers: IdempotencyHeaderSchema,
    body: { content: { 'application/json': { schema: ReserveBodySchema } }, required: true },
  },
  responses: {
    201: created(ReservationSchema, 'The reservation'),
    400: problem('Invalid request (Idempotency-Key is required)'),
    401: problem('No valid access token'),
    403: problem('Not allowed to reserve'),
    404: problem('No such SKU'),
    409: problem('OUT_OF_STOCK: not enough units available (the Idempotency-Key is not used up)'),
    422: problem('Idempotency-Key reused with another body'),
  },
});

export const releaseRoute = createRoute({
  method: 'post',
  path: '/v1/inventory/{sku}/reservations/{reservationId}/release',
  operationId: 'inventory.release',
  tags: ['Inventory'],
  summary: 'Give a reservation\'s units back (idempotent)',
  description:
    'Only the caller who placed the reservation through this API (the same user or client) may release it; admins too release only their own. Anyone else\'s reservation, and the hold of an order (released only by the order itself: cancel the order), answer 404 like an id that does not exist, and nothing is freed.',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:reserve')] as const,
  request: { params: ReservationParamSchema, query: ReleaseQuerySchema },
  responses: {
    200: { description: 'The released reservation', content: { 'application/json': { schema: ReservationSchema } } },
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not allowed'),
    404: problem('No such reservation of yours (unknown, placed by another caller, or an order\'s hold)'),
    409: problem('Already committed'),
  },
});

export const shardsRoute = createRoute({
  method: 'put',
  path: '/v1/admin/inventory/{sku}/shards',
  operationId: 'inventory.setShards',
  tags: ['Admin'],
  summary: 'Split a hot SKU over several Durable Objects (growing only) and spread its units',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:admin')] as const,
  request: { params: SkuParamSchema, body: { content: { 'application/json': { schema: ShardsBodySchema } }, required: true } },
  responses: {
    200: { description: 'The shard count and the units moved', content: { 'application/json': { schema: ShardsResultSchema } } },
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Admins only'),
    404: problem('No such SKU'),
    409: problem('The shard count cannot change that way'),
  },
});

export const transferRoute = createRoute({
  method: 'post',
  path: '/v1/warehouses/{id}/stock/transfers',
  operationId: 'inventory.transferStock',
  tags: ['Inventory'],
  summary: 'Send units to another warehouse (they are in transit until received)',
  description:
    'Staff bound to the source warehouse, or admins. Available units leave this warehouse now and are available nowhere until the destination receives them (or this warehouse cancels). Idempotent per Idempotency-Key; a 409 does not use the key up (the same key may be sent again once stock has come).',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:write')] as const,
  request: {
    params: WarehouseParamSchema,
    headers: IdempotencyHeaderSchema,
    body: { content: { 'application/json': { schema: TransferBodySchema } }, required: true },
  },
  responses: {
    201: created(TransferSchema, 'The transfer, in transit'),
    400: problem('Invalid request (Idempotency-Key is required)'),
    401: problem('No valid access token'),
    403: problem('Not bound to the source warehouse'),
    404: problem('No such warehouse or SKU'),
    409: problem('Not enough available units in the source warehouse (the Idempotency-Key is not used up)'),
    422: problem('Idempotency-Key reused with another body, or the destination is the source'),
  },
});

const closeTransferRoute = (verb: 'receive' | 'cancel') =>
  createRoute({
    method: 'post',
    path: `/v1/warehouses/{id}/stock/transfers/{transferId}/${verb}`,
    operationId: verb === 'receive' ? 'inventory.receiveTransfer' : 'inventory.cancelTransfer',
    tags: ['Inventory'],
    summary: verb === 'receive' ? 'Receive a transfer into this (destination) warehouse' : 'Cancel a transfer still in transit (source warehouse)',
    description:
      verb === 'receive'
        ? 'Staff bound to the destination warehouse, or admins. The units join its on hand. Receiving again answers the same transfer.'
        : 'Staff bound to the source warehouse, or admins. The units return to its on hand. Cancelling again answers the same transfer.',
    security: [{ bearerAuth: [] }],
    middleware: [requires('inventory:write')] as const,
    request: { params: TransferParamSchema },
    responses: {
      200: { description: 'The transfer', content: { 'application/json': { schema: TransferSchema } } },
      400: problem('Invalid request'),
      401: problem('No valid access token'),
      403: problem(verb === 'receive' ? 'Not bound to this warehouse, or it is not the destination' : 'Not bound to this warehouse, or it is not the source'),
      404: problem('No such transfer for this warehouse'),
      409: problem(verb === 'receive' ? 'The transfer was cancelled' : 'The transfer was received'),
    },
  });
export const receiveTransferRoute = closeTransferRoute('receive');
export const cancelTransferRoute = closeTransferRoute('cancel');

export const listTransfersRoute = createRoute({
  method: 'get',
  path: '/v1/warehouses/{id}/stock/transfers',
  operationId: 'inventory.listTransfers',
  tags: ['Inventory'],
  summary: "A warehouse's transfers, newest first (staff bound to it, admins)",
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:read')] as const,
  request: { params: WarehouseParamSchema, query: TransferListQuerySchema },
  responses: {
    200: { description: 'A page of transfers', content: { 'application/json': { schema: TransferListSchema } } },
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such warehouse'),
  },
});

export const getTransferRoute = createRoute({
  method: 'get',
  path: '/v1/warehouses/{id}/stock/transfers/{transferId}',
  operationId: 'inventory.getTransfer',
  tags: ['Inventory'],
  summary: 'One transfer out of or into this warehouse',
  security: [{ bearerAuth: [] }],
  middleware: [requires('inventory:read')] as const,
  request: { params: TransferParamSchema },
  responses: {
    200: { description: 'The transfer', content: { 'application/json': { schema: TransferSchema } } },
    400: problem('Invalid request'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such transfer for this warehouse'),
  },
});
