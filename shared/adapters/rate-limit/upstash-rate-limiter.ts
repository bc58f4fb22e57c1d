import { Ratelimit, type Duration, type RatelimitConfig } from '@upstash/ratelimit';
import { z } from 'zod';
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../../ports/rate-limiter';

/**
 * The rules both rate limiters accept (the same bounds as RateLimiterDurableObject's input
 * schema, so switching backends never changes which rules are valid). The limit is capped at
 * 1,000,000 so the Durable Object's integer arithmetic stays exact.
 */
const ruleSchema = z.object({
  name: z.string().regex(/^[a-z0-9:_-]{1,64}$/i, 'letters, digits, ":", "_" or "-", 1 to 64 of them'),
  limit: z.int().min(1).max(1_000_000),
  windowSeconds: z.int().min(1).max(86_400),
});
const keySchema = z.string().min(1).max(200);

/**
 * The RateLimiter port on Upstash Redis, with @upstash/ratelimit's sliding window (the same
 * weighted two-window counter as the Durable Object; see durable-objects/rate-limiter/README.md).
 *
 * Keys: `agora:rl:<rule.name>:<key>:<window index>`. No ephemeral (in-isolate) block cache, no
 * analytics, no deny lists, no telemetry header, and no client-side timeout: the library's
 * timeout would *allow* the request when Redis is slow, and whether a failure lets requests
 * through is the caller's decision, so a Redis failure makes `limit` reject instead.
 */
export class UpstashRateLimiter implements RateLimiter {
  readonly name = 'upstash';
  /** One Ratelimit per (name, limit, window): rules are constants, so this stays small. */
  private readonly limiters = new Map<string, Ratelimit>();

  /** `redis`: an @upstash/redis client (`new Redis({ url, token })`, any of its entry points). */
  constructor(
    private readonly redis: RatelimitConfig['redis'],
    private readonly prefix = 'agora:rl',
  ) {}

  async limit(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    const { name, limit, windowSeconds } = parse(ruleSchema, rule, 'rule');
    parse(keySchema, key, 'key');
    const result = await this.limiterFor(name, limit, windowSeconds).limit(`${name}:${key}`);
    if (result.success) {
      return { allowed: true, limit: result.limit, remaining: result.remaining, retryAfterSeconds: 0 };
    }
    return {
      allowed: false,
      limit: result.limit,
      remaining: 0,
      retryAfterSeconds: Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)),
    };
  }

  async peek(rule: RateLimitRule, key: string): Promise<RateLimitDecision> {
    const { name, limit, windowSeconds } = parse(ruleSchema, rule, 'rule');
    parse(keySchema, key, 'key');
    const result = await this.limiterFor(name, limit, windowSeconds).getRemaining(`${name}:${key}`);
    if (result.remaining > 0) return { allowed: true, limit, remaining: result.remaining, retryAfterSeconds: 0 };
    return { allowed: false, limit, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)) };
  }

  private limiterFor(name: string, limit: number, windowSeconds: number): Ratelimit {
    const id = `${name}|${limit}|${windowSeconds}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new Ratelimit({
        redis: this.redis,
        limiter: Ratelimit.slidingWindow(limit, `${windowSeconds} s` satisfies Duration),
        prefix: this.prefix,
        ephemeralCache: false,
        analytics: false,
        enableProtection: false,
        dynamicLimits: false,
        enableTelemetry: false,
        timeout: 0,
      });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${[what, ...i.path].join('.')}: ${i.message}`).join('; ');
    throw new TypeError(`Invalid rate limit ${what}: ${issues}`);
  }
  return parsed.data;
}
