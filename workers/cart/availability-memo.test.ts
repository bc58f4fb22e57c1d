import { describe, expect, it } from 'vitest';
import { AvailabilityMemo } from './availability-memo';

describe('AvailabilityMemo', () => {
  it('answers with a remembered figure only while it is fresh and at least the floor', () => {
    const memo = new AvailabilityMemo();
    memo.remember('SKU-A', 500, 100, 10_000, 1000);
    expect(memo.fresh('SKU-A', 100, 10_000)).toBe(500);
    expect(memo.fresh('SKU-A', 100, 10_999)).toBe(500);
    // Stale at the end of the TTL, and forgotten.
    expect(memo.fresh('SKU-A', 100, 11_000)).toBeUndefined();
    memo.remember('SKU-A', 500, 100, 20_000, 1000);
    // A caller with a higher floor (a larger line limit) does not trust it.
    expect(memo.fresh('SKU-A', 600, 20_001)).toBeUndefined();
    expect(memo.fresh('SKU-A', 100, 20_001)).toBeUndefined();
    expect(memo.fresh('SKU-B', 100, 20_001)).toBeUndefined();
  });

  it('never remembers a figure below the floor, and a low live figure forgets the SKU', () => {
    const memo = new AvailabilityMemo();
    memo.remember('SKU-A', 99, 100, 0, 1000);
    expect(memo.fresh('SKU-A', 100, 1)).toBeUndefined();
    memo.remember('SKU-A', 100, 100, 0, 1000);
    expect(memo.fresh('SKU-A', 100, 1)).toBe(100);
    memo.remember('SKU-A', 3, 100, 2, 1000);
    expect(memo.fresh('SKU-A', 100, 3)).toBeUndefined();
    expect(memo.fresh('SKU-A', 0, 3)).toBeUndefined();
  });

  it('remembers nothing with a TTL of 0 (CART_AVAILABILITY_MEMO_MS=0)', () => {
    const memo = new AvailabilityMemo();
    memo.remember('SKU-A', 500, 100, 0, 1000);
    memo.remember('SKU-A', 500, 100, 1, 0);
    expect(memo.fresh('SKU-A', 100, 1)).toBeUndefined();
  });
});
