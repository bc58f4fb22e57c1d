/**
 * `npx tsx scripts/vendor-argon2-wasm.ts [--check]`: writes workers/auth/password/wasm/*.wasm,
 * the `argon2id` package's two WASM cores (SIMD and not) with one change: the minimum size of
 * the linear memory they import, 1,040 pages of 64 KiB (65 MiB) in the package's build, becomes
 * ARGON2_MIN_PAGES. The instruction bytes are untouched.
 *
 * Why: the package makes that memory 65 MiB whatever the memory cost asks for, and it never
 * shrinks, in an isolate whose limit is 128 MB. Our hashes need 19 MiB (argon2.ts sizes the
 * memory it creates for the current parameters; the package's JS grows it for larger ones). The
 * cores keep nothing of their own in that memory: no data segments, and their stack pointer is
 * only read and written by the exported stack helpers, never by G, G2, xor or getLZ (the JS
 * places every block from offset 0 up, over the whole memory, and RFC 9106's vectors and a
 * 64 MiB hash of another implementation verify: password-hash.worker.test.ts).
 *
 * `--check` exits 1 when the vendored files differ from what the installed package gives (an
 * upgrade of `argon2id` must re-run this script); scripts/vendor-argon2-wasm.test.ts does the same.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The minimum the patched cores declare (8 MiB; a 2-byte LEB128 like the original 1,040, so no section changes size). */
export const ARGON2_MIN_PAGES = 128;
export const VENDORED = [
  { from: 'argon2id/dist/simd.wasm', to: 'argon2id-simd.wasm' },
  { from: 'argon2id/dist/no-simd.wasm', to: 'argon2id-no-simd.wasm' },
] as const;
export const VENDOR_DIR = fileURLToPath(new URL('../workers/auth/password/wasm/', import.meta.url));

function readLeb(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (let i = at; i < bytes.length; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return { value, next: i + 1 };
  }
  throw new Error('truncated LEB128');
}

const readName = (bytes: Uint8Array, at: number) => {
  const len = readLeb(bytes, at);
  return { name: new TextDecoder().decode(bytes.subarray(len.next, len.next + len.value)), next: len.next + len.value };
};

/** Where the module's `env.memory` import keeps its minimum: the LEB128's offset and length, and its value. */
export function memoryImportMinimum(bytes: Uint8Array): { at: number; length: number; pages: number } {
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Error('not a WASM module');
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const size = readLeb(bytes, at + 1);
    const end = size.next + size.value;
    if (id === 2) {
      const count = readLeb(bytes, size.next);
      let p = count.next;
      for (let i = 0; i < count.value; i++) {
        const mod = readName(bytes, p);
        const field = readName(bytes, mod.next);
        const kind = bytes[field.next]!;
        p = field.next + 1;
        if (kind === 0) p = readLeb(bytes, p).next; // function: type index
        else if (kind === 1) {
          // table: element type, then limits (flags, min[, max])
          const flags = bytes[p + 1]!;
          const min = readLeb(bytes, p + 2);
          p = flags & 1 ? readLeb(bytes, min.next).next : min.next;
        }
        else if (kind === 3) p += 2; // global: value type, mutability
        else if (kind === 2) {
          const flags = bytes[p]!;
          const min = readLeb(bytes, p + 1);
          if (mod.name === 'env' && field.name === 'memory') return { at: p + 1, length: min.next - (p + 1), pages: min.value };
          p = flags & 1 ? readLeb(bytes, min.next).next : min.next;
        } else throw new Error(`unknown import kind ${kind}`);
      }
    }
    at = end;
  }
  throw new Error('no env.memory import');
}

/** The module with its memory import's minimum set to `pages` (same LEB128 length, so nothing else moves). */
export function withMemoryMinimum(bytes: Uint8Array, pages: number): Uint8Array {
  const min = memoryImportMinimum(bytes);
  const leb: number[] = [];
  let v = pages;
  do {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    leb.push(v > 0 ? b | 0x80 : b);
  } while (v > 0);
  if (leb.length !== min.length) throw new Error(`the minimum ${pages} takes ${leb.length} bytes, not ${min.length}: pick one of the same width`);
  const out = Uint8Array.from(bytes);
  out.set(leb, min.at);
  return out;
}

/** The vendored files as the installed package gives them. */
export function expectedVendoredFiles(): { file: string; bytes: Uint8Array }[] {
  const require = createRequire(import.meta.url);
  return VENDORED.map(({ from, to }) => ({ file: path.join(VENDOR_DIR, to), bytes: withMemoryMinimum(readFileSync(require.resolve(from)), ARGON2_MIN_PAGES) }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const { file, bytes } of expectedVendoredFiles()) {
    if (check) {
      let current: Uint8Array | null;
      try {
        current = readFileSync(file);
      } catch {
        current = null;
      }
      if (!current || Buffer.compare(Buffer.from(current), Buffer.from(bytes)) !== 0) {
        stale++;
        console.error(`${path.relative(process.cwd(), file)} is not what the installed argon2id package gives: run npx tsx scripts/vendor-argon2-wasm.ts`);
      }
    } else {
      writeFileSync(file, bytes);
      console.log(`wrote ${path.relative(process.cwd(), file)} (${bytes.length} bytes, memory minimum ${ARGON2_MIN_PAGES} pages)`);
    }
  }
  if (stale) process.exit(1);
}
