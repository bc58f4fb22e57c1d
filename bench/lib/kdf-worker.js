/* global Response, WebAssembly */
// The password KDF alone, as login runs it: argon2id m=19 MiB, t=2, p=1, 32 bytes, through the
// same WASM core imported as a Worker module, in a linear memory sized as argon2.ts sizes it. No
// framework, database or limiter: the floor under POST /v1/auth/login. Keep the parameters in
// step with workers/auth/password/password-hash.ts (CURRENT_ARGON2ID_PARAMS) and argon2.ts.
// Served unbundled by Miniflare (bench/lib/worker.ts serveScript), hence the relative paths.
import argon2id from '../../node_modules/argon2id/lib/argon2id.js';
import noSimd from '../../workers/auth/password/wasm/argon2id-no-simd.wasm';
import simd from '../../workers/auth/password/wasm/argon2id-simd.wasm';

const MEMORY_KIB = 19 * 1024;
const PAGES = Math.ceil((MEMORY_KIB * 1024 + 10 * 1024) / 65536);

async function setup() {
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: 65536 });
  const imports = { env: { memory } };
  const instance = await WebAssembly.instantiate(simd, imports).catch(() => WebAssembly.instantiate(noSimd, imports));
  return (params) => argon2id(params, { instance, memory });
}

let hasher;
const salt = new Uint8Array(16).fill(7);
const password = new TextEncoder().encode('correct horse battery staple');

export default {
  async fetch() {
    hasher ??= await setup();
    hasher({ password, salt, memorySize: 19 * 1024, passes: 2, parallelism: 1, tagLength: 32 });
    return new Response('{"status":"ok"}', { headers: { 'content-type': 'application/json' } });
  },
};
