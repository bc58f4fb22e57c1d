import { DurableObject } from 'cloudflare:workers';

/** Placeholder until the sliding-window limiter lands. */
export class RateLimiterDurableObject extends DurableObject<Env> {}
