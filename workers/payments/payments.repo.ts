import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { AnyDb } from '../../shared/db/client';
import { paymentWebhookEvents } from '../../shared/db/schema';
import { newId } from '../../shared/kernel/ids';
import type { DeliveryOutcome, WebhookEventStore } from './payments.ports';
import { PaymentEventSchema, type PaymentEvent } from './payments.schemas';

/** payment_webhook_events: the webhook inbox (this context's table only). */
export class DrizzleWebhookEventStore implements WebhookEventStore {
  constructor(private readonly db: () => AnyDb) {}

  async record(event: PaymentEvent, outcome: DeliveryOutcome): Promise<{ inserted: boolean; wasDelivered: boolean }> {
    const deliveredAt = 'deliveredAt' in outcome ? outcome.deliveredAt : null;
    const lastError = 'error' in outcome ? outcome.error.slice(0, 1000) : null;
    const [row] = await this.db()
      .insert(paymentWebhookEvents)
      .values({
        id: newId('paymentWebhookEvent'),
        provider: event.provider,
        eventId: event.providerEventId,
        providerType: event.providerType,
        type: event.type,
        attemptId: event.attemptId,
        orderId: event.orderId,
        providerRef: event.providerRef,
        event,
        occurredAt: new Date(event.occurredAt),
        deliveredAt,
        deliveryAttempts: 1,
        lastError,
      })
      .onConflictDoUpdate({
        target: [paymentWebhookEvents.provider, paymentWebhookEvents.eventId],
        set: { deliveredAt, deliveryAttempts: sql`${paymentWebhookEvents.deliveryAttempts} + 1`, lastError },
        // A row already delivered is not touched (and returns nothing).
        setWhere: isNull(paymentWebhookEvents.deliveredAt),
      })
      // xmax is 0 on a row this statement inserted, the updating transaction's id on one it updated.
      .returning({ inserted: sql<boolean>`(xmax = 0)` });
    if (!row) return { inserted: false, wasDelivered: true };
    return { inserted: row.inserted, wasDelivered: false };
  }

  async markDelivered(event: PaymentEvent, at: Date): Promise<void> {
    await this.db()
      .update(paymentWebhookEvents)
      .set({ deliveredAt: at, deliveryAttempts: sql`${paymentWebhookEvents.deliveryAttempts} + 1`, lastError: null })
      .where(
        and(
          eq(paymentWebhookEvents.provider, event.provider),
          eq(paymentWebhookEvents.eventId, event.providerEventId),
          isNull(paymentWebhookEvents.deliveredAt),
        ),
      );
  }

  async markFailed(event: PaymentEvent, error: string): Promise<void> {
    await this.db()
      .update(paymentWebhookEvents)
      .set({ deliveryAttempts: sql`${paymentWebhookEvents.deliveryAttempts} + 1`, lastError: error.slice(0, 1000) })
      .where(and(eq(paymentWebhookEvents.provider, event.provider), eq(paymentWebhookEvents.eventId, event.providerEventId)));
  }

  async undelivered(limit: number): Promise<PaymentEvent[]> {
    const rows = await this.db()
      .select({ event: paymentWebhookEvents.event })
      .from(paymentWebhookEvents)
      .where(isNull(paymentWebhookEvents.deliveredAt))
      .orderBy(asc(paymentWebhookEvents.receivedAt))
      .limit(limit);
    return rows.map((r) => PaymentEventSchema.parse(r.event));
  }
}
