import { describe, expect, it } from 'vitest';
import { ADDRESS_JSON_200, cipherWith, fieldCipherCases, ring } from './field-cipher.cases';

/**
 * The shared cases inside workerd (the `workers` project): WebCrypto there is workerd's own,
 * over BoringSSL, not Node's. Plus a rough cost measurement (logged; see README.md).
 */
fieldCipherCases();

describe('cost in workerd', () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const AAD = 'users:usr_1:addresses:adr_1:address';

  /** Microseconds per call over `n` sequential calls (workerd's clock ticks in whole milliseconds). */
  async function perCall(n: number, f: (i: number) => Promise<unknown>): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f(i);
    return ((performance.now() - t0) * 1000) / n;
  }

  it('encrypts and decrypts a 200-byte address in tens of microseconds', async () => {
    expect(new TextEncoder().encode(ADDRESS_JSON_200).length).toBe(200);
    // Cold: parse the secrets, import the key, encrypt and decrypt once (fresh rings, not memoised).
    const cold = await perCall(20, async (i) => {
      const c = cipherWith(ring(String(100 + i), [100 + i]));
      return c.decrypt(await c.encrypt(ADDRESS_JSON_200, AAD), AAD);
    });
    const c = cipherWith(ring('51', [50, 51]));
    const envelope = await c.encrypt(ADDRESS_JSON_200, AAD);
    const N = 2000;
    const rounds = { pair: [] as number[], encrypt: [] as number[], decrypt: [] as number[], blindIndex: [] as number[] };
    for (let round = 0; round < 5; round++) {
      rounds.pair.push(await perCall(N, async () => c.decrypt(await c.encrypt(ADDRESS_JSON_200, AAD), AAD)));
      rounds.encrypt.push(await perCall(N, () => c.encrypt(ADDRESS_JSON_200, AAD)));
      rounds.decrypt.push(await perCall(N, () => c.decrypt(envelope, AAD)));
      rounds.blindIndex.push(await perCall(N, () => c.blindIndex('+919876543210', 'users.phone')));
    }
    const us = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, median(v)]));
    console.log(`field cipher in workerd, 200-byte address, µs per call: ${JSON.stringify({ coldPair: cold, ...us })}; pair rounds ${rounds.pair.join(', ')}`);
    expect(us.pair).toBeGreaterThan(0); // the clock advanced: a real measurement
    expect(us.pair).toBeLessThan(500); // about 20 µs here; generous for a loaded machine
  });
});
