import { piiAad } from '../../../shared/crypto/field-cipher';
import type { Role } from '../../../shared/kernel/roles';
import type { AddressRow, ClientRow, UserRow } from '../auth.repo';
import { AddressFieldsSchema, type Address, type AdminUser, type Client, type User } from '../auth.schemas';
import type { AuthDeps } from './deps';

export const phoneAad = (userId: string) => piiAad('users', userId, 'phone');
export const addressAad = (userId: string, addressId: string) => piiAad('users', userId, 'addresses', addressId, 'address');

export async function toUser(row: UserRow, deps: AuthDeps): Promise<User> {
  return {
    id: row.id,
    email: row.email ?? '',
    name: row.name,
    phone: row.phoneEnc ? await deps.cipher().decrypt(row.phoneEnc, phoneAad(row.id)) : null,
    roles: row.roles as Role[],
    warehouseIds: row.warehouseIds,
    storeId: row.storeId,
    marketingOptIn: row.marketingOptIn,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function toAdminUser(row: UserRow, deps: AuthDeps): Promise<AdminUser> {
  const user = await toUser(row, deps);
  return { ...user, email: row.email, status: row.status as AdminUser['status'], lastLoginAt: row.lastLoginAt?.toISOString() ?? null };
}

export async function toAddress(row: AddressRow, deps: AuthDeps): Promise<Address> {
  const fields = await deps.cipher().decryptJson(row.dataEnc, addressAad(row.userId, row.id), AddressFieldsSchema);
  return { id: row.id, ...fields, isDefault: row.isDefault, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

export function toClient(row: ClientRow): Client {
  return {
    id: row.id,
    name: row.name,
    roles: row.roles as Role[],
    scopes: row.scopes,
    warehouseIds: row.warehouseIds,
    storeId: row.storeId,
    tokenTtlSeconds: row.tokenTtlSeconds,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}
