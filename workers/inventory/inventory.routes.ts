import { createRoute } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import {
  AdjustmentBodySchema,
  AdjustmentResultSchema,
  AvailabilitySchema,
  IdempotencyHeaderSchema,
  SkuParamSchema,
  WarehouseParamSchema,
  WarehouseStockQuerySchema,
  WarehouseStockSchema,
} from './inventory.schemas';

const problem = (description: string) => ({ description, content: problemContent });

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
    201: { description: 'The adjustment and the new level', content: { 'application/json': { schema: AdjustmentResultSchema } } },
    400: problem('Invalid request (Idempotency-Key is required)'),
    401: problem('No valid access token'),
    403: problem('Not bound to this warehouse'),
    404: problem('No such warehouse or SKU'),
    409: problem('Not enough stock to remove'),
    422: problem('Idempotency-Key reused with another body, or a reason that contradicts the sign of delta'),
  },
});
