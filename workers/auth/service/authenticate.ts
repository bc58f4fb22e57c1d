import type { Actor, Authenticator } from '../../../shared/http/context';
import { AppError } from '../../../shared/kernel/app-error';
import { rejectionReason, verifyAccessToken } from '../tokens/access-token';
import type { AuthDeps, RevocationList } from './deps';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Tokens this isolate has verified, by their exact bytes, until they expire. A hit answers what
 * verifying the same bytes again would (we never look tokens up per request: see
 * docs/security.md), without the ES256 verification, which was about 15% of the Worker's CPU in
 * the flash-sale bench. An entry is only used with the same key set, issuer and audience it was
 * verified under, so removing a key from AUTH_SIGNING_KEYS still rejects its tokens at once.
 */
const VERIFIED_LIMIT = 5000;
const verified = new Map<string, { actor: Actor; issuedAtMs: number; expiresAtMs: number; keys: unknown; issuer: string; audience: string }>();

/**
 * What this isolate last read from the revocation list, per subject, for REVOCATION_MEMO_MS: a
 * revocation reaches other isolates within that (and KV's replication), and costs one KV read
 * per subject and isolate every few seconds, not one per request. A revocation made in this
 * isolate applies here at once (`revokeTokens`).
 */
export const REVOCATION_MEMO_MS = 10_000;
const REVOCATION_MEMO_LIMIT = 5000;
const revocationMemo = new Map<string, { before: number | null; until: number }>();

/** What the memo holds for `subject` now: a time, null (nothing revoked), or undefined (not known: ask the list). */
function remembered(subject: string, nowMs: number): number | null | undefined {
  const hit = revocationMemo.get(subject);
  return hit && nowMs < hit.until ? hit.before : undefined;
}

async function revokedBefore(list: RevocationList, subject: string, nowMs: number): Promise<number | null> {
  let before: number | null;
  try {
    before = await list.revokedBefore(subject);
  } catch {
    // The list is out of reach: tokens stand (they expire by themselves); asked again next request.
    return null;
  }
  if (revocationMemo.size >= REVOCATION_MEMO_LIMIT) revocationMemo.delete(revocationMemo.keys().next().value as string);
  revocationMemo.set(subject, { before, until: nowMs + REVOCATION_MEMO_MS });
  return before;
}

/** The revocation list's subject for one login session (a user token's `sid`): logout and a password change end sessions. */
export const sessionSubject = (sessionId: string): string => `session:${sessionId}`;

/**
 * Refuses, from now on, the access tokens of `subject` (a user or client id) issued before `at`:
 * for as long as such a token could still live. Call it after the change that requires it has
 * committed. Without a revocation list it does nothing (tokens then run out by themselves).
 */
export async function revokeTokens(deps: Pick<AuthDeps, 'revocations' | 'log'>, subject: string, at: Date, forSeconds: number): Promise<void> {
  if (!deps.revocations) return;
  revocationMemo.set(subject, { before: Math.max(at.getTime(), revocationMemo.get(subject)?.before ?? 0), until: at.getTime() + REVOCATION_MEMO_MS });
  try {
    await deps.revocations.revoke(subject, at, forSeconds);
  } catch (e) {
    // The change stands (sessions are revoked in Postgres); tokens then run out by themselves.
    deps.log.revocationError = e instanceof Error ? e.message : String(e);
  }
}

/** A request without credentials (no Authorization header, or an empty one): an anonymous caller. */
export function hasNoCredentials(header: string | undefined): header is undefined | '' {
  return header === undefined || header === '';
}

/**
 * Bearer token → actor: the only way a request becomes authenticated. No header → null
 * (the route decides whether it needs a caller); any other scheme, or a token that fails
 * verification → 401 with one generic message, the reason logged as `authRejection`.
 */
export function makeAuthenticator(deps: Pick<AuthDeps, 'signingKeys' | 'tokens' | 'clock' | 'log' | 'revocations'>): Authenticator {
  /** The actor, unless its subject's tokens issued before this one's were revoked. */
  const refuseIfRevoked = (actor: Actor, issuedAtMs: number, bySubject: number | null, bySession: number | null): Actor => {
    if (issuedAtMs < Math.max(bySubject ?? -Infinity, bySession ?? -Infinity)) {
      deps.log.authRejection = 'revoked';
      throw new AppError('UNAUTHENTICATED', 'This access token is no longer valid; sign in again', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      });
    }
    return actor;
  };
  /** Synchronous when the memo knows both the subject and the session (nearly every request). */
  const unlessRevoked = (actor: Actor, issuedAtMs: number, nowMs: number): Actor | Promise<Actor> => {
    const list = deps.revocations;
    if (!list) return actor;
    const session = actor.sessionId ? sessionSubject(actor.sessionId) : null;
    const bySubject = remembered(actor.id, nowMs);
    const bySession = session ? remembered(session, nowMs) : null;
    if (bySubject !== undefined && bySession !== undefined) return refuseIfRevoked(actor, issuedAtMs, bySubject, bySession);
    return Promise.all([
      bySubject !== undefined ? bySubject : revokedBefore(list, actor.id, nowMs),
      bySession !== undefined ? bySession : revokedBefore(list, session!, nowMs),
    ]).then(([a, b]) => refuseIfRevoked(actor, issuedAtMs, a, b));
  };
  return async (header) => {
    if (hasNoCredentials(header)) return null;
    const m = BEARER.exec(header);
    if (!m) {
      deps.log.authRejection = 'not_bearer';
      throw new AppError('UNAUTHENTICATED', 'Send the access token as Authorization: Bearer <token>', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' },
      });
    }
    try {
      const raw = m[1]!;
      const keys = await deps.signingKeys();
      const now = deps.clock.now();
      const hit = verified.get(raw);
      if (hit && hit.keys === keys && hit.issuer === deps.tokens.issuer && hit.audience === deps.tokens.audience && now.getTime() < hit.expiresAtMs) {
        return unlessRevoked({ ...hit.actor }, hit.issuedAtMs, now.getTime());
      }
      const token = await verifyAccessToken(raw, { keys, issuer: deps.tokens.issuer, audience: deps.tokens.audience, now });
      const { tokenId: _tokenId, issuedAt, expiresAt, ...actor } = token;
      if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value as string);
      verified.set(raw, { actor: { ...actor }, issuedAtMs: issuedAt.getTime(), expiresAtMs: expiresAt.getTime(), keys, issuer: deps.tokens.issuer, audience: deps.tokens.audience });
      return unlessRevoked(actor satisfies Actor, issuedAt.getTime(), now.getTime());
    } catch (e) {
      deps.log.authRejection ??= rejectionReason(e) ?? 'unknown';
      throw e;
    }
  };
}
