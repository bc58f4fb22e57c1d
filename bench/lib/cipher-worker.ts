/**
 * The PII field cipher alone (shared/crypto/field-cipher.ts), in a bare Worker: each request runs
 * OPS calls of one operation on a 200-byte address (JSON): `GET /encrypt`, `/decrypt`, or
 * `/blind-index` (of a phone number). Per call: (1 / req/s - 1 / the bare Worker's req/s) / OPS.
 * Fixed test keys, never real ones. Bundled by bench/lib/worker.ts (bundleScript).
 */
import { FieldCipher } from '../../shared/crypto/field-cipher';

const OPS = 20;
const AAD = 'users:usr_1:addresses:adr_1:address';
const key = (seed: number) => btoa(String.fromCharCode(...Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 0xff)));
const ADDRESS = JSON.stringify({ line1: '221B Baker Street', city: 'London', postalCode: 'NW1 6XE', country: 'GB', note: 'x'.repeat(107) });

let cipher: FieldCipher | undefined;
let envelope: string | undefined;

export default {
  async fetch(request: Request): Promise<Response> {
    cipher ??= FieldCipher.from({ PII_ENCRYPTION_KEYS: JSON.stringify({ active: '1', keys: { '1': key(1) } }), PII_INDEX_KEY: key(99) });
    envelope ??= await cipher.encrypt(ADDRESS, AAD);
    const path = new URL(request.url).pathname;
    let last = '';
    for (let i = 0; i < OPS; i++) {
      if (path === '/encrypt') last = await cipher.encrypt(ADDRESS, AAD);
      else if (path === '/decrypt') last = await cipher.decrypt(envelope, AAD);
      else if (path === '/blind-index') last = await cipher.blindIndex('+919876543210', 'users.phone');
      else return new Response('not found', { status: 404 });
    }
    return new Response(JSON.stringify({ ops: OPS, length: last.length, bytes: ADDRESS.length }), { headers: { 'content-type': 'application/json' } });
  },
};
