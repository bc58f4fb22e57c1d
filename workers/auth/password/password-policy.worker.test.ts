import { describe, expect, it } from 'vitest';
import { checkPassword, commonPasswordCount } from './password-policy';

/** The policy as bundled for workerd: the vendored list loads there as in Node. */
describe('password policy inside workerd', () => {
  it('loads the whole common-password list and uses it', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(10_000);
    expect(checkPassword('PasswordPassword').map((e) => e.code)).toEqual(['common_password']);
    expect(checkPassword('mauve tulip orbit 42')).toEqual([]);
  });
});
