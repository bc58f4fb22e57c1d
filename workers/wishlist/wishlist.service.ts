import type { AnyDb, HttpDb } from '../../shared/db/client';
import type { EventEnvelope } from '../../shared/events';
import { consumeOnce } from '../../shared/events/consume-once';
import { selfUserId } from '../../shared/http/authorize';
import type { RequestMeta } from '../../shared/http/context';
import { AppError } from '../../shared/kernel/app-error';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import * as repo from './wishlist.repo';
import type { WishlistAccountsPort, WishlistCartPort, WishlistCatalogPort } from './wishlist.ports';
import type { AddWishlistBody, MoveToCartBody, WishlistItem, WishlistPage, WishlistQuery } from './wishlist.schemas';

/** Most items one wishlist holds. */
export const WISHLIST_MAX_ITEMS = 500;
export const WISHLIST_ERASURE_CONSUMER = 'wishlist.erase-user';

/** A token that outlived its account (erased): as /v1/me answers it (workers/auth/service/me.ts). */
const accountGone = () => new AppError('UNAUTHENTICATED', 'This account is no longer active', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });

/**
 * A refused move whose entry could not be put back (other saves filled the wishlist meanwhile):
 * the refusal as it was, plus a field error saying where the entry went.
 */
function notPutBack(e: unknown, productId: string): AppError {
  const lost = { path: 'wishlist', code: 'wishlist_full', message: `'${productId}' was taken off your wishlist and could not be put back: it holds ${WISHLIST_MAX_ITEMS} items now` };
  if (e instanceof AppError) return new AppError(e.code, e.message, { errors: [...(e.errors ?? []), lost], headers: e.headers, cause: e });
  return new AppError('DEPENDENCY_UNAVAILABLE', 'The cart could not be reached', { errors: [lost], cause: e });
}

export interface WishlistDeps {
  readDb: () => AnyDb | HttpDb;
  writeDb: () => AnyDb;
  catalog: WishlistCatalogPort;
  cart: WishlistCartPort;
  accounts: WishlistAccountsPort;
}

/** The signed-in user's wishlist (Postgres `wishlist_items`), scoped by owner in every query. */
export function makeWishlistService(deps: WishlistDeps) {
  /**
   * Identity's word on the account, read after a write committed (never inside the write's
   * transaction: on PGlite that waits on itself). The erasure sets the status in its own transaction
   * before its event, and its consumer deletes under the same per-user lock as the writes: a write
   * that reads the account active is deleted by that consumer later; one that reads it erased
   * deletes what it wrote.
   */
  const erased = async (userId: string) => (await deps.accounts.accountStatus(userId)) === 'erased';
  /** After a write committed: an account erased by now keeps nothing (see `erased`), and the caller is refused. */
  async function forgetIfErased(userId: string): Promise<void> {
    if (!(await erased(userId))) return;
    await repo.deleteAllOf(deps.writeDb(), userId);
    throw accountGone();
  }
  async function toItem(row: repo.WishlistRow): Promise<WishlistItem> {
    const product = await deps.catalog.product(row.productId);
    // The lowest price of what is for sale (a variant priced 0 is not: docs/cart.md, "sellable").
    const cheapest = product?.variants.filter((v) => v.sku && v.price.amount > 0).reduce<{ amount: number; currency: string } | null>((m, v) => (m === null || v.price.amount < m.amount ? v.price : m), null) ?? null;
    return {
      productId: row.productId,
      variantId: row.variantId,
      addedAt: row.createdAt.toISOString(),
      product: product && cheapest ? { name: product.name, price: cheapest } : null,
    };
  }

  async function sellable(productId: string, variantId: string | undefined) {
    const product = await deps.catalog.product(productId);
    if (!product) throw new AppError('PRODUCT_NOT_FOUND', `There is no product '${productId}' for sale`, { errors: [{ path: 'body.productId', message: 'no such product' }] });
    if (variantId && !product.variants.some((v) => v.id === variantId)) {
      throw new AppError('VARIANT_NOT_FOUND', `Product '${productId}' has no variant '${variantId}'`, { errors: [{ path: 'body.variantId', message: 'no such variant of this product' }] });
    }
  }

  return {
    async list(q: WishlistQuery, meta: RequestMeta): Promise<WishlistPage> {
      const userId = selfUserId(meta);
      const fp = fingerprint({ wishlist: userId });
      const after = q.cursor ? decodeCursor<{ t: string; p: string }>(q.cursor, fp, { t: 'time', p: 'string' }) : undefined;
      const afterPos = after ? { createdAt: new Date(after.t), productId: after.p } : undefined;
      const rows = await repo.itemsOf(deps.readDb(), userId, q.limit, afterPos);
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        items: await Promise.all(page.map(toItem)),
        nextCursor: rows.length > q.limit && last ? encodeCursor({ t: last.createdAt.toISOString(), p: last.productId }, fp) : null,
      };
    },

    /** GDPR export: every entry of the user (at most WISHLIST_MAX_ITEMS), newest first. */
    async allOf(userId: string): Promise<WishlistItem[]> {
      const rows = await repo.itemsOf(deps.readDb(), userId, WISHLIST_MAX_ITEMS);
      return Promise.all(rows.slice(0, WISHLIST_MAX_ITEMS).map(toItem));
    },

    /**
     * Saves a product (again: updates the variant, 200). Unknown or unsold products are refused.
     * One transaction under the user's lock: the count against WISHLIST_MAX_ITEMS and the insert
     * are not interleaved with another save (until 0.3.14 saves at once went past the limit), and
     * an erased account is refused (401, as /v1/me: a token still accepted somewhere after the
     * erasure must not put a row back).
     */
    async add(body: AddWishlistBody, meta: RequestMeta): Promise<{ item: WishlistItem; created: boolean }> {
      const userId = selfUserId(meta);
      await sellable(body.productId, body.variantId);
      const { row, created } = await deps.writeDb().transaction(async (tx) => {
        await repo.lockUser(tx, userId);
        const existing = await repo.findItem(tx, userId, body.productId);
        if (!existing && (await repo.countOf(tx, userId)) >= WISHLIST_MAX_ITEMS) {
          throw new AppError('UNPROCESSABLE', `A wishlist holds at most ${WISHLIST_MAX_ITEMS} items`);
        }
        return repo.upsertItem(tx, userId, body.productId, body.variantId ?? null, existing);
      });
      await forgetIfErased(userId);
      return { item: await toItem(row), created };
    },

    async remove(productId: string, meta: RequestMeta): Promise<void> {
      const userId = selfUserId(meta);
      if (!(await repo.deleteItem(deps.writeDb(), userId, productId))) throw new AppError('NOT_FOUND', `Product '${productId}' is not in your wishlist`);
    },

    /**
     * Moves an item to the user's cart. The entry is taken off the wishlist first, so of the same
     * move sent several times at once (a double click) one moves it and the others answer 404;
     * then it is added to the cart (which checks variant, stock and limits). A refusal, or any
     * failure, puts the entry back as it was, and the refusal passes through.
     *
     * The put-back is a save: under the user's lock and the WISHLIST_MAX_ITEMS count (0.3.15;
     * before, an entry put back after other saves filled the freed place made 501). If those saves
     * did fill it, the entry is not put back, and the answer says so: the refusal keeps its code,
     * with an `errors` entry `{ path: 'wishlist', code: 'wishlist_full' }` (a failure that is not
     * a refusal becomes 503 DEPENDENCY_UNAVAILABLE with that entry). Never lost silently.
     */
    async moveToCart(productId: string, body: MoveToCartBody, meta: RequestMeta): Promise<unknown> {
      const userId = selfUserId(meta);
      // An erased account (its token not yet refused everywhere) moves nothing (the cart refuses it
      // too; an entry put back after the erasure is deleted again: forgetIfErased).
      if (await erased(userId)) throw accountGone();
      const entry = await repo.takeItem(deps.writeDb(), userId, productId);
      if (!entry) throw new AppError('NOT_FOUND', `Product '${productId}' is not in your wishlist`);
      try {
        return await deps.cart.addToMyCart(userId, { productId, variantId: body.variantId, quantity: body.quantity });
      } catch (e) {
        const restored = await repo.restoreItem(deps.writeDb(), entry, WISHLIST_MAX_ITEMS);
        await forgetIfErased(userId);
        if (restored === 'full') throw notPutBack(e, productId);
        throw e;
      }
    },

    /** user.erased: every wishlist row of the user, once per event. */
    async eraseUser(event: EventEnvelope<{ userId: string }>): Promise<{ processed: boolean; deleted: number }> {
      // Under the user's lock: a save or a restore in flight commits its row before this delete.
      const r = await consumeOnce(deps.writeDb(), WISHLIST_ERASURE_CONSUMER, event.id, async (tx) => {
        await repo.lockUser(tx, event.data.userId);
        return repo.deleteAllOf(tx, event.data.userId);
      });
      return r.processed ? { processed: true, deleted: r.value } : { processed: false, deleted: 0 };
    },
  };
}

export type WishlistService = ReturnType<typeof makeWishlistService>;
