import { recordAudit } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { fromBase64Lenient } from '../../../shared/kernel/base64';
import type { Role } from '../../../shared/kernel/roles';
import * as repo from '../auth.repo';
import type { TokenResponse } from '../auth.schemas';
import { issueAccessToken } from '../tokens/access-token';
import { constantTimeEqual, hashRefreshToken } from '../tokens/refresh-token';
import type { AuthDeps } from './deps';
import { enforce, RATE_LIMITS } from './rate-limits';

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope' | 'unauthorized_client';

/** An RFC 6749 §5.2 error: the token endpoint answers these as `{ error, error_description }`. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status: 400 | 401 = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export const CLIENT_SECRET_PREFIX = 'cs_';
const CLIENT_ID = /^cli_[0-9a-z]{26}$/;
/** The secret's hash is a plain SHA-256, like refresh tokens: it holds 256 random bits. */
export const hashClientSecret = (secret: string) => hashRefreshToken(secret);

export interface TokenForm {
  grant_type?: string;
  scope?: string;
  client_id?: string;
  client_secret?: string;
}

/**
 * OAuth2 client credentials (RFC 6749 §4.4): client_secret_basic (preferred) or
 * client_secret_post, never both. The token carries the client's role, its store or
 * warehouses, and the granted scopes (all of the client's when `scope` is absent).
 */
export async function clientToken(form: TokenForm, authorization: string | undefined, meta: RequestMeta, deps: AuthDeps): Promise<TokenResponse> {
  const basic = parseBasic(authorization);
  if (basic && (form.client_id !== undefined || form.client_secret !== undefined)) {
    throw new OAuthError('invalid_request', 'Use one client authentication method: HTTP Basic or client_id/client_secret in the body');
  }
  const clientId = basic?.id ?? form.client_id;
  const secret = basic?.secret ?? form.client_secret;
  await enforce(deps, [
    [RATE_LIMITS.tokenIp, meta.ip],
    [RATE_LIMITS.tokenClient, clientId && CLIENT_ID.test(clientId) ? clientId : undefined],
  ]); // a refusal is a 429 problem+json with Retry-After, like every rate limit
  if (form.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
  if (form.grant_type !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', 'Only the client_credentials grant is supported here');
  }
  const challenge: Record<string, string> = basic ? { 'WWW-Authenticate': 'Basic realm="agora", charset="UTF-8"' } : {};
  const badClient = () => new OAuthError('invalid_client', 'Client authentication failed', 401, challenge);
  if (!clientId || !secret) throw badClient();

  const now = deps.clock.now();
  const client = CLIENT_ID.test(clientId) ? await repo.clientById(deps.readDb(), clientId) : undefined;
  // Hash and compare even when there is no such client, so timing does not tell ids apart.
  const expected = client?.secretHash ?? '0'.repeat(64);
  const matches = constantTimeEqual(hashClientSecret(secret), expected);
  if (!client || !matches || client.revokedAt) {
    deps.log.clientFailure = !client ? 'unknown_client' : !matches ? 'wrong_secret' : 'revoked';
    await recordAudit(
      deps.writeDb(),
      {
        action: 'auth.client.failed',
        outcome: 'failure',
        actor: { kind: 'anonymous', id: null },
        target: client ? { kind: 'client', id: client.id } : undefined,
        data: { reason: deps.log.clientFailure },
      },
      meta,
      now,
    );
    throw badClient();
  }

  const requested = form.scope === undefined || form.scope.trim() === '' ? null : form.scope.trim().split(/ +/);
  if (requested) {
    const unknown = requested.filter((s) => !client.scopes.includes(s));
    if (unknown.length) throw new OAuthError('invalid_scope', `This client may not request: ${unknown.join(' ')}`);
  }
  const scopes = requested ? [...new Set(requested)] : client.scopes;
  const roles = client.roles as Role[];
  const issued = await issueAccessToken(
    {
      sub: client.id,
      kind: 'client',
      roles,
      scopes,
      warehouseIds: roles.includes('warehouse_staff') ? client.warehouseIds : [],
      storeId: roles.includes('pos_agent') ? (client.storeId ?? undefined) : undefined,
    },
    { keys: await deps.signingKeys(), issuer: deps.tokens.issuer, audience: deps.tokens.audience, ttlSeconds: client.tokenTtlSeconds, now },
  ).catch((e: unknown) => {
    // A client whose stored grants break the claim rules (e.g. an integration with no scope left).
    if (e instanceof TypeError) throw new OAuthError('invalid_scope', 'This client has no usable scope for the request');
    throw e;
  });
  await repo.touchClient(deps.writeDb(), client.id, now);
  const response: TokenResponse = { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn };
  if (scopes.length) response.scope = scopes.join(' ');
  return response;
}

/** `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1). */
function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]{1,512})\s*$/i.exec(header);
  if (!m) {
    if (/^Basic\b/i.test(header)) throw new OAuthError('invalid_client', 'The Basic credentials are malformed', 401, { 'WWW-Authenticate': 'Basic realm="agora"' });
    return null;
  }
  let decoded: string;
  try {
    const bytes = fromBase64Lenient(m[1]!);
    if (!bytes) throw new TypeError('not base64');
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new OAuthError('invalid_client', 'The Basic credentials are malformed', 401, { 'WWW-Authenticate': 'Basic realm="agora"' });
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'The Basic credentials are malformed', 401, { 'WWW-Authenticate': 'Basic realm="agora"' });
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'The Basic credentials are malformed', 401, { 'WWW-Authenticate': 'Basic realm="agora"' });
  }
}
