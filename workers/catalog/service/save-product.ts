import { recordAudit } from '../../../shared/audit/audit';
import { AppError, notFound, validationFailed, type FieldError } from '../../../shared/kernel/app-error';
import { newId } from '../../../shared/kernel/ids';
import type { RequestMeta } from '../../../shared/http/context';
import * as repo from '../catalog.repo';
import {
  CreateProductInputSchema,
  UpdateProductInputSchema,
  type AdminProduct,
  type CreateProductInput,
  type UpdateProductInput,
} from '../catalog.schemas';
import { searchKeywords, searchTerms, termsOf } from '../catalog.search-fields';
import { CATALOG_NAMESPACE, type CatalogDeps } from './deps';
import { toProduct } from './mappers';

/**
 * Admin writes. Each runs in one transaction, keeps the derived search fields and price range
 * in step, then bumps the catalog cache generation so every cache layer misses. They return
 * the product whatever its status. Authorisation is the admin routes' `requires('catalog:write')`;
 * the audit row is written in the same transaction as the change.
 */
/** SKUs another product took between our check and our write: the change is refused (and rolled back). */
function refuseRaced(taken: string[]): void {
  if (taken.length) throw new AppError('CONFLICT', `SKU already used by another product: ${taken.join(', ')}`);
}

export async function createProduct(raw: CreateProductInput, meta: RequestMeta, deps: CatalogDeps): Promise<AdminProduct> {
  const input = parse(CreateProductInputSchema, raw);
  const id = newId('product', deps.clock.now().getTime());
  // Two creations of one slug at once can both pass this check: the unique index refuses the
  // later insert, which the error handler answers 409 CONFLICT as well.
  await deps.writeDb().transaction(async (tx) => {
    if (await repo.slugTaken(tx, input.slug)) throw new AppError('CONFLICT', `A product with slug '${input.slug}' exists`);
    await refuseTakenSkus(tx, input.variants, null);
    const { brand, category } = await resolveRefs(tx, { slug: input.brandSlug }, { slug: input.categorySlug });
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
    refuseRaced(await repo.replaceVariants(tx, id, variantRows(id, input.variants, deps.currency), deps.sellableUnits));
    // Only storefront-visible products feed the dictionary, so corrections never reveal drafts.
    if (input.status === 'active') await repo.addSearchTerms(tx, derived.terms);
    await recordAudit(tx, { action: 'catalog.product.created', outcome: 'success', target: { kind: 'product', id }, data: { slug: input.slug, status: input.status } }, meta, now);
  });
  await deps.generations.bump(CATALOG_NAMESPACE);
  return loadAdminProduct(id, deps);
}

export async function updateProduct(
  id: string,
  raw: UpdateProductInput,
  meta: RequestMeta,
  deps: CatalogDeps,
): Promise<AdminProduct> {
  const patch = parse(UpdateProductInputSchema, raw);
  await deps.writeDb().transaction(async (tx) => {
    const current = await repo.findProductForUpdate(tx, id);
    if (!current) throw notFound('Product', id);
    if (patch.variants) await refuseTakenSkus(tx, patch.variants, id);
    const { brand, category } = await resolveRefs(
      tx,
      patch.brandSlug ? { slug: patch.brandSlug } : { id: current.brandId },
      patch.categorySlug ? { slug: patch.categorySlug } : { id: current.categoryId },
    );
    const merged = {
      name: patch.name ?? current.name,
      attributes: patch.attributes ?? current.attributes,
      variants: patch.variants ?? (await repo.findVariants(tx, id)),
    };
    const status = patch.status ?? current.status;
    const derived = derive(merged, brand.name, category.path);
    await repo.updateProductRow(tx, id, {
      name: merged.name,
      description: patch.description ?? current.description,
      brandId: brand.id,
      categoryId: category.id,
      status,
      attributes: merged.attributes,
      images: patch.images ?? current.images,
      updatedAt: deps.clock.now(),
      ...derived.product,
    });
    // Variants are priced in their product's currency (a product saved before a STORE_CURRENCY
    // change keeps its own): until 0.3.15 a repricing turned an EUR product's variants into USD.
    if (patch.variants) refuseRaced(await repo.replaceVariants(tx, id, variantRows(id, patch.variants, current.currency), deps.sellableUnits));
    // The dictionary holds active products' words: this product's words now in, and the words it
    // no longer contributes (renamed, re-keyworded, archived, made draft) out unless another
    // active product has them.
    const terms = status === 'active' ? derived.terms : [];
    await repo.addSearchTerms(tx, terms);
    if (current.status === 'active') {
      const kept = new Set(terms);
      await repo.dropOrphanSearchTerms(tx, termsOf(current.name, current.searchKeywords).filter((t) => !kept.has(t)), id);
    }
    const archived = patch.status === 'archived' && current.status !== 'archived';
    await recordAudit(
      tx,
      {
        action: archived ? 'catalog.product.archived' : 'catalog.product.updated',
        outcome: 'success',
        target: { kind: 'product', id },
        data: { fields: Object.keys(patch), status },
      },
      meta,
      deps.clock.now(),
    );
  });
  await deps.generations.bump(CATALOG_NAMESPACE);
  return loadAdminProduct(id, deps);
}

/** Archiving hides a product from the storefront; orders that reference it stay intact. */
export function archiveProduct(id: string, meta: RequestMeta, deps: CatalogDeps): Promise<AdminProduct> {
  return updateProduct(id, { status: 'archived' }, meta, deps);
}

/** The product as just written, whatever its status, read from the primary (never a cache). */
async function loadAdminProduct(id: string, deps: CatalogDeps): Promise<AdminProduct> {
  const [rows] = await repo.readMany<[repo.DetailRow[]]>(deps.writeDb(), [repo.productDetailQuery(id, { anyStatus: true })]);
  const row = rows[0];
  if (!row) throw notFound('Product', id);
  return { ...toProduct(row), status: row.status };
}

function parse<S extends typeof CreateProductInputSchema | typeof UpdateProductInputSchema>(schema: S, raw: unknown) {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw validationFailed(r.error.issues.map((i) => ({ path: ['body', ...i.path.map(String)].join('.'), message: i.message })));
  }
  return r.data as ReturnType<S['parse']>;
}

type Tx = Parameters<Parameters<ReturnType<CatalogDeps['writeDb']>['transaction']>[0]>[0];

async function refuseTakenSkus(tx: Tx, variants: { sku: string }[], productId: string | null) {
  const taken = await repo.skusTakenByOthers(tx, variants.map((v) => v.sku), productId);
  if (taken.length) throw new AppError('CONFLICT', `SKU already used by another product: ${taken.join(', ')}`);
}

async function resolveRefs(tx: Tx, brandKey: repo.RefKey, categoryKey: repo.RefKey) {
  const brand = await repo.findBrand(tx, brandKey);
  const category = await repo.findCategoryPath(tx, categoryKey);
  const errors: FieldError[] = [];
  if (!brand) errors.push({ path: 'body.brandSlug', message: 'unknown brand' });
  if (!category) errors.push({ path: 'body.categorySlug', message: 'unknown category' });
  if (!brand || !category) throw new AppError('UNPROCESSABLE', 'The product refers to unknown records', { errors });
  return { brand, category };
}

interface VariantLike {
  sku: string;
  name: string;
  attributes?: Record<string, string>;
  price: number;
  compareAtPrice?: number | null;
}

/**
 * The product's stored derivations. The listed price range is over the variants for sale (price
 * above 0; a variant priced 0 is not for sale, docs/cart.md), so "from" is a price one can pay and
 * `maxPrice` filters on it; a product with no variant for sale lists 0.
 */
function derive(p: { name: string; attributes?: Record<string, string>; variants: VariantLike[] }, brandName: string, categoryPath: string[]) {
  const forSale = p.variants.map((v) => v.price).filter((price) => price > 0);
  const prices = forSale.length ? forSale : [0];
  const fields = {
    name: p.name,
    brandName,
    categoryPath,
    attributes: p.attributes ?? {},
    variantAttributes: p.variants.map((v) => v.attributes ?? {}),
  };
  return {
    product: { priceMin: Math.min(...prices), priceMax: Math.max(...prices), searchKeywords: searchKeywords(fields) },
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
