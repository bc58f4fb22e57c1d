import type { RequestMeta } from '../../../shared/http/context';
import { AppError, notFound } from '../../../shared/kernel/app-error';
import { newId } from '../../../shared/kernel/ids';
import * as repo from '../auth.repo';
import type { Address, AddressFields, CreateAddressInput, UpdateAddressInput } from '../auth.schemas';
import type { AuthDeps } from './deps';
import { activeSelf } from './me';
import { addressAad, toAddress } from './mappers';

/** Addresses a user may keep. */
export const MAX_ADDRESSES = 20;

/** Every query is by (owner, id): another user's address id is simply not found. */
export async function listAddresses(meta: RequestMeta, deps: AuthDeps): Promise<{ items: Address[] }> {
  const user = await activeSelf(deps.readDb(), meta);
  const rows = await repo.addressesOf(deps.readDb(), user.id);
  return { items: await Promise.all(rows.map((r) => toAddress(r, deps))) };
}

export async function createAddress(input: CreateAddressInput, meta: RequestMeta, deps: AuthDeps): Promise<Address> {
  const now = deps.clock.now();
  const id = newId('address', now.getTime());
  const { isDefault, ...fields } = input;
  return deps.writeDb().transaction(async (tx) => {
    const user = await activeSelf(tx, meta, { forUpdate: true });
    const count = await repo.countAddresses(tx, user.id);
    if (count >= MAX_ADDRESSES) throw new AppError('CONFLICT', `You can keep at most ${MAX_ADDRESSES} addresses; delete one first`);
    const makeDefault = isDefault === true || count === 0;
    if (makeDefault) await repo.clearDefaultAddress(tx, user.id);
    const dataEnc = await deps.cipher().encryptJson(fields, addressAad(user.id, id));
    const row = { id, userId: user.id, dataEnc, isDefault: makeDefault, createdAt: now, updatedAt: now };
    await repo.insertAddress(tx, row);
    return toAddress(row, deps);
  });
}

export async function updateAddress(id: string, input: UpdateAddressInput, meta: RequestMeta, deps: AuthDeps): Promise<Address> {
  const now = deps.clock.now();
  return deps.writeDb().transaction(async (tx) => {
    const user = await activeSelf(tx, meta, { forUpdate: true });
    const row = await repo.addressOf(tx, user.id, id, { forUpdate: true });
    if (!row) throw notFound('Address', id);
    const current = await toAddress(row, deps);
    const { isDefault, ...changes } = input;
    const merged: Record<string, unknown> = {
      label: current.label,
      name: current.name,
      line1: current.line1,
      line2: current.line2,
      city: current.city,
      region: current.region,
      postalCode: current.postalCode,
      country: current.country,
      phone: current.phone,
    };
    for (const [k, v] of Object.entries(changes)) merged[k] = v === null ? undefined : v;
    for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
    const fields = merged as AddressFields;
    if (isDefault === true && !row.isDefault) await repo.clearDefaultAddress(tx, user.id);
    if (isDefault === false && row.isDefault) throw new AppError('CONFLICT', 'Make another address the default instead of unsetting this one');
    const patch = {
      dataEnc: await deps.cipher().encryptJson(fields, addressAad(user.id, id)),
      isDefault: isDefault ?? row.isDefault,
      updatedAt: now,
    };
    await repo.updateAddress(tx, user.id, id, patch);
    return toAddress({ ...row, ...patch }, deps);
  });
}

export async function deleteAddress(id: string, meta: RequestMeta, deps: AuthDeps): Promise<void> {
  await deps.writeDb().transaction(async (tx) => {
    const user = await activeSelf(tx, meta, { forUpdate: true });
    const row = await repo.addressOf(tx, user.id, id, { forUpdate: true });
    if (!row || !(await repo.deleteAddress(tx, user.id, id))) throw notFound('Address', id);
    if (row.isDefault) {
      // The oldest remaining address becomes the default, so there is one whenever there are any.
      const [next] = await repo.addressesOf(tx, user.id);
      if (next) await repo.updateAddress(tx, user.id, next.id, { isDefault: true });
    }
  });
}
