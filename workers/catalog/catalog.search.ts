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

/**
 * Optimal string alignment distance: Levenshtein where swapping two adjacent letters
 * costs 1, the most common typo.
 */
export function typoDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** How many typos a word of this length may carry and still be corrected. */
export const maxTypos = (word: string) => (word.length >= 9 ? 2 : 1);

/**
 * The corrections worth searching for: the dictionary candidates at the smallest typo
 * distance, if that distance is tolerable for the word's length. None when the word is known.
 */
export function pickCorrections(word: string, candidates: string[]): string[] {
  if (candidates.includes(word)) return [];
  const scored = candidates.map((term) => ({ term, dist: typoDistance(word, term) }));
  const best = Math.min(...scored.map((s) => s.dist));
  if (!Number.isFinite(best) || best > maxTypos(word)) return [];
  return scored.filter((s) => s.dist === best).map((s) => s.term).slice(0, 3);
}
