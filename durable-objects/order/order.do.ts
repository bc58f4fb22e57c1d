import { DurableObject } from 'cloudflare:workers';

/** One order's checkout saga (issue 7). Skeleton: filled in by the orders work. */
export class OrderDurableObject extends DurableObject<Env> {}
