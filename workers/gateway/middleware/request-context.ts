import type { MiddlewareHandler } from 'hono';
import { readConfig } from '../../../shared/env';
import type { AppEnv } from '../../../shared/http/context';
import { createLogger } from '../../../shared/http/logging';
import { continueTrace, formatTraceparent } from '../../../shared/http/trace';
import { newId } from '../../../shared/kernel/ids';
import { setResponseHeaders } from '../../../shared/http/response-headers';
import { routePath } from 'hono/route';
import { onError } from './errors';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request id, W3C trace context, typed config and one wide structured log line per request.
 * Runs first, so everything after it (including errors) is logged and carries the ids.
 */
export function requestContext(
  closeResources: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => Promise<void> | undefined,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const inbound = c.req.header('x-request-id');
    const requestId = inbound && SAFE_REQUEST_ID.test(inbound) ? inbound : newId('request');
    const trace = continueTrace(c.req.header('traceparent'));
    c.set('requestId', requestId);
    c.set('trace', trace);
    c.set('actor', null);
    c.set('log', {});

    try {
      let config: ReturnType<typeof readConfig>;
      try {
        config = readConfig(c.env);
      } catch (err) {
        // An invalid Worker configuration is answered here, not by hono after this middleware
        // has returned: so the log line below and the id headers belong to the 500 that is sent.
        c.res = await onError(err instanceof Error ? err : new Error(String(err)), c);
        return;
      }
      c.set('config', config);
      await next();
    } finally {
      // On the final response (errors and preflights included), in place: see response-headers.ts.
      setResponseHeaders(c, [
        ['x-request-id', requestId],
        ['traceparent', formatTraceparent(trace)],
      ]);
      const status = c.res.status;
      // A unique violation answered 409 (errors.ts) is a warning: a race, or a missing check.
      const level = status >= 500 ? 'error' : c.get('log').conflict ? 'warn' : 'info';
      const config = c.get('config');
      const logger = createLogger(config?.LOG_LEVEL ?? 'info');
      logger.log(level, 'request', {
        requestId,
        traceId: trace.traceId,
        spanId: trace.spanId,
        parentSpanId: trace.parentSpanId,
        method: c.req.method,
        path: c.req.path,
        route: routePath(c),
        status,
        outcome: status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'success',
        actor: c.get('actor')?.id ?? null,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        ...c.get('log'),
      });
      const closing = closeResources(c);
      if (closing) c.executionCtx.waitUntil(closing.catch(() => undefined));
    }
  };
}
