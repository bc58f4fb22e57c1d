import { DurableObject } from 'cloudflare:workers';

/** One shopper's cart (issue 5). Skeleton: filled in by the cart work. */
export class CartDurableObject extends DurableObject<Env> {}
