import { AppError } from '../../../shared/kernel/app-error';
import type { RateLimitDecision, RateLimitRule } from '../../../shared/ports/rate-limiter';
import type { AuthDeps } from './deps';

/**
 * Sliding-window limits on the credential endpoints, per IP and per account (README.md,
 * "Rate limits"). Account keys are blind indexes, never plaintext emails. Every attempt
 * counts, successful or not, so a valid password cannot be found faster by mixing in
 * known-good logins.
 */
export const RATE_LIMITS = {
  loginIp: { name: 'login:ip', limit: 30, windowSeconds: 60 },
  loginAccount: { name: 'login:account', limit: 10, windowSeconds: 900 },
  registerIp: { name: 'register:ip', limit: 10, windowSeconds: 3600 },
  refreshIp: { name: 'refresh:ip', limit: 60, windowSeconds: 60 },
  refreshSession: { name: 'refresh:session', limit: 10, windowSeconds: 60 },
  tokenIp: { name: 'token:ip', limit: 120, windowSeconds: 60 },
  tokenClient: { name: 'token:client', limit: 60, windowSeconds: 60 },
} as const satisfies Record<string, RateLimitRule>;

/**
 * Counts the request against each (rule, key) and throws 429 RATE_LIMITED with Retry-After
 * when any refuses. A limiter outage does not lock everyone out: the request goes on and the
 * failure is logged (fail open), because the KDF and the audit trail still stand in the way.
 */
export async function enforce(deps: AuthDeps, checks: ReadonlyArray<readonly [RateLimitRule, string | null | undefined]>): Promise<void> {
  const limiter = deps.limiter;
  if (!limiter) return;
  let decisions: RateLimitDecision[];
  try {
    decisions = await Promise.all(checks.filter(([, key]) => key).map(([rule, key]) => limiter.limit(rule, key as string)));
  } catch (e) {
    deps.log.rateLimiterError = e instanceof Error ? e.message : String(e);
    return;
  }
  const refused = decisions.filter((d) => !d.allowed);
  if (refused.length === 0) return;
  const retryAfter = Math.max(...refused.map((d) => d.retryAfterSeconds));
  deps.log.rateLimited = true;
  throw new AppError('RATE_LIMITED', `Too many attempts; try again in ${retryAfter} s`, {
    headers: { 'Retry-After': String(retryAfter) },
  });
}
