/**
 * Email normalisation for identity: the form we store, look accounts up by and compare.
 *
 * - Trimmed, Unicode NFC, at most 254 characters (RFC 5321 path limit).
 * - The whole address is lower-cased, local part included. RFC 5321 lets a server treat the
 *   local part as case-sensitive, but no mainstream provider does, and a case-sensitive key
 *   would let `Ann@x.com` and `ann@x.com` become two accounts (and two password resets).
 * - The domain is converted to ASCII (IDNA/UTS #46 via the WHATWG URL parser, so `bücher.de`
 *   becomes `xn--bcher-kva.de`) and must be a DNS name with at least two labels.
 * - Dots and `+tags` are kept: ignoring them is a rule of some providers (Gmail), not of email;
 *   elsewhere `a.b@` and `ab@` are different people, and a `+tag` is the user's own choice.
 * - Only dot-atom local parts made of ASCII `atext` are accepted: no quoted strings, comments,
 *   IP-literal domains or non-ASCII (SMTPUTF8) local parts, which almost no real shopper has and
 *   which make look-alike addresses easy.
 */
const MAX_ADDRESS = 254;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Characters that would make the URL parser read the domain as something else. */
const NOT_IN_DOMAIN = /[\s/\\?#@:%[\]]/u;

/** The normalised address, or null when `raw` is not an address we accept. */
export function normaliseEmail(raw: string): string | null {
  const address = raw.trim().normalize('NFC');
  if (address.length === 0 || address.length > MAX_ADDRESS * 4) return null;
  const at = address.lastIndexOf('@');
  if (at <= 0) return null;
  const local = address.slice(0, at).toLowerCase();
  const domain = asciiDomain(address.slice(at + 1));
  if (domain === null) return null;
  if (local.length > MAX_LOCAL || !LOCAL_PART.test(local)) return null;
  const normalised = `${local}@${domain}`;
  return normalised.length <= MAX_ADDRESS ? normalised : null;
}

/** The local part of an already normalised address (everything before the last `@`). */
export const emailLocalPart = (email: string): string => email.slice(0, Math.max(0, email.lastIndexOf('@')));

function asciiDomain(raw: string): string | null {
  if (raw.length === 0 || NOT_IN_DOMAIN.test(raw)) return null;
  let host: string;
  try {
    host = new URL(`http://${raw}/`).hostname;
  } catch {
    return null;
  }
  if (host.length > MAX_DOMAIN) return null;
  const labels = host.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  // An all-numeric last label is an IPv4 address (the URL parser also rewrites `0x7f.1` to one).
  return /^[0-9]+$/.test(labels[labels.length - 1]!) ? null : host;
}
