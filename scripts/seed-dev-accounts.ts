/**
 * Development and test accounts: one per role a person can hold (customer, admin,
 * warehouse_staff, pos_agent; none for the client-only role integration), two stores
 * (AMS-FLAGSHIP, BLR-MG-ROAD), and one POS client (README "Quick start"). Idempotent: a second
 * run resets the same accounts to the current password. Refuses to run when APP_ENV is production.
 *
 *   DATABASE_URL=postgres://... npx tsx scripts/seed-dev-accounts.ts
 */
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { oauthClients, stores, users, warehouses } from '../shared/db/schema/index.ts';
import { hashPassword } from '../workers/auth/password/password-hash.ts';
import { hashRefreshToken } from '../workers/auth/tokens/refresh-token.ts';
import { DEFAULT_DEV_CLIENT_SECRET, DEFAULT_DEV_PASSWORD, DEV_IDS } from './dev-accounts.ts';

export { DEFAULT_DEV_CLIENT_SECRET, DEFAULT_DEV_PASSWORD, DEV_IDS };

export interface DevAccounts {
  password: string;
  accounts: { email: string; role: string; id: string; note: string }[];
  posClient: { id: string; secret: string; storeId: string };
  stores: { id: string; code: string; warehouseId: string }[];
}

export async function seedDevAccounts(
  databaseUrl: string,
  opts: { password?: string; clientSecret?: string; appEnv?: string } = {},
): Promise<DevAccounts> {
  if ((opts.appEnv ?? process.env.APP_ENV) === 'production') throw new Error('Development accounts are never seeded in production');
  const password = opts.password ?? DEFAULT_DEV_PASSWORD;
  const clientSecret = opts.clientSecret ?? DEFAULT_DEV_CLIENT_SECRET;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const db = drizzle(client);
    const byCode = new Map((await db.select({ id: warehouses.id, code: warehouses.code }).from(warehouses)).map((w) => [w.code, w.id]));
    const ams = byCode.get('AMS1');
    const blr = byCode.get('BLR1');
    if (!ams || !blr) throw new Error('Seed the catalog (warehouses AMS1 and BLR1) before the development accounts');
    const storeRows = [
      { id: DEV_IDS.store, code: 'AMS-FLAGSHIP', name: 'Amsterdam flagship store', warehouseId: ams },
      { id: DEV_IDS.store2, code: 'BLR-MG-ROAD', name: 'Bengaluru MG Road store', warehouseId: blr },
    ];
    const hash = await hashPassword(password);
    const now = new Date();
    const people = [
      { id: DEV_IDS.admin, email: 'admin@agora.dev', name: 'Ada Admin', roles: ['admin'], warehouseIds: [], storeId: null, note: 'admin' },
      { id: DEV_IDS.staff, email: 'staff@agora.dev', name: 'Sam Staff', roles: ['warehouse_staff'], warehouseIds: [ams], storeId: null, note: `warehouse_staff at AMS1 (${ams})` },
      { id: DEV_IDS.pos, email: 'pos@agora.dev', name: 'Pat POS', roles: ['pos_agent'], warehouseIds: [], storeId: DEV_IDS.store, note: `pos_agent at AMS-FLAGSHIP (${DEV_IDS.store})` },
      { id: DEV_IDS.shopper, email: 'shopper@agora.dev', name: 'Shay Shopper', roles: ['customer'], warehouseIds: [], storeId: null, note: 'customer' },
    ];
    await db.transaction(async (tx) => {
      await tx.insert(stores).values(storeRows).onConflictDoNothing();
      for (const p of people) {
        const { note: _note, ...row } = p;
        await tx
          .insert(users)
          .values({ ...row, passwordHash: hash, status: 'active', createdAt: now, updatedAt: now, passwordChangedAt: now })
          .onConflictDoUpdate({
            target: users.id,
            set: { email: row.email, passwordHash: hash, roles: row.roles, warehouseIds: row.warehouseIds, storeId: row.storeId, status: 'active', erasedAt: null, updatedAt: now },
          });
      }
      await tx
        .insert(oauthClients)
        .values({ id: DEV_IDS.posClient, name: 'Dev POS terminal (AMS-FLAGSHIP till 1)', secretHash: hashRefreshToken(clientSecret), roles: ['pos_agent'], scopes: [], storeId: DEV_IDS.store, createdAt: now })
        .onConflictDoUpdate({ target: oauthClients.id, set: { secretHash: hashRefreshToken(clientSecret), revokedAt: sql`null` } });
    });
    return {
      password,
      accounts: people.map((p) => ({ email: p.email, role: p.roles.join(','), id: p.id, note: p.note })),
      posClient: { id: DEV_IDS.posClient, secret: clientSecret, storeId: DEV_IDS.store },
      stores: storeRows.map((s) => ({ id: s.id, code: s.code, warehouseId: s.warehouseId })),
    };
  } finally {
    await client.end();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is not set');
    process.exit(2);
  }
  const seeded = await seedDevAccounts(url, { password: process.env.AGORA_DEV_PASSWORD, clientSecret: process.env.AGORA_DEV_CLIENT_SECRET });
  for (const a of seeded.accounts) console.log(`${a.email}  ${a.note}`);
  console.log(`POS client ${seeded.posClient.id} / ${seeded.posClient.secret}`);
}
