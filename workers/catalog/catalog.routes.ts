import { createRoute } from '@hono/zod-openapi';
import { problemContent } from '../../shared/http/problem';
import {
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
