import { DEFAULT_DEV_CLIENT_SECRET, DEFAULT_DEV_PASSWORD, DEV_IDS } from '../../scripts/dev-accounts';
import { json } from './http';

/** Identity helpers for route tests (run inside workerd). */
export { DEV_IDS };
export const DEV_PASSWORD = DEFAULT_DEV_PASSWORD;
export const DEV_CLIENT = { id: DEV_IDS.posClient, secret: DEFAULT_DEV_CLIENT_SECRET };

/** A random IPv4 in TEST-NET-3 plus a counter, so each test spends its own rate-limit budget. */
let ipSeq = 0;
export function freshIp(): string {
  ipSeq = (ipSeq + 1) % 250;
  const r = crypto.getRandomValues(new Uint8Array(2));
  return `10.${r[0]}.${r[1]}.${ipSeq + 1}`;
}

export function jsonInit(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, headers: { 'content-type': 'application/json', 'cf-connecting-ip': freshIp(), ...headers }, body: JSON.stringify(body) };
}

export const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });

export interface SessionBody {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  refreshTokenExpiresAt: string;
  user: { id: string; email: string; roles: string[]; warehouseIds: string[]; storeId: string | null; name: string | null; phone: string | null };
}

export async function login(email: string, password = DEV_PASSWORD): Promise<SessionBody> {
  const { res, body } = await json<SessionBody>('/v1/auth/login', jsonInit('POST', { email, password }));
  if (res.status !== 200) throw new Error(`login ${email} → ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export const STRONG_PASSWORD = 'violet tugboat marmalade 42';

/** A brand-new customer, signed in. */
export async function newCustomer(name = 'Test Shopper'): Promise<SessionBody & { email: string; password: string }> {
  const email = `t-${crypto.randomUUID()}@example.com`;
  const { res, body } = await json<SessionBody>('/v1/auth/register', jsonInit('POST', { email, password: STRONG_PASSWORD, name }));
  if (res.status !== 201) throw new Error(`register → ${res.status} ${JSON.stringify(body)}`);
  return { ...body, email, password: STRONG_PASSWORD };
}
