import type { Context } from 'hono';

/**
 * Sets headers on the response the handlers produced (`c.res`), after `await next()`.
 *
 * In place when its headers are mutable, which is every response built in this Worker
 * (`c.json`, `new Response`); a response with immutable headers (one passed through from
 * `fetch` or `Response.redirect`) is copied once first. hono's own `c.header()` after the
 * response exists, and its `cors` middleware (which touches `c.res` before the handler runs),
 * build a new Response and copy every header each time: two to three extra Responses per request.
 */
export function setResponseHeaders(c: Context, headers: HeaderList): void {
  try {
    apply(c.res.headers, headers);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    c.res = new Response(c.res.body, c.res);
    apply(c.res.headers, headers);
  }
}

/** Headers to set, in order; `'append'` adds a value instead of replacing (e.g. `Vary`). */
export type HeaderList = readonly (readonly [name: string, value: string, append?: 'append'])[];

function apply(target: Headers, headers: HeaderList): void {
  for (const [name, value, append] of headers) {
    if (append) target.append(name, value);
    else target.set(name, value);
  }
}

/** Answers that no cache may keep: personal data, writes, live stock. */
export const NO_STORE: Readonly<Record<string, string>> = { 'Cache-Control': 'no-store' };

const REPLAYED: Readonly<Record<string, string>> = { ...NO_STORE, 'Idempotent-Replayed': 'true' };

/**
 * The headers of a write's answer under an Idempotency-Key: never cached, and a replay of the
 * key (the first answer again, API.md) marked `Idempotent-Replayed: true`.
 */
export function writeHeaders(replayed: boolean): Readonly<Record<string, string>> {
  return replayed ? REPLAYED : NO_STORE;
}

/**
 * `c.json(body, status, headers)` with headers besides the content type makes hono build a
 * `Headers` of its own that the `Response` then copies. Setting them on the response `c.json`
 * returns, in place, builds neither: `withHeaders(c.json(body, 200), NO_STORE)`.
 */
export function withHeaders<R extends Response>(res: R, headers: Readonly<Record<string, string>>): R {
  for (const name in headers) res.headers.set(name, headers[name]!);
  return res;
}
