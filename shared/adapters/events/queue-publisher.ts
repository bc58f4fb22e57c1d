import type { EventEnvelope } from '../../events/envelope';
import type { EventPublisher } from '../../ports/event-publisher';

/** Cloudflare Queues allows at most 100 messages per sendBatch call. */
export const MAX_BATCH = 100;

/** Publishes envelopes to a Cloudflare Queue as JSON messages, in batches of up to 100. */
export class QueuePublisher implements EventPublisher {
  constructor(private readonly queue: Queue) {}

  async publish(envelopes: readonly EventEnvelope[]): Promise<void> {
    for (let i = 0; i < envelopes.length; i += MAX_BATCH) {
      const chunk = envelopes.slice(i, i + MAX_BATCH);
      await this.queue.sendBatch(chunk.map((body) => ({ body, contentType: 'json' as const })));
    }
  }
}
