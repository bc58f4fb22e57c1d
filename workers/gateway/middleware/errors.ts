import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { isUniqueViolation, violatedConstraint } from '../../../shared/db/errors';
import { AppError, isAppError } from '../../../shared/kernel/app-error';
import type { AppEnv } from '../../../shared/http/context';
import { problemResponse } from '../../../shared/http/problem';

/** The one place errors become problem+json. Unknown errors are logged and hidden. */
export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (isAppError(err)) {
    // A server-side AppError (integrity, dependency) answers generically but is logged whole.
    if (err.status >= 500) c.get('log').error = { code: err.code, message: err.message, cause: err.cause };
    return problemResponse(c, err);
  }
  if (err instanceof HTTPException) return problemResponse(c, fromHttpException(err));
  // Two requests raced to write the same unique value (a check-then-insert that another request
  // won): the loser's write conflicts; nothing was written. Services map the races they know to
  // their own message; this is the floor, so a race is never a 500.
  if (isUniqueViolation(err)) {
    c.get('log').conflict = violatedConstraint(err) ?? 'unique';
    return problemResponse(c, new AppError('CONFLICT', 'The request conflicts with a concurrent change; read the current state and try again'));
  }
  c.get('log').error = err;
  return problemResponse(c, new AppError('INTERNAL', 'An unexpected error occurred; quote the requestId when reporting it'));
};

function fromHttpException(err: HTTPException): AppError {
  if (err.status === 400 && /json/i.test(err.message)) {
    return new AppError('MALFORMED_JSON', 'The request body could not be parsed as JSON', {
      errors: [{ path: 'body', message: 'malformed JSON' }],
    });
  }
  if (err.status === 413) return new AppError('PAYLOAD_TOO_LARGE');
  if (err.status === 401) return new AppError('UNAUTHENTICATED', err.message || undefined);
  if (err.status === 403) return new AppError('FORBIDDEN', err.message || undefined);
  if (err.status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', err.message || undefined);
  if (err.status >= 500) return new AppError('INTERNAL');
  return new AppError('VALIDATION_FAILED', err.message || undefined);
}

/** 404 for unknown paths; 405 with `Allow` when the path exists under other methods. */
export function notFound(allowedMethods: (path: string) => string[]): NotFoundHandler<AppEnv> {
  return (c: Context<AppEnv>) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length) {
      return problemResponse(
        c,
        new AppError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(', ')}`, {
          headers: { allow: allowed.join(', ') },
        }),
      );
    }
    return problemResponse(c, new AppError('ROUTE_NOT_FOUND', `No route matches ${c.req.method} ${c.req.path}`));
  };
}

/** Builds a path → allowed methods lookup from the registered routes. */
export function methodIndex(routes: readonly { method: string; path: string }[]): (path: string) => string[] {
  const patterns = new Map<string, { re: RegExp; methods: Set<string> }>();
  for (const r of routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    let entry = patterns.get(r.path);
    if (!entry) {
      const re = new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+')}/?$`);
      entry = { re, methods: new Set() };
      patterns.set(r.path, entry);
    }
    entry.methods.add(r.method);
    if (r.method === 'GET') entry.methods.add('HEAD');
  }
  return (path) => {
    const out = new Set<string>();
    for (const { re, methods } of patterns.values()) if (re.test(path)) methods.forEach((m) => out.add(m));
    return [...out].sort();
  };
}
