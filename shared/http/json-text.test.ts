import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonText } from './json-text';

afterEach(() => vi.restoreAllMocks());

describe('jsonText', () => {
  it('is JSON.stringify of the value, computed once per object', () => {
    const value = { items: [{ id: 'prd_1', price: { amount: 4699, currency: 'USD' }, note: undefined }], nextCursor: null };
    const stringify = vi.spyOn(JSON, 'stringify');
    const first = jsonText(value);
    const second = jsonText(value);
    expect(first).toBe('{"items":[{"id":"prd_1","price":{"amount":4699,"currency":"USD"}}],"nextCursor":null}');
    expect(second).toBe(first);
    expect(stringify).toHaveBeenCalledTimes(1);
  });

  it('serialises another object (a new cache entry) afresh, even when it is equal', () => {
    const a = { n: 1 };
    const b = { n: 2 };
    expect(jsonText(a)).toBe('{"n":1}');
    expect(jsonText(b)).toBe('{"n":2}');
    expect(jsonText({ n: 1 })).toBe('{"n":1}');
  });
});
