// In workerd: the WASM binaries are imported as modules, compiled when the Worker is uploaded
// (Workers refuse to compile WASM from bytes at run time). Picked by the `workerd` condition of
// the `#argon2-wasm` import in package.json; argon2-wasm.node.ts is the Node side. The files are
// the `argon2id` package's cores with a smaller memory minimum (scripts/vendor-argon2-wasm.ts).
import noSimdModule from './wasm/argon2id-no-simd.wasm';
import simdModule from './wasm/argon2id-simd.wasm';

const instantiate = (module: WebAssembly.Module) => async (imports: WebAssembly.Imports) => ({
  module,
  instance: await WebAssembly.instantiate(module, imports),
});

export const argon2Wasm = { simd: instantiate(simdModule), noSimd: instantiate(noSimdModule) };
