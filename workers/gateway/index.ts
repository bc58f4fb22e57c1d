import { createApp } from './app';
// Registers the order saga's ports before any order object is constructed.
import './order-saga';
import { createQueueHandler, EVENT_HANDLERS } from './queues';
import { runScheduled } from './scheduled';

/** The Worker: the HTTP gateway and the queue consumers; scheduled jobs join it here. */
const app = createApp();

export default {
  fetch: app.fetch,
  queue: createQueueHandler(EVENT_HANDLERS),
  scheduled: runScheduled,
} satisfies ExportedHandler<Env>;

// Durable Object classes hosted by this Worker (bindings in wrangler.toml).
export { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
export { RateLimiterDurableObject } from '../../durable-objects/rate-limiter/rate-limiter.do';
export { CartDurableObject } from '../../durable-objects/cart/cart.do';
export { OrderDurableObject } from '../../durable-objects/order/order.do';
