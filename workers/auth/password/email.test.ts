import { describe, expect, it } from 'vitest';
import { emailLocalPart, normaliseEmail } from './email';

describe('normaliseEmail: accepted addresses', () => {
  it.each([
    ['  Jane.Doe@Example.COM \n', 'jane.doe@example.com'],
    ['JANE@EXAMPLE.COM', 'jane@example.com'],
    ['user@sub.example.co.uk', 'user@sub.example.co.uk'],
    ["o'brien-smith_1!#$%&*/=?^`{|}~@example.org", "o'brien-smith_1!#$%&*/=?^`{|}~@example.org"],
    ['a@b.co', 'a@b.co'],
  ])('%j → %s', (raw, expected) => {
    expect(normaliseEmail(raw)).toBe(expected);
  });

  it('keeps dots and +tags, which only some providers ignore', () => {
    expect(normaliseEmail('J.a.n.e+Shop@gmail.com')).toBe('j.a.n.e+shop@gmail.com');
    expect(normaliseEmail('jane+a@example.com')).not.toBe(normaliseEmail('jane+b@example.com'));
    expect(normaliseEmail('jane.doe@example.com')).not.toBe(normaliseEmail('janedoe@example.com'));
  });

  it('converts internationalised domains to punycode, whatever their case or composition', () => {
    expect(normaliseEmail('user@bücher.de')).toBe('user@xn--bcher-kva.de');
    expect(normaliseEmail('user@BÜCHER.de')).toBe('user@xn--bcher-kva.de');
    expect(normaliseEmail('user@bu\u0308cher.de')).toBe('user@xn--bcher-kva.de');
    expect(normaliseEmail('user@xn--bcher-kva.de')).toBe('user@xn--bcher-kva.de');
    expect(normaliseEmail('user@例え.jp')).toMatch(/^user@xn--[a-z0-9-]+\.jp$/);
  });

  it('accepts the longest local part and address, one over each is refused', () => {
    const local64 = 'a'.repeat(64);
    expect(normaliseEmail(`${local64}@example.com`)).toBe(`${local64}@example.com`);
    expect(normaliseEmail(`${local64}a@example.com`)).toBeNull();
    const domain = `${['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63)].join('.')}.${'d'.repeat(40)}.com`;
    const local = 'x'.repeat(254 - 1 - domain.length);
    expect(normaliseEmail(`${local}@${domain}`)).toHaveLength(254);
    expect(normaliseEmail(`${local}y@${domain}`)).toBeNull();
  });
});

describe('normaliseEmail: refused', () => {
  it.each([
    '',
    '   ',
    'plain',
    '@example.com',
    'jane@',
    'jane@example',
    'jane@localhost',
    'jane@1.2.3.4',
    'jane@0x7f.1',
    'jane@[1.2.3.4]',
    'jane@example.com.',
    'jane@.example.com',
    'jane@example..com',
    'jane@-example.com',
    'jane@example-.com',
    'jane@exa_mple.com',
    'jane@exa mple.com',
    'jane@example.com/path',
    'jane@example.com:25',
    'jane@example.com?x=1',
    'jane@example.com#x',
    'jane@ex%61mple.com',
    'ja ne@example.com',
    'jane@doe@example.com',
    '"jane doe"@example.com',
    'jane(comment)@example.com',
    '.jane@example.com',
    'jane.@example.com',
    'ja..ne@example.com',
    'jäne@example.com',
    'jane@' + 'a'.repeat(64) + '.com',
  ])('%j', (raw) => {
    expect(normaliseEmail(raw)).toBeNull();
  });
});

describe('emailLocalPart', () => {
  it('is everything before the last @', () => {
    expect(emailLocalPart('jane.doe+x@example.com')).toBe('jane.doe+x');
    expect(emailLocalPart('no-at-sign')).toBe('');
  });
});
