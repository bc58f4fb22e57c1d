import { DurableObject } from 'cloudflare:workers';
import type { RateLimitDecision } from '../../shared/ports/rate-limiter';
import { applyMigrations } from '../sqlite-migrations';
import { parseRateLimitInput, slidingWindow, type RateLimitInput, type SlidingWindowState } from './rate-limiter.logic';
import { RATE_LIMITER_MIGRATIONS } from './rate-limiter.migrations';

type CounterRow = {
  window_ms: number;
  window_start: number;
  current_count: number;
  previous_count: number;
};

/**
 * Sliding-window rate limiting, one object per `${rule.name}:${key}` (reached only through
 * DurableObjectRateLimiter in rate-limiter.stub.ts). See README.md beside this file.
 *
 * Each `limit` call reads, decides and writes synchronously on SQLite, with no await in
 * between, so concurrent calls are serialised by the object and never over-admit. The alarm
 * deletes rows whose windows are over and, once none is left, the whole storage, so an idle
 * object costs nothing.
 */
export class RateLimiterDurableObject extends DurableObject<Env> {
  /** False after the alarm has deleted all storage: the next call re-creates the schema. */
  private schemaReady = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => this.ensureSchema());
  }

  /** Counts one request against `input.rule` for `input.key`; throws a TypeError on bad input. */
  async limit(input: RateLimitInput): Promise<RateLimitDecision> {
    let parsed: RateLimitInput;
    try {
      parsed = parseRateLimitInput(input);
    } catch (err) {
      // The constructor created the schema; if this object holds nothing else, let the alarm wipe it.
      await this.scheduleCleanup(Date.now());
      throw err;
    }
    const { rule, key } = parsed;
    const windowMs = rule.windowSeconds * 1000;
    const now = Date.now();
    this.ensureSchema();

    // Read-modify-write, all synchronous: nothing else runs in this object meanwhile.
    const sql = this.ctx.storage.sql;
    const stored = this.stateOf(rule.name, key, windowMs);
    const { decision, next, expiresAt } = slidingWindow(stored, { now, limit: rule.limit, windowMs });
    if (next && expiresAt !== undefined) {
      sql.exec(
        `INSERT INTO rate_limit_counters (rule, key, window_ms, window_start, current_count, previous_count, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (rule, key) DO UPDATE SET window_ms = excluded.window_ms, window_start = excluded.window_start,
           current_count = excluded.current_count, previous_count = excluded.previous_count, expires_at = excluded.expires_at`,
        rule.name,
        key,
        windowMs,
        next.windowStart,
        next.current,
        next.previous,
        expiresAt,
      );
      // After the write: an interleaved call can only see the state written above.
      await this.scheduleCleanup(expiresAt);
    }
    return decision;
  }

  /** Whether a request would be allowed now, without counting one (nothing is written). */
  async peek(input: RateLimitInput): Promise<RateLimitDecision> {
    const { rule, key } = parseRateLimitInput(input);
    const windowMs = rule.windowSeconds * 1000;
    this.ensureSchema();
    return slidingWindow(this.stateOf(rule.name, key, windowMs), { now: Date.now(), limit: rule.limit, windowMs }).decision;
  }

  /** Deletes the rows whose windows are over; wipes the object when none is left. */
  override async alarm(): Promise<void> {
    if (!this.schemaReady) return; // storage already wiped: nothing to clean
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM rate_limit_counters WHERE expires_at <= ?', Date.now());
    const { next } = sql.exec<{ next: number | null }>('SELECT MIN(expires_at) AS next FROM rate_limit_counters').one();
    if (next === null) {
      this.schemaReady = false;
      await this.ctx.storage.deleteAll(); // also deletes the alarm (compatibility date ≥ 2026-02-24)
    } else {
      await this.ctx.storage.setAlarm(next);
    }
  }

  /** The stored counters of (rule, key); none when there is no row or the rule's window changed (start afresh). */
  private stateOf(rule: string, key: string, windowMs: number): SlidingWindowState | undefined {
    const row = this.ctx.storage.sql
      .exec<CounterRow>('SELECT window_ms, window_start, current_count, previous_count FROM rate_limit_counters WHERE rule = ? AND key = ?', rule, key)
      .toArray()[0];
    return row && row.window_ms === windowMs ? { windowStart: row.window_start, current: row.current_count, previous: row.previous_count } : undefined;
  }

  private ensureSchema(): void {
    if (this.schemaReady) return;
    applyMigrations(this.ctx.storage, RATE_LIMITER_MIGRATIONS);
    this.schemaReady = true;
  }

  /** One alarm per object, no later than the earliest expiry it knows of. */
  private async scheduleCleanup(expiresAt: number): Promise<void> {
    const scheduled = await this.ctx.storage.getAlarm();
    if (scheduled === null || scheduled > expiresAt) await this.ctx.storage.setAlarm(expiresAt);
  }
}
