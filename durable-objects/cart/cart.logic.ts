import type { Limits, MergeClamp, MergeLine, MergeReportLine } from './cart.schemas';

/** Pure rules of the cart object (unit-tested in cart.logic.test.ts). */

export type LimitName = 'maxLineQuantity' | 'maxUnits' | 'maxLines';

export type QuantityCheck =
  | { ok: true; quantity: number }
  | { ok: false; code: 'QUANTITY_LIMIT'; limit: { name: LimitName; value: number }; message: string }
  | { ok: false; code: 'OUT_OF_STOCK' | 'INSUFFICIENT_STOCK'; available: number; message: string };

export interface CartTotals {
  /** Units over every line. */
  units: number;
  lines: number;
}

/**
 * Whether a line may hold `next` units, given the cart without that line (`others`) and whether
 * the line is new. `available` (null: not checked) is compared only when the line grows.
 */
export function checkQuantity(
  next: number,
  current: number,
  others: CartTotals,
  isNewLine: boolean,
  limits: Limits,
  available: number | null,
): QuantityCheck {
  if (next > limits.maxLineQuantity) {
    return { ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxLineQuantity', value: limits.maxLineQuantity }, message: `at most ${limits.maxLineQuantity} units of one item per cart` };
  }
  if (others.units + next > limits.maxUnits) {
    return { ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxUnits', value: limits.maxUnits }, message: `at most ${limits.maxUnits} units per cart` };
  }
  if (isNewLine && others.lines + 1 > limits.maxLines) {
    return { ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxLines', value: limits.maxLines }, message: `at most ${limits.maxLines} different items per cart` };
  }
  if (available !== null && next > current && next > available) {
    const left = Math.max(0, available);
    return left === 0
      ? { ok: false, code: 'OUT_OF_STOCK', available: 0, message: 'this item is out of stock' }
      : { ok: false, code: 'INSUFFICIENT_STOCK', available: left, message: `only ${left} available` };
  }
  return { ok: true, quantity: next };
}

/**
 * A guest cart's lines merged into a user's: quantities of the same variant are combined and
 * every limit is respected by clamping (never refusing), in the guest cart's order. Returns the
 * new quantity per variant and a report line per guest line.
 *
 * `available` (units per SKU, read just before, nothing reserved; a SKU without a figure is not
 * checked) caps a line as an add is refused past it (`checkQuantity`): a merged line grows at most
 * to what is available and never shrinks below what the user's cart had. The report names the
 * binding cap as for a limit: `out_of_stock` (nothing available) or `insufficient_stock` (fewer
 * units than asked), with `merged` the units actually added (0: not added, or the line kept as it was).
 */
export function planMerge(
  existing: ReadonlyMap<string, number>,
  incoming: readonly MergeLine[],
  limits: Limits,
  available?: ReadonlyMap<string, number>,
): { quantities: Map<string, number>; report: MergeReportLine[] } {
  const quantities = new Map(existing);
  let units = [...quantities.values()].reduce((s, q) => s + q, 0);
  const report: MergeReportLine[] = [];
  for (const line of incoming) {
    const have = quantities.get(line.variantId);
    let clampedBy: MergeClamp | null = null;
    let add = line.quantity;
    if (have === undefined && quantities.size >= limits.maxLines) {
      add = 0;
      clampedBy = 'maxLines';
    }
    const lineRoom = limits.maxLineQuantity - (have ?? 0);
    if (add > lineRoom) {
      add = Math.max(0, lineRoom);
      clampedBy = 'maxLineQuantity';
    }
    const cartRoom = limits.maxUnits - units;
    if (add > cartRoom) {
      add = Math.max(0, cartRoom);
      clampedBy = 'maxUnits';
    }
    const stock = available?.get(line.sku);
    if (stock !== undefined) {
      const stockRoom = Math.max(0, stock - (have ?? 0));
      if (add > stockRoom) {
        add = stockRoom;
        clampedBy = stock <= 0 ? 'out_of_stock' : 'insufficient_stock';
      }
    }
    if (add > 0) {
      quantities.set(line.variantId, (have ?? 0) + add);
      units += add;
    }
    report.push({ variantId: line.variantId, sku: line.sku, requested: line.quantity, merged: add, clampedBy });
  }
  return { quantities, report };
}

/** Per currency, in minor units: Σ unit price × quantity, and units. */
export function totalsByCurrency(lines: readonly { unitPrice: number; quantity: number; currency: string }[]): { currency: string; amount: number; units: number }[] {
  const by = new Map<string, { amount: number; units: number }>();
  for (const l of lines) {
    const t = by.get(l.currency) ?? { amount: 0, units: 0 };
    t.amount += l.unitPrice * l.quantity;
    t.units += l.quantity;
    by.set(l.currency, t);
  }
  return [...by].sort(([a], [b]) => a.localeCompare(b)).map(([currency, t]) => ({ currency, ...t }));
}

/** A JSON rendering with sorted keys: equal values give equal strings (for body hashes). */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Object names: one object per cart, one pointer object per user. */
export const cartObjectName = (cartId: string) => `cart:${cartId}`;
export const userObjectName = (userId: string) => `user:${userId}`;

/** Backoff of a refused cart.abandoned send: 30 s doubling, capped at 1 h. */
export function relayBackoffMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts), 3_600_000);
}
