/**
 * Turning what a shopper typed into a Postgres tsquery: words are split, each word may be
 * replaced by its typo corrections from the catalog dictionary, and the last word also
 * matches as a prefix (search as you type).
 */
export interface QueryWord {
  /** The word as typed (normalised). */
  word: string;
  /** Dictionary words to try instead (best first); empty when the word is known or unfixable. */
  corrections: string[];
}

/** Words worth searching for: letters and digits, at least 2 characters, at most 8 words. */
export function searchWords(q: string): string[] {
  const words = q
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length >= 2);
  return [...new Set(words)].slice(0, 8);
}

/** Words long enough that a typo in them can be corrected reliably. */
export const correctable = (word: string) => word.length >= 4;

/** `(word | fix1 | fix2) & (other:*)`; words are [\p{L}\p{N}]+ so nothing needs quoting. */
export function buildTsQuery(words: QueryWord[]): string {
  return words
    .map((w, i) => {
      const last = i === words.length - 1;
      const alternatives = [w.word, ...w.corrections].map((a) => (last && a === w.word ? `${a}:*` : a));
      return alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(' | ')})`;
    })
    .join(' & ');
}

/** The query after correction, or null when nothing was corrected. */
export function correctedQuery(words: QueryWord[]): string | null {
  if (!words.some((w) => w.corrections.length > 0)) return null;
  return words.map((w) => w.corrections[0] ?? w.word).join(' ');
}
