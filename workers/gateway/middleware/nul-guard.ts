import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../../shared/kernel/app-error';
import type { AppEnv } from '../../../shared/http/context';
import { hasLoneSurrogateEscape, hasNulEscape } from '../../../shared/http/nul';
import { problemResponse } from '../../../shared/http/problem';

/**
 * U+0000 cannot be stored in Postgres text (`invalid byte sequence for encoding "UTF8": 0x00`)
 * and means nothing in any field of this API, so a request that carries it anywhere is refused
 * up front with 400 VALIDATION_FAILED, before any handler writes anything.
 *
 * - Path and query: a `%00` in the raw URL (hono decodes it into the parameters).
 * - JSON bodies: a `\u0000` escape that is not itself escaped (an even run of backslashes before
 *   it). A raw NUL byte is not valid JSON and is already a 400 MALFORMED_JSON. Also an unpaired
 *   surrogate escape (`\uD800` alone): no character, and not storable as UTF-8 (0.3.14).
 *
 * The token endpoint (`POST /v1/auth/token`) reads only its form body and checks it in its own
 * parser, which answers in OAuth's error format (RFC 6749 §5.2) as the rest of that endpoint does.
 *
 * The body is read with `c.req.text()`, which hono caches: the route's validator parses that
 * same text, so nothing is read or built twice. Provider webhooks are left alone: their bodies
 * are signed and must reach the signature check byte for byte; the carrier webhook checks its
 * body itself after the signature (workers/orders).
 */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TOKEN_PATH = '/v1/auth/token';

export function rejectNulCharacters(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = c.req.url;
    if (url.includes('%00')) {
      const query = url.indexOf('?');
      return refuse(c, url.slice(0, query < 0 ? url.length : query).includes('%00') ? 'path' : 'query');
    }
    if (!WITH_BODY.has(c.req.method) || c.req.path.includes('/webhooks/') || c.req.path === TOKEN_PATH) return next();
    if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(c.req.header('content-type') ?? '')) return next();
    const text = await c.req.text();
    if (hasNulEscape(text)) return refuse(c, 'body');
    if (hasLoneSurrogateEscape(text)) return refuse(c, 'body', 'must not contain an unpaired UTF-16 surrogate (\\uD800-\\uDFFF alone)');
    return next();
  };
}

function refuse(c: Parameters<MiddlewareHandler<AppEnv>>[0], where: 'path' | 'query' | 'body', message = 'must not contain the NUL character (U+0000)') {
  return problemResponse(c, new AppError('VALIDATION_FAILED', `The request ${where} is not valid`, { errors: [{ path: where, message }] }));
}
