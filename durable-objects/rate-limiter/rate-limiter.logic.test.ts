import { describe, expect, it } from 'vitest';
import { InMemoryRateLimiter, ManualClock } from '../../shared/testing/fakes';
import {
  MAX_KEY_LENGTH,
  MAX_LIMIT,
  MAX_WINDOW_SECONDS,
  expiresAt,
  parseRateLimitInput,
  rollForward,
  slidingWindow,
  type SlidingWindowRequest,
  type SlidingWindowState,
} from './rate-limiter.logic';

const W = 10_000;
const T = 1_800_000_000_000; // a multiple of W: the start of a window

/** Runs `count` requests at `now`, threading the state; returns the decisions and final state. */
function burst(state: SlidingWindowState | undefined, count: number, request: SlidingWindowRequest) {
  const decisions = [];
  for (let i = 0; i < count; i++) {
    const outcome = slidingWindow(state, request);
    decisions.push(outcome.decision);
    state = outcome.next ?? state;
  }
  return { decisions, state };
}

/** Brute force: the first ms at or after `now` at which a request would be allowed. */
function firstAllowedByScan(state: SlidingWindowState, now: number, limit: number, windowMs: number): number {
  for (let t = now; t < now + 3 * windowMs; t++) {
    if (slidingWindow(state, { now: t, limit, windowMs }).decision.allowed) return t;
  }
  throw new Error('never allowed');
}

describe('slidingWindow', () => {
  it('allows `limit` requests in a fresh window, counting remaining down, then refuses', () => {
    const { decisions, state } = burst(undefined, 4, { now: T + 1234, limit: 3, windowMs: W });
    expect(decisions).toEqual([
      { allowed: true, limit: 3, remaining: 2, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 1, retryAfterSeconds: 0 },
      { allowed: true, limit: 3, remaining: 0, retryAfterSeconds: 0 },
      // Full current window: the first chance is 1 ms into the next one, 8.767 s away.
      { allowed: false, limit: 3, remaining: 0, retryAfterSeconds: 9 },
    ]);
    expect(state).toEqual({ windowStart: T, current: 3, previous: 0 });
  });

  it('stores nothing for a refused request and the next state for an allowed one', () => {
    const allowed = slidingWindow(undefined, { now: T + 5, limit: 1, windowMs: W });
    expect(allowed.next).toEqual({ windowStart: T, current: 1, previous: 0 });
    expect(allowed.expiresAt).toBe(T + 2 * W);
    const refused = slidingWindow(allowed.next, { now: T + 6, limit: 1, windowMs: W });
    expect(refused.decision.allowed).toBe(false);
    expect(refused.next).toBeUndefined();
    expect(refused.expiresAt).toBeUndefined();
    expect(refused.retryAt).toBe(T + W + 1);
    expect(allowed.retryAt).toBeUndefined();
  });

  it('weights the previous window by how much of it the sliding window still covers', () => {
    const previousFull: SlidingWindowState = { windowStart: T - W, current: 10, previous: 0 };
    // Halfway into the next window half of the previous 10 still count: 5 more are allowed.
    const half = burst(previousFull, 6, { now: T + W / 2, limit: 10, windowMs: W });
    expect(half.decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(half.decisions[0]!.remaining).toBe(4);
    // floor(10 * 4999 / 10000) = 4, 4 + 5 < 10: allowed again 1 ms after the refusal point.
    expect(slidingWindow(half.state, { now: T + W / 2 + 1, limit: 10, windowMs: W }).decision.allowed).toBe(true);
    // Right after the boundary the previous window still weighs floor(10 * 9999/10000) = 9.
    const early = burst(previousFull, 2, { now: T + 1, limit: 10, windowMs: W });
    expect(early.decisions.map((d) => d.allowed)).toEqual([true, false]);
    // At the boundary itself it weighs all 10.
    expect(slidingWindow(previousFull, { now: T, limit: 10, windowMs: W }).decision.allowed).toBe(false);
  });

  it('is not a fixed window: a burst at the end of one window limits the start of the next', () => {
    const end = burst(undefined, 5, { now: T + W - 10, limit: 5, windowMs: W });
    expect(end.decisions.every((d) => d.allowed)).toBe(true);
    const next = burst(end.state, 5, { now: T + W + 100, limit: 5, windowMs: W });
    // floor(5 * 9900 / 10000) = 4: one request, where a fixed window would allow five.
    expect(next.decisions.map((d) => d.allowed)).toEqual([true, false, false, false, false]);
  });

  it('forgets everything two windows later', () => {
    const full: SlidingWindowState = { windowStart: T, current: 7, previous: 7 };
    expect(expiresAt(full, W)).toBe(T + 2 * W);
    expect(rollForward(full, T + 2 * W - 1, W)).toEqual({ windowStart: T + W, current: 0, previous: 7 });
    expect(rollForward(full, T + 2 * W, W)).toEqual({ windowStart: T + 2 * W, current: 0, previous: 0 });
    const { decisions } = burst(full, 8, { now: T + 5 * W + 3, limit: 7, windowMs: W });
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, true, true, false]);
  });

  it('keeps a state from a later window (the clock went backwards) and reads it conservatively', () => {
    const ahead: SlidingWindowState = { windowStart: T + W, current: 2, previous: 3 };
    expect(rollForward(ahead, T + 500, W)).toBe(ahead);
    // Read at elapsed 0: 3 + 2 = 5 already used of 5.
    const outcome = slidingWindow(ahead, { now: T + 500, limit: 5, windowMs: W });
    expect(outcome.decision.allowed).toBe(false);
    expect(outcome.decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('starts afresh when the state is from an unrelated window size (rolled by the caller) or absent', () => {
    expect(rollForward(undefined, T + 42, W)).toEqual({ windowStart: T, current: 0, previous: 0 });
    expect(rollForward({ windowStart: T - W, current: 4, previous: 9 }, T + 42, W)).toEqual({ windowStart: T, current: 0, previous: 4 });
  });

  it('gives the exact instant a request would be allowed again, and the wait in whole seconds', () => {
    // A deterministic pseudo-random sweep over states, limits and window sizes.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 16_807) % 2_147_483_647; // Park-Miller: exact in doubles
      return seed % n;
    };
    let refusals = 0;
    for (let i = 0; i < 400; i++) {
      const windowMs = (1 + rand(4)) * 1000;
      const limit = 1 + rand(12);
      const windowStart = T + rand(5) * windowMs;
      // Mostly busy states, so that most requests are refused.
      const state = { windowStart, current: rand(limit + 1), previous: Math.max(0, limit - rand(3)) };
      const now = windowStart + rand(windowMs);
      const outcome = slidingWindow(state, { now, limit, windowMs });
      if (outcome.decision.allowed) continue;
      refusals++;
      const firstAllowed = firstAllowedByScan(state, now, limit, windowMs);
      expect(outcome.retryAt).toBe(firstAllowed);
      expect(outcome.decision.retryAfterSeconds).toBe(Math.max(1, Math.ceil((firstAllowed - now) / 1000)));
    }
    expect(refusals).toBeGreaterThan(150);
  });

  it('stays exact at the largest limit and window', () => {
    const windowMs = MAX_WINDOW_SECONDS * 1000;
    const start = Math.floor(T / windowMs) * windowMs;
    const state: SlidingWindowState = { windowStart: start, current: 0, previous: MAX_LIMIT };
    // elapsed = 1 ms: floor(1e6 * (86_399_999 / 86_400_000)) = 999_999, so exactly one request fits.
    const first = slidingWindow(state, { now: start + 1, limit: MAX_LIMIT, windowMs });
    expect(first.decision).toEqual({ allowed: true, limit: MAX_LIMIT, remaining: 0, retryAfterSeconds: 0 });
    const second = slidingWindow(first.next, { now: start + 1, limit: MAX_LIMIT, windowMs });
    expect(second.decision.allowed).toBe(false);
    // The previous window must shed one more request: from elapsed 87 ms (86 ms from now).
    expect(second.retryAt).toBe(start + 87);
    expect(second.decision.retryAfterSeconds).toBe(1);
  });
});

describe('parseRateLimitInput', () => {
  const rule = { name: 'login:account', limit: 10, windowSeconds: 900 };

  it('accepts valid input and drops unknown fields', () => {
    expect(parseRateLimitInput({ rule: { ...rule, extra: true }, key: 'k'.repeat(MAX_KEY_LENGTH) })).toEqual({
      rule,
      key: 'k'.repeat(MAX_KEY_LENGTH),
    });
    expect(parseRateLimitInput({ rule: { name: 'A_b-9', limit: MAX_LIMIT, windowSeconds: MAX_WINDOW_SECONDS }, key: 'x' }).rule.limit).toBe(
      MAX_LIMIT,
    );
  });

  it.each([
    ['an empty rule name', { rule: { ...rule, name: '' }, key: 'k' }, 'rule.name'],
    ['a rule name with a space', { rule: { ...rule, name: 'login ip' }, key: 'k' }, 'rule.name'],
    ['a rule name over 64 characters', { rule: { ...rule, name: 'a'.repeat(65) }, key: 'k' }, 'rule.name'],
    ['a zero limit', { rule: { ...rule, limit: 0 }, key: 'k' }, 'rule.limit'],
    ['a fractional limit', { rule: { ...rule, limit: 1.5 }, key: 'k' }, 'rule.limit'],
    ['a limit over the maximum', { rule: { ...rule, limit: MAX_LIMIT + 1 }, key: 'k' }, 'rule.limit'],
    ['a zero window', { rule: { ...rule, windowSeconds: 0 }, key: 'k' }, 'rule.windowSeconds'],
    ['a window over a day', { rule: { ...rule, windowSeconds: 86_401 }, key: 'k' }, 'rule.windowSeconds'],
    ['a string window', { rule: { ...rule, windowSeconds: '60' }, key: 'k' }, 'rule.windowSeconds'],
    ['an empty key', { rule, key: '' }, 'key'],
    ['a key over 200 characters', { rule, key: 'k'.repeat(MAX_KEY_LENGTH + 1) }, 'key'],
    ['a missing rule', { key: 'k' }, 'rule'],
  ])('rejects %s with a TypeError naming the field', (_label, input, field) => {
    expect(() => parseRateLimitInput(input)).toThrow(TypeError);
    expect(() => parseRateLimitInput(input)).toThrow(new RegExp(`${field.replace('.', '\\.')}:`));
  });
});

describe('InMemoryRateLimiter (the shared test fake)', () => {
  const rule = { name: 'test', limit: 3, windowSeconds: 10 };

  it('allows `limit` per window per key, then refuses until the oldest request slides out', async () => {
    const clock = new ManualClock();
    const limiter = new InMemoryRateLimiter(clock);
    expect(limiter.name).toBe('memory');
    const first = [];
    for (let i = 0; i < 3; i++) {
      first.push(await limiter.limit(rule, 'a'));
      clock.advance(1000);
    }
    expect(first.map((d) => d.remaining)).toEqual([2, 1, 0]);
    expect(await limiter.limit(rule, 'a')).toEqual({ allowed: false, limit: 3, remaining: 0, retryAfterSeconds: 7 });
    expect((await limiter.limit(rule, 'b')).allowed).toBe(true);
    expect((await limiter.limit({ ...rule, name: 'other' }, 'a')).allowed).toBe(true);
    clock.advance(6999);
    expect((await limiter.limit(rule, 'a')).allowed).toBe(false);
    clock.advance(1);
    expect((await limiter.limit(rule, 'a')).allowed).toBe(true);
    expect((await limiter.limit(rule, 'a')).allowed).toBe(false);
  });
});
