import { recordAudit } from '../../../shared/audit/audit';
import type { RequestMeta } from '../../../shared/http/context';
import { AppError, notFound, type FieldError } from '../../../shared/kernel/app-error';
import { toBase64Url } from '../../../shared/kernel/base64';
import { newId } from '../../../shared/kernel/ids';
import * as repo from '../auth.repo';
import type { Client, CreateClientInput, CreatedClient } from '../auth.schemas';
import { CLIENT_SECRET_PREFIX, hashClientSecret } from './client-token';
import type { AuthDeps } from './deps';
import { revokeTokens } from './authenticate';
import { toClient } from './mappers';

/** A new machine client; its secret is in this answer only (the database keeps a hash). */
export async function createClient(input: CreateClientInput, meta: RequestMeta, deps: AuthDeps): Promise<CreatedClient> {
  const scopes = [...new Set(input.scopes ?? [])];
  const warehouseIds = [...new Set(input.warehouseIds ?? [])];
  const storeId = input.storeId ?? null;
  const errors: FieldError[] = [];
  if (input.role === 'integration' && scopes.length === 0) errors.push({ path: 'body.scopes', message: 'An integration needs at least one scope' });
  if (input.role === 'warehouse_staff' && warehouseIds.length === 0) errors.push({ path: 'body.warehouseIds', message: 'warehouse_staff needs at least one warehouse' });
  if (input.role !== 'warehouse_staff' && warehouseIds.length > 0) errors.push({ path: 'body.warehouseIds', message: 'Only warehouse_staff is bound to warehouses' });
  if (input.role === 'pos_agent' && !storeId) errors.push({ path: 'body.storeId', message: 'pos_agent needs a store' });
  if (input.role !== 'pos_agent' && storeId) errors.push({ path: 'body.storeId', message: 'Only pos_agent is bound to a store' });
  if (errors.length) throw new AppError('VALIDATION_FAILED', 'The client cannot hold these grants', { errors });

  const now = deps.clock.now();
  const secret = CLIENT_SECRET_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const row: repo.ClientRow = {
    id: newId('client', now.getTime()),
    name: input.name,
    secretHash: hashClientSecret(secret),
    roles: [input.role],
    scopes,
    warehouseIds,
    storeId,
    createdBy: meta.actor?.id ?? null,
    createdAt: now,
    revokedAt: null,
    lastUsedAt: null,
    tokenTtlSeconds: input.tokenTtlSeconds ?? 900,
  };
  await deps.writeDb().transaction(async (tx) => {
    const known = await repo.existingWarehouses(tx, warehouseIds);
    const missing: FieldError[] = warehouseIds.filter((w) => !known.has(w)).map((w) => ({ path: 'body.warehouseIds', message: `No warehouse '${w}'` }));
    if (storeId && !(await repo.storeExists(tx, storeId))) missing.push({ path: 'body.storeId', message: `No store '${storeId}'` });
    if (missing.length) throw new AppError('UNPROCESSABLE', 'The client is bound to places that do not exist', { errors: missing });
    await repo.insertClient(tx, row);
    await recordAudit(
      tx,
      { action: 'client.created', outcome: 'success', target: { kind: 'client', id: row.id }, data: { name: row.name, roles: row.roles, scopes, warehouseIds, storeId } },
      meta,
      now,
    );
  });
  return { ...toClient(row), clientSecret: secret };
}

export async function listClients(deps: AuthDeps): Promise<{ items: Client[] }> {
  return { items: (await repo.listClients(deps.readDb())).map(toClient) };
}

/**
 * Revocation is immediate for new tokens, and for tokens already issued through the revocation
 * list (within its reach: see authenticate.ts); without one they run out within their TTL.
 */
export async function revokeClient(id: string, meta: RequestMeta, deps: AuthDeps): Promise<Client> {
  const now = deps.clock.now();
  const row = await deps.writeDb().transaction(async (tx) => {
    const before = await repo.clientById(tx, id);
    if (!before) throw notFound('Client', id);
    const after = await repo.revokeClient(tx, id, now);
    if (!before.revokedAt) await recordAudit(tx, { action: 'client.revoked', outcome: 'success', target: { kind: 'client', id } }, meta, now);
    return after!;
  });
  await revokeTokens(deps, id, now, row.tokenTtlSeconds + 60);
  return toClient(row);
}
