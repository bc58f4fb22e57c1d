import { describe, expect, it } from 'vitest';
import { AppError } from './app-error';
import { decodeCursor, encodeCursor, fingerprint } from './cursor';
import { isId, newId } from './ids';
import { money } from './money';
import { continentOf, distanceTier } from './geo';

describe('ids', () => {
  it('are prefixed, well-formed, unique and sort by creation time', () => {
    const a = newId('product', 1_700_000_000_000);
    const b = newId('product', 1_700_000_000_001);
    expect(a).toMatch(/^prd_[0-9a-z]{26}$/);
    expect(isId('product', a)).toBe(true);
    expect(isId('order', a)).toBe(false);
    expect(a < b).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => newId('order'))).size).toBe(1000);
  });
});

describe('cursors', () => {
  it('round-trip and are bound to their query', () => {
    const c = encodeCursor({ k: '1999', i: 'prd_x' }, fingerprint({ sort: 'price_asc' }));
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, fingerprint({ sort: 'price_asc' }))).toEqual({ k: '1999', i: 'prd_x' });
    expect(() => decodeCursor(c, fingerprint({ sort: 'price_desc' }))).toThrow(AppError);
  });

  it.each(['', '!!!', 'e30', 'bnVsbA', 'x'.repeat(3000)])('rejects %j with INVALID_CURSOR', (bad) => {
    try {
      decodeCursor(bad, 'f');
      expect.unreachable();
    } catch (e) {
      expect((e as AppError).code).toBe('INVALID_CURSOR');
      expect((e as AppError).status).toBe(400);
    }
  });
});

describe('cursor shapes', () => {
  it('a cursor edited by a client (fingerprint kept) is INVALID_CURSOR when a field is not what its shape says', () => {
    const fp = fingerprint({ q: 1 });
    const ok = encodeCursor({ at: '2026-11-25T10:00:00.000Z', id: 'x' }, fp);
    expect(decodeCursor(ok, fp, { at: 'time', id: 'string' })).toEqual({ at: '2026-11-25T10:00:00.000Z', id: 'x' });
    for (const p of [{ at: 'not a time', id: 'x' }, { at: '2026-11-25T10:00:00.000Z', id: 7 }, { id: 'x' }, { at: { $gt: 1 }, id: 'x' }]) {
      expect(() => decodeCursor(encodeCursor(p, fp), fp, { at: 'time', id: 'string' })).toThrow(expect.objectContaining({ code: 'INVALID_CURSOR' }));
    }
  });
});

describe('money', () => {
  it('accepts integer minor units only', () => {
    expect(money(399900, 'INR')).toEqual({ amount: 399900, currency: 'INR' });
    expect(() => money(19.99, 'USD')).toThrow(RangeError);
  });
});

describe('AppError', () => {
  it('captures no stack for a client error, keeps it for a server error, and leaves the global limit alone', () => {
    const before = Error.stackTraceLimit;
    const client = new AppError('NOT_FOUND', 'no such thing');
    expect(client.status).toBe(404);
    expect(client.stack?.split('\n')).toEqual(['AppError: no such thing']);
    const server = new AppError('INTERNAL', 'broken');
    expect(server.stack?.split('\n').length).toBeGreaterThan(1);
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('plain').stack?.split('\n').length).toBeGreaterThan(1);
  });
});

describe('geo', () => {
  it('distance tiers: the same country 0, the same continent 1, elsewhere or unknown 2', () => {
    expect(distanceTier('US', 'US')).toBe(0);
    expect(distanceTier('us', 'US')).toBe(0);
    expect(distanceTier('CA', 'US')).toBe(1);
    expect(distanceTier('DE', 'NL')).toBe(1);
    expect(distanceTier('US', 'NL')).toBe(2);
    expect(distanceTier('IN', 'NL')).toBe(2);
    expect(distanceTier('ZZ', 'NL')).toBe(2);
    expect(distanceTier('ZZ', 'ZZ')).toBe(0);
  });

  it('every continent code, and a country on none of them', () => {
    expect(['NG', 'AQ', 'JP', 'FR', 'MX', 'NZ', 'BR'].map(continentOf)).toEqual(['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA']);
    expect(continentOf('ZZ')).toBeNull();
  });
});
