/* global Response, WebAssembly */
// The password KDF alone, as login runs it: argon2id m=19 MiB, t=2, p=1, 32 bytes, through the
// same WASM core imported as a Worker module. No framework, database or limiter: the floor
// under POST /v1/auth/login. Keep the parameters in step with
// workers/auth/password/password-hash.ts (CURRENT_ARGON2ID_PARAMS).
// Served unbundled by Miniflare (bench/lib/worker.ts serveScript), hence the relative paths.
import setupWasm from '../../node_modules/argon2id/lib/setup.js';
import noSimd from '../../node_modules/argon2id/dist/no-simd.wasm';
import simd from '../../node_modules/argon2id/dist/simd.wasm';

const load = (module) => async (imports) => ({ module, instance: await WebAssembly.instantiate(module, imports) });
let hasher;
const salt = new Uint8Array(16).fill(7);
const password = new TextEncoder().encode('correct horse battery staple');

export default {
  async fetch() {
    hasher ??= await setupWasm(load(simd), load(noSimd));
    hasher({ password, salt, memorySize: 19 * 1024, passes: 2, parallelism: 1, tagLength: 32 });
    return new Response('{"status":"ok"}', { headers: { 'content-type': 'application/json' } });
  },
};
