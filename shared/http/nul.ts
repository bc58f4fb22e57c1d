/**
 * U+0000 as JSON text carries it: a `\u0000` escape that is not itself escaped (an even run of
 * backslashes before it). Postgres text cannot hold the character, and no field of this API
 * means anything by it. A raw NUL byte is not valid JSON at all.
 */
const NUL_IN_JSON = /(?<!\\)(?:\\\\)*\\u0000/;

export const hasNulEscape = (jsonText: string): boolean => NUL_IN_JSON.test(jsonText);
