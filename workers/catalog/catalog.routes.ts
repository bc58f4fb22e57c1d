import { createRoute, type z } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import {
  AdminProductIdParamSchema,
  AdminProductSchema,
  CreateProductInputSchema,
  UpdateProductInputSchema,
  CategoryTreeSchema,
  ProductIdParamSchema,
  ProductListQuerySchema,
  ProductListSchema,
  ProductSchema,
} from './catalog.schemas';

const cacheHeader = {
  'x-cache': {
    description: 'Which cache layer answered: memory, edge, upstash, or miss',
    schema: { type: 'string' as const },
  },
};

export const listProductsRoute = createRoute({
  method: 'get',
  path: '/v1/products',
  operationId: 'catalog.listProducts',
  tags: ['Catalog'],
  summary: 'Browse and search products',
  description:
    'Full-text search with typo tolerance, filters, sorts, facet counts and cursor pagination. Price filters, sorts and facets use each product\'s lowest variant price.',
  request: { query: ProductListQuerySchema },
  responses: {
    200: { description: 'A page of products', headers: cacheHeader, content: { 'application/json': { schema: ProductListSchema } } },
    400: { description: 'Invalid query', content: problemContent },
  },
});

export const getProductRoute = createRoute({
  method: 'get',
  path: '/v1/products/{id}',
  operationId: 'catalog.getProduct',
  tags: ['Catalog'],
  summary: 'One product with its variants',
  request: { params: ProductIdParamSchema },
  responses: {
    200: { description: 'The product', headers: cacheHeader, content: { 'application/json': { schema: ProductSchema } } },
    400: { description: 'Not an id or a slug (too long, or a NUL character)', content: problemContent },
    404: { description: 'No active product with this id or slug', content: problemContent },
  },
});

export const listCategoriesRoute = createRoute({
  method: 'get',
  path: '/v1/categories',
  operationId: 'catalog.listCategories',
  tags: ['Catalog'],
  summary: 'The category tree',
  responses: {
    200: { description: 'Categories with product counts', headers: cacheHeader, content: { 'application/json': { schema: CategoryTreeSchema } } },
  },
});

// ---- admin writes ----

const adminJson = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const adminProblems = {
  401: { description: 'No valid access token', content: problemContent },
  403: { description: 'Needs catalog:write (admin, or an integration with that scope)', content: problemContent },
};

export const createProductRoute = createRoute({
  method: 'post',
  path: '/v1/admin/products',
  operationId: 'catalog.createProduct',
  tags: ['Admin'],
  summary: 'Create a product with its variants',
  security: [{ bearerAuth: [] }],
  middleware: [requires('catalog:write')] as const,
  request: { body: { content: adminJson(CreateProductInputSchema), required: true } },
  responses: {
    201: { description: 'The product', content: adminJson(AdminProductSchema) },
    400: { description: 'Invalid product', content: problemContent },
    ...adminProblems,
    409: { description: 'Slug or SKU already taken', content: problemContent },
    422: { description: 'Unknown brand or category', content: problemContent },
  },
});

export const updateProductRoute = createRoute({
  method: 'patch',
  path: '/v1/admin/products/{id}',
  operationId: 'catalog.updateProduct',
  tags: ['Admin'],
  summary: 'Change a product (variants, when sent, replace the current ones)',
  security: [{ bearerAuth: [] }],
  middleware: [requires('catalog:write')] as const,
  request: { params: AdminProductIdParamSchema, body: { content: adminJson(UpdateProductInputSchema), required: true } },
  responses: {
    200: { description: 'The product', content: adminJson(AdminProductSchema) },
    400: { description: 'Invalid change', content: problemContent },
    ...adminProblems,
    404: { description: 'No such product', content: problemContent },
    409: { description: 'SKU already taken', content: problemContent },
    422: { description: 'Unknown brand or category', content: problemContent },
  },
});

export const archiveProductRoute = createRoute({
  method: 'delete',
  path: '/v1/admin/products/{id}',
  operationId: 'catalog.archiveProduct',
  tags: ['Admin'],
  summary: 'Archive a product (hidden from the storefront; orders keep it)',
  security: [{ bearerAuth: [] }],
  middleware: [requires('catalog:write')] as const,
  request: { params: AdminProductIdParamSchema },
  responses: {
    200: { description: 'The archived product', content: adminJson(AdminProductSchema) },
    400: { description: 'Invalid id', content: problemContent },
    ...adminProblems,
    404: { description: 'No such product', content: problemContent },
  },
});
