/* global Response */
// The password KDF alone, as login runs it: scrypt N=2^15, r=8, p=3, 32 bytes, through
// node:crypto under nodejs_compat (BoringSSL in workerd). No framework, database or limiter:
// the floor under POST /v1/auth/login. Keep the parameters in step with
// workers/auth/password/password-hash.ts (CURRENT_SCRYPT_PARAMS).
import { scrypt } from 'node:crypto';

const N = 2 ** 15;
const r = 8;
const p = 3;
const salt = new Uint8Array(16).fill(7);
const password = new TextEncoder().encode('correct horse battery staple');

export default {
  async fetch() {
    await new Promise((resolve, reject) =>
      scrypt(password, salt, 32, { N, r, p, maxmem: 128 * r * (N + p + 2) }, (err, key) => (err ? reject(err) : resolve(key))),
    );
    return new Response('{"status":"ok"}', { headers: { 'content-type': 'application/json' } });
  },
};
