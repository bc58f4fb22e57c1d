import { describe, expect, it } from 'vitest';
import {
  DEFAULT_REFRESH_TOKEN_POLICY,
  constantTimeEqual,
  decideRotation,
  hashRefreshToken,
  isRefreshTokenShape,
  newRefreshToken,
  startFamily,
  type RefreshTokenRecord,
  type RotationDecision,
} from './refresh-token';

const DAY = 24 * 3600 * 1000;
const T0 = new Date('2026-11-20T10:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('newRefreshToken / hashRefreshToken', () => {
  it('makes rt_ + 256 random bits in base64url, and its hex SHA-256', () => {
    const { token, hash } = newRefreshToken();
    expect(token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(isRefreshTokenShape(token)).toBe(true);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(hashRefreshToken(token));
  });

  it('never repeats a token', () => {
    const tokens = new Set(Array.from({ length: 2000 }, () => newRefreshToken().token));
    expect(tokens.size).toBe(2000);
  });

  it('hashes the whole string with SHA-256 (known vector)', () => {
    expect(hashRefreshToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashRefreshToken('rt_a')).not.toBe(hashRefreshToken('rt_b'));
  });

  it.each([
    ['no prefix', 'x'.repeat(43)],
    ['another prefix', `at_${'A'.repeat(43)}`],
    ['too short', `rt_${'A'.repeat(42)}`],
    ['too long', `rt_${'A'.repeat(44)}`],
    ['padding', `rt_${'A'.repeat(42)}=`],
    ['standard base64', `rt_${'A'.repeat(41)}+A`],
    ['non-zero spare bits', `rt_${'A'.repeat(42)}B`],
    ['not a string', 42],
  ])('recognises %s as not a refresh token', (_why, value) => {
    expect(isRefreshTokenShape(value)).toBe(false);
  });
});

describe('constantTimeEqual', () => {
  it('is plain equality on strings of any length', () => {
    const h = hashRefreshToken('rt_x');
    expect(constantTimeEqual(h, h.slice())).toBe(true);
    expect(constantTimeEqual(h, `${h.slice(0, -1)}${h.at(-1) === '0' ? '1' : '0'}`)).toBe(false);
    expect(constantTimeEqual(h, h.slice(0, -1))).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('é', 'e\u0301')).toBe(false);
  });
});

describe('decideRotation', () => {
  const family = startFamily(T0);
  const active: RefreshTokenRecord = { familyId: 'fam_1', status: 'active', ...family };

  it('starts a family with a 30-day token inside a 90-day login', () => {
    expect(family).toEqual({ expiresAt: at(30 * DAY), familyExpiresAt: at(90 * DAY) });
    expect(DEFAULT_REFRESH_TOKEN_POLICY).toEqual({ idleTtlSeconds: 30 * 24 * 3600, absoluteTtlSeconds: 90 * 24 * 3600, replayGraceSeconds: 30 });
  });

  it('issues the next token of an active one, pushing the idle expiry out but never the family end', () => {
    expect(decideRotation(active, { now: at(DAY) })).toEqual({
      outcome: 'issue-next',
      familyId: 'fam_1',
      next: { familyId: 'fam_1', expiresAt: at(31 * DAY), familyExpiresAt: at(90 * DAY) },
    });
    const late = decideRotation({ ...active, expiresAt: at(89 * DAY) }, { now: at(80 * DAY) });
    expect(late).toMatchObject({ outcome: 'issue-next', next: { expiresAt: at(90 * DAY), familyExpiresAt: at(90 * DAY) } });
  });

  it('treats a rotated token presented again as reuse: revoke the family', () => {
    expect(decideRotation({ ...active, status: 'rotated' }, { now: at(DAY) })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
  });

  it('a rotated token back within the replay grace, its successor kept, is a replay; later, or without it, reuse', () => {
    const rotated = { ...active, status: 'rotated' as const, rotatedAt: at(DAY), hasSuccessor: true };
    expect(decideRotation(rotated, { now: new Date(at(DAY).getTime() + 30_000) })).toEqual({ outcome: 'replay-successor', familyId: 'fam_1' });
    expect(decideRotation(rotated, { now: new Date(at(DAY).getTime() + 30_001) })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
    expect(decideRotation({ ...rotated, hasSuccessor: false }, { now: at(DAY) })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
    expect(decideRotation(rotated, { now: at(DAY), policy: { ...DEFAULT_REFRESH_TOKEN_POLICY, replayGraceSeconds: 0 } })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
    // Never past the family's end.
    const ending = { ...rotated, familyExpiresAt: new Date(at(DAY).getTime() + 10_000) };
    expect(decideRotation(ending, { now: new Date(at(DAY).getTime() + 10_000) })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
    expect(() => decideRotation(rotated, { now: at(DAY), policy: { ...DEFAULT_REFRESH_TOKEN_POLICY, replayGraceSeconds: 301 } })).toThrow(RangeError);
  });

  it('checks reuse before expiry: an old rotated token is still a stolen copy', () => {
    expect(decideRotation({ ...active, status: 'rotated' }, { now: at(200 * DAY) })).toEqual({ outcome: 'reuse-detected', familyId: 'fam_1' });
  });

  it('refuses tokens of a revoked family, without asking to revoke again', () => {
    expect(decideRotation({ ...active, status: 'revoked' }, { now: at(DAY) })).toEqual({ outcome: 'revoked', familyId: 'fam_1' });
  });

  it('refuses an active token at its own expiry or at the family end', () => {
    expect(decideRotation(active, { now: at(30 * DAY - 1) }).outcome).toBe('issue-next');
    expect(decideRotation(active, { now: at(30 * DAY) })).toEqual({ outcome: 'expired', familyId: 'fam_1' });
    expect(decideRotation({ ...active, expiresAt: at(100 * DAY) }, { now: at(90 * DAY) }).outcome).toBe('expired');
  });

  it('answers not-found when no record matches the hash', () => {
    expect(decideRotation(null, { now: T0 })).toEqual({ outcome: 'not-found' });
    expect(decideRotation(undefined, { now: T0 })).toEqual({ outcome: 'not-found' });
  });

  it('refuses, never issues, on a status it does not know', () => {
    expect(decideRotation({ ...active, status: 'paused' as never }, { now: at(DAY) }).outcome).toBe('revoked');
  });

  it('honours a custom policy and refuses a nonsensical one', () => {
    const policy = { idleTtlSeconds: 3600, absoluteTtlSeconds: 7200 };
    const f = startFamily(T0, policy);
    expect(f).toEqual({ expiresAt: at(3600_000), familyExpiresAt: at(7200_000) });
    expect(() => startFamily(T0, { idleTtlSeconds: 7200, absoluteTtlSeconds: 3600 })).toThrow(RangeError);
    expect(() => decideRotation(active, { now: T0, policy: { idleTtlSeconds: 0, absoluteTtlSeconds: 1 } })).toThrow(RangeError);
  });
});

/**
 * The family semantics end to end, against a tiny in-memory store that applies decisions the
 * way the storage step must: compare-and-set on `active`, revoke the family on reuse.
 */
describe('refresh-token families (simulated storage)', () => {
  class Store {
    rows = new Map<string, RefreshTokenRecord>();
    login(now: Date, familyId: string): string {
      const { token, hash } = newRefreshToken();
      this.rows.set(hash, { familyId, status: 'active', ...startFamily(now) });
      return token;
    }
    /** Step 1, a read: the record for the presented hash, as a snapshot. */
    read(token: string): { hash: string; record: RefreshTokenRecord | null } {
      const hash = hashRefreshToken(token);
      const row = this.rows.get(hash);
      return { hash, record: row ? { ...row } : null };
    }
    /** Step 2, one transaction: apply the decision; `issue-next` only if the row is still active (compare-and-set). */
    apply(hash: string, decision: RotationDecision): { ok: true; token: string } | { ok: false; outcome: string } {
      const revokeFamily = (familyId: string) => {
        for (const r of this.rows.values()) if (r.familyId === familyId) r.status = 'revoked';
      };
      if (decision.outcome === 'reuse-detected') revokeFamily(decision.familyId);
      if (decision.outcome !== 'issue-next') return { ok: false, outcome: decision.outcome };
      const row = this.rows.get(hash);
      if (row?.status !== 'active') {
        // Rotated by someone else since the read: that is reuse too.
        revokeFamily(decision.familyId);
        return { ok: false, outcome: 'reuse-detected' };
      }
      row.status = 'rotated';
      const next = newRefreshToken();
      this.rows.set(next.hash, { status: 'active', ...decision.next });
      return { ok: true, token: next.token };
    }
    refresh(token: string, now: Date): { ok: true; token: string } | { ok: false; outcome: string } {
      if (!isRefreshTokenShape(token)) return { ok: false, outcome: 'malformed' };
      const { hash, record } = this.read(token);
      return this.apply(hash, decideRotation(record, { now }));
    }
  }

  it('rotates on every use, and a replayed old token revokes the whole family, current token included', () => {
    const store = new Store();
    const t1 = store.login(T0, 'fam_a');
    const other = store.login(T0, 'fam_b');
    const r2 = store.refresh(t1, at(DAY));
    expect(r2.ok).toBe(true);
    const t2 = (r2 as { token: string }).token;
    expect(t2).not.toBe(t1);
    const r3 = store.refresh(t2, at(2 * DAY));
    const t3 = (r3 as { token: string }).token;
    expect(r3.ok).toBe(true);

    // An attacker replays t1 (already rotated): the family dies.
    expect(store.refresh(t1, at(3 * DAY))).toEqual({ ok: false, outcome: 'reuse-detected' });
    expect(store.refresh(t3, at(3 * DAY))).toEqual({ ok: false, outcome: 'revoked' });
    expect(store.refresh(t2, at(3 * DAY))).toEqual({ ok: false, outcome: 'revoked' });
    // Other sessions of the same user are untouched.
    expect(store.refresh(other, at(3 * DAY)).ok).toBe(true);
    // No plaintext token is stored.
    for (const hash of store.rows.keys()) expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lets only one of two concurrent refreshes win; the loser counts as reuse (clients must single-flight refresh)', () => {
    const store = new Store();
    const t1 = store.login(T0, 'fam_a');
    const a = store.read(t1);
    const b = store.read(t1);
    const decisionA = decideRotation(a.record, { now: at(DAY) });
    const decisionB = decideRotation(b.record, { now: at(DAY) });
    expect([decisionA.outcome, decisionB.outcome]).toEqual(['issue-next', 'issue-next']);
    const winner = store.apply(a.hash, decisionA);
    expect(winner.ok).toBe(true);
    expect(store.apply(b.hash, decisionB)).toEqual({ ok: false, outcome: 'reuse-detected' });
    expect(store.refresh((winner as { token: string }).token, at(DAY))).toEqual({ ok: false, outcome: 'revoked' });
  });

  it('refuses unknown and malformed tokens', () => {
    const store = new Store();
    expect(store.refresh(newRefreshToken().token, T0)).toEqual({ ok: false, outcome: 'not-found' });
    expect(store.refresh('rt_nope', T0)).toEqual({ ok: false, outcome: 'malformed' });
  });
});
