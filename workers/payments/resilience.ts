import { AppError } from '../../shared/kernel/app-error';

/**
 * Retries with exponential backoff and jitter, and a circuit breaker per provider, around every
 * provider call. Only RETRYABLE failures (network error, timeout, 5xx, 429) are retried and
 * counted by the breaker; a decline or any other 4xx is an answer, never retried.
 */

export type FailureKind = 'network' | 'timeout' | 'server' | 'rate_limited' | 'declined' | 'invalid' | 'auth' | 'not_found' | 'conflict';

/** What an adapter throws when a provider call did not give a usable answer. */
export class ProviderFailure extends Error {
  override name = 'ProviderFailure';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly opts: {
      status?: number;
      /** From a Retry-After header. */
      retryAfterMs?: number;
      /** False only when the provider certainly did not act on the request (429, connection refused). */
      mayHaveReachedProvider?: boolean;
      providerCode?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
  }

  get retryable(): boolean {
    return this.kind === 'network' || this.kind === 'timeout' || this.kind === 'server' || this.kind === 'rate_limited';
  }

  get mayHaveReachedProvider(): boolean {
    return this.opts.mayHaveReachedProvider ?? this.kind !== 'rate_limited';
  }
}

/**
 * The provider could not be used now. `outcome` tells the saga what is safe:
 * - `not_sent`: nothing reached the provider (open breaker, 429s): retry later with the SAME attempt id;
 * - `unknown`: a request may have been processed (timeout after send, 5xx): do not start a new
 *   attempt; reconcile this one (reconcileAttempts) or retry with the same attempt id, which the
 *   provider deduplicates (Stripe idempotency key, Razorpay receipt lookup). Never a double charge.
 */
export class PaymentUnavailableError extends AppError {
  constructor(
    readonly provider: string,
    readonly reason: 'circuit_open' | 'retries_exhausted',
    readonly outcome: 'not_sent' | 'unknown',
    readonly retryAfterMs: number,
    cause?: unknown,
  ) {
    super(
      'PAYMENT_PROVIDER_UNAVAILABLE',
      reason === 'circuit_open'
        ? `${provider} is failing; its circuit breaker is open for another ${Math.ceil(retryAfterMs / 1000)}s`
        : `${provider} did not answer usefully after retries`,
      { cause, headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } },
    );
  }
}

/** The provider refused the request for a reason that retrying will not fix (bad request, auth). */
export class PaymentProviderError extends AppError {
  constructor(
    readonly provider: string,
    readonly failure: ProviderFailure,
  ) {
    super('PAYMENT_PROVIDER_ERROR', `${provider}: ${failure.message}`, { cause: failure });
  }
}

export interface Ticker {
  nowMs(): number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive retryable failures that open the breaker. */
  threshold: number;
  /** Time the breaker stays open before one probe is let through. */
  cooldownMs: number;
}

/**
 * Closed → (threshold consecutive failures) → open → (cooldown elapsed) → half-open: one probe
 * at a time; its success closes the breaker, its failure opens it for another cooldown.
 * State lives in this object; see README (per isolate).
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;
  #probeAt = 0;

  constructor(
    readonly name: string,
    private readonly opts: BreakerOptions,
    private readonly ticker: Ticker,
  ) {}

  state(): BreakerState {
    if (this.#state === 'open' && this.ticker.nowMs() - this.#openedAt >= this.opts.cooldownMs) return 'half_open';
    return this.#state;
  }

  /** Milliseconds until a call may be tried again (0 when it may now). */
  retryAfterMs(): number {
    if (this.#state !== 'open') return this.#probing() ? 1000 : 0;
    return Math.max(0, this.opts.cooldownMs - (this.ticker.nowMs() - this.#openedAt));
  }

  /** True when a call may go ahead; in half-open, only one caller at a time gets true. */
  tryAcquire(): boolean {
    const state = this.state();
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.#probing()) return false;
    this.#state = 'half_open';
    this.#probeInFlight = true;
    this.#probeAt = this.ticker.nowMs();
    return true;
  }

  /**
   * A probe is in flight, and not given up on: one that has not reported for a whole cooldown
   * (its request was cancelled, or its isolate's caller went away before onSuccess/onFailure) no
   * longer holds the breaker half-open for every later caller of this isolate.
   */
  #probing(): boolean {
    return this.#probeInFlight && this.ticker.nowMs() - this.#probeAt < this.opts.cooldownMs;
  }

  /** The provider answered (success, decline, or any other non-retryable answer). */
  onSuccess(): void {
    this.#failures = 0;
    this.#probeInFlight = false;
    this.#state = 'closed';
  }

  /** A retryable failure (network, timeout, 5xx, 429). */
  onFailure(): void {
    this.#probeInFlight = false;
    this.#failures++;
    if (this.#state === 'half_open' || this.#failures >= this.opts.threshold) {
      this.#state = 'open';
      this.#openedAt = this.ticker.nowMs();
    }
  }
}

export interface RetryPolicy {
  /** Retries after the first try. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** [0, 1), injected so tests are deterministic. */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /**
   * Wall time one call may take with its retries (undefined: no bound). A retry is not started when
   * the time spent, the backoff before it and one more try (`attemptTimeoutMs`) would pass it: the
   * caller then gets PaymentUnavailableError('retries_exhausted') at once, and the saga's alarm
   * retries the step later with the same idempotency key.
   */
  budgetMs?: number;
  /** How long one try may take (the HTTP timeout of one provider call). */
  attemptTimeoutMs?: number;
  /** The clock the budget is read from (the breaker's ticker). */
  nowMs?: () => number;
}

/** Exponential backoff with "equal jitter": half the step fixed, half random; Retry-After honoured up to the cap. */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>, retryAfterMs?: number): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jittered = step / 2 + policy.random() * (step / 2);
  return Math.round(retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, policy.maxDelayMs)));
}

export interface Resilience {
  breaker: CircuitBreaker;
  retry: RetryPolicy;
}

/**
 * Runs `call` under the provider's breaker with retries. `call` must be idempotent across
 * tries (same provider idempotency key every time). Throws the adapter's own error for an
 * answer (decline, 4xx), PaymentUnavailableError when the provider could not be used.
 */
export async function withResilience<T>(provider: string, r: Resilience, call: (attempt: number) => Promise<T>): Promise<T> {
  let mayHaveSent = false;
  let last: ProviderFailure | undefined;
  const nowMs = r.retry.nowMs ?? Date.now;
  const startedAt = nowMs();
  for (let attempt = 0; attempt <= r.retry.maxRetries; attempt++) {
    if (!r.breaker.tryAcquire()) {
      throw new PaymentUnavailableError(provider, 'circuit_open', mayHaveSent ? 'unknown' : 'not_sent', r.breaker.retryAfterMs() || 1000, last);
    }
    try {
      const result = await call(attempt);
      r.breaker.onSuccess();
      return result;
    } catch (err) {
      if (!(err instanceof ProviderFailure) || !err.retryable) {
        // The provider answered (a decline, a 4xx) or our own code failed: not the provider's health.
        r.breaker.onSuccess();
        throw err;
      }
      r.breaker.onFailure();
      mayHaveSent ||= err.mayHaveReachedProvider;
      last = err;
      if (attempt < r.retry.maxRetries) {
        const delay = backoffMs(attempt, r.retry, err.opts.retryAfterMs);
        if (r.retry.budgetMs !== undefined && nowMs() - startedAt + delay + (r.retry.attemptTimeoutMs ?? 0) > r.retry.budgetMs) break;
        await r.retry.sleep(delay);
      }
    }
  }
  throw new PaymentUnavailableError(provider, 'retries_exhausted', mayHaveSent ? 'unknown' : 'not_sent', r.breaker.retryAfterMs() || r.retry.baseDelayMs, last);
}

/** Per-isolate breakers, one per provider account (see README: why not a Durable Object yet). */
const breakers = new Map<string, CircuitBreaker>();

export function isolateBreaker(key: string, opts: BreakerOptions, ticker: Ticker): CircuitBreaker {
  const id = `${key}|${opts.threshold}|${opts.cooldownMs}`;
  let b = breakers.get(id);
  if (!b) {
    b = new CircuitBreaker(key, opts, ticker);
    breakers.set(id, b);
  }
  return b;
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
