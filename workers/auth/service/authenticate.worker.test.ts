import { describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/kernel/app-error';
import { issueAccessToken } from '../tokens/access-token';
import { formatSigningKeysSecret, generateSigningKey, loadSigningKeys } from '../tokens/signing-keys';
import { makeAuthenticator } from './authenticate';

/** The authenticator's per-isolate cache of verified tokens answers exactly what verifying would. */
const ISSUER = 'https://cache.agora.test';
const AUDIENCE = 'agora-api';

async function setup() {
  const k1 = await generateSigningKey(`k1-${crypto.randomUUID().slice(0, 8)}`);
  const k2 = await generateSigningKey(`k2-${crypto.randomUUID().slice(0, 8)}`);
  const both = await loadSigningKeys(formatSigningKeysSecret({ active: k1.kid, keys: [k1, k2] }));
  const onlyK2 = await loadSigningKeys(formatSigningKeysSecret({ active: k2.kid, keys: [k2] }));
  return { both, onlyK2 };
}

function authenticator(keys: Awaited<ReturnType<typeof loadSigningKeys>>, now: () => Date) {
  return makeAuthenticator({ signingKeys: async () => keys, tokens: { issuer: ISSUER, audience: AUDIENCE } as never, clock: { now }, log: {} });
}

const rejects = (p: Promise<unknown>) => expect(p).rejects.toSatisfy((e) => e instanceof AppError && e.code === 'UNAUTHENTICATED');

describe('authenticate: verified-token cache', () => {
  it('answers a repeated token from the cache, but not once it expired or its key left the ring', async () => {
    const { both, onlyK2 } = await setup();
    const t0 = new Date();
    const { token } = await issueAccessToken({ sub: 'usr_cache', kind: 'user', roles: ['customer'] }, { keys: both, issuer: ISSUER, audience: AUDIENCE, now: t0, ttlSeconds: 60 });
    let now = t0;
    const auth = authenticator(both, () => now);
    const first = await auth(`Bearer ${token}`);
    const again = await auth(`Bearer ${token}`);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ id: 'usr_cache', roles: ['customer'] });
    // A cached answer is a copy: changing it changes nothing for the next caller.
    first!.id = 'usr_tampered';
    expect((await auth(`Bearer ${token}`))!.id).toBe('usr_cache');
    // The key that signed it is removed from the ring: rejected at once, cache or not.
    await rejects(authenticator(onlyK2, () => now)(`Bearer ${token}`));
    // Past its expiry (beyond the verifier's clock tolerance): rejected.
    now = new Date(t0.getTime() + 120_000);
    await rejects(auth(`Bearer ${token}`));
    // A token altered by one character is another cache key and fails verification.
    now = t0;
    // (The second-to-last character carries six bits of the signature; the last one carries padding.)
    const at = token.length - 2;
    const tampered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    expect(tampered).not.toBe(token);
    await rejects(auth(`Bearer ${tampered}`));
  });
});

describe('authenticate: the revocation list, to the millisecond', () => {
  it('refuses a token issued earlier in the second of a revocation and accepts one issued later in that second', async () => {
    const { both } = await setup();
    const subject = `usr_rev_${crypto.randomUUID().slice(0, 8)}`;
    const second = Math.floor(Date.now() / 1000) * 1000;
    const revokedAt = second + 500;
    const list = { revokedBefore: async (s: string) => (s === subject ? revokedAt : null), revoke: async () => {} };
    const auth = makeAuthenticator({ signingKeys: async () => both, tokens: { issuer: ISSUER, audience: AUDIENCE } as never, clock: { now: () => new Date(second + 900) }, log: {}, revocations: list });
    const issue = (ms: number) => issueAccessToken({ sub: subject, kind: 'user', roles: ['customer'] }, { keys: both, issuer: ISSUER, audience: AUDIENCE, now: new Date(ms), ttlSeconds: 60 });
    const before = await issue(second + 300);
    const after = await issue(second + 700);
    const atTheRevocation = await issue(revokedAt);
    await rejects(auth(`Bearer ${before.token}`));
    expect((await auth(`Bearer ${after.token}`))?.id).toBe(subject);
    expect((await auth(`Bearer ${atTheRevocation.token}`))?.id).toBe(subject);
  });
});
