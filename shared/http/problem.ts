import type { Context } from 'hono';
import type { AppError, FieldError } from '../kernel/app-error';
import { z } from '@hono/zod-openapi';

/** RFC 9457 problem details, the one error shape of the API (see API.md). */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://agora.dev/problems/validation-failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'VALIDATION_FAILED' }),
    requestId: z.string(),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() }))
      .optional(),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const typeUri = (code: string) => `https://agora.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;

export function problemBody(err: AppError, requestId: string, instance?: string): Problem {
  const body: Problem = {
    type: typeUri(err.code),
    title: err.title,
    status: err.status,
    detail: err.message,
    code: err.code,
    requestId,
  };
  if (instance) body.instance = instance;
  if (err.errors?.length) body.errors = err.errors;
  return body;
}

export function problemResponse(c: Context, err: AppError): Response {
  const requestId = (c.get('requestId') as string | undefined) ?? 'unknown';
  const headers = new Headers({ 'content-type': PROBLEM_CONTENT_TYPE, ...err.headers });
  return new Response(JSON.stringify(problemBody(err, requestId, c.req.path)), { status: err.status, headers });
}

/** Converts zod issues into per-field errors with paths prefixed by the request part. */
export function zodIssuesToFieldErrors(target: string, issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((issue) => ({
    path: [target, ...issue.path.map(String)].join('.'),
    message: issue.message,
    code: issue.code,
  }));
}

/** The problem responses every route can produce, for OpenAPI. */
export const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } as const;
