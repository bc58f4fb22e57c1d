import { z } from '@hono/zod-openapi';

/** Public DTOs of the catalog. They are not Drizzle rows: the API never follows a column rename. */
import { MoneySchema } from '../../shared/http/money';
import { queryInt } from '../../shared/http/query';

export { MoneySchema };

export const ImageSchema = z.object({ url: z.string().url(), alt: z.string() }).openapi('ProductImage');

const RefSchema = z.object({ id: z.string(), slug: z.string(), name: z.string() });
export const BrandRefSchema = RefSchema.openapi('BrandRef');
export const CategoryRefSchema = RefSchema.openapi('CategoryRef');

export const ProductSummarySchema = z
  .object({
    id: z.string().openapi({ example: 'prd_01jd9x6k2e8q0p7m3v4c5b6n7a' }),
    slug: z.string(),
    name: z.string(),
    brand: BrandRefSchema,
    category: CategoryRefSchema,
    /** The lowest variant price (priceMax: the highest). */
    price: MoneySchema,
    priceMax: MoneySchema,
    image: ImageSchema.nullable(),
    rating: z.object({ average: z.number(), count: z.number().int() }),
    inStock: z.boolean(),
    createdAt: z.string().datetime(),
  })
  .openapi('ProductSummary');

export const VariantSchema = z
  .object({
    id: z.string(),
    sku: z.string(),
    name: z.string(),
    attributes: z.record(z.string(), z.string()),
    price: MoneySchema,
    compareAtPrice: MoneySchema.nullable(),
    inStock: z.boolean(),
  })
  .openapi('Variant');

export const ProductSchema = ProductSummarySchema.extend({
  description: z.string(),
  attributes: z.record(z.string(), z.string()),
  images: z.array(ImageSchema),
  variants: z.array(VariantSchema),
  updatedAt: z.string().datetime(),
}).openapi('Product');

const FacetValueSchema = z.object({ slug: z.string(), name: z.string(), count: z.number().int() });
export const PriceBucketSchema = z
  .object({
    min: z.number().int().openapi({ description: 'Inclusive lower bound, minor units' }),
    max: z.number().int().nullable().openapi({ description: 'Exclusive upper bound, minor units; null = no bound' }),
    count: z.number().int(),
  })
  .openapi('PriceBucket');

export const FacetsSchema = z
  .object({
    categories: z.array(FacetValueSchema),
    brands: z.array(FacetValueSchema),
    price: z.array(PriceBucketSchema),
  })
  .openapi('ProductFacets', {
    description:
      'Counts over the matching products. Each facet ignores its own filter (disjunctive faceting), so choosing a brand still shows the other brands.',
  });

export const ProductListSchema = z
  .object({
    items: z.array(ProductSummarySchema),
    facets: FacetsSchema,
    total: z.number().int().openapi({ description: 'Products matching every filter' }),
    nextCursor: z.string().nullable(),
    /** The words actually searched for after typo correction, when they differ from `q`. */
    correctedQuery: z.string().nullable(),
  })
  .openapi('ProductList');

export const CategoryNodeSchema: z.ZodType<CategoryNode> = z
  .lazy(() =>
    z.object({
      id: z.string(),
      slug: z.string(),
      name: z.string(),
      productCount: z.number().int().openapi({ description: 'Active products here and in every subcategory' }),
      children: z.array(CategoryNodeSchema),
    }),
  )
  .openapi('CategoryNode');

export interface CategoryNode {
  id: string;
  slug: string;
  name: string;
  productCount: number;
  children: CategoryNode[];
}

export const CategoryTreeSchema = z.object({ items: z.array(CategoryNodeSchema) }).openapi('CategoryTree');

export const SORTS = ['relevance', 'price_asc', 'price_desc', 'newest', 'rating'] as const;
export type Sort = (typeof SORTS)[number];

const slugList = z
  .string()
  .max(500)
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[a-z0-9-]{1,80}$/, 'must be slugs separated by commas')).max(20));

// A variant's price is an int4 column (at most 2^31 - 1): a bound above it was a 500 before 0.3.14.
const minorUnits = queryInt(0, 2_147_483_647, 'must be an integer amount in minor units, from 0 to 2147483647');

const attrFilter = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,40}:[^,]{1,80}$/, 'must be name:value, e.g. color:Black');

export const ProductListQuerySchema = z
  .object({
    q: z.string().trim().max(200).optional().openapi({ description: 'Full-text search, typo tolerant' }),
    category: slugList.optional().openapi({ description: 'Category slugs (comma-separated); includes subcategories' }),
    brand: slugList.optional().openapi({ description: 'Brand slugs (comma-separated)' }),
    minPrice: minorUnits.optional().openapi({ description: 'Inclusive, minor units' }),
    maxPrice: minorUnits.optional().openapi({ description: 'Inclusive, minor units' }),
    inStock: z
      .enum(['true', 'false'], { message: "must be 'true' or 'false'" })
      .transform((v) => v === 'true')
      .optional(),
    attr: z
      .union([attrFilter, z.array(attrFilter).max(10)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .openapi({ description: 'Variant attribute filters, repeatable: attr=color:Black&attr=size:M' }),
    sort: z.enum(SORTS).optional().openapi({ description: 'Default: relevance with q, newest without' }),
    limit: queryInt(1, 100, 'must be an integer from 1 to 100').default(20),
    cursor: z.string().max(2048).optional(),
  })
  .refine((v) => v.minPrice === undefined || v.maxPrice === undefined || v.minPrice <= v.maxPrice, {
    message: 'must not be below minPrice',
    path: ['maxPrice'],
  });

export type ProductListQuery = z.output<typeof ProductListQuerySchema>;

export const ProductIdParamSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(120)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'Product id (prd_…) or slug' }),
});

// ---- Admin writes (/v1/admin/products) ----

/** Minor units as the catalog stores them (Postgres integer). */
const CatalogMinorUnits = z.number().int().min(0).max(2_147_483_647);

const variantInput = z
  .object({
    sku: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (starting with a letter or digit)'),
    name: z.string().min(1).max(200),
    attributes: z.record(z.string().max(40), z.string().max(80)).default({}),
    price: CatalogMinorUnits,
    compareAtPrice: CatalogMinorUnits.nullable().default(null),
  })
  .strict();

/**
 * A product's variants, one per SKU. A SKU repeated in one body is refused (at the repeat's path):
 * the rows are written by SKU, so a second entry would silently overwrite the first while the price
 * range was derived from both. SKUs compare as stored (case-sensitive), like the unique index.
 */
const variantsInput = z
  .array(variantInput)
  .min(1)
  .max(100)
  .superRefine((variants, ctx) => {
    const seen = new Set<string>();
    variants.forEach((v, i) => {
      if (seen.has(v.sku)) ctx.addIssue({ code: 'custom', path: [i, 'sku'], message: 'repeats the SKU of an earlier variant' });
      seen.add(v.sku);
    });
  })
  .openapi({ description: 'One entry per SKU (a repeated SKU is refused)' });

/** A product's own fields, without defaults: a change (PATCH) leaves every field it omits as it is. */
const productFields = {
  name: z.string().min(1).max(200),
  description: z.string().max(10_000),
  brandSlug: z.string().regex(/^[a-z0-9-]{1,80}$/),
  categorySlug: z.string().regex(/^[a-z0-9-]{1,80}$/),
  status: z.enum(['active', 'draft', 'archived']),
  attributes: z.record(z.string().max(40), z.string().max(200)),
  images: z.array(ImageSchema).max(20),
};

export const CreateProductInputSchema = z
  .object({
    slug: z.string().regex(/^[a-z0-9-]{1,120}$/),
    ...productFields,
    description: productFields.description.default(''),
    status: productFields.status.default('active'),
    attributes: productFields.attributes.default({}),
    images: productFields.images.default([]),
    variants: variantsInput,
  })
  .strict()
  .openapi('CreateProductInput');
export type CreateProductInput = z.input<typeof CreateProductInputSchema>;

// Built from the fields without their defaults: zod 4 applies a default inside `.partial()`, so an
// update derived from the create schema turned every omitted status into 'active' (a renamed draft
// was published, an archived product brought back) and emptied description, attributes and images
// (until 0.3.15).
export const UpdateProductInputSchema = z
  .object(productFields)
  .partial()
  .extend({ variants: variantsInput.optional() })
  .strict()
  .openapi('UpdateProductInput');
export type UpdateProductInput = z.input<typeof UpdateProductInputSchema>;

export type ProductSummary = z.infer<typeof ProductSummarySchema>;
export type Product = z.infer<typeof ProductSchema>;
export type ProductList = z.infer<typeof ProductListSchema>;
export type Facets = z.infer<typeof FacetsSchema>;

/** What admin writes answer: the product whatever its status. */
export const AdminProductSchema = ProductSchema.extend({ status: z.enum(['active', 'draft', 'archived']) }).openapi('AdminProduct');
export type AdminProduct = Product & { status: 'active' | 'draft' | 'archived' };

export const AdminProductIdParamSchema = z.object({
  id: z
    .string()
    .regex(/^prd_[0-9a-z]{26}$/, 'must be a product id (prd_…)')
    .openapi({ param: { name: 'id', in: 'path' }, description: 'Product id (prd_…)' }),
});
