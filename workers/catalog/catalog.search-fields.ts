/**
 * Pure derivations the catalog keeps next to each product so search stays fast:
 * the weighted keyword text and the dictionary words used for typo correction.
 */
export interface SearchFieldsInput {
  name: string;
  brandName: string;
  /** Category names from the root to the product's own category. */
  categoryPath: string[];
  attributes: Record<string, string>;
  variantAttributes: Record<string, string>[];
}

/** Text indexed at weight B: brand, category path and attribute values. */
export function searchKeywords(p: SearchFieldsInput): string {
  const values = new Set<string>();
  for (const v of Object.values(p.attributes)) values.add(v);
  for (const attrs of p.variantAttributes) for (const v of Object.values(attrs)) values.add(v);
  return [p.brandName, ...p.categoryPath, ...values].join(' ');
}

/** Lower-case words of at least 3 letters, the unit of typo correction. */
export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length >= 3);
}

/** Dictionary words contributed by one product: its name and its weighted keywords. */
export function searchTerms(p: SearchFieldsInput): string[] {
  return termsOf(p.name, searchKeywords(p));
}

/** The same words from a stored product: its name and its `search_keywords`. */
export function termsOf(name: string, keywords: string): string[] {
  return [...new Set(tokenize(`${name} ${keywords}`))];
}
