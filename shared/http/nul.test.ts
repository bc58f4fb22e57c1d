import { describe, expect, it } from 'vitest';
import { hasLoneSurrogateEscape, hasNulEscape } from './nul';

const json = (s: string) => JSON.stringify({ name: s });

describe('hasNulEscape', () => {
  it('finds an unescaped \\u0000 and nothing else', () => {
    expect(hasNulEscape(json('a\u0000b'))).toBe(true);
    expect(hasNulEscape(String.raw`{"name":"a\\u0000b"}`)).toBe(false); // a backslash, then the text u0000
    expect(hasNulEscape(json('plain'))).toBe(false);
  });
});

describe('hasLoneSurrogateEscape', () => {
  it('finds a high or a low surrogate escape standing alone', () => {
    expect(hasLoneSurrogateEscape(String.raw`{"name":"a\ud800b"}`)).toBe(true);
    expect(hasLoneSurrogateEscape(String.raw`{"name":"a\uDC00b"}`)).toBe(true);
    expect(hasLoneSurrogateEscape(String.raw`{"name":"end\uD83D"}`)).toBe(true);
    expect(hasLoneSurrogateEscape(String.raw`{"name":"\uDE00\uD83D"}`)).toBe(true); // the halves in the wrong order
  });

  it('lets a pair, an escaped backslash before the text, and plain characters through', () => {
    expect(hasLoneSurrogateEscape(String.raw`{"name":"smile \uD83D\uDE00"}`)).toBe(false);
    expect(hasLoneSurrogateEscape(String.raw`{"name":"\\ud800 is text"}`)).toBe(false);
    expect(hasLoneSurrogateEscape(json('smile 😀 ü'))).toBe(false);
    expect(hasLoneSurrogateEscape(String.raw`{"name":"\u00e9"}`)).toBe(false);
  });
});
