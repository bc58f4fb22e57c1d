import { describe, expect, it } from 'vitest';
import { backoffMs, CircuitBreaker, PaymentUnavailableError, ProviderFailure, withResilience, type Resilience } from './resilience';

function harness(opts: { maxRetries?: number; threshold?: number; cooldownMs?: number; random?: number; budgetMs?: number; attemptTimeoutMs?: number } = {}) {
  let now = 1_000_000;
  const sleeps: number[] = [];
  const ticker = { nowMs: () => now };
  const r: Resilience = {
    breaker: new CircuitBreaker('test', { threshold: opts.threshold ?? 5, cooldownMs: opts.cooldownMs ?? 30_000 }, ticker),
    retry: {
      maxRetries: opts.maxRetries ?? 3,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => opts.random ?? 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
      nowMs: () => now,
      ...(opts.budgetMs === undefined ? {} : { budgetMs: opts.budgetMs, attemptTimeoutMs: opts.attemptTimeoutMs ?? 0 }),
    },
  };
  return { r, sleeps, advance: (ms: number) => (now += ms) };
}

const fail = (kind: ConstructorParameters<typeof ProviderFailure>[0], extra: ConstructorParameters<typeof ProviderFailure>[2] = {}) => () =>
  Promise.reject(new ProviderFailure(kind, kind, extra));

describe('backoffMs', () => {
  it('doubles per retry, keeps half fixed and jitters the other half, caps at maxDelay', () => {
    const p = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4].map((n) => backoffMs(n, { ...p, random: () => 0 }))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 4].map((n) => backoffMs(n, { ...p, random: () => 0.999999 }))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('waits at least Retry-After, up to the cap', () => {
    expect(backoffMs(0, { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0 }, 700)).toBe(700);
    expect(backoffMs(0, { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0 }, 60_000)).toBe(1000);
  });
});

describe('withResilience', () => {
  it('retries retryable failures with backoff and returns the first success', async () => {
    const { r, sleeps } = harness();
    let calls = 0;
    const out = await withResilience('p', r, async () => {
      calls++;
      if (calls < 3) throw new ProviderFailure(calls === 1 ? 'server' : 'rate_limited', 'x');
      return 'ok';
    });
    expect(out).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([75, 150]);
    expect(r.breaker.state()).toBe('closed');
  });

  it('never retries a decline or another 4xx, and they do not count against the breaker', async () => {
    const { r, sleeps } = harness({ threshold: 1 });
    for (const kind of ['declined', 'invalid', 'auth', 'not_found'] as const) {
      let calls = 0;
      await expect(
        withResilience('p', r, () => {
          calls++;
          return fail(kind)();
        }),
      ).rejects.toMatchObject({ kind });
      expect(calls).toBe(1);
    }
    expect(sleeps).toEqual([]);
    expect(r.breaker.state()).toBe('closed');
  });

  it('gives up after maxRetries with outcome unknown when a request may have been processed', async () => {
    const { r } = harness({ maxRetries: 3, threshold: 10 });
    let calls = 0;
    const err = await withResilience('p', r, () => {
      calls++;
      return fail('timeout')();
    }).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(err).toBeInstanceOf(PaymentUnavailableError);
    expect(err).toMatchObject({ reason: 'retries_exhausted', outcome: 'unknown', code: 'PAYMENT_PROVIDER_UNAVAILABLE', status: 503 });
  });

  it('starts no retry that could end past the call budget: a hung provider costs one timeout, not four', async () => {
    // Each try times out after 8 s (the clock moves as the try "waits"); the budget is 10 s.
    const { r, sleeps, advance } = harness({ maxRetries: 3, threshold: 10, budgetMs: 10_000, attemptTimeoutMs: 8000 });
    let calls = 0;
    const err = await withResilience('p', r, () => {
      calls++;
      advance(8000);
      return fail('timeout')();
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
    expect(err).toMatchObject({ reason: 'retries_exhausted', outcome: 'unknown' });

    // Fast failures (a 503 answered in 50 ms) still get every retry inside the same budget.
    calls = 0;
    const out = await withResilience('p', r, async () => {
      calls++;
      advance(50);
      if (calls < 4) throw new ProviderFailure('server', '503');
      return 'ok';
    });
    expect(out).toBe('ok');
    expect(calls).toBe(4);
  });

  it('reports not_sent when every failure was a 429', async () => {
    const { r } = harness({ maxRetries: 2, threshold: 10 });
    const err = await withResilience('p', r, fail('rate_limited')).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'retries_exhausted', outcome: 'not_sent' });
  });

  it('opens the breaker after threshold failures, fails fast while open, half-opens after the cooldown', async () => {
    const { r, advance } = harness({ maxRetries: 3, threshold: 3, cooldownMs: 10_000 });
    let calls = 0;
    const err = await withResilience('p', r, () => {
      calls++;
      return fail('timeout')();
    }).catch((e: unknown) => e);
    // 3 failures open it; the 4th try is refused by the breaker, not sent.
    expect(calls).toBe(3);
    expect(err).toMatchObject({ reason: 'circuit_open', outcome: 'unknown' });
    expect(r.breaker.state()).toBe('open');

    const fast = await withResilience('p', r, async () => {
      calls++;
      return 'never';
    }).catch((e: unknown) => e);
    expect(fast).toMatchObject({ reason: 'circuit_open', outcome: 'not_sent' });
    expect((fast as PaymentUnavailableError).retryAfterMs).toBeGreaterThan(0);
    expect((fast as PaymentUnavailableError).headers?.['retry-after']).toBeDefined();
    expect(calls).toBe(3);

    advance(10_000);
    expect(r.breaker.state()).toBe('half_open');
    // Only one probe at a time in half-open.
    expect(r.breaker.tryAcquire()).toBe(true);
    expect(r.breaker.tryAcquire()).toBe(false);
    r.breaker.onFailure();
    expect(r.breaker.state()).toBe('open');

    advance(10_000);
    expect(await withResilience('p', r, async () => 'probe ok')).toBe('probe ok');
    expect(r.breaker.state()).toBe('closed');
  });

  it('a half-open probe that never reports (its request cancelled) stops blocking after a cooldown', () => {
    const { r, advance } = harness({ threshold: 1, cooldownMs: 5000 });
    r.breaker.onFailure();
    advance(5000);
    expect(r.breaker.tryAcquire()).toBe(true); // the probe, which then never calls onSuccess/onFailure
    advance(4999);
    expect(r.breaker.tryAcquire()).toBe(false);
    expect(r.breaker.retryAfterMs()).toBe(1000);
    advance(1);
    expect(r.breaker.tryAcquire()).toBe(true);
    expect(r.breaker.tryAcquire()).toBe(false);
  });

  it('a failed half-open probe re-opens the breaker for another cooldown', async () => {
    const { r, advance } = harness({ maxRetries: 0, threshold: 1, cooldownMs: 5000 });
    await withResilience('p', r, fail('server')).catch(() => undefined);
    expect(r.breaker.state()).toBe('open');
    advance(5000);
    await withResilience('p', r, fail('network')).catch(() => undefined);
    expect(r.breaker.state()).toBe('open');
    expect(r.breaker.retryAfterMs()).toBe(5000);
  });
});
