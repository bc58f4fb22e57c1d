import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { warehouses } from './inventory';

/**
 * Identity context: accounts, login sessions (refresh-token families), machine clients, stores
 * (what a POS agent is bound to). PII columns end in `_enc` (AES-GCM envelopes from
 * shared/crypto) and are never read without the row's AAD.
 */
export const stores = pgTable(
  'stores',
  {
    id: text('id').primaryKey(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    /** The warehouse a store sells from (its back room). */
    warehouseId: text('warehouse_id')
      .notNull()
      .references(() => warehouses.id, { onDelete: 'restrict' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('stores_code_uq').on(t.code)],
);

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** Normalised email; NULL once the account is erased. */
    email: text('email'),
    /** PHC string (algorithm and parameters inside); NULL once erased. */
    passwordHash: text('password_hash'),
    name: text('name'),
    /** AES-GCM envelope of the E.164 phone number. */
    phoneEnc: text('phone_enc'),
    roles: text('roles').array().notNull().default(sql`'{customer}'::text[]`),
    warehouseIds: text('warehouse_ids').array().notNull().default(sql`'{}'::text[]`),
    storeId: text('store_id').references(() => stores.id, { onDelete: 'restrict' }),
    /** active | disabled | erased */
    status: text('status').notNull().default('active'),
    marketingOptIn: boolean('marketing_opt_in').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    passwordChangedAt: timestamp('password_changed_at', { withTimezone: true }),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    erasedAt: timestamp('erased_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('users_email_uq').on(t.email),
    index('users_roles_idx').using('gin', t.roles),
    index('users_created_idx').on(t.createdAt, t.id),
    check('users_status_ck', sql`${t.status} in ('active', 'disabled', 'erased')`),
    check('users_erased_ck', sql`(${t.status} = 'erased') = (${t.email} is null)`),
  ],
);

export const userAddresses = pgTable(
  'user_addresses',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** AES-GCM envelope of the whole address as JSON (AAD binds it to user and address id). */
    dataEnc: text('data_enc').notNull(),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('user_addresses_user_idx').on(t.userId, t.createdAt),
    uniqueIndex('user_addresses_default_uq').on(t.userId).where(sql`${t.isDefault}`),
  ],
);

/** One row per refresh token; a family (`family_id`) is one login session. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    /** Hex SHA-256 of the token; the token itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    familyId: text('family_id').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** active | rotated | revoked */
    status: text('status').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    familyExpiresAt: timestamp('family_expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    rotatedAt: timestamp('rotated_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedReason: text('revoked_reason'),
    userAgent: text('user_agent'),
    /**
     * The token this one was rotated into, sealed with the PII field cipher, for the replay grace
     * window only (workers/auth/tokens/README.md, "A retried refresh"): a client whose refresh
     * answer was lost gets the same successor again. Cleared when the successor rotates, when the
     * family is revoked, and by the cron once the window has passed.
     */
    successorSealed: text('successor_sealed'),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_uq').on(t.tokenHash),
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId, t.status),
    check('refresh_tokens_status_ck', sql`${t.status} in ('active', 'rotated', 'revoked')`),
  ],
);

/** OAuth2 clients (client credentials grant): POS devices and integrations. */
export const oauthClients = pgTable(
  'oauth_clients',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    /** Hex SHA-256 of the secret (256 random bits, so a fast hash is enough); shown once at creation. */
    secretHash: text('secret_hash').notNull(),
    roles: text('roles').array().notNull(),
    scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
    warehouseIds: text('warehouse_ids').array().notNull().default(sql`'{}'::text[]`),
    storeId: text('store_id').references(() => stores.id, { onDelete: 'restrict' }),
    createdBy: text('created_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    tokenTtlSeconds: integer('token_ttl_seconds').notNull().default(900),
  },
  (t) => [index('oauth_clients_created_idx').on(t.createdAt, t.id)],
);
