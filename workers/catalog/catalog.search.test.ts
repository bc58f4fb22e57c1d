import { describe, expect, it } from 'vitest';
import { buildTsQuery, correctedQuery, pickCorrections, searchWords, typoDistance } from './catalog.search';
import { searchKeywords, searchTerms, tokenize } from './catalog.search-fields';

describe('typo distance', () => {
  it.each([
    ['keyboard', 'keyboard', 0],
    ['kyeboard', 'keyboard', 1],
    ['keybaord', 'keyboard', 1],
    ['keybord', 'keyboard', 1],
    ['gaugram', 'gaguram', 1],
    ['gaugram', 'gamiram', 2],
    ['lmap', 'lamp', 1],
    ['', 'abc', 3],
  ])('%s → %s = %i', (a, b, d) => {
    expect(typoDistance(a, b)).toBe(d);
    expect(typoDistance(b, a)).toBe(d);
  });
});

describe('corrections', () => {
  it('keeps a known word as it is', () => {
    expect(pickCorrections('keyboard', ['keyboard', 'keyboards'])).toEqual([]);
  });
  it('prefers the closest candidates and drops the rest', () => {
    expect(pickCorrections('gaugram', ['gamiram', 'gaguram'])).toEqual(['gaguram']);
  });
  it('refuses corrections too far for the word length', () => {
    expect(pickCorrections('lamp', ['camel'])).toEqual([]);
    expect(pickCorrections('quillory', ['quillon'])).toEqual([]);
    expect(pickCorrections('keyboardss', ['keyboard'])).toEqual(['keyboard']);
    expect(pickCorrections('zzzzzz', [])).toEqual([]);
  });
});

describe('query building', () => {
  it('splits, normalises and de-duplicates words, dropping punctuation', () => {
    expect(searchWords("Crème  brûlée & |CRÈME :* ' x")).toEqual(['creme', 'brulee']);
  });
  it('ORs corrections with the typed word and prefixes the last word', () => {
    const words = [
      { word: 'kyeboard', corrections: ['keyboard'] },
      { word: 'wirel', corrections: [] },
    ];
    expect(buildTsQuery(words)).toBe('(kyeboard | keyboard) & wirel:*');
    expect(correctedQuery(words)).toBe('keyboard wirel');
    expect(correctedQuery([{ word: 'ok', corrections: [] }])).toBeNull();
  });
});

describe('derived search fields', () => {
  const input = {
    name: 'Lumora Zephyrix Wireless Keyboard',
    brandName: 'Lumora',
    categoryPath: ['Computers', 'Accessories'],
    attributes: { warranty: '2 years' },
    variantAttributes: [{ color: 'Black' }, { color: 'Silver' }],
  };
  it('weights brand, category path and attribute values as keywords', () => {
    expect(searchKeywords(input)).toBe('Lumora Computers Accessories 2 years Black Silver');
  });
  it('contributes dictionary words of 3+ letters, lower-cased and unique', () => {
    expect(searchTerms(input).sort()).toEqual(
      ['accessories', 'black', 'computers', 'keyboard', 'lumora', 'silver', 'wireless', 'years', 'zephyrix'].sort(),
    );
    expect(tokenize('Ünïcode-ready, 4K!')).toEqual(['unicode', 'ready']);
  });
});
