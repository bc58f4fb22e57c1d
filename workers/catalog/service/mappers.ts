import type { DetailRow, SummaryRow } from '../catalog.repo';
import type { Product, ProductSummary } from '../catalog.schemas';

const iso = (v: string | Date) => new Date(v).toISOString();

export function toSummary(r: SummaryRow): ProductSummary {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    brand: { id: r.brand_id, slug: r.brand_slug, name: r.brand_name },
    category: { id: r.category_id, slug: r.category_slug, name: r.category_name },
    price: { amount: Number(r.price_min), currency: r.currency },
    priceMax: { amount: Number(r.price_max), currency: r.currency },
    image: r.images[0] ?? null,
    rating: { average: Number(r.rating_avg), count: Number(r.rating_count) },
    inStock: r.in_stock === true || (r.in_stock as unknown) === 't',
    createdAt: iso(r.created_at),
  };
}

export function toProduct(r: DetailRow): Product {
  return {
    ...toSummary(r),
    description: r.description,
    attributes: r.attributes,
    images: r.images,
    variants: r.variants.map((v) => ({
      id: v.id,
      sku: v.sku,
      name: v.name,
      attributes: v.attributes,
      price: { amount: v.price, currency: v.currency },
      compareAtPrice: v.compare_at_price === null ? null : { amount: v.compare_at_price, currency: v.currency },
      inStock: v.available_qty > 0,
    })),
    updatedAt: iso(r.updated_at),
  };
}
