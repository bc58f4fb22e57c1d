import type { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { InventoryUpdated, ORDER_EVENTS, parseEnvelope, UserErased, type EventDefinition, type EventEnvelope } from '../../shared/events';
import type { LogFields } from '../../shared/http/context';
import { createLogger, type LogLevel } from '../../shared/http/logging';
import { projectedAvailable, projectInventoryUpdated, STOCK_PROJECTION_CONSUMER } from '../inventory';
import { syncVariantAvailability, VARIANT_AVAILABILITY_CONSUMER } from '../catalog';
import { CART_ERASURE_CONSUMER } from '../cart';
import { ORDER_ERASURE_CONSUMER, ORDER_PROJECTION_CONSUMER, projectOrderEvent } from '../orders';
import { WISHLIST_ERASURE_CONSUMER } from '../wishlist';
import { EVENTS_DLQ, EVENTS_QUEUE, ORDER_EVENTS_DLQ, ORDER_EVENTS_QUEUE } from './queue-names';
import { buildServices, generations, type Services } from './services';

/**
 * The Worker's queue consumers (docs/events.md): dispatch by queue name; per message, parse
 * the envelope, run the handlers registered for its (type, version), ack or retry with
 * backoff, and write one structured log line.
 */
export { EVENTS_DLQ, EVENTS_QUEUE, ORDER_EVENTS_DLQ, ORDER_EVENTS_QUEUE };
/** Each DLQ and the queue whose dead messages it receives. */
const DLQ_SOURCE: Record<string, string> = { [EVENTS_DLQ]: EVENTS_QUEUE, [ORDER_EVENTS_DLQ]: ORDER_EVENTS_QUEUE };
/** Keep in step with `max_retries` of agora-events in wrangler.toml. */
export const EVENTS_MAX_RETRIES = 12;
/** Cloudflare Queues accepts delays up to 12 hours; we cap backoff well below. */
export const MAX_RETRY_DELAY_SECONDS = 15 * 60;

/**
 * Messages of one batch in progress at once: the projections wait on Postgres round trips, not
 * on the CPU, so one at a time left the order projection far behind a checkout load. Keep it at
 * or below the pool's `max` (shared/db/client.ts): each message in progress may hold a connection.
 */
export const BATCH_CONCURRENCY = 4;

/**
 * Splits a batch into at most `lanes` lists, each run in order. Messages of one aggregate (the
 * envelope's `subject`: an order, a SKU) share a lane, so they are applied in delivery order and do
 * not queue on each other's locks; without a subject, copies of one event share a lane, and a body
 * that is not an envelope is a group of its own. Groups are dealt to the lanes round-robin by first
 * appearance.
 */
export function inLanes<M extends { id: string; body: unknown }>(messages: readonly M[], lanes: number): M[][] {
  const bySubject = new Map<string, M[]>();
  const groups: M[][] = [];
  for (const m of messages) {
    const body = m.body as { subject?: unknown; id?: unknown } | null;
    const key = typeof body?.subject === 'string' ? `s:${body.subject}` : typeof body?.id === 'string' ? `e:${body.id}` : `m:${m.id}`;
    let group = bySubject.get(key);
    if (!group) {
      group = [];
      bySubject.set(key, group);
      groups.push(group);
    }
    group.push(m);
  }
  const out: M[][] = Array.from({ length: Math.max(1, Math.min(lanes, groups.length)) }, () => []);
  groups.forEach((g, i) => out[i % out.length]!.push(...g));
  return out;
}

/** What a handler gets beside the event: the batch's services (one DbProvider) and its log line. */
export interface ConsumerContext {
  services: Services;
  db: DbProvider;
  env: Env;
  /** Fields added here appear on the message's log line. */
  log: LogFields;
}

export interface EventHandler<T = unknown> {
  /** Stable consumer name: the key of `consumeOnce` (processed_events.consumer). */
  consumer: string;
  event: EventDefinition<T>;
  handle(event: EventEnvelope<T>, ctx: ConsumerContext): Promise<void>;
}

/** Registers `handle` for one (type, version). Handlers must be idempotent (use consumeOnce). */
export function on<T>(event: EventDefinition<T>, consumer: string, handle: EventHandler<T>['handle']): EventHandler<T> {
  return { consumer, event, handle };
}

/**
 * Exponential backoff from the delivery attempt (1-based): 2 s, 4 s, 8 s, … capped at 15 min,
 * with ±20 % jitter so a burst of failures does not come back all at once.
 */
export function retryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(Number.isFinite(attempts) ? attempts : 1));
  const base = Math.min(MAX_RETRY_DELAY_SECONDS, 2 ** Math.min(n, 30));
  return Math.max(1, Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(base * (0.8 + 0.4 * random()))));
}

type Outcome = 'acked' | 'ignored' | 'retried' | 'exhausted' | 'dead_lettered' | 'recorded';
const LEVEL: Record<Outcome, LogLevel> = { acked: 'info', ignored: 'info', retried: 'warn', exhausted: 'error', dead_lettered: 'error', recorded: 'warn' };

const errorText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** A JSON-storable copy of a message body (bytes and other non-JSON bodies become a description). */
function storable(body: unknown): unknown {
  try {
    return body === undefined ? null : JSON.parse(JSON.stringify(body));
  } catch {
    return { unserialisable: Object.prototype.toString.call(body) };
  }
}

export function createQueueHandler(handlers: readonly EventHandler[]): ExportedHandlerQueueHandler<Env> {
  const byKey = new Map<string, EventHandler[]>();
  for (const h of handlers) {
    const key = `${h.event.type}@${h.event.version}`;
    const list = byKey.get(key) ?? [];
    if (list.some((x) => x.consumer === h.consumer)) throw new TypeError(`Consumer ${h.consumer} registered twice for ${key}`);
    byKey.set(key, [...list, h]);
  }

  return async (batch, env, ctx) => {
    const config = readConfig(env);
    const logger = createLogger(config.LOG_LEVEL);
    const services = buildServices(env, config, (p) => ctx.waitUntil(p));
    const one = async (message: Message) => {
      const started = performance.now();
      const fields: LogFields = { queue: batch.queue, messageId: message.id, attempts: message.attempts };
      let outcome: Outcome;
      if (batch.queue === EVENTS_QUEUE || batch.queue === ORDER_EVENTS_QUEUE) outcome = await consumeEvent(message, fields, { services, db: services.db, env, log: fields }, batch.queue);
      else if (DLQ_SOURCE[batch.queue]) outcome = await recordDeadLetter(message, fields, services, DLQ_SOURCE[batch.queue]!);
      else {
        fields.error = `no consumer for queue ${batch.queue}`;
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
        outcome = 'retried';
      }
      logger.log(LEVEL[outcome], 'queue message', { ...fields, outcome, durationMs: Math.round((performance.now() - started) * 100) / 100 });
    };
    try {
      // One aggregate's messages in delivery order, different aggregates side by side.
      const lanes = inLanes(batch.messages, BATCH_CONCURRENCY);
      await Promise.all(
        lanes.map(async (lane) => {
          for (const message of lane) await one(message);
        }),
      );
    } finally {
      ctx.waitUntil(services.db.close().catch(() => undefined));
    }
  };

  async function consumeEvent(message: Message, fields: LogFields, cctx: ConsumerContext, queue: string): Promise<Outcome> {
    const parsed = parseEnvelope(message.body);
    if (!parsed.ok) {
      // Retrying a malformed message never helps: record it and ack.
      Object.assign(fields, { eventId: parsed.id, type: parsed.type, reason: parsed.reason });
      const issues = parsed.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
      try {
        await cctx.services.events.record({
          queue,
          messageId: message.id,
          body: storable(message.body),
          error: `${parsed.reason}: ${parsed.message}${issues ? ` (${issues})` : ''}`,
          attempts: message.attempts,
        });
        message.ack();
        return 'dead_lettered';
      } catch (e) {
        fields.error = errorText(e);
        const delaySeconds = retryDelaySeconds(message.attempts);
        fields.retryDelaySeconds = delaySeconds;
        message.retry({ delaySeconds });
        return 'retried';
      }
    }
    const event = parsed.event;
    Object.assign(fields, { eventId: event.id, type: event.type, version: event.version, correlationId: event.correlationId, requestId: event.correlationId });
    if (event.traceparent) fields.traceId = event.traceparent.split('-')[1];
    const list = byKey.get(`${event.type}@${event.version}`) ?? [];
    if (list.length === 0) {
      message.ack();
      return 'ignored';
    }
    try {
      // Every handler dedupes by (its consumer, event id), so after a partial failure the
      // retry re-runs only those that did not finish.
      for (const h of list) {
        fields.consumer = h.consumer;
        await h.handle(event, cctx);
      }
      delete fields.consumer;
      message.ack();
      return 'acked';
    } catch (e) {
      fields.error = errorText(e);
      const delaySeconds = retryDelaySeconds(message.attempts);
      fields.retryDelaySeconds = delaySeconds;
      message.retry({ delaySeconds });
      // The platform moves it to the DLQ when this was the last delivery.
      return message.attempts > EVENTS_MAX_RETRIES ? 'exhausted' : 'retried';
    }
  }

  async function recordDeadLetter(message: Message, fields: LogFields, services: Services, source: string): Promise<Outcome> {
    const body = message.body as { id?: unknown; type?: unknown; correlationId?: unknown } | null;
    if (body && typeof body === 'object') {
      Object.assign(fields, {
        eventId: typeof body.id === 'string' ? body.id : undefined,
        type: typeof body.type === 'string' ? body.type : undefined,
        correlationId: typeof body.correlationId === 'string' ? body.correlationId : undefined,
      });
    }
    try {
      const { id } = await services.events.record({
        queue: source,
        messageId: message.id,
        body: storable(message.body),
        error: `delivery failed ${EVENTS_MAX_RETRIES + 1} times on ${source} (each error is on that queue's log lines for this event id)`,
        attempts: EVENTS_MAX_RETRIES + 1,
      });
      fields.deadLetterId = id;
      message.ack();
      return 'recorded';
    } catch (e) {
      fields.error = errorText(e);
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      return 'retried';
    }
  }
}

/** The handlers of every consumer in this Worker. */
export const EVENT_HANDLERS: readonly EventHandler[] = [
  // The order projection and the audit rows of order money movements (every order event type).
  ...Object.values(ORDER_EVENTS).map(
    (def) =>
      on(def, ORDER_PROJECTION_CONSUMER, async (event, ctx) => {
        const r = await projectOrderEvent(ctx.db.pool(), event);
        Object.assign(ctx.log, { orderId: event.data.orderId, aggregateVersion: event.aggregateVersion, duplicate: !r.processed, projection: r.outcome });
        // After the commit: an order whose customer was erased meanwhile forgets its address too
        // (also on a redelivery, in case the check failed after the projection committed).
        if (r.outcome === 'inserted' || !r.processed) {
          if ((await ctx.services.orders.afterFirstProjection(event.data.orderId, event.data.userId)).customerErased) ctx.log.customerErased = true;
        }
      }) as EventHandler,
  ),
  on(InventoryUpdated, STOCK_PROJECTION_CONSUMER, async (event, ctx) => {
    const outcome = await projectInventoryUpdated(ctx.db.pool(), event);
    Object.assign(ctx.log, { sku: event.data.sku, shard: event.data.shard, aggregateVersion: event.aggregateVersion, duplicate: !outcome.processed, applied: outcome.applied.length });
    if (outcome.unknownWarehouses.length > 0) ctx.log.unknownWarehouses = outcome.unknownWarehouses;
  }) as EventHandler,
  // The catalog's in-stock filter follows stock: after the projection above (same message, in
  // order), the SKU's projected availability goes into product_variants.available_qty.
  on(InventoryUpdated, VARIANT_AVAILABILITY_CONSUMER, async (event, ctx) => {
    const r = await syncVariantAvailability(ctx.db.pool(), generations(ctx.env, readConfig(ctx.env)), event, (tx) => projectedAvailable(tx, event.data.sku));
    Object.assign(ctx.log, { available: r.available, availabilityChanged: r.changed, stockFlipped: r.stockFlipped });
  }) as EventHandler,
  // GDPR erasure: the wishlist rows (once per event id) and the user's active cart object.
  on(UserErased, WISHLIST_ERASURE_CONSUMER, async (event, ctx) => {
    const r = await ctx.services.wishlist.eraseUser(event);
    Object.assign(ctx.log, { userId: event.data.userId, duplicate: !r.processed, wishlistItemsDeleted: r.deleted });
  }) as EventHandler,
  on(UserErased, ORDER_ERASURE_CONSUMER, async (event, ctx) => {
    const r = await ctx.services.orders.eraseCustomer(event.data.userId, new Date(event.occurredAt));
    Object.assign(ctx.log, { userId: event.data.userId, orders: r.orders, addressesPending: r.pendingAddresses });
  }) as EventHandler,
  on(UserErased, CART_ERASURE_CONSUMER, async (event, ctx) => {
    const r = await ctx.services.cart.eraseUser(event.data.userId);
    ctx.log.cartErased = r.erasedCart;
  }) as EventHandler,
];
