/** What the wishlist needs from outside, wired in workers/gateway/services.ts. */

export interface WishlistCatalogPort {
  /** The active product, or null (unknown, draft or archived). Cached by the catalog. */
  product(productId: string): Promise<{ id: string; name: string; variants: { id: string; sku: string; price: { amount: number; currency: string } }[] } | null>;
}

/** The cart context's "add to my cart" (it checks the variant, the stock and the limits; its errors pass through). */
export interface WishlistCartPort {
  addToMyCart(userId: string, item: { productId: string; variantId: string; quantity: number }): Promise<unknown>;
}

/** What the wishlist needs from identity: whether an account was erased (its token may still be accepted for a while elsewhere). */
export interface WishlistAccountsPort {
  accountStatus(userId: string): Promise<string | null>;
}
