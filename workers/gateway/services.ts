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
import { loadSigningKeys, makeAuthService, type AuthService } from '../auth';
import { makeEventsService, type EventsService } from '../events';
import { makeInventoryService, type InventoryService } from '../inventory';
import { QueuePublisher } from '../../shared/adapters/events/queue-publisher';
import { DurableObjectRateLimiter } from '../../durable-objects/rate-limiter/rate-limiter.stub';
import { UpstashRateLimiter } from '../../shared/adapters/rate-limit/upstash-rate-limiter';
import { FieldCipher } from '../../shared/crypto/field-cipher';
import type { LogFields } from '../../shared/http/context';
import type { RateLimiter } from '../../shared/ports/rate-limiter';

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
}

// Per-isolate state: caches hold immutable, generation-keyed snapshots (never DB pools).
// 1,000 entries or 8 MiB, whichever comes first (a list page is ~16 KB at limit=20).
const memoryCache = new MemoryCache(1000, 8 * 1024 * 1024);
let generationStore: { key: string; store: GenerationStore } | undefined;

function generations(env: Env, config: Config): GenerationStore {
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

export function buildServices(env: Env, config: Config, waitUntil: (p: Promise<unknown>) => void, log: LogFields = {}): Services {
  const db = new DbProvider(config);
  const publisher = new QueuePublisher(env.EVENTS);
  const catalog = makeCatalogService({
    readDb: () => db.http(),
    writeDb: () => db.pool(),
    cache: cacheLayers(config),
    generations: generations(env, config),
    cacheTtlSeconds: config.CATALOG_CACHE_TTL_SECONDS,
    currency: config.STORE_CURRENCY,
    clock: systemClock,
    background: waitUntil,
  });
  const auth = makeAuthService({
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
      },
    },
    events: publisher,
    log,
  });
  const audit = makeAuditService({ readDb: () => db.http() });
  const events = makeEventsService({ readDb: () => db.http(), writeDb: () => db.pool(), publisher, clock: systemClock });
  const inventory = makeInventoryService({ readDb: () => db.http(), writeDb: () => db.pool(), objects: env });
  return { db, catalog, auth, audit, events, inventory };
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
