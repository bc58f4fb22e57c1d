import argon2id from 'argon2id/lib/argon2id.js';
import type { computeHash } from 'argon2id/lib/setup.js';
import { argon2Wasm } from '#argon2-wasm';
import { CURRENT_ARGON2ID_PARAMS } from './argon2-params';

const WASM_PAGE = 64 * 1024;

/**
 * Pages of linear memory the core needs for a memory cost of `kib` KiB over `lanes` lanes: the
 * package's own count (m rounded down to a multiple of 4 × lanes, 1 KiB blocks, and 10 KiB of
 * working references).
 */
export function argon2PagesFor(kib: number, lanes = 1): number {
  const blocks = 4 * lanes * Math.floor(kib / (4 * lanes));
  return Math.ceil((blocks * 1024 + 10 * 1024) / WASM_PAGE);
}

/**
 * Argon2id (RFC 9106) from openpgpjs' `argon2id` package: its small WASM core (SIMD when the
 * runtime has it) driven by its JS. One instance per isolate, set up on first use, with one
 * linear memory reused by every hash.
 *
 * The memory is made here, sized for the current parameters (19 MiB), not by the package's
 * `setup.js`, which makes it 65 MiB whatever the cost, in an isolate limited to 128 MB. The
 * cores are the package's with the minimum of their memory import lowered to match
 * (workers/auth/password/wasm/, written by scripts/vendor-argon2-wasm.ts). A stored hash with a
 * larger cost grows the memory as the package always did; memory never shrinks.
 */
let ready: Promise<computeHash> | undefined;
let memory: WebAssembly.Memory | undefined;

export function argon2idHasher(): Promise<computeHash> {
  if (!ready) {
    ready = (async () => {
      const mem = new WebAssembly.Memory({ initial: argon2PagesFor(CURRENT_ARGON2ID_PARAMS.m, CURRENT_ARGON2ID_PARAMS.p), maximum: 65536 });
      const imports = { env: { memory: mem } };
      let loaded: { instance: WebAssembly.Instance };
      try {
        loaded = await argon2Wasm.simd(imports);
      } catch {
        loaded = await argon2Wasm.noSimd(imports);
      }
      memory = mem;
      const instance = loaded.instance;
      return (params) => argon2id(params, { instance, memory: mem });
    })();
    ready.catch(() => {
      ready = undefined;
    });
  }
  return ready;
}

/** Bytes of the core's linear memory in this isolate (0 before the first hash). */
export function argon2MemoryBytes(): number {
  return memory?.buffer.byteLength ?? 0;
}
