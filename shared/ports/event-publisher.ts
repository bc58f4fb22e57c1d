import type { EventEnvelope } from '../events/envelope';

/**
 * Publishes domain events (docs/events.md). Delivery is at least once and in any order;
 * consumers dedupe by event id. A resolved promise means the queue accepted every envelope.
 */
export interface EventPublisher {
  publish(envelopes: readonly EventEnvelope[]): Promise<void>;
}
