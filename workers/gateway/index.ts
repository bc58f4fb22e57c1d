import { createApp } from './app';

/** The Worker: HTTP gateway today; queue consumers, scheduled jobs and Durable Objects join it here. */
const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
