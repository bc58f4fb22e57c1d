import { AppError, notFound, validationFailed } from '../../../shared/kernel/app-error';
import { newId } from '../../../shared/kernel/ids';
import type { RequestMeta } from '../../../shared/http/context';
import * as repo from '../catalog.repo';
import {
  CreateProductInputSchema,
  UpdateProductInputSchema,
  type CreateProductInput,
  type Product,
  type UpdateProductInput,
} from '../catalog.schemas';
import { searchKeywords, searchTerms } from '../catalog.search-fields';
import { CATALOG_NAMESPACE, type CatalogDeps } from './deps';
import { getProduct } from './get-product';

/**
 * Admin writes. Each runs in one transaction, keeps the derived search fields and price range
 * in step, then bumps the catalog cache generation so every cache layer misses.
 * (Authorisation is applied by the admin routes that identity adds.)
 */
export async function createProduct(raw: CreateProductInput, _meta: RequestMeta, deps: CatalogDeps): Promise<Product> {
  const input = parse(CreateProductInputSchema, raw);
  const id = newId('product', deps.clock.now().getTime());
  await deps.writeDb().transaction(async (tx) => {
    if (await repo.slugTaken(tx, input.slug)) throw new AppError('CONFLICT', `A product with slug '${input.slug}' exists`);
    const taken = await repo.skusTakenByOthers(tx, input.variants.map((v) => v.sku), null);
    if (taken.length) throw skuConflict(taken);
    const { brand, category } = await resolveRefs(tx, input.brandSlug, input.categorySlug);
    const derived = derive(input, brand.name, category.path);
    const now = deps.clock.now();
    await repo.insertProduct(tx, {
      id,
      slug: input.slug,
      name: input.name,
      description: input.description,
      brandId: brand.id,
      categoryId: category.id,
      status: input.status,
      currency: deps.currency,
      attributes: input.attributes,
      images: input.images,
      createdAt: now,
      updatedAt: now,
      ...derived.product,
    });
    await repo.replaceVariants(tx, id, variantRows(id, input.variants, deps.currency));
    // Only storefront-visible products feed the dictionary, so corrections never reveal drafts.
    if (input.status === 'active') await repo.addSearchTerms(tx, derived.terms);
  });
  await deps.generations.bump(CATALOG_NAMESPACE);
  return (await getProductAnyStatus(id, input.status, deps)) ?? fail(id);
}

export async function updateProduct(
  id: string,
  raw: UpdateProductInput,
  _meta: RequestMeta,
  deps: CatalogDeps,
): Promise<Product | null> {
  const patch = parse(UpdateProductInputSchema, raw);
  let status = 'active';
  await deps.writeDb().transaction(async (tx) => {
    const current = await repo.findProductForUpdate(tx, id);
    if (!current) throw notFound('Product', id);
    const variants = patch.variants ?? (await repo.findVariants(tx, id)).map((v) => ({ ...v, compareAtPrice: v.compareAtPrice }));
    if (patch.variants) {
      const taken = await repo.skusTakenByOthers(tx, patch.variants.map((v) => v.sku), id);
      if (taken.length) throw skuConflict(taken);
    }
    const brandSlug = patch.brandSlug;
    const categorySlug = patch.categorySlug;
    const refs = await resolveRefsById(tx, current.brandId, current.categoryId, brandSlug, categorySlug);
    const merged = {
      name: patch.name ?? current.name,
      attributes: patch.attributes ?? current.attributes,
      variants,
    };
    const derived = derive(merged, refs.brand.name, refs.category.path);
    status = patch.status ?? current.status;
    await repo.updateProductRow(tx, id, {
      name: merged.name,
      description: patch.description ?? current.description,
      brandId: refs.brand.id,
      categoryId: refs.category.id,
      status: patch.status ?? current.status,
      attributes: merged.attributes,
      images: patch.images ?? current.images,
      updatedAt: deps.clock.now(),
      ...derived.product,
    });
    if (patch.variants) await repo.replaceVariants(tx, id, variantRows(id, patch.variants, deps.currency));
    if (status === 'active') await repo.addSearchTerms(tx, derived.terms);
  });
  await deps.generations.bump(CATALOG_NAMESPACE);
  return getProductAnyStatus(id, status, deps);
}

/** Archiving hides a product from the storefront; orders that reference it stay intact. */
export async function archiveProduct(id: string, meta: RequestMeta, deps: CatalogDeps): Promise<void> {
  await updateProduct(id, { status: 'archived' }, meta, deps);
}

async function getProductAnyStatus(id: string, status: string, deps: CatalogDeps): Promise<Product | null> {
  if (status !== 'active') return null;
  return (await getProduct(id, deps)).value;
}

const fail = (id: string): never => {
  throw new AppError('INTERNAL', `product ${id} vanished after being written`);
};

function parse<S extends typeof CreateProductInputSchema | typeof UpdateProductInputSchema>(schema: S, raw: unknown) {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw validationFailed(r.error.issues.map((i) => ({ path: ['body', ...i.path.map(String)].join('.'), message: i.message })));
  }
  return r.data as ReturnType<S['parse']>;
}

const skuConflict = (skus: string[]) => new AppError('CONFLICT', `SKU already used by another product: ${skus.join(', ')}`);

type Tx = Parameters<Parameters<ReturnType<CatalogDeps['writeDb']>['transaction']>[0]>[0];

async function resolveRefs(tx: Tx, brandSlug: string, categorySlug: string) {
  const brand = await repo.findBrandBySlug(tx, brandSlug);
  const category = await repo.findCategoryPath(tx, categorySlug);
  const errors = [];
  if (!brand) errors.push({ path: 'body.brandSlug', message: `unknown brand '${brandSlug}'` });
  if (!category) errors.push({ path: 'body.categorySlug', message: `unknown category '${categorySlug}'` });
  if (!brand || !category) throw new AppError('UNPROCESSABLE', 'The product refers to unknown records', { errors });
  return { brand, category };
}

async function resolveRefsById(
  tx: Tx,
  brandId: string,
  categoryId: string,
  brandSlug: string | undefined,
  categorySlug: string | undefined,
) {
  const current = await repo.findRefsById(tx, brandId, categoryId);
  return resolveRefs(tx, brandSlug ?? current.brandSlug, categorySlug ?? current.categorySlug);
}

interface VariantLike {
  sku: string;
  name: string;
  attributes?: Record<string, string>;
  price: number;
  compareAtPrice?: number | null;
}

function derive(p: { name: string; attributes?: Record<string, string>; variants: VariantLike[] }, brandName: string, categoryPath: string[]) {
  const prices = p.variants.map((v) => v.price);
  const fields = {
    name: p.name,
    brandName,
    categoryPath,
    attributes: p.attributes ?? {},
    variantAttributes: p.variants.map((v) => v.attributes ?? {}),
  };
  const keywords = searchKeywords(fields);
  return {
    product: { priceMin: Math.min(...prices), priceMax: Math.max(...prices), searchKeywords: keywords },
    terms: searchTerms(fields),
  };
}

function variantRows(productId: string, variants: VariantLike[], currency: string) {
  return variants.map((v, position) => ({
    id: newId('variant'),
    productId,
    sku: v.sku,
    name: v.name,
    attributes: v.attributes ?? {},
    price: v.price,
    compareAtPrice: v.compareAtPrice ?? null,
    currency,
    position,
  }));
}
