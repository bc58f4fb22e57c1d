import type { MiddlewareHandler } from 'hono';
import { setResponseHeaders, type HeaderList } from '../../../shared/http/response-headers';

export interface CorsOptions {
  /** `*`, or a comma-separated list of allowed origins (`CORS_ORIGINS`). */
  origins: string;
  allowHeaders: readonly string[];
  allowMethods: readonly string[];
  exposeHeaders: readonly string[];
  maxAgeSeconds: number;
}

/**
 * CORS with the behaviour of hono's `cors` for these options, without its per-request cost:
 * hono's touches `c.res` before the handler runs, so every response is built twice and its
 * headers copied. Here the headers are set on the final response (shared/http/response-headers).
 *
 * - Every OPTIONS request is a preflight: 204 with the allowed methods and headers and a max age.
 * - The allowed origin: `*` for any (with or without an Origin header); with a list, the request's
 *   Origin when listed (else none), and `Vary: Origin` on every answer.
 * - `Access-Control-Expose-Headers` on every answer.
 */
export function cors(opts: CorsOptions): MiddlewareHandler {
  const any = opts.origins.trim() === '*';
  const listed = any ? [] : opts.origins.split(',').map((o) => o.trim()).filter(Boolean);
  const allowOrigin = (origin: string | undefined): string | null => (any ? '*' : origin && listed.includes(origin) ? origin : null);
  const expose = opts.exposeHeaders.join(',');
  const preflight: [string, string][] = [
    ['access-control-max-age', String(opts.maxAgeSeconds)],
    ['access-control-allow-methods', opts.allowMethods.join(',')],
    ['access-control-allow-headers', opts.allowHeaders.join(',')],
  ];

  return async (c, next) => {
    const origin = allowOrigin(c.req.header('origin'));
    if (c.req.method === 'OPTIONS') {
      const headers = new Headers(preflight);
      headers.set('access-control-expose-headers', expose);
      if (origin) headers.set('access-control-allow-origin', origin);
      headers.set('vary', any ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers');
      return new Response(null, { status: 204, headers });
    }
    await next();
    const set: HeaderList[number][] = [['access-control-expose-headers', expose]];
    if (origin) set.push(['access-control-allow-origin', origin]);
    if (!any) set.push(['vary', 'Origin', 'append']);
    setResponseHeaders(c, set);
  };
}
