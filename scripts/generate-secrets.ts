/**
 * Prints fresh production secrets: ES256 signing keys, the PII key ring and the blind-index key.
 *
 *   npm run secrets:generate -- AUTH_SIGNING_KEYS | npx wrangler secret put AUTH_SIGNING_KEYS
 *
 * With a name, prints only that value (for piping); without, all three as JSON.
 */
import { generateLocalSecrets, type LocalSecrets } from '../tools/local/dev-secrets.ts';

const secrets = await generateLocalSecrets(`key-${new Date().toISOString().slice(0, 10)}`);
const name = process.argv[2] as keyof LocalSecrets | undefined;
if (name) {
  if (!(name in secrets)) {
    console.error(`Unknown secret ${name}; one of ${Object.keys(secrets).join(', ')}`);
    process.exit(2);
  }
  process.stdout.write(secrets[name]);
} else {
  console.log(JSON.stringify(secrets, null, 2));
}
