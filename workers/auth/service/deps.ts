import type { AnyDb, HttpDb } from '../../../shared/db/client';
import type { FieldCipher } from '../../../shared/crypto/field-cipher';
import type { LogFields } from '../../../shared/http/context';
import type { Clock } from '../../../shared/kernel/clock';
import type { EventPublisher } from '../../../shared/ports/event-publisher';
import type { RateLimiter } from '../../../shared/ports/rate-limiter';
import type { RefreshTokenPolicy } from '../tokens/refresh-token';
import type { SigningKeySet } from '../tokens/signing-keys';

/** What identity's verbs need from outside, supplied by the composition root. */
export interface AuthDeps {
  /** One-shot reads (Neon HTTP in the Worker). */
  readDb: () => AnyDb | HttpDb;
  /** Transactions (a per-request Pool in the Worker). */
  writeDb: () => AnyDb;
  signingKeys: () => Promise<SigningKeySet>;
  cipher: () => FieldCipher;
  /** Null when rate limits are switched off (RATE_LIMITS=off). */
  limiter: RateLimiter | null;
  clock: Clock;
  tokens: {
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    refresh: RefreshTokenPolicy;
  };
  /** The request's wide log event (reasons that must not reach the client go here). */
  log: LogFields;
  /** Domain events (`user.erased`); absent, nothing is published. */
  events?: EventPublisher;
  /** The cart context: merges a guest cart at login (docs/cart.md); absent, `cartId` is ignored. */
  carts?: AuthCartPort;
  /** The other contexts' part of the personal data export (cart, wishlist, orders); absent, they are empty. */
  exportParts?: (userId: string) => Promise<ExportParts>;
  /** Access tokens refused before they expire (an account disabled, narrowed or erased; a client revoked); absent, none are. */
  revocations?: RevocationList;
}

/**
 * Subjects (user or client ids) whose access tokens issued before some time are refused. Access
 * tokens are not looked up per request; this list is what makes a disabled account, a removed
 * role, an erasure or a revoked client take effect before the token runs out.
 */
export interface RevocationList {
  /** The time (ms) before which the subject's tokens are refused, or null. */
  revokedBefore(subject: string): Promise<number | null>;
  /** Refuse the subject's tokens issued before `at`, for `forSeconds` (the longest a token issued before it can live). */
  revoke(subject: string, at: Date, forSeconds: number): Promise<void>;
}

/** What the other contexts hold about a user, as their own APIs show it. */
export interface ExportParts {
  cart: unknown;
  wishlist: unknown[];
  orders: unknown[];
}

/** What login needs from the cart context. */
export interface AuthCartPort {
  mergeGuestCart(
    guestCartId: string,
    userId: string,
  ): Promise<{ cartId: string; merge: { status: 'merged' | 'skipped'; reason?: string; lines: { variantId: string; sku: string; requested: number; merged: number; clampedBy: string | null }[] } }>;
}
