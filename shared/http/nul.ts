/**
 * U+0000 as JSON text carries it: a `\u0000` escape that is not itself escaped (an even run of
 * backslashes before it). Postgres text cannot hold the character, and no field of this API
 * means anything by it. A raw NUL byte is not valid JSON at all.
 */
const NUL_IN_JSON = /(?<!\\)(?:\\\\)*\\u0000/;

export const hasNulEscape = (jsonText: string): boolean => NUL_IN_JSON.test(jsonText);

/**
 * A `\uD800`–`\uDFFF` escape that is not half of a pair: JSON text can spell it, but it is no
 * character, and UTF-8 (Postgres text, any response) cannot hold it. Before 0.3.14 such a name was
 * stored as U+FFFD by one route and kept as sent by another.
 */
const LONE_HIGH = /(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})/;
const LONE_LOW = /(?<!\\)(?:\\\\)*(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/;

export const hasLoneSurrogateEscape = (jsonText: string): boolean => jsonText.includes('\\u') && (LONE_HIGH.test(jsonText) || LONE_LOW.test(jsonText));
