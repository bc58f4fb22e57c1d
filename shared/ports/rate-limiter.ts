/**
 * Sliding-window rate limiting (README "Rate limiting"). One rule names a limit over a window;
 * the key says whose budget is spent (an IP, an account's blind index, a client id).
 */
export interface RateLimitRule {
  /** Stable name, part of the storage key: `login:ip`, `login:account-failures`, ... (letters, digits, : _ -). */
  readonly name: string;
  /** Requests allowed per window (at least 1). */
  readonly limit: number;
  /** Window length in seconds (1 to 86,400). */
  readonly windowSeconds: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the window after this one (0 when refused). */
  remaining: number;
  /** When refused: whole seconds until a request would be allowed again (at least 1). 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Short name for logs: `upstash`, `durable-object`, `memory`. */
  readonly name: string;
  /** Counts one request against `rule` for `key` and says whether it is allowed. */
  limit(rule: RateLimitRule, key: string): Promise<RateLimitDecision>;
  /**
   * Says whether a request would be allowed now, without counting one. For budgets that only
   * failures spend (failed logins per account): peek before the attempt, `limit` after a failure.
   */
  peek(rule: RateLimitRule, key: string): Promise<RateLimitDecision>;
}
