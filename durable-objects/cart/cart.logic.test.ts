import { describe, expect, it } from 'vitest';
import { checkQuantity, planMerge, stableJson, totalsByCurrency } from './cart.logic';

const LIMITS = { maxLineQuantity: 10, maxUnits: 20, maxLines: 3 };
const line = (variantId: string, quantity: number) => ({ productId: 'p', variantId, sku: variantId.toUpperCase(), name: 'n', variantName: 'v', unitPrice: 100, currency: 'USD', quantity });

describe('checkQuantity', () => {
  it('checks the line, the cart and the line count, then what is available (only when growing)', () => {
    expect(checkQuantity(5, 0, { units: 0, lines: 0 }, true, LIMITS, 5)).toEqual({ ok: true, quantity: 5 });
    expect(checkQuantity(11, 0, { units: 0, lines: 0 }, true, LIMITS, null)).toMatchObject({ ok: false, limit: { name: 'maxLineQuantity' } });
    expect(checkQuantity(6, 0, { units: 15, lines: 1 }, true, LIMITS, null)).toMatchObject({ ok: false, limit: { name: 'maxUnits' } });
    expect(checkQuantity(1, 0, { units: 3, lines: 3 }, true, LIMITS, null)).toMatchObject({ ok: false, limit: { name: 'maxLines' } });
    expect(checkQuantity(1, 0, { units: 3, lines: 3 }, false, LIMITS, null)).toMatchObject({ ok: true });
    expect(checkQuantity(4, 2, { units: 0, lines: 0 }, false, LIMITS, 3)).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', available: 3 });
    expect(checkQuantity(4, 2, { units: 0, lines: 0 }, false, LIMITS, -2)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    // Shrinking a line is allowed even when less is available now.
    expect(checkQuantity(1, 2, { units: 0, lines: 0 }, false, LIMITS, 0)).toEqual({ ok: true, quantity: 1 });
  });
});

describe('planMerge', () => {
  it('combines quantities and clamps to each limit in order, reporting what bit', () => {
    const { quantities, report } = planMerge(new Map([['a', 8]]), [line('a', 5), line('b', 9), line('c', 4), line('d', 1)], LIMITS);
    expect(Object.fromEntries(quantities)).toEqual({ a: 10, b: 9, c: 1 });
    expect(report).toEqual([
      { variantId: 'a', sku: 'A', requested: 5, merged: 2, clampedBy: 'maxLineQuantity' },
      { variantId: 'b', sku: 'B', requested: 9, merged: 9, clampedBy: null },
      { variantId: 'c', sku: 'C', requested: 4, merged: 1, clampedBy: 'maxUnits' },
      { variantId: 'd', sku: 'D', requested: 1, merged: 0, clampedBy: 'maxLines' },
    ]);
  });
});

describe('planMerge against what is available (0.3.15)', () => {
  it('caps a line to what is available as an add does: never past it, never below what the user had; the report names the stock', () => {
    const LOOSE = { maxLineQuantity: 10, maxUnits: 100, maxLines: 10 };
    const available = new Map([
      ['A', 3],
      ['B', 0],
      ['C', 50],
      ['D', 1],
      ['E', -2],
    ]);
    const { quantities, report } = planMerge(new Map([['a', 2], ['d', 2]]), [line('a', 4), line('b', 3), line('c', 2), line('d', 1), line('e', 1), line('f', 2)], LOOSE, available);
    // f has no figure: not checked. b and e: nothing available, not added.
    expect(Object.fromEntries(quantities)).toEqual({ a: 3, c: 2, d: 2, f: 2 });
    expect(report).toEqual([
      { variantId: 'a', sku: 'A', requested: 4, merged: 1, clampedBy: 'insufficient_stock' },
      { variantId: 'b', sku: 'B', requested: 3, merged: 0, clampedBy: 'out_of_stock' },
      { variantId: 'c', sku: 'C', requested: 2, merged: 2, clampedBy: null },
      { variantId: 'd', sku: 'D', requested: 1, merged: 0, clampedBy: 'insufficient_stock' },
      { variantId: 'e', sku: 'E', requested: 1, merged: 0, clampedBy: 'out_of_stock' },
      { variantId: 'f', sku: 'F', requested: 2, merged: 2, clampedBy: null },
    ]);
  });

  it('names the tighter of a limit and the stock; a line dropped for stock leaves its units and its place to the next lines', () => {
    const { quantities, report } = planMerge(new Map([['a', 8]]), [line('a', 5), line('b', 9), line('c', 9), line('d', 4)], LIMITS, new Map([['A', 20], ['B', 0], ['C', 4]]));
    expect(Object.fromEntries(quantities)).toEqual({ a: 10, c: 4, d: 4 });
    expect(report.map((r) => [r.variantId, r.merged, r.clampedBy])).toEqual([
      ['a', 2, 'maxLineQuantity'],
      ['b', 0, 'out_of_stock'],
      ['c', 4, 'insufficient_stock'],
      ['d', 4, null],
    ]);
  });
});

describe('helpers', () => {
  it('totals per currency in minor units', () => {
    expect(totalsByCurrency([{ unitPrice: 250, quantity: 2, currency: 'USD' }, { unitPrice: 100, quantity: 1, currency: 'INR' }, { unitPrice: 1, quantity: 3, currency: 'USD' }])).toEqual([
      { currency: 'INR', amount: 100, units: 1 },
      { currency: 'USD', amount: 503, units: 5 },
    ]);
  });
  it('stableJson ignores key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 2, c: undefined, e: 'x' }] })).toBe(stableJson({ a: [{ e: 'x', d: 2 }], b: 1 }));
  });
});
