/**
 * Secrets the Worker needs locally (dev, tests, bench): ES256 signing keys, the PII key ring and
 * the blind-index key. Never used in production, where they are `wrangler secret put`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatSigningKeysSecret, generateSigningKey } from '../../workers/auth/tokens/signing-keys.ts';

export interface LocalSecrets {
  AUTH_SIGNING_KEYS: string;
  PII_ENCRYPTION_KEYS: string;
  PII_INDEX_KEY: string;
}

/** Fresh secrets (a new signing key, a one-key PII ring and an index key). */
export async function generateLocalSecrets(kid = `local-${Date.now().toString(36)}`): Promise<LocalSecrets> {
  const key = await generateSigningKey(kid);
  return {
    AUTH_SIGNING_KEYS: formatSigningKeysSecret({ active: kid, keys: [key] }),
    PII_ENCRYPTION_KEYS: JSON.stringify({ active: '1', keys: { '1': randomBytes(32).toString('base64') } }),
    PII_INDEX_KEY: randomBytes(32).toString('base64'),
  };
}

/**
 * The secrets kept in `file` (created on first use with mode 0600), so tokens and encrypted
 * data survive a restart of `npm run dev`.
 */
export async function loadOrCreateLocalSecrets(file: string): Promise<{ secrets: LocalSecrets; created: boolean }> {
  if (existsSync(file)) {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalSecrets>;
    if (parsed.AUTH_SIGNING_KEYS && parsed.PII_ENCRYPTION_KEYS && parsed.PII_INDEX_KEY) {
      return { secrets: parsed as LocalSecrets, created: false };
    }
  }
  const secrets = await generateLocalSecrets('dev-1');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return { secrets, created: true };
}
