import { createHash, timingSafeEqual } from 'node:crypto';
import { toBase64Url } from '../../../shared/kernel/base64';

/**
 * Refresh tokens: opaque, 256 random bits, stored only as a SHA-256 hash, rotated on every
 * use; presenting one that was already rotated revokes its whole family (the login session).
 * Pure helpers and the rotation decision; storage applies the decision (README.md, "Refresh tokens").
 */
export const REFRESH_TOKEN_PREFIX = 'rt_';
export const REFRESH_TOKEN_BYTES = 32;
/** `rt_` + 32 bytes in base64url without padding (43 characters, the last one carrying 4 bits). */
const SHAPE = /^rt_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export interface NewRefreshToken {
  /** Give this to the client, once. Never store or log it. */
  token: string;
  /** Store this: hex SHA-256 of the token (64 characters). */
  hash: string;
}

export function newRefreshToken(): NewRefreshToken {
  const bytes = crypto.getRandomValues(new Uint8Array(REFRESH_TOKEN_BYTES));
  const token = REFRESH_TOKEN_PREFIX + toBase64Url(bytes);
  return { token, hash: hashRefreshToken(token) };
}

/**
 * Hex SHA-256 of the whole token string. A plain fast hash is enough: the token has 256 bits
 * of entropy, so the hash cannot be reversed by guessing, and it lets storage look tokens up by
 * an indexed column.
 */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether a presented value looks like one of our refresh tokens (check before any lookup). */
export function isRefreshTokenShape(value: unknown): value is string {
  return typeof value === 'string' && SHAPE.test(value);
}

/**
 * Compares two strings without an early exit. Lengths are not secret (hashes and tokens have
 * fixed lengths); when they differ the answer is false after the same kind of work.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

export type RefreshTokenStatus = 'active' | 'rotated' | 'revoked';

/** What storage keeps per refresh token (beside its hash and the user it belongs to). */
export interface RefreshTokenRecord {
  /** The login session: every token rotated from the same login shares it. */
  familyId: string;
  status: RefreshTokenStatus;
  /** This token's own end (idle timeout: each rotation pushes it out again). */
  expiresAt: Date;
  /** The family's end (absolute lifetime, fixed at login; rotation never extends it). */
  familyExpiresAt: Date;
  /** When it was rotated (status `rotated`). */
  rotatedAt?: Date | null;
  /** Whether its successor is still kept (sealed) for a retried refresh. */
  hasSuccessor?: boolean;
}

export interface RefreshTokenPolicy {
  /** How long a refresh token lasts unused. */
  idleTtlSeconds: number;
  /** How long a login lasts however often it is refreshed. */
  absoluteTtlSeconds: number;
  /**
   * How long after a rotation the rotated token, presented again, gets the same successor back
   * instead of counting as reuse (a retried refresh whose answer was lost). 0: never.
   */
  replayGraceSeconds?: number;
}

export const DEFAULT_REFRESH_TOKEN_POLICY: Readonly<RefreshTokenPolicy> = Object.freeze({
  idleTtlSeconds: 30 * 24 * 3600,
  absoluteTtlSeconds: 90 * 24 * 3600,
  replayGraceSeconds: 30,
});

/** Expiry times for the first token of a new family (at login). */
export function startFamily(now: Date, policy: RefreshTokenPolicy = DEFAULT_REFRESH_TOKEN_POLICY): { expiresAt: Date; familyExpiresAt: Date } {
  assertPolicy(policy);
  const familyExpiresAt = new Date(now.getTime() + policy.absoluteTtlSeconds * 1000);
  return { expiresAt: earliest(new Date(now.getTime() + policy.idleTtlSeconds * 1000), familyExpiresAt), familyExpiresAt };
}

export type RotationDecision =
  /** Mark the presented token rotated (only if still active: compare-and-set) and store `next` with a new token. */
  | { outcome: 'issue-next'; familyId: string; next: { familyId: string; expiresAt: Date; familyExpiresAt: Date } }
  /**
   * A rotated token came back within the replay grace and its successor is kept: answer that same
   * successor again if it is still active and unexpired (else it is reuse after all).
   */
  | { outcome: 'replay-successor'; familyId: string }
  /** A rotated token came back: someone holds a copy. Revoke every token of the family; answer 401. */
  | { outcome: 'reuse-detected'; familyId: string }
  /** The token or its family has run out: answer 401 (log in again). */
  | { outcome: 'expired'; familyId: string }
  /** The family was revoked (logout, reuse, admin action): answer 401. */
  | { outcome: 'revoked'; familyId: string }
  /** No such token: answer 401. */
  | { outcome: 'not-found' };

/**
 * What to do with a presented refresh token, given the stored record for its hash (null when
 * there is none). Reuse is checked before expiry: a rotated token presented late is still a
 * copy in someone else's hands.
 */
export function decideRotation(
  record: RefreshTokenRecord | null | undefined,
  { now, policy = DEFAULT_REFRESH_TOKEN_POLICY }: { now: Date; policy?: RefreshTokenPolicy },
): RotationDecision {
  assertPolicy(policy);
  if (!record) return { outcome: 'not-found' };
  const { familyId } = record;
  switch (record.status) {
    case 'revoked':
      return { outcome: 'revoked', familyId };
    case 'rotated': {
      const graceMs = (policy.replayGraceSeconds ?? 0) * 1000;
      const t = now.getTime();
      const inGrace = graceMs > 0 && record.hasSuccessor === true && record.rotatedAt != null && t - record.rotatedAt.getTime() <= graceMs;
      if (inGrace && t < record.familyExpiresAt.getTime()) return { outcome: 'replay-successor', familyId };
      return { outcome: 'reuse-detected', familyId };
    }
    case 'active': {
      const t = now.getTime();
      if (t >= record.expiresAt.getTime() || t >= record.familyExpiresAt.getTime()) return { outcome: 'expired', familyId };
      const expiresAt = earliest(new Date(t + policy.idleTtlSeconds * 1000), record.familyExpiresAt);
      return { outcome: 'issue-next', familyId, next: { familyId, expiresAt, familyExpiresAt: record.familyExpiresAt } };
    }
    default: {
      // A status this code does not know (a newer deployment, a corrupted row): refuse, never issue.
      const _never: never = record.status;
      return { outcome: 'revoked', familyId };
    }
  }
}

function earliest(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

function assertPolicy({ idleTtlSeconds, absoluteTtlSeconds, replayGraceSeconds = 0 }: RefreshTokenPolicy): void {
  if (!Number.isInteger(idleTtlSeconds) || !Number.isInteger(absoluteTtlSeconds) || idleTtlSeconds <= 0 || absoluteTtlSeconds < idleTtlSeconds) {
    throw new RangeError('refresh token policy: idle and absolute TTLs must be positive integers, absolute at least idle');
  }
  if (!Number.isInteger(replayGraceSeconds) || replayGraceSeconds < 0 || replayGraceSeconds > 300) {
    throw new RangeError('refresh token policy: the replay grace is whole seconds from 0 to 300');
  }
}
