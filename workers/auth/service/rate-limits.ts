import { AppError } from '../../../shared/kernel/app-error';
import type { RateLimitDecision, RateLimitRule } from '../../../shared/ports/rate-limiter';
import type { AuthDeps } from './deps';

/**
 * Sliding-window limits on the credential endpoints, per IP and per account (README.md,
 * "Rate limits"). Account keys are blind indexes, never plaintext emails. Per IP every attempt
 * counts; per account only failed password checks count (OWASP's lockout model), so a user
 * who signs in often is never locked out, while guessing one account's password stops after
 * 10 wrong tries in 15 minutes whatever the number of IPs used.
 */
export const RATE_LIMITS = {
  loginIp: { name: 'login:ip', limit: 30, windowSeconds: 60 },
  loginAccountFailures: { name: 'login:account-failures', limit: 10, windowSeconds: 900 },
  registerIp: { name: 'register:ip', limit: 10, windowSeconds: 3600 },
  refreshIp: { name: 'refresh:ip', limit: 60, windowSeconds: 60 },
  refreshSession: { name: 'refresh:session', limit: 10, windowSeconds: 60 },
  tokenIp: { name: 'token:ip', limit: 120, windowSeconds: 60 },
  tokenClient: { name: 'token:client', limit: 60, windowSeconds: 60 },
} as const satisfies Record<string, RateLimitRule>;

/** Refuses with 429 when a failure budget is already spent (counts nothing). */
export async function refuseIfSpent(deps: AuthDeps, rule: RateLimitRule, key: string | null | undefined): Promise<void> {
  if (!deps.limiter || !key) return;
  let decision: RateLimitDecision;
  try {
    decision = await deps.limiter.peek(rule, key);
  } catch (e) {
    deps.log.rateLimiterError = e instanceof Error ? e.message : String(e);
    return;
  }
  if (!decision.allowed) throw rateLimited(deps, decision.retryAfterSeconds);
}

/** Spends one unit of a failure budget (after a failed password check). */
export async function spend(deps: AuthDeps, rule: RateLimitRule, key: string | null | undefined): Promise<void> {
  if (!deps.limiter || !key) return;
  try {
    await deps.limiter.limit(rule, key);
  } catch (e) {
    deps.log.rateLimiterError = e instanceof Error ? e.message : String(e);
  }
}

function rateLimited(deps: AuthDeps, retryAfter: number): AppError {
  deps.log.rateLimited = true;
  return new AppError('RATE_LIMITED', `Too many attempts; try again in ${retryAfter} s`, { headers: { 'Retry-After': String(retryAfter) } });
}

/**
 * Counts the request against each (rule, key) and throws 429 RATE_LIMITED with Retry-After
 * when any refuses. A limiter outage does not lock everyone out: the request goes on and the
 * failure is logged (fail open), because the KDF and the audit trail still stand in the way.
 */
export async function enforce(deps: AuthDeps, checks: ReadonlyArray<readonly [RateLimitRule, string | null | undefined]>): Promise<void> {
  const limiter = deps.limiter;
  if (!limiter) return;
  // Each check fails open on its own: one failing backend call never skips the others.
  const settled = await Promise.allSettled(checks.filter(([, key]) => key).map(([rule, key]) => limiter.limit(rule, key as string)));
  const decisions: RateLimitDecision[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') decisions.push(s.value);
    else deps.log.rateLimiterError = s.reason instanceof Error ? s.reason.message : String(s.reason);
  }
  const refused = decisions.filter((d) => !d.allowed);
  if (refused.length === 0) return;
  throw rateLimited(deps, Math.max(...refused.map((d) => d.retryAfterSeconds)));
}
