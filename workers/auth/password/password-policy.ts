import type { FieldError } from '../../../shared/kernel/app-error';
import { COMMON_PASSWORDS_TEXT } from './common-passwords';
import { emailLocalPart } from './email';

/**
 * What a new password must be (NIST SP 800-63B-4 section 3.1.1.2, OWASP Authentication Cheat
 * Sheet): long enough, not too long, not common or a trivial variation of a common one, not
 * predictable, not built from the user's own email or name. No composition rules (no "one
 * digit and one symbol"), no expiry. Lengths count Unicode code points after NFKC, the form
 * password-hash.ts hashes. Reasons for each choice: README.md.
 */
export const PASSWORD_MIN_LENGTH = 15;
export const PASSWORD_MAX_LENGTH = 128;

export interface PasswordContext {
  /** The account's email: the password may not equal it or contain its local part. */
  email?: string;
  /** The account holder's name: the password may not equal it or contain any word of it. */
  name?: string;
  /** Path reported in the field errors; `body.password` by default. */
  path?: string;
}

/** Parts of a local part or name shorter than this are only compared whole, never searched for. */
const MIN_CONTAINED = 4;

/** Problems with `password` as a new password; empty when it is acceptable. */
export function checkPassword(password: string, context: PasswordContext = {}): FieldError[] {
  const path = context.path ?? 'body.password';
  const fail = (code: string, message: string): FieldError[] => [{ path, code, message }];
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  if (length < PASSWORD_MIN_LENGTH) return fail('too_small', `Use at least ${PASSWORD_MIN_LENGTH} characters; a few unrelated words work well`);
  if (length > PASSWORD_MAX_LENGTH) return fail('too_big', `Use at most ${PASSWORD_MAX_LENGTH} characters`);
  const lower = normalised.toLowerCase();
  const errors: FieldError[] = [];
  if (isCommon(lower)) errors.push(...fail('common_password', 'This password is too common; choose one that is not on lists of leaked passwords'));
  else if (isPredictable(lower)) errors.push(...fail('predictable_password', 'This password is too predictable (repeated or sequential characters)'));
  const personal = personalProblem(lower, context);
  if (personal) errors.push(...fail(personal.code, personal.message));
  return errors;
}

let commonSet: Set<string> | undefined;

/** The common-password list as a Set, built once per isolate on first use. */
function commonPasswords(): Set<string> {
  commonSet ??= new Set(COMMON_PASSWORDS_TEXT.split('\n'));
  return commonSet;
}

/** Number of entries in the common-password list (for tests and the README). */
export const commonPasswordCount = () => commonPasswords().size;

/**
 * On the list as it is, once leading and trailing digits and symbols are removed
 * (`Password2024!!!`), or as a repetition of a listed word (`monkeymonkeymonkey`).
 */
function isCommon(lower: string): boolean {
  const list = commonPasswords();
  const variants = [
    lower,
    lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, ''), // letters in the middle: `2024Password!!!` -> `password`
    lower.replace(/[^\p{L}\p{N}]+$/u, ''), // trailing symbols: `qwerty123456789!!!` -> `qwerty123456789`
  ].filter((v) => v === lower || v.length >= MIN_CONTAINED);
  return variants.some((v) => {
    const unit = repeatedUnit(v);
    return list.has(v) || (unit !== null && list.has(unit));
  });
}

/** Made of one short unit repeated (`abcabcabc...`), or of at most two straight runs (`123456789987654321`). */
function isPredictable(lower: string): boolean {
  const unit = repeatedUnit(lower);
  if (unit !== null && [...unit].length <= MIN_CONTAINED) return true;
  return straightRuns(lower) <= 2;
}

/** The shortest unit that `s` is two or more repetitions of, or null. */
function repeatedUnit(s: string): string | null {
  const m = /^(.+?)\1+$/su.exec(s);
  return m ? m[1]! : null;
}

/**
 * How many maximal runs `s` splits into where each character steps from the previous one by
 * the same -1, 0 or +1 (digits wrap: 9 then 0 is +1).
 */
function straightRuns(s: string): number {
  const cps = [...s].map((c) => c.codePointAt(0)!);
  let runs = 1;
  let step: number | null = null;
  for (let i = 1; i < cps.length; i++) {
    const d = stepBetween(cps[i - 1]!, cps[i]!);
    if (d !== null && (step === null || d === step)) {
      step = d;
      continue;
    }
    runs++;
    step = null;
  }
  return runs;
}

function stepBetween(a: number, b: number): number | null {
  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
  if (isDigit(a) && isDigit(b)) {
    const d = (b - a + 10) % 10;
    return d === 0 ? 0 : d === 1 ? 1 : d === 9 ? -1 : null;
  }
  const d = b - a;
  return d >= -1 && d <= 1 ? d : null;
}

/** Letters and digits only: `John.Smith` and `john_smith` both become `johnsmith`. */
const squash = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

function personalProblem(lower: string, { email, name }: PasswordContext): { code: string; message: string } | null {
  if (email) {
    const address = email.trim().toLowerCase();
    const local = emailLocalPart(address);
    const candidates = [local, local.split('+')[0] ?? ''];
    if (lower === address || candidates.some((c) => contains(lower, c))) {
      return { code: 'contains_email', message: 'The password must not contain your email address' };
    }
  }
  if (name) {
    // Each word of the name; the whole name only as an equality, because squashed short names
    // (`Al Li` -> `alli`) turn up inside unrelated words (`gallium`).
    const words = name.split(/[^\p{L}\p{N}]+/u);
    if (contains(lower, name, Infinity) || words.some((w) => contains(lower, w))) {
      return { code: 'contains_name', message: 'The password must not contain your name' };
    }
  }
  return null;
}

/**
 * Ignoring everything but letters and digits, `lower` equals `part`, or contains it when `part`
 * has at least `minContained` of them.
 */
function contains(lower: string, part: string, minContained = MIN_CONTAINED): boolean {
  const p = squash(part);
  if (p.length === 0) return false;
  const s = squash(lower);
  return s === p || (p.length >= minContained && s.includes(p));
}
