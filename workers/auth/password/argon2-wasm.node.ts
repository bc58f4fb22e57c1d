// In Node (scripts, seeding, node tests): the same WASM binaries as in workerd, read from
// ./wasm/ (the `argon2id` package's cores with a smaller memory minimum: scripts/vendor-argon2-wasm.ts).
import { readFileSync } from 'node:fs';

/** Node's `WebAssembly.instantiate(bytes)`, which the project's (workerd) types do not declare: workerd takes modules only. */
const instantiateBytes = WebAssembly.instantiate as unknown as (bytes: Uint8Array, imports: WebAssembly.Imports) => Promise<{ instance: WebAssembly.Instance }>;

const load = (file: string) => (imports: WebAssembly.Imports) => instantiateBytes(readFileSync(new URL(`./wasm/${file}`, import.meta.url)), imports);

export const argon2Wasm = { simd: load('argon2id-simd.wasm'), noSimd: load('argon2id-no-simd.wasm') };
