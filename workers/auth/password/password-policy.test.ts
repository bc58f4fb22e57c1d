import { describe, expect, it } from 'vitest';
import { COMMON_PASSWORDS_TEXT } from './common-passwords';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, checkPassword, commonPasswordCount, type PasswordContext } from './password-policy';

const codes = (password: string, context?: PasswordContext) => checkPassword(password, context).map((e) => e.code);

describe('length', () => {
  it(`needs at least ${PASSWORD_MIN_LENGTH} characters`, () => {
    expect(PASSWORD_MIN_LENGTH).toBe(15);
    expect(codes('mauve tulip 42')).toEqual(['too_small']);
    expect(codes('mauve tulip 421')).toEqual([]);
  });

  it(`allows at most ${PASSWORD_MAX_LENGTH} characters`, () => {
    const words = 'mauve tulip orbit velvet canyon 42 ';
    const long = words.repeat(4).slice(0, PASSWORD_MAX_LENGTH - 1) + 'z';
    expect(codes(long)).toEqual([]);
    expect(codes(long + 'q')).toEqual(['too_big']);
  });

  it('counts Unicode code points after NFKC, not UTF-16 units', () => {
    const emoji = '😀🎉🚀🌍🍕🎸🐱🌈🔥💡📚🎯🧩🌵🦊'; // 15 code points, 30 UTF-16 units
    expect(codes(emoji)).toEqual([]);
    expect(codes(emoji.slice(0, -2))).toEqual(['too_small']);
    // U+FB01 (the "fi" ligature) is two characters once normalised.
    expect(codes('\uFB01eld mauve tulip')).toEqual([]);
  });

  it('reports the given path, body.password by default', () => {
    expect(checkPassword('short')).toEqual([{ path: 'body.password', code: 'too_small', message: expect.stringContaining('15') }]);
    expect(checkPassword('short', { path: 'body.newPassword' })[0]?.path).toBe('body.newPassword');
  });
});

describe('common passwords', () => {
  it('has at least the top 10,000, most common first', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(10_000);
    const first = COMMON_PASSWORDS_TEXT.split('\n').slice(0, 6);
    expect(first).toEqual(['123456', 'password', '12345678', 'qwerty', '123456789', '12345']);
  });

  it.each(['passwordpassword', '1qaz2wsx3edc4rfv', 'QAZWSXEDCRFVTGB', 'PassWordPassWord'])('refuses %s, in any case', (pw) => {
    expect(codes(pw)).toEqual(['common_password']);
  });

  it.each([
    'Password2024!!!!',
    '2024Password!!!',
    'iloveyou12345678',
    'Dragon!!!!!!!!!!!',
    'qwertyuiop12345',
    'qwerty123456789!!!',
    'monkeymonkeymonkey',
  ])('refuses %s, a common password padded with digits or symbols, or repeated', (pw) => {
    expect(codes(pw)).toEqual(['common_password']);
  });

  it.each(['correct horse battery staple', 'mauve-tulip-orbit-42', 'Tr0ub4dor&3-is-old', 'gallium tallish rally', 'password manager generated: 9fK2#qLm'])(
    'accepts %s',
    (pw) => {
      expect(codes(pw)).toEqual([]);
    },
  );
});

describe('predictable passwords', () => {
  it.each(['aaaaaaaaaaaaaaa', '!!!!!!!!!!!!!!!!', 'abcdefghijklmnop', 'ponmlkjihgfedcba', '123456789012345', '98765432109876543', 'aaaaaaabbbbbbbbb', 'xyzwxyzwxyzwxyzw'])(
    'refuses %s',
    (pw) => {
      expect(codes(pw)).toEqual(['predictable_password']);
    },
  );
});

describe('personal information', () => {
  it('refuses the email address itself', () => {
    expect(codes('jane.doe@example.com', { email: 'jane.doe@example.com' })).toEqual(['contains_email']);
    expect(codes('Jane.Doe@Example.com', { email: 'jane.doe@example.com' })).toEqual(['contains_email']);
  });

  it('refuses passwords containing the local part, with or without its +tag and separators', () => {
    const email = 'jane.doe+shop@example.com';
    expect(codes('JaneDoe-loves-hiking', { email })).toEqual(['contains_email']);
    expect(codes('hiking with jane_doe!', { email })).toEqual(['contains_email']);
    expect(codes('mysecretshopping', { email: 'shop@example.com' })).toEqual(['contains_email']);
    expect(codes('mauve tulip orbit 42', { email })).toEqual([]);
  });

  it('only refuses a local part shorter than 4 characters as the whole password', () => {
    expect(codes('always-algebraic-alps', { email: 'al@example.com' })).toEqual([]);
    expect(codes('the-secret-garden-09', { email: 'the+garden@example.com' })).toEqual([]);
  });

  it('refuses passwords containing a word of the name', () => {
    expect(codes('jane-loves-hiking-trails', { name: 'Jane Doe' })).toEqual(['contains_name']);
    expect(codes('hiking trails with DOE', { name: 'Jane Doe' })).toEqual([]);
    expect(codes('hiking trails with Dorian', { name: 'Dorian Gray' })).toEqual(['contains_name']);
    expect(codes('gallium tallish rally', { name: 'Al Li' })).toEqual([]);
    expect(codes('!!!!!!!!!!!!!!! mauve', { name: '--' })).toEqual([]);
  });

  it('reports personal information alongside a common or predictable password', () => {
    expect(codes('dorian!!!!!!!!!!', { name: 'Dorian' })).toEqual(['common_password', 'contains_name']);
  });
});
