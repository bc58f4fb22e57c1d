import { systemClock, type Clock } from '../kernel/clock';
import type { GenerationStore } from '../ports/cache';
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../ports/rate-limiter';
import type { EventEnvelope } from '../events/envelope';
import type { EventPublisher } from '../ports/event-publisher';

/** In-memory fakes of the ports, for fast tests of logic that is not about the adapter. */
export class InMemoryGenerationStore implements GenerationStore {
  readonly values = new Map<string, number>();
  async current(namespace: string) {
    return this.values.get(namespace) ?? 0;
  }
  async bump(namespace: string) {
    const next = (this.values.get(namespace) ?? 0) + 1;
    this.values.set(namespace, next);
    return next;
  }
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = Date.parse('2026-11-01T00:00:00Z')) {}
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}

/**
 * A RateLimiter kept in memory: an exact sliding log of the allowed requests' times per
 * (rule, key), on a Clock (a ManualClock in tests). A request is allowed when fewer than
 * `limit` allowed requests fall in the last `windowSeconds`; refused ones are not logged.
 * It does not validate rules or keys (the real adapters throw a TypeError on bad ones).
 */
export class InMemoryRateLimiter implements RateLimiter {
  readonly name = 'memory';
  /** Allowed request times (ms), oldest first, per `${rule.name}\u0000${key}`. */
  readonly logs = new Map<string, number[]>();

  constructor(private readonly clock: Clock = systemClock) {}

  async limit(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    return this.decide(rule, key, true);
  }

  async peek(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    return this.decide(rule, key, false);
  }

  private decide(rule: RateLimitRule, key: string, count: boolean): RateLimitDecision {
    const now = this.clock.now().getTime();
    const windowMs = rule.windowSeconds * 1000;
    const id = `${rule.name}\u0000${key}`;
    const log = (this.logs.get(id) ?? []).filter((t) => t > now - windowMs);
    this.logs.set(id, log);
    if (log.length < rule.limit) {
      if (count) log.push(now);
      else return { allowed: true, limit: rule.limit, remaining: rule.limit - log.length, retryAfterSeconds: 0 };
      return { allowed: true, limit: rule.limit, remaining: rule.limit - log.length, retryAfterSeconds: 0 };
    }
    // A slot frees up when the entry that leaves `limit - 1` newer ones behind it slides out.
    const freedBy = log[log.length - rule.limit]!;
    return { allowed: false, limit: rule.limit, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((freedBy + windowMs - now) / 1000)) };
  }
}

/**
 * An EventPublisher kept in memory: `published` holds every envelope in order. Set `failWith`
 * to make the next publishes reject (the envelopes are then not recorded).
 */
export class InMemoryEventPublisher implements EventPublisher {
  readonly published: EventEnvelope[] = [];
  failWith: Error | undefined;

  async publish(envelopes: readonly EventEnvelope[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.published.push(...envelopes);
  }

  ofType(type: string): EventEnvelope[] {
    return this.published.filter((e) => e.type === type);
  }
}
