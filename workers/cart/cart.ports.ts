/** What the cart needs from outside, supplied by the composition root (workers/gateway/services.ts). */

/** A product as the cart needs it: only storefront-visible (active) products are returned. */
export interface CatalogProductView {
  id: string;
  name: string;
  variants: { id: string; sku: string; name: string; price: { amount: number; currency: string } }[];
}

export interface CartCatalogPort {
  /** The active product, or null when there is none (unknown, draft or archived). Served from the catalog's caches. */
  product(productId: string): Promise<CatalogProductView | null>;
}

export interface CartStockPort {
  /** Units of a SKU that could be sold now over every warehouse (0 for an unknown SKU). Reserves nothing. */
  available(sku: string): Promise<number>;
}
