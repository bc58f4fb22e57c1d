/**
 * Add-to-cart availability, remembered per isolate for a moment while it is far above anything
 * one cart line may hold (docs/cart.md, "Availability at add time").
 *
 * Adding to a cart only checks availability (the reservation at checkout is what counts), yet
 * each check is a call into the SKU's inventory object, the same object that serialises that
 * SKU's reservations. In an add-to-cart storm on a launch product that doubles the load on the
 * one object that must not fall behind. So a figure read from the object is reused for `ttlMs`
 * (`CART_AVAILABILITY_MEMO_MS`, 1 s by default; 0 remembers nothing), but only while it is at
 * least `floor` (the cart service passes ten times the line limit). A line can never ask for
 * more than the line limit, so at such a level the check passes with the remembered figure
 * exactly as it would with the live one, unless more than `floor` minus the line limit units went
 * within the last `ttlMs`. Near the end of the stock every check
 * is live again, so a refusal is never made from a remembered figure, and a SKU coming back into
 * stock is seen at once.
 */
export const AVAILABILITY_MEMO_MS = 1000;
const MEMO_LIMIT = 10_000;

export class AvailabilityMemo {
  private readonly entries = new Map<string, { available: number; until: number }>();

  /** The remembered figure for `sku` if it is fresh and at least `floor`, else undefined. */
  fresh(sku: string, floor: number, now: number): number | undefined {
    const entry = this.entries.get(sku);
    if (entry === undefined) return undefined;
    if (entry.until <= now || entry.available < floor) {
      this.entries.delete(sku);
      return undefined;
    }
    return entry.available;
  }

  /** Remembers a live figure for `ttlMs` when it is at least `floor`; a lower one (or no TTL) forgets the SKU. */
  remember(sku: string, available: number, floor: number, now: number, ttlMs: number): void {
    if (available < floor || ttlMs <= 0) {
      this.entries.delete(sku);
      return;
    }
    if (this.entries.size >= MEMO_LIMIT && !this.entries.has(sku)) this.entries.clear();
    this.entries.set(sku, { available, until: now + ttlMs });
  }
}
