import setupWasm, { type computeHash } from 'argon2id/lib/setup.js';
import { argon2Wasm } from '#argon2-wasm';

/**
 * Argon2id (RFC 9106) from openpgpjs' `argon2id` package: a small WASM core (SIMD when the
 * runtime has it) driven from JS. One instance per isolate, set up on first use; its memory
 * (65 MiB initially) is reused by every hash.
 */
let ready: Promise<computeHash> | undefined;

export function argon2idHasher(): Promise<computeHash> {
  if (!ready) {
    ready = setupWasm(argon2Wasm.simd, argon2Wasm.noSimd);
    ready.catch(() => {
      ready = undefined;
    });
  }
  return ready;
}
