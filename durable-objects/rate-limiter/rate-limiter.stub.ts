import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../../shared/ports/rate-limiter';
import type { RateLimiterDurableObject } from './rate-limiter.do';
import { parseRateLimitInput } from './rate-limiter.logic';

/**
 * The RateLimiter port on RateLimiterDurableObject (binding `env.RATE_LIMITER`): the one way
 * to reach the object. One object per `${rule.name}:${key}`, so every budget is counted in
 * one place, wherever its requests arrive. Bad rules or keys throw a TypeError before any
 * object is touched; a failing object (or network) makes `limit` reject: the caller decides
 * whether that fails open or closed.
 */
export class DurableObjectRateLimiter implements RateLimiter {
  readonly name = 'durable-object';

  constructor(private readonly namespace: DurableObjectNamespace<RateLimiterDurableObject>) {}

  async limit(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    const { input, stub } = this.target(rule, key);
    return copy(await stub.limit(input));
  }

  async peek(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    const { input, stub } = this.target(rule, key);
    return copy(await stub.peek(input));
  }

  /** The validated input and the one object counting (rule, key). */
  private target(rule: RateLimitRule, key: string) {
    const input = parseRateLimitInput({ rule: { name: rule.name, limit: rule.limit, windowSeconds: rule.windowSeconds }, key });
    return { input, stub: this.namespace.get(this.namespace.idFromName(`${input.rule.name}:${input.key}`)) };
  }
}

/** A plain object of our own (not an RPC result with its disposal hooks). */
function copy(decision: RateLimitDecision): RateLimitDecision {
  return {
    allowed: decision.allowed,
    limit: decision.limit,
    remaining: decision.remaining,
    retryAfterSeconds: decision.retryAfterSeconds,
  };
}
