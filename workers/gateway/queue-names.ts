/**
 * The queues' names, as wrangler.toml declares them: the consumers (queues.ts) dispatch on them,
 * and a dead letter's redrive (services.ts) goes back to the queue it failed on.
 */
export const EVENTS_QUEUE = 'agora-events';
export const EVENTS_DLQ = 'agora-events-dlq';
/** Order transitions (durable-objects/order), same envelope and rules. */
export const ORDER_EVENTS_QUEUE = 'agora-order-events';
export const ORDER_EVENTS_DLQ = 'agora-order-events-dlq';
