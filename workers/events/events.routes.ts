import { createRoute } from '@hono/zod-openapi';
import { requires } from '../../shared/http/authorize';
import { problemContent } from '../../shared/http/problem';
import { DeadLetterIdParamSchema, DeadLetterPageSchema, DeadLetterQuerySchema, DeadLetterSchema } from './events.schemas';

export const listDeadLettersRoute = createRoute({
  tags: ['Admin'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('events:manage')] as const,
  method: 'get',
  path: '/v1/admin/dead-letters',
  operationId: 'events.listDeadLetters',
  summary: 'Event messages that could not be processed, newest first',
  request: { query: DeadLetterQuerySchema },
  responses: {
    200: { description: 'A page of dead letters', content: { 'application/json': { schema: DeadLetterPageSchema } } },
    400: { description: 'Invalid filter or cursor', content: problemContent },
    401: { description: 'No valid access token', content: problemContent },
    403: { description: 'Not allowed', content: problemContent },
  },
});

const actionResponses = (what: string) => ({
  200: { description: what, content: { 'application/json': { schema: DeadLetterSchema } } },
  400: { description: 'Malformed id', content: problemContent },
  401: { description: 'No valid access token', content: problemContent },
  403: { description: 'Not allowed', content: problemContent },
  404: { description: 'No such dead letter', content: problemContent },
  409: { description: 'The dead letter is in a state that does not allow this', content: problemContent },
});

export const redriveDeadLetterRoute = createRoute({
  tags: ['Admin'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('events:manage')] as const,
  method: 'post',
  path: '/v1/admin/dead-letters/{id}/redrive',
  operationId: 'events.redriveDeadLetter',
  summary: 'Republish the stored event to the queue it failed on (idempotent)',
  request: { params: DeadLetterIdParamSchema },
  responses: {
    ...actionResponses('The dead letter, now redriven'),
    422: { description: 'The stored message is not a valid envelope of a known event', content: problemContent },
    503: { description: 'The queue did not accept the message', content: problemContent },
  },
});

export const discardDeadLetterRoute = createRoute({
  tags: ['Admin'],
  security: [{ bearerAuth: [] }],
  middleware: [requires('events:manage')] as const,
  method: 'post',
  path: '/v1/admin/dead-letters/{id}/discard',
  operationId: 'events.discardDeadLetter',
  summary: 'Mark a dead letter as not to be redriven (idempotent)',
  request: { params: DeadLetterIdParamSchema },
  responses: actionResponses('The dead letter, now discarded'),
});
