/** The `argon2id` package's hash function over a WASM instance and the memory it imports (the package ships no types for it). */
declare module 'argon2id/lib/argon2id.js' {
  import type { Argon2idParams } from 'argon2id/lib/setup.js';

  export default function argon2id(params: Argon2idParams, wasm: { memory: WebAssembly.Memory; instance: WebAssembly.Instance }): Uint8Array;
}
