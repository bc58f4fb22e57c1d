import { fileURLToPath } from 'node:url';
import { defineScriptReferences } from '../lib/scenario.ts';

/**
 * The PII field cipher alone (lib/cipher-worker.ts): 20 calls of one operation per request on a
 * 200-byte address, in a bare Worker. Per call: (1 / req/s - 1 / the bare Worker's req/s) / 20,
 * with the bare Worker of the same run (`--only=crypto,runtime.bare`).
 */
defineScriptReferences('crypto.field-cipher', fileURLToPath(new URL('../lib/cipher-worker.ts', import.meta.url)), ['crypto', 'pii'], [
  ['encrypt', 'field cipher: 20 encrypts of a 200-byte address'],
  ['decrypt', 'field cipher: 20 decrypts of a 200-byte address'],
  ['blind-index', 'field cipher: 20 blind indexes of a phone number'],
]);
