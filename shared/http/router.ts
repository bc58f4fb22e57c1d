import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hook } from '@hono/zod-openapi';
import type { Env as HonoEnv } from 'hono';
import { AppError } from '../kernel/app-error';
import { problemResponse, zodIssuesToFieldErrors } from './problem';
import type { AppEnv } from './context';

const TARGET_NAMES: Record<string, string> = {
  json: 'body',
  form: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
  cookie: 'cookie',
};

/** Turns a failed zod validation into a 400 problem+json with a path per field. */
export const validationHook: Hook<unknown, HonoEnv, string, unknown> = (result, c) => {
  if (!result.success) {
    const target = TARGET_NAMES[result.target] ?? result.target;
    const errors = zodIssuesToFieldErrors(target, result.error.issues);
    return problemResponse(
      c,
      new AppError('VALIDATION_FAILED', `The request ${target} is not valid`, { errors }),
    );
  }
  return undefined;
};

/** Every context's router is made here so they share the validation hook. */
export function createRouter<E extends HonoEnv = AppEnv>() {
  return new OpenAPIHono<E>({ defaultHook: validationHook as unknown as Hook<unknown, E, string, unknown> });
}
