// In workerd: the WASM binaries are imported as modules, compiled when the Worker is uploaded
// (Workers refuse to compile WASM from bytes at run time). Picked by the `workerd` condition of
// the `#argon2-wasm` import in package.json; argon2-wasm.node.ts is the Node side.
import noSimdModule from 'argon2id/dist/no-simd.wasm';
import simdModule from 'argon2id/dist/simd.wasm';

const instantiate = (module: WebAssembly.Module) => async (imports: WebAssembly.Imports) => ({
  module,
  instance: await WebAssembly.instantiate(module, imports),
});

export const argon2Wasm = { simd: instantiate(simdModule), noSimd: instantiate(noSimdModule) };
