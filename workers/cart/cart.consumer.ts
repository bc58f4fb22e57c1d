/**
 * `user.erased` (GDPR erasure): the user's active cart object and their cart pointer are
 * deleted. Idempotent by nature (erasing twice deletes nothing more), so no processed_events row
 * is needed. Checked-out and merged carts hold no personal data beyond the owner id and are
 * deleted by their own alarm after the retention (docs/cart.md).
 */
export const CART_ERASURE_CONSUMER = 'cart.erase-user';
