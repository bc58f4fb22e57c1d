/** Argon2id's cost parameters, as the PHC string carries them. */
export interface Argon2idParams {
  /** Memory in KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes (computed one after another here). */
  p: number;
}

/**
 * New hashes: OWASP's minimum for argon2id, 19 MiB, 2 passes, 1 lane. Its own module so that
 * argon2.ts sizes the core's memory from it without importing password-hash.ts.
 */
export const CURRENT_ARGON2ID_PARAMS: Readonly<Argon2idParams> = Object.freeze({ m: 19 * 1024, t: 2, p: 1 });
