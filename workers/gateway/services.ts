import type { Context } from 'hono';
import { EdgeCache } from '../../shared/adapters/cache/edge-cache';
import { KvGenerationStore, MemoGenerationStore } from '../../shared/adapters/cache/kv-generation';
import { MemoryCache } from '../../shared/adapters/cache/memory-cache';
import { upstashClient, UpstashCache, UpstashGenerationStore } from '../../shared/adapters/cache/upstash';
import { DbProvider } from '../../shared/db/client';
import type { Config } from '../../shared/env';
import type { AppEnv } from '../../shared/http/context';
import { systemClock } from '../../shared/kernel/clock';
import type { Cache, GenerationStore } from '../../shared/ports/cache';
import { makeCatalogService, type CatalogService } from '../catalog';
import { makeAuditService, type AuditService } from '../audit';
import { KvRevocationList, loadSigningKeys, makeAuthService, type AuthService } from '../auth';
import { makeEventsService, type EventsService } from '../events';
import { makeInventoryService, projectedAvailable, type InventoryService } from '../inventory';
import { AvailabilityMemo, makeCartService, type CartService } from '../cart';
import { makeWishlistService, type WishlistService } from '../wishlist';
import { DrizzleWebhookEventStore, makePaymentsService, paymentsConfig, type PaymentsService } from '../payments';
import { orderSagaSink } from './payment-events';
import { QueuePublisher } from '../../shared/adapters/events/queue-publisher';
import { EVENTS_QUEUE, ORDER_EVENTS_QUEUE } from './queue-names';
import { DurableObjectRateLimiter } from '../../durable-objects/rate-limiter/rate-limiter.stub';
import { UpstashRateLimiter } from '../../shared/adapters/rate-limit/upstash-rate-limiter';
import { FieldCipher } from '../../shared/crypto/field-cipher';
import type { LogFields } from '../../shared/http/context';
import type { RateLimiter } from '../../shared/ports/rate-limiter';
import { AppError } from '../../shared/kernel/app-error';
import { inventoryFor, shardCount } from '../../durable-objects/inventory/inventory.stub';
import { makeOrdersService, type OrdersService } from '../orders';

/**
 * The composition root: the only place that knows every context and adapter. Contexts get
 * plain dependencies and never import each other.
 */
export interface Services {
  db: DbProvider;
  catalog: CatalogService;
  auth: AuthService;
  audit: AuditService;
  events: EventsService;
  inventory: InventoryService;
  cart: CartService;
  wishlist: WishlistService;
  payments: PaymentsService;
  orders: OrdersService;
}

// Per-isolate state: caches hold immutable, generation-keyed snapshots (never DB pools).
// 1,000 entries or 8 MiB, whichever comes first (a list page is ~16 KB at limit=20).
const memoryCache = new MemoryCache(1000, 8 * 1024 * 1024);
let generationStore: { key: string; store: GenerationStore } | undefined;

/** The catalog cache generations (also bumped by the catalog's stock follower in queues.ts). */
export function generations(env: Env, config: Config): GenerationStore {
  const key = `${config.UPSTASH_REDIS_REST_URL ?? 'kv'}|${config.CATALOG_GENERATION_TTL_MS}`;
  if (generationStore?.key !== key) {
    const inner =
      config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN
        ? new UpstashGenerationStore(upstashClient(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN))
        : new KvGenerationStore(env.CACHE_KV);
    generationStore = { key, store: new MemoGenerationStore(inner, config.CATALOG_GENERATION_TTL_MS) };
  }
  return generationStore.store;
}

function cacheLayers(config: Config): Cache[] {
  const layers: Cache[] = [memoryCache, new EdgeCache(caches.default)];
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    layers.push(new UpstashCache(upstashClient(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN)));
  }
  return layers;
}

let rateLimiter: { key: string; limiter: RateLimiter } | undefined;

/** Upstash (@upstash/ratelimit) when configured, else the Durable Object limiter; null when switched off. */
function rateLimiterFor(env: Env, config: Config): RateLimiter | null {
  if (config.RATE_LIMITS === 'off') return null;
  const key = config.UPSTASH_REDIS_REST_URL ?? 'do';
  if (rateLimiter?.key !== key) {
    const limiter =
      config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN
        ? new UpstashRateLimiter(upstashClient(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN))
        : new DurableObjectRateLimiter(env.RATE_LIMITER);
    rateLimiter = { key, limiter };
  }
  return rateLimiter.limiter;
}

// Shard counts of SKUs, per isolate, trusted for 5 s (a stale count only reserves on fewer shards:
// never an oversell). Saves the order path one inventory round trip per SKU.
const shardCounts = new Map<string, { shards: number; until: number }>();
async function cachedShardCount(env: Env, sku: string): Promise<number> {
  const hit = shardCounts.get(sku);
  if (hit && hit.until > Date.now()) return hit.shards;
  const shards = await shardCount(env, sku);
  if (shardCounts.size > 10_000) shardCounts.clear();
  shardCounts.set(sku, { shards, until: Date.now() + 5000 });
  return shards;
}

/** Add-to-cart availability per isolate, while far above the line limit (workers/cart/availability-memo.ts). */
const availabilityMemo = new AvailabilityMemo();

const lazy = <T>(make: () => T): (() => T) => {
  let value: T | undefined;
  return () => (value ??= make());
};

type ServiceMakers = { [K in Exclude<keyof Services, 'db'>]: () => Services[K] };

/**
 * One request's services, each built on first use. A class, not an object literal with getters:
 * V8 gives every evaluation of a literal with accessors its own hidden class (the accessors are
 * part of it), allocated in the old generation, and that hidden class kept the request's whole
 * service graph through every young-generation collection until the next full one (about 3 KB
 * promoted per request; docs/performance.md, 0.3.8). The getters below exist once, on the prototype.
 */
class RequestServices implements Services {
  constructor(
    readonly db: DbProvider,
    private readonly make: ServiceMakers,
  ) {}
  get catalog() {
    return this.make.catalog();
  }
  get auth() {
    return this.make.auth();
  }
  get audit() {
    return this.make.audit();
  }
  get events() {
    return this.make.events();
  }
  get inventory() {
    return this.make.inventory();
  }
  get payments() {
    return this.make.payments();
  }
  get orders() {
    return this.make.orders();
  }
  get cart() {
    return this.make.cart();
  }
  get wishlist() {
    return this.make.wishlist();
  }
}

export function buildServices(env: Env, config: Config, waitUntil: (p: Promise<unknown>) => void, log: LogFields = {}): Services {
  const db = new DbProvider(config);
  const publisher = new QueuePublisher(env.EVENTS);
  const catalog = lazy(() => makeCatalogService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    cache: cacheLayers(config),
    generations: generations(env, config),
    cacheTtlSeconds: config.CATALOG_CACHE_TTL_SECONDS,
    currency: config.STORE_CURRENCY,
    clock: systemClock,
    background: waitUntil,
    // A SKU added to a product (or put back) starts from the stock inventory's projection holds.
    sellableUnits: projectedAvailable,
  }));
  const auth: () => AuthService = lazy(() => makeAuthService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    signingKeys: () => loadSigningKeys(config.AUTH_SIGNING_KEYS),
    cipher: () => FieldCipher.from(config),
    limiter: rateLimiterFor(env, config),
    clock: systemClock,
    tokens: {
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refresh: {
        idleTtlSeconds: Math.min(config.REFRESH_TOKEN_IDLE_TTL_SECONDS, config.REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS),
        absoluteTtlSeconds: config.REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS,
        replayGraceSeconds: config.REFRESH_TOKEN_REPLAY_GRACE_SECONDS,
      },
    },
    events: publisher,
    log,
    revocations: new KvRevocationList(env.CACHE_KV),
    // Guest cart merge at login (the cart service is built below; called at request time).
    carts: { mergeGuestCart: (guestCartId, userId) => cart().mergeGuestCart(guestCartId, userId) },
    // The personal data export's other parts, each as its own API shows it.
    exportParts: async (userId) => {
      const [active, saved, placed] = await Promise.all([cart().activeCartOf(userId), wishlist().allOf(userId), orders().exportFor(userId)]);
      return { cart: active, wishlist: saved, orders: placed };
    },
  }));
  const audit = lazy(() => makeAuditService({ readDb: () => db.http() }));
  // A redrive goes back to the queue the event failed on (before 0.3.15 every one went to EVENTS,
  // so an order event that failed again was dead-lettered as an agora-events row).
  const events = lazy(() => makeEventsService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    publishers: { [EVENTS_QUEUE]: publisher, [ORDER_EVENTS_QUEUE]: new QueuePublisher(env.ORDER_EVENTS) },
    clock: systemClock,
  }));
  const inventory = lazy(() => makeInventoryService({ readDb: () => db.http(), writeDb: () => db.pool(), objects: env }));
  // Cart and wishlist (docs/cart().md): products from the catalog's caches, availability from inventory.
  const activeProduct = async (id: string) => {
    try {
      return (await catalog().getProduct(id)).value;
    } catch (e) {
      if (e instanceof AppError && e.code === 'NOT_FOUND') return null;
      throw e;
    }
  };
  const cart = lazy(() => makeCartService({
    objects: env,
    catalog: { product: activeProduct },
    stock: {
      // Live from the SKU's inventory object(s), no Postgres on the hot path; a SKU whose object
      // has never held stock goes once through the inventory service, which loads it.
      async available(sku) {
        const home = await inventoryFor(env, sku).availability();
        if (home.stocked) {
          const others = home.shards > 1 ? await Promise.all(Array.from({ length: home.shards - 1 }, (_, i) => inventoryFor(env, sku, i + 1).availability())) : [];
          return others.reduce((sum, v) => sum + v.available, home.available);
        }
        try {
          return (await inventory().availability(sku)).available;
        } catch (e) {
          if (e instanceof AppError && e.code === 'NOT_FOUND') return 0;
          throw e;
        }
      },
    },
    limits: { maxLineQuantity: config.CART_MAX_LINE_QUANTITY, maxUnits: config.CART_MAX_UNITS, maxLines: config.CART_MAX_LINES },
    idleTtlSeconds: config.CART_IDLE_TTL_SECONDS,
    availabilityMemo,
    availabilityMemoMs: config.CART_AVAILABILITY_MEMO_MS,
    log,
  }));
  const wishlist = lazy(() => makeWishlistService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    catalog: { product: activeProduct },
    cart: { addToMyCart: (userId, item) => cart().addToMyCart(userId, item) },
    accounts: { accountStatus: (userId) => auth().accountStatus(userId) },
  }));
  const payments = lazy(() => makePaymentsService({
    config: paymentsConfig(config),
    store: () => new DrizzleWebhookEventStore(() => db.pool()),
    // Verified provider events go to the order's saga object (applied once per event id).
    sink: orderSagaSink((orderId, event) => orders().applyPaymentEvent(orderId, event), log),
    clock: systemClock,
    log,
  }));
  const orders = lazy(() => makeOrdersService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    objects: env,
    catalog: {
      async product(id) {
        try {
          return (await catalog().getProduct(id)).value;
        } catch (e) {
          if (e instanceof AppError && e.code === 'NOT_FOUND') return null;
          throw e;
        }
      },
    },
    stock: { shardCount: (sku) => cachedShardCount(env, sku), distancesTo: (country) => inventory().distancesTo(country) },
    customers: { accountStatus: (userId) => auth().accountStatus(userId) },
    carts: {
      checkoutSnapshot: (cartId, actor) => cart().checkoutSnapshot(cartId, actor),
      markCheckedOut: (cartId, orderId, expectedVersion) => cart().markCheckedOut(cartId, orderId, expectedVersion),
    },
    carrierWebhookSecret: config.CARRIER_WEBHOOK_SECRET ?? null,
    clock: systemClock,
    log,
  }));
  // Each context's service is built on its first use in the request (most requests use one or two).
  return new RequestServices(db, { catalog, auth, audit, events, inventory, payments, orders, cart, wishlist });
}

/** The request's services, built on first use. */
export function services(c: Context<AppEnv>): Services {
  let s = c.get('services') as Services | undefined;
  if (!s) {
    s = buildServices(c.env, c.get('config'), (p) => c.executionCtx.waitUntil(p), c.get('log'));
    c.set('services', s);
  }
  return s;
}
