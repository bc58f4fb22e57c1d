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
export function setResponseHeaders(c: Context, headers: readonly (readonly [name: string, value: string, append?: 'append'])[]): void {
  let target = c.res.headers;
  try {
    apply(target, headers);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    c.res = new Response(c.res.body, c.res);
    target = c.res.headers;
    apply(target, headers);
  }
}

function apply(target: Headers, headers: readonly (readonly [string, string, 'append'?])[]): void {
  for (const [name, value, append] of headers) {
    if (append) target.append(name, value);
    else target.set(name, value);
  }
}
