import { createApp } from './app';

/** The Worker: HTTP gateway today; queue consumers and scheduled jobs join it here. */
const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

// Durable Object classes hosted by this Worker (bindings in wrangler.toml).
export { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
export { RateLimiterDurableObject } from '../../durable-objects/rate-limiter/rate-limiter.do';
