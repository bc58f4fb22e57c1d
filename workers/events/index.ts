import type { Context } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { registerEventsHandlers } from './events.handlers';
import type { EventsService } from './events.service';

/** The event bus's public surface: recording dead letters (queue consumers) and the admin dead-letter API. */
export { makeEventsService, type EventsDeps, type EventsService } from './events.service';
export type { DeadLetterInput } from './events.schemas';

export function eventsRouter(service: (c: Context<AppEnv>) => EventsService) {
  const app = createRouter();
  registerEventsHandlers(app, service);
  return app;
}
