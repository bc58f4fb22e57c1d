/**
 * Prefixed, time-sortable, unguessable ids: `<prefix>_<26 chars>`.
 * 10 chars of millisecond time + 16 chars of randomness in Crockford base32, so ids sort
 * by creation time and cannot be enumerated.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const ID_PREFIXES = {
  product: 'prd',
  variant: 'var',
  category: 'cat',
  brand: 'brd',
  warehouse: 'wh',
  user: 'usr',
  order: 'ord',
  event: 'evt',
  request: 'req',
  address: 'adr',
  client: 'cli',
  store: 'sto',
  session: 'ses',
  refreshToken: 'rtk',
  audit: 'aud',
  deadLetter: 'dlt',
  cart: 'crt',
  cartItem: 'itm',
  paymentAttempt: 'pat',
  refund: 'rfd',
  paymentWebhookEvent: 'pwe',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = '';
  for (const b of bytes) rand += ALPHABET[b & 31];
  return `${ID_PREFIXES[kind]}_${time}${rand}`;
}

const ID_BODY = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** True when `value` has the shape of an id of this kind (it may still not exist). */
export function isId(kind: IdKind, value: string): boolean {
  const prefix = `${ID_PREFIXES[kind]}_`;
  return value.startsWith(prefix) && ID_BODY.test(value.slice(prefix.length));
}
