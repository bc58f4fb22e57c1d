// In Node (scripts, seeding, node tests): the same WASM binaries, read from the package.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const load = (file: string) => (imports: WebAssembly.Imports) =>
  WebAssembly.instantiate(readFileSync(require.resolve(`argon2id/dist/${file}`)), imports);

export const argon2Wasm = { simd: load('simd.wasm'), noSimd: load('no-simd.wasm') };
