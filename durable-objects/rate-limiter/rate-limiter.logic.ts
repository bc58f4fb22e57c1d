/**
 * The sliding-window counter behind RateLimiterDurableObject: pure, no storage, no clock.
 *
 * Time is cut into fixed windows of `windowMs` aligned on the Unix epoch (the window of `now`
 * starts at `floor(now / windowMs) * windowMs`, as in @upstash/ratelimit, so both adapters
 * agree on where windows begin). Per (rule, key) we keep two counts: requests allowed in the
 * current window and in the one before it. The previous window is assumed to have spread its
 * requests evenly, so the part of it that still overlaps the sliding window `(now - windowMs,
 * now]` is weighted by how much of it overlaps. Exactly, with integers only:
 *
 *   elapsed  = now - windowStart                                   0 ≤ elapsed < windowMs
 *   weighted = floor(previous * (windowMs - elapsed) / windowMs)   previous window's share
 *   used     = weighted + current
 *   allowed  = used < limit
 *
 * An allowed request adds 1 to `current` and leaves `remaining = limit - used - 1`. A refused
 * request is not counted (a client hammering a closed door does not keep it closed longer;
 * Upstash's script does the same), `remaining` is 0, and `retryAfterSeconds` is the exact
 * time until the first instant at which the same formula would allow a request if no other
 * request came in, rounded up to whole seconds (at least 1). Waiting that long always helps.
 *
 * Rolling forward: a state whose window is the one before `now`'s becomes {previous: its
 * current, current: 0}; a state two or more windows old is empty. A state from a window
 * after `now`'s (the clock went backwards) is kept as it is and read at elapsed = 0, which
 * only ever refuses more, never less. A state can be forgotten at `windowStart + 2 *
 * windowMs`: from then on it rolls to empty (`expiresAt`).
 *
 * All values stay exact in doubles: counts never exceed `limit` (≤ MAX_LIMIT), windows are
 * at most 86,400,000 ms, so every product is below 2^53; and a correctly rounded quotient
 * a / b of such integers is never rounded onto (or across) an integer, so floor and ceil of
 * it are the exact integer ones.
 */
import { z } from 'zod';
import type { RateLimitDecision } from '../../shared/ports/rate-limiter';

export const RULE_NAME_PATTERN = /^[a-z0-9:_-]{1,64}$/i;
/** Upper bound on a rule's limit, so the integer arithmetic above stays exact. */
export const MAX_LIMIT = 1_000_000;
export const MAX_WINDOW_SECONDS = 86_400;
export const MAX_KEY_LENGTH = 200;

/** The RPC input of RateLimiterDurableObject.limit (and what its stub helper sends). */
export const rateLimitInputSchema = z.object({
  rule: z.object({
    name: z.string().regex(RULE_NAME_PATTERN, 'letters, digits, ":", "_" or "-", 1 to 64 of them'),
    limit: z.int().min(1).max(MAX_LIMIT),
    windowSeconds: z.int().min(1).max(MAX_WINDOW_SECONDS),
  }),
  key: z.string().min(1).max(MAX_KEY_LENGTH),
});
export type RateLimitInput = z.infer<typeof rateLimitInputSchema>;

/** Parses an RPC input; a TypeError (not a ZodError) names every bad field. */
export function parseRateLimitInput(input: unknown): RateLimitInput {
  const parsed = rateLimitInputSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw new TypeError(`Invalid rate limit input: ${issues}`);
  }
  return parsed.data;
}

/** What is stored per (rule, key). */
export interface SlidingWindowState {
  /** Start of the current fixed window, ms since the epoch, a multiple of windowMs. */
  windowStart: number;
  /** Requests allowed in the window starting at windowStart. */
  current: number;
  /** Requests allowed in the window before it. */
  previous: number;
}

export interface SlidingWindowRequest {
  /** ms since the epoch. */
  now: number;
  limit: number;
  windowMs: number;
}

export interface SlidingWindowOutcome {
  decision: RateLimitDecision;
  /**
   * The state to store, or undefined when nothing needs writing (a refused request: the stored
   * state rolls forward to the same thing the next time it is read).
   */
  next: SlidingWindowState | undefined;
  /** When `next` may be deleted (it has rolled out of both windows); undefined with `next`. */
  expiresAt: number | undefined;
  /** When refused: the first instant (ms) at which a request would be allowed; else undefined. */
  retryAt: number | undefined;
}

/** Counts one request for a (rule, key) whose stored state is `stored` (undefined: none). */
export function slidingWindow(stored: SlidingWindowState | undefined, request: SlidingWindowRequest): SlidingWindowOutcome {
  const { now, limit, windowMs } = request;
  const state = rollForward(stored, now, windowMs);
  const elapsed = Math.max(0, now - state.windowStart);
  const used = weightedPrevious(state.previous, elapsed, windowMs) + state.current;

  if (used < limit) {
    const next = { ...state, current: state.current + 1 };
    return {
      decision: { allowed: true, limit, remaining: limit - used - 1, retryAfterSeconds: 0 },
      next,
      expiresAt: expiresAt(next, windowMs),
      retryAt: undefined,
    };
  }
  const retryAt = firstAllowedAt(state, limit, windowMs);
  return {
    decision: { allowed: false, limit, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((retryAt - now) / 1000)) },
    next: undefined,
    expiresAt: undefined,
    retryAt,
  };
}

/** The instant from which a stored state is the same as no state. */
export function expiresAt(state: SlidingWindowState, windowMs: number): number {
  return state.windowStart + 2 * windowMs;
}

/** The state as seen from the window that contains `now`. */
export function rollForward(stored: SlidingWindowState | undefined, now: number, windowMs: number): SlidingWindowState {
  const windowStart = Math.floor(now / windowMs) * windowMs;
  if (!stored || stored.windowStart < windowStart - windowMs) return { windowStart, current: 0, previous: 0 };
  if (stored.windowStart === windowStart - windowMs) return { windowStart, current: 0, previous: stored.current };
  return stored; // the same window, or a later one (the clock went backwards)
}

function weightedPrevious(previous: number, elapsed: number, windowMs: number): number {
  return Math.floor((previous * (windowMs - Math.min(elapsed, windowMs))) / windowMs);
}

/** The first instant at or after the current window's start at which a request would be allowed. */
function firstAllowedAt(state: SlidingWindowState, limit: number, windowMs: number): number {
  const inCurrent = firstAllowedElapsed(state.previous, state.current, limit, windowMs);
  if (inCurrent !== undefined) return state.windowStart + inCurrent;
  // In the next window the current count becomes the previous one and nothing is current yet.
  const inNext = firstAllowedElapsed(state.current, 0, limit, windowMs);
  if (inNext !== undefined) return state.windowStart + windowMs + inNext;
  return state.windowStart + 2 * windowMs;
}

/**
 * The smallest whole `elapsed` in [0, windowMs) with weightedPrevious(previous, elapsed) +
 * current < limit, or undefined. weightedPrevious < room ⟺ previous·(W − e) < room·W
 * ⟺ W − e ≤ ceil(room·W / previous) − 1 ⟺ e ≥ W + 1 − ceil(room·W / previous).
 */
function firstAllowedElapsed(previous: number, current: number, limit: number, windowMs: number): number | undefined {
  const room = limit - current;
  if (room <= 0) return undefined;
  if (previous === 0) return 0;
  const elapsed = Math.max(0, windowMs + 1 - Math.ceil((room * windowMs) / previous));
  return elapsed < windowMs ? elapsed : undefined;
}
