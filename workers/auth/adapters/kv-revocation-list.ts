import type { RevocationList } from '../service/deps';

/**
 * The revocation list on Workers KV: one key per user or client, `auth:revoked-before:<id>`,
 * holding the time (ms) before which its access tokens are refused, expiring once every token
 * issued before it has expired anyway. KV is read at the edge (a miss is cached there for up to a
 * minute) and replicated within about a minute: a revocation reaches every location within
 * that, instead of the token's whole lifetime.
 */
export class KvRevocationList implements RevocationList {
  constructor(
    private readonly kv: KVNamespace,
    private readonly prefix = 'auth:revoked-before:',
  ) {}

  async revokedBefore(subject: string): Promise<number | null> {
    const value = await this.kv.get(this.prefix + subject, { cacheTtl: 60 });
    const at = value === null ? NaN : Number(value);
    return Number.isFinite(at) ? at : null;
  }

  async revoke(subject: string, at: Date, forSeconds: number): Promise<void> {
    const current = await this.revokedBefore(subject);
    const value = Math.max(at.getTime(), current ?? 0);
    // KV's shortest expiry is 60 s.
    await this.kv.put(this.prefix + subject, String(value), { expirationTtl: Math.max(60, Math.ceil(forSeconds)) });
  }
}
