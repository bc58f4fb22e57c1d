import { describe, expect, it } from 'vitest';
import { argon2MemoryBytes, argon2PagesFor, argon2idHasher } from './argon2';
import { CURRENT_ARGON2ID_PARAMS, dummyVerify, hashPassword, hashPasswordScrypt, needsRehash, verifyPassword } from './password-hash';

/**
 * Runs inside workerd (the `workers` project): node:crypto there is workerd's own
 * implementation over BoringSSL, with its own limits, not Node's.
 */
const PASSWORD = 'mauve tulip orbit 42';
const CURRENT = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;
const SCRYPT_LEGACY = /^\$scrypt\$ln=15,r=8,p=3\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

/** argon2id("password", "somesalt", m=64 MiB, t=2, p=4, 24 bytes), computed by another implementation (hash-wasm 4.13). */
const FOREIGN_ARGON2ID = '$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$F1jG2CV3/Nr+yRuIsPKw0J9r4s7cJHBU';

/** RFC 7914 section 12, fourth vector: scrypt("pleaseletmein", "SodiumChloride", N=16384, r=8, p=1, 64). */
const RFC7914 =
  '$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw';

describe('hashPassword', () => {
  it('writes a PHC string with the current parameters and a fresh 16-byte salt', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
    expect(a).toMatch(CURRENT);
    expect(b).toMatch(CURRENT);
    expect(a).not.toBe(b);
    expect(CURRENT_ARGON2ID_PARAMS).toEqual({ m: 19456, t: 2, p: 1 });
  });

  it("keeps the core in a linear memory sized for the current cost (19 MiB, not the package build's 65 MiB)", async () => {
    await hashPassword(PASSWORD);
    expect(argon2MemoryBytes()).toBe(argon2PagesFor(CURRENT_ARGON2ID_PARAMS.m, CURRENT_ARGON2ID_PARAMS.p) * 64 * 1024);
    expect(argon2MemoryBytes()).toBeLessThan(20 * 1024 * 1024);
  });

  it('refuses parameters that could not be read back or that workerd would refuse', async () => {
    await expect(hashPassword(PASSWORD, { m: 128 * 1024, t: 2, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashPassword(PASSWORD, { m: 19456, t: 0, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashPasswordScrypt(PASSWORD, { ln: 18, r: 8, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashPasswordScrypt(PASSWORD, { ln: 15, r: 8, p: 0 })).rejects.toThrow(RangeError);
  });

  it('computes RFC 9106 section 5.3 (argon2id with secret and associated data) in workerd', async () => {
    const argon2id = await argon2idHasher();
    const tag = argon2id({
      password: new Uint8Array(32).fill(1),
      salt: new Uint8Array(16).fill(2),
      secret: new Uint8Array(8).fill(3),
      ad: new Uint8Array(12).fill(4),
      parallelism: 4,
      passes: 3,
      memorySize: 32,
      tagLength: 32,
    });
    expect([...tag].map((b) => b.toString(16).padStart(2, '0')).join('')).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
  });
});

describe('verifyPassword', () => {
  it('accepts the right password and refuses others', async () => {
    const stored = await hashPassword(PASSWORD);
    expect(await verifyPassword(PASSWORD, stored)).toEqual({ ok: true, needsRehash: false });
    expect(await verifyPassword('mauve tulip orbit 43', stored)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword('', stored)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword('short', stored)).toEqual({ ok: false, needsRehash: false });
    await expect(hashPassword('short')).rejects.toThrow(RangeError);
  });

  it('compares NFKC forms, so the same password typed on another keyboard still matches', async () => {
    const stored = await hashPassword('caf\u00e9 \uFB01eld mauve tulip');
    expect((await verifyPassword('cafe\u0301 field mauve tulip', stored)).ok).toBe(true);
    expect((await verifyPassword('cafe field mauve tulip', stored)).ok).toBe(false);
  });

  it('reads argon2id hashes made by another implementation (and upgrades its 8-byte salt)', async () => {
    expect(await verifyPassword('password', FOREIGN_ARGON2ID)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword('passwore', FOREIGN_ARGON2ID)).toEqual({ ok: false, needsRehash: false });
    // Its 64 MiB cost grew the memory (it never shrinks): the cores run over any size.
    expect(argon2MemoryBytes()).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  });

  it('reads hashes from other scrypt implementations (RFC 7914 test vector) and asks to upgrade them', async () => {
    expect(await verifyPassword('pleaseletmein', RFC7914)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword('pleaseletmeout', RFC7914)).toEqual({ ok: false, needsRehash: false });
  });

  it('asks to rehash every legacy scrypt hash (made before argon2id) once the password is right', async () => {
    const legacy = await hashPasswordScrypt(PASSWORD);
    expect(legacy).toMatch(SCRYPT_LEGACY);
    expect(needsRehash(legacy)).toBe(true);
    expect(await verifyPassword(PASSWORD, legacy)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword('wrong password here', legacy)).toEqual({ ok: false, needsRehash: false });
  });

  it('asks for a rehash of a weaker hash only when the password is right, and the new hash is current', async () => {
    const old = await hashPassword(PASSWORD, { m: 8192, t: 2, p: 1 });
    expect(old).toMatch(/^\$argon2id\$v=19\$m=8192,t=2,p=1\$/);
    expect(needsRehash(old)).toBe(true);
    expect(await verifyPassword('wrong password here', old)).toEqual({ ok: false, needsRehash: false });
    const result = await verifyPassword(PASSWORD, old);
    expect(result).toEqual({ ok: true, needsRehash: true });
    const upgraded = await hashPassword(PASSWORD);
    expect(needsRehash(upgraded)).toBe(false);
    expect(await verifyPassword(PASSWORD, upgraded)).toEqual({ ok: true, needsRehash: false });
  });

  it('does not ask to rehash a hash stronger than the current policy', async () => {
    const stronger = await hashPassword(PASSWORD, { m: 32768, t: 3, p: 1 });
    expect(await verifyPassword(PASSWORD, stronger)).toEqual({ ok: true, needsRehash: false });
  });

  it('answers not-ok, without throwing, for a missing, tampered, foreign or out-of-bounds hash', async () => {
    const stored = await hashPassword(PASSWORD);
    // One character of the digest changed (not the last one, whose low bits are only padding).
    const at = stored.length - 4;
    const tampered = stored.slice(0, at) + (stored[at] === 'A' ? 'B' : 'A') + stored.slice(at + 1);
    expect(tampered).not.toBe(stored);
    const bad = [
      null,
      undefined,
      '',
      tampered,
      stored.replace('$argon2id$', '$argon2i$'),
      stored.replace('$v=19$', '$v=16$'),
      stored.replace('$v=19$', '$'),
      stored.replace('m=19456', 'm=262144'), // more memory than a Worker has
      stored.replace('t=2', 't=0'),
      stored.replace('p=1', 'p=1,x=1'),
      '$scrypt$ln=18,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', // over workerd's N*r*p cap
      '$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA', // 3-byte salt
    ];
    for (const s of bad) expect(await verifyPassword(PASSWORD, s), String(s)).toEqual({ ok: false, needsRehash: false });
    expect(needsRehash('$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA')).toBe(true);
  });
});

describe('no user enumeration by timing', () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  async function time(f: () => Promise<unknown>): Promise<number> {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  }

  it('takes about as long for an unknown email (dummy verify) as for a wrong or right password', async () => {
    const stored = await hashPassword(PASSWORD);
    const runs = { wrong: [] as number[], right: [] as number[], unknown: [] as number[], dummy: [] as number[] };
    await verifyPassword(PASSWORD, stored); // warm up
    for (let i = 0; i < 5; i++) {
      runs.wrong.push(await time(() => verifyPassword('not the password!', stored)));
      runs.right.push(await time(() => verifyPassword(PASSWORD, stored)));
      runs.unknown.push(await time(() => verifyPassword(PASSWORD, null)));
      runs.dummy.push(await time(() => dummyVerify(PASSWORD)));
    }
    const m = { wrong: median(runs.wrong), right: median(runs.right), unknown: median(runs.unknown), dummy: median(runs.dummy) };
    console.log(`median ms per verify in workerd: ${JSON.stringify(m)}`);
    expect(m.wrong).toBeGreaterThan(20); // real work happened (workerd's clock does advance here)
    for (const other of [m.right, m.unknown, m.dummy]) {
      expect(other / m.wrong).toBeGreaterThan(0.6);
      expect(other / m.wrong).toBeLessThan(1.6);
    }
  });
});
