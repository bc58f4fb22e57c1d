/**
 * The one way to reach cart objects (STYLE rule 6): `cartFor(env, cartId)` for a cart,
 * `userCartPointer(env, userId)` for the object that remembers a user's active cart.
 */
import { cartObjectName, userObjectName } from './cart.logic';
import type { CartDurableObject } from './cart.do';
import { CartId, UserId } from './cart.schemas';

export type CartEnv = Pick<Env, 'CART'>;
export type CartStub = DurableObjectStub<CartDurableObject>;

/** The stub of one cart's object (`cart:<crt_…>`). Throws on a malformed id: validate ids at the edge first. */
export function cartFor(env: CartEnv, cartId: string): CartStub {
  const ns = env.CART;
  return ns.get(ns.idFromName(cartObjectName(CartId.parse(cartId))));
}

/** The stub of a user's pointer object (`user:<usr_…>`), which holds the id of their active cart. */
export function userCartPointer(env: CartEnv, userId: string): CartStub {
  const ns = env.CART;
  return ns.get(ns.idFromName(userObjectName(UserId.parse(userId))));
}
