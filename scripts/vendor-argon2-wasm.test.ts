import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ARGON2_MIN_PAGES, VENDORED, expectedVendoredFiles, memoryImportMinimum, withMemoryMinimum } from './vendor-argon2-wasm';

const require = createRequire(import.meta.url);

describe('vendored argon2id cores (workers/auth/password/wasm/)', () => {
  it('are the installed package cores with only the memory minimum lowered (re-run the script after an upgrade)', () => {
    for (const { file, bytes } of expectedVendoredFiles()) {
      const vendored = new Uint8Array(readFileSync(file));
      expect(Buffer.from(vendored).equals(Buffer.from(bytes)), `${file} is stale: npx tsx scripts/vendor-argon2-wasm.ts`).toBe(true);
      expect(memoryImportMinimum(vendored).pages).toBe(ARGON2_MIN_PAGES);
    }
  });

  it('finds the package build at 1,040 pages and changes nothing but those two bytes', () => {
    for (const { from } of VENDORED) {
      const original = new Uint8Array(readFileSync(require.resolve(from)));
      const min = memoryImportMinimum(original);
      expect(min).toMatchObject({ pages: 1040, length: 2 });
      const patched = withMemoryMinimum(original, ARGON2_MIN_PAGES);
      const differing = [...original.keys()].filter((i) => original[i] !== patched[i]);
      expect(differing.length).toBeGreaterThan(0);
      expect(differing.every((i) => i >= min.at && i < min.at + min.length)).toBe(true);
      expect(patched.length).toBe(original.length);
    }
  });

  it('refuses a minimum whose encoding would move the rest of the module', () => {
    const original = new Uint8Array(readFileSync(require.resolve(VENDORED[0].from)));
    expect(() => withMemoryMinimum(original, 1)).toThrow(/same width/);
    expect(() => withMemoryMinimum(new Uint8Array([1, 2, 3, 4]), 128)).toThrow(/not a WASM module/);
  });
});
