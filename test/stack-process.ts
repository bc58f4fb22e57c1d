/**
 * Runs the test database stack in its own Node process (so PGlite and the bridges neither
 * share the test runner's event loop nor its module resolution), prints one JSON line with
 * the addresses, and tears everything down on SIGTERM/SIGINT or when stdin closes.
 */
import { provisionTestDatabase } from './provision.ts';

const db = await provisionTestDatabase({ seed: process.argv.includes('--seed'), redis: process.argv.includes('--redis') });
process.stdout.write(
  `${JSON.stringify({
    databaseUrl: db.databaseUrl,
    wsProxy: db.stack.wsProxy,
    sqlEndpoint: db.stack.sqlEndpoint,
    upstash: db.stack.upstash ?? null,
    kind: db.kind,
  })}\n`,
);

let done = false;
const stop = async () => {
  if (done) return;
  done = true;
  await db.teardown().catch((err: unknown) => console.error(err));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
