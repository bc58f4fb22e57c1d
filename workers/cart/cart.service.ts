import { createHash } from 'node:crypto';
import { stableJson, totalsByCurrency } from '../../durable-objects/cart/cart.logic';
import type { CartFailure, CartState, Limits, LineView } from '../../durable-objects/cart/cart.schemas';
import { CartId } from '../../durable-objects/cart/cart.schemas';
import { cartFor, userCartPointer, type CartEnv } from '../../durable-objects/cart/cart.stub';
import type { Actor, RequestMeta } from '../../shared/http/context';
import { AppError } from '../../shared/kernel/app-error';
import { newId } from '../../shared/kernel/ids';
import type { AddItemBody, Cart, CartLine, CheckoutSnapshot, GuestCartMerge, UpdateItemBody } from './cart.schemas';
import type { CartCatalogPort, CartStockPort, CatalogProductView } from './cart.ports';
import { AVAILABILITY_MEMO_MS, type AvailabilityMemo } from './availability-memo';

/** Refusals of a merge's target cart that mean it is no longer the user's open cart (NOT_FOUND: it expired and deleted its storage after it was read). */
const TARGET_GONE: ReadonlySet<string> = new Set(['CHECKED_OUT', 'CLOSED', 'EXPIRED', 'NOT_FOUND']);

export interface CartDeps {
  /** The CART Durable Object namespace. */
  objects: CartEnv;
  catalog: CartCatalogPort;
  stock: CartStockPort;
  limits: Limits;
  idleTtlSeconds: number;
  /** Availability remembered per isolate while far above the line limit (availability-memo.ts); none: every check is live. */
  availabilityMemo?: AvailabilityMemo;
  /** How long the memo keeps a figure, ms (default AVAILABILITY_MEMO_MS; 0: every check is live). */
  availabilityMemoMs?: number;
  /** The request's wide log event. */
  log?: Record<string, unknown>;
}

/** Who the cart sees: a signed-in user by id; anyone else (anonymous, machine clients) reaches guest carts only. */
export const cartActorId = (actor: Pick<Actor, 'kind' | 'id'> | null | undefined): string | null => (actor?.kind === 'user' ? actor.id : null);

/** The memo answers only while the remembered figure is at least this many times the line limit. */
export const MEMO_FLOOR_LINES = 10;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The object's refusals as API errors (docs/cart.md has the table); a stored refusal replayed is marked `Idempotent-Replayed: true`. */
export function cartError(f: CartFailure): AppError {
  const e = refusal(f);
  return f.replayed ? new AppError(e.code, e.message, { errors: e.errors, headers: { ...e.headers, 'Idempotent-Replayed': 'true' } }) : e;
}

/** What a cart's status refuses a write with (null: active). */
function statusRefusal(status: CartState['status']): CartFailure | null {
  if (status === 'active') return null;
  const code = status === 'checked_out' ? 'CHECKED_OUT' : status === 'closed' ? 'CLOSED' : 'EXPIRED';
  return { ok: false, code, message: status };
}

function refusal(f: CartFailure): AppError {
  switch (f.code) {
    case 'NOT_FOUND':
      return new AppError('CART_NOT_FOUND', 'There is no such cart (or it expired)');
    case 'ITEM_NOT_FOUND':
      return new AppError('CART_ITEM_NOT_FOUND', 'The cart has no such item');
    case 'CHECKED_OUT':
      return new AppError('CART_CHECKED_OUT', 'The cart has been checked out; open a new cart');
    case 'CLOSED':
      return new AppError('CART_CLOSED', 'The cart was merged into a signed-in cart and is closed');
    case 'EXPIRED':
      return new AppError('CART_EXPIRED', 'The cart expired after a long time without changes');
    case 'QUANTITY_LIMIT':
      return new AppError('QUANTITY_LIMIT_EXCEEDED', `The cart allows ${f.message}`, {
        errors: [{ path: 'body.quantity', message: f.message, code: f.limit?.name ?? 'limit' }],
      });
    case 'OUT_OF_STOCK':
      return new AppError('OUT_OF_STOCK', 'This item is out of stock');
    case 'INSUFFICIENT_STOCK':
      return new AppError('INSUFFICIENT_STOCK', `Only ${f.available ?? 0} of this item are available`, {
        errors: [{ path: 'body.quantity', message: `only ${f.available ?? 0} available`, code: 'insufficient_stock' }],
      });
    case 'KEY_REUSED':
      return new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request');
    case 'VERSION_MISMATCH':
      return new AppError('CART_VERSION_MISMATCH', `The cart changed since it was read (now at version ${f.version ?? '?'})`);
    case 'INVALID_INPUT':
      return new AppError('VALIDATION_FAILED', 'The cart refused the input', { errors: (f.issues ?? []).map((i) => ({ path: i.path, message: i.message })) });
    case 'ERASED':
      // As /v1/me answers a token that outlived its account (workers/auth/service/me.ts).
      return new AppError('UNAUTHENTICATED', 'This account is no longer active', { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
    default:
      return new AppError('CONFLICT', f.message);
  }
}

function must<R extends { ok: boolean }>(r: R): Exclude<R, { ok: false }> {
  if (!r.ok) throw cartError(r as unknown as CartFailure);
  return r as Exclude<R, { ok: false }>;
}

/**
 * The cart's verbs. Each cart is one Durable Object (durable-objects/cart), which serialises
 * every change and enforces ownership, limits and idempotency; this layer validates against the
 * catalog (cached per isolate) and inventory (availability, nothing reserved) before the call,
 * and renders carts at current prices. No Postgres here.
 */
export function makeCartService(deps: CartDeps) {
  const idleTtlMs = deps.idleTtlSeconds * 1000;
  const memoMs = deps.availabilityMemoMs ?? AVAILABILITY_MEMO_MS;

  /** Units of a SKU available to add: live from inventory, or remembered while far above the line limit. */
  async function availableToAdd(sku: string): Promise<number> {
    const memo = memoMs > 0 ? deps.availabilityMemo : undefined;
    if (!memo) return deps.stock.available(sku);
    const floor = deps.limits.maxLineQuantity * MEMO_FLOOR_LINES;
    const now = Date.now();
    const known = memo.fresh(sku, floor, now);
    if (known !== undefined) return known;
    const live = await deps.stock.available(sku);
    memo.remember(sku, live, floor, now, memoMs);
    return live;
  }

  async function productsOf(ids: Iterable<string>): Promise<Map<string, CatalogProductView | null>> {
    const unique = [...new Set(ids)];
    const found = await Promise.all(unique.map((id) => deps.catalog.product(id)));
    return new Map(unique.map((id, i) => [id, found[i] ?? null]));
  }

  /**
   * Each line at the catalog's price and names now (the names the order will carry); lines whose
   * product or variant is no longer sold keep their snapshot and are flagged.
   */
  async function render(state: CartState): Promise<Cart> {
    const products = await productsOf(state.lines.map((l) => l.productId));
    const lines: CartLine[] = state.lines.map((l) => {
      const product = products.get(l.productId);
      const variant = product?.variants.find((v) => v.id === l.variantId);
      const sellable = product != null && variant !== undefined && variant.price.amount > 0;
      const price = sellable ? variant.price : { amount: l.unitPrice, currency: l.currency };
      return {
        itemId: l.itemId,
        productId: l.productId,
        variantId: l.variantId,
        sku: l.sku,
        // Cut to 200 characters, as the line's snapshot is when it is added.
        name: sellable ? product.name.slice(0, 200) : l.name,
        variantName: sellable ? variant.name.slice(0, 200) : l.variantName,
        quantity: l.quantity,
        unitPrice: price,
        priceAtAdd: { amount: l.unitPrice, currency: l.currency },
        priceChanged: sellable && (price.amount !== l.unitPrice || price.currency !== l.currency),
        lineTotal: { amount: price.amount * l.quantity, currency: price.currency },
        sellable,
        addedAt: l.addedAt,
        updatedAt: l.updatedAt,
      };
    });
    const totals = totalsByCurrency(lines.filter((l) => l.sellable).map((l) => ({ unitPrice: l.unitPrice.amount, currency: l.unitPrice.currency, quantity: l.quantity }))).map(
      (t) => ({ currency: t.currency, subtotal: t.amount, total: { amount: t.amount, currency: t.currency }, units: t.units }),
    );
    return {
      id: state.cartId,
      status: state.status,
      version: state.version,
      kind: state.ownerId === null ? 'guest' : 'user',
      lines,
      totals,
      priceChanged: lines.some((l) => l.priceChanged),
      createdAt: state.createdAt,
      updatedAt: state.updatedAt,
      expiresAt: state.expiresAt,
      orderId: state.orderId,
    };
  }

  /** The variant to add, checked against the catalog: it exists, belongs to the product and is sold. */
  async function sellableVariant(productId: string, variantId: string) {
    const product = await deps.catalog.product(productId);
    if (!product) throw new AppError('PRODUCT_NOT_FOUND', `There is no product '${productId}' for sale`, { errors: [{ path: 'body.productId', message: 'no such product' }] });
    const variant = product.variants.find((v) => v.id === variantId);
    if (!variant) throw new AppError('VARIANT_NOT_FOUND', `Product '${productId}' has no variant '${variantId}'`, { errors: [{ path: 'body.variantId', message: 'no such variant of this product' }] });
    if (!variant.sku || !(variant.price.amount > 0)) {
      throw new AppError('PRODUCT_NOT_SELLABLE', `Variant '${variantId}' is not for sale`, { errors: [{ path: 'body.variantId', message: 'not for sale' }] });
    }
    return { product, variant };
  }

  /**
   * The user's active cart, opening one when there is none (or it was checked out, merged or
   * expired). A new cart is opened before the pointer names it, so the pointer never names a
   * cart that does not exist; of two devices racing, one pointer write wins and the loser's
   * empty cart is erased.
   */
  async function openForUser(userId: string): Promise<{ state: CartState; created: boolean }> {
    const pointer = userCartPointer(deps.objects, userId);
    for (let attempt = 0; attempt < 4; attempt++) {
      const read = must(await pointer.userCart());
      // The account was erased (user.erased reached the pointer): a token still accepted somewhere
      // must not open a cart that would hold their data again. No extra call: the pointer says so.
      if (read.erased) throw cartError({ ok: false, code: 'ERASED', message: 'the account was erased' });
      const current = read.cartId;
      if (current) {
        const view = await cartFor(deps.objects, current).view({ actorId: userId });
        if (view.ok && view.cart.status === 'active') return { state: view.cart, created: false };
      }
      const candidate = newId('cart');
      const opened = must(await cartFor(deps.objects, candidate).open({ cartId: candidate, ownerId: userId, idleTtlMs }));
      const set = await pointer.setUserCart({ expected: current, cartId: candidate });
      if (set.ok && set.cartId === candidate) return { state: opened.cart, created: true };
      // Lost the race to another device, or the account was erased meanwhile: the empty cart goes.
      await cartFor(deps.objects, candidate).erase();
      must(set);
    }
    throw new AppError('CONFLICT', 'The cart is being opened elsewhere; try again');
  }

  async function openGuest(): Promise<CartState> {
    const id = newId('cart');
    return must(await cartFor(deps.objects, id).open({ cartId: id, ownerId: null, idleTtlMs })).cart;
  }

  async function addLine(cartId: string, actorId: string | null, body: AddItemBody, idempotencyKey: string | undefined) {
    const idempotency = idempotencyKey ? { key: idempotencyKey, bodyHash: sha256(stableJson(body)) } : undefined;
    let picked: Awaited<ReturnType<typeof sellableVariant>>;
    try {
      picked = await sellableVariant(body.productId, body.variantId);
    } catch (error) {
      // A retry of an add that went through answers as the first call did, even if the product
      // is no longer sold now: the object holds the key's answer.
      if (!idempotency || !(error instanceof AppError)) throw error;
      const prior = await cartFor(deps.objects, cartId).storedAnswer({ actorId, idempotency });
      if (prior === null) throw error;
      if (deps.log && prior.replayed) deps.log.idempotentReplay = true;
      if (!prior.ok) throw cartError(prior);
      return { cart: await render(prior.cart), replayed: true };
    }
    const { product, variant } = picked;
    const available = await availableToAdd(variant.sku);
    const result = await cartFor(deps.objects, cartId).addItem({
      actorId,
      idleTtlMs,
      limits: deps.limits,
      quantity: body.quantity,
      available,
      line: {
        productId: product.id,
        variantId: variant.id,
        sku: variant.sku,
        name: product.name.slice(0, 200),
        variantName: variant.name.slice(0, 200),
        unitPrice: variant.price.amount,
        currency: variant.price.currency,
      },
      ...(idempotency ? { idempotency } : {}),
    });
    if (deps.log && result.replayed) deps.log.idempotentReplay = true;
    // A stored refusal replayed carries `replayed` too: cartError marks it (Idempotent-Replayed).
    if (!result.ok) throw cartError(result);
    return { cart: await render(result.cart), replayed: result.replayed === true };
  }

  return {
    /** POST /v1/carts: a signed-in user's active cart (the same on every device), else a new guest cart. */
    async create(meta: RequestMeta): Promise<{ cart: Cart; created: boolean }> {
      const userId = cartActorId(meta.actor);
      if (userId) {
        const { state, created } = await openForUser(userId);
        return { cart: await render(state), created };
      }
      return { cart: await render(await openGuest()), created: true };
    },

    async get(cartId: string, meta: RequestMeta): Promise<Cart> {
      return render(must(await cartFor(deps.objects, cartId).view({ actorId: cartActorId(meta.actor) })).cart);
    },

    /** Adds units; retry-safe with an Idempotency-Key (replayed answers are marked). */
    addItem(cartId: string, body: AddItemBody, idempotencyKey: string | undefined, meta: RequestMeta) {
      return addLine(cartId, cartActorId(meta.actor), body, idempotencyKey);
    },

    async updateItem(cartId: string, itemId: string, body: UpdateItemBody, meta: RequestMeta): Promise<Cart> {
      const actorId = cartActorId(meta.actor);
      const stub = cartFor(deps.objects, cartId);
      // Availability matters only when the line grows; the object knows the line's SKU.
      const seen = must(await stub.view({ actorId })).cart;
      // A cart that takes no writes (merged, checked out, expired) says so first, whatever its
      // lines' products have become since (before 0.3.14 an archived product answered 422).
      const closed = statusRefusal(seen.status);
      if (closed) throw cartError(closed);
      const current = seen.lines.find((l) => l.itemId === itemId);
      const grows = current !== undefined && body.quantity > current.quantity;
      // Growing a line is adding units: the product must still be sold, as for an add, and the
      // line's price snapshot becomes the price now (0.3.14).
      let price: { unitPrice: number; currency: string } | undefined;
      if (grows) {
        const { variant } = await sellableVariant(current.productId, current.variantId).catch((error: unknown) => {
          if (!(error instanceof AppError)) throw error;
          throw new AppError('PRODUCT_NOT_SELLABLE', `The product of line '${itemId}' is no longer sold: its quantity can only go down`, { errors: [{ path: 'body.quantity', message: error.message }] });
        });
        price = { unitPrice: variant.price.amount, currency: variant.price.currency };
      }
      const available = grows ? await availableToAdd(current.sku) : null;
      return render(must(await stub.updateItem({ actorId, idleTtlMs, limits: deps.limits, itemId, quantity: body.quantity, available, ...(price ? { price } : {}) })).cart);
    },

    async removeItem(cartId: string, itemId: string, meta: RequestMeta): Promise<Cart> {
      return render(must(await cartFor(deps.objects, cartId).removeItem({ actorId: cartActorId(meta.actor), idleTtlMs, itemId })).cart);
    },

    /** Adds to the signed-in user's own cart (wishlist "move to cart"). */
    async addToMyCart(userId: string, body: AddItemBody): Promise<Cart> {
      const { state } = await openForUser(userId);
      return (await addLine(state.cartId, userId, body, undefined)).cart;
    },

    /**
     * At login: a guest cart's lines into the user's cart (quantities combined, clamped to the
     * limits and to what is available, and reported), and the guest cart closed. Never throws for
     * a cart that cannot be merged: the login stands and the report says why (`skipped`). A user's
     * cart (another user's, or one of one's own) is `no such cart`, as an unknown id is: the
     * report does not tell which ids are carts (0.3.15; before, it answered `not a guest cart`).
     */
    async mergeGuestCart(guestCartId: string, userId: string): Promise<GuestCartMerge> {
      const { state } = await openForUser(userId);
      const skipped = (reason: string): GuestCartMerge => ({ cartId: state.cartId, merge: { status: 'skipped', reason, lines: [] } });
      if (!CartId.safeParse(guestCartId).success) return skipped('not a cart id');
      if (guestCartId === state.cartId) return skipped('this is already your cart');
      const closed = await cartFor(deps.objects, guestCartId).closeForMerge({ into: state.cartId });
      if (!closed.ok) {
        const reasons: Record<string, string> = { NOT_FOUND: 'no such cart', CHECKED_OUT: 'already checked out', CLOSED: 'already closed', EXPIRED: 'expired' };
        return skipped(reasons[closed.code] ?? closed.code.toLowerCase());
      }
      if (closed.lines.length === 0) return { cartId: state.cartId, merge: { status: 'merged', lines: [] } };
      const lines = closed.lines.map(({ itemId: _i, addedAt: _a, updatedAt: _u, ...line }: LineView) => line);
      // What is available, as an add checks it (live, or the memo far above the line limit; nothing
      // reserved): one read per distinct SKU, all at once. The object caps each merged line to it
      // (0.3.15; before, a merge combined quantities past what could be sold). A read that fails
      // fails the merge (the login answers `failed`); the guest cart is closed into this cart, so
      // a retried login hands the same lines over again.
      const skus = [...new Set(lines.map((l) => l.sku))];
      const figures = await Promise.all(skus.map((sku) => availableToAdd(sku)));
      const available = skus.map((sku, i) => ({ sku, units: figures[i]! }));
      const mergeInto = (cartId: string) => cartFor(deps.objects, cartId).mergeFrom({ actorId: userId, idleTtlMs, opId: `merge:${guestCartId}`, limits: deps.limits, lines, available });
      let target = state.cartId;
      let merged = await mergeInto(target);
      // The user's cart was checked out (or closed) between opening it and the merge (an order
      // placed on another device meanwhile). The guest cart is closed already and its lines are in
      // hand: they go into the user's next cart instead of being dropped.
      for (let attempt = 0; !merged.ok && TARGET_GONE.has(merged.code) && attempt < 2; attempt++) {
        const next = (await openForUser(userId)).state.cartId;
        if (next === target) break;
        target = next;
        merged = await mergeInto(target);
      }
      if (!merged.ok) return { cartId: target, merge: { status: 'skipped', reason: `your cart refused it: ${merged.code.toLowerCase()}`, lines: [] } };
      return { cartId: target, merge: { status: 'merged', lines: merged.report } };
    },

    /**
     * For checkout (issue 7): the cart's lines at current catalog prices and its version. Refuses
     * a cart that is not the actor's or not active, and lines that are no longer sold
     * (PRODUCT_NOT_SELLABLE, one error per line). An empty cart answers no lines.
     */
    async checkoutSnapshot(cartId: string, actor: Pick<Actor, 'kind' | 'id'> | null): Promise<CheckoutSnapshot> {
      if (!CartId.safeParse(cartId).success) throw new AppError('CART_NOT_FOUND', 'There is no such cart');
      const state = must(await cartFor(deps.objects, cartId).checkoutSnapshot({ actorId: cartActorId(actor) })).cart;
      const closed = statusRefusal(state.status);
      if (closed) throw cartError(closed);
      const cart = await render(state);
      const unsellable = cart.lines.map((l, i) => ({ l, i })).filter(({ l }) => !l.sellable);
      if (unsellable.length > 0) {
        throw new AppError('PRODUCT_NOT_SELLABLE', 'Some items in the cart are no longer sold', {
          errors: unsellable.map(({ l, i }) => ({ path: `cart.lines.${i}`, message: `${l.sku} is no longer sold`, code: l.itemId })),
        });
      }
      return {
        cartId: state.cartId,
        version: state.version,
        ownerId: state.ownerId,
        lines: cart.lines.map((l) => ({ itemId: l.itemId, productId: l.productId, variantId: l.variantId, sku: l.sku, name: l.name, quantity: l.quantity, unitPrice: l.unitPrice.amount, currency: l.unitPrice.currency })),
      };
    },

    /**
     * For checkout (issue 7): closes the cart for `orderId` if it is still at `expectedVersion`
     * (else 409 CART_VERSION_MISMATCH). Later writes get 409 CART_CHECKED_OUT; the same order id
     * again is a no-op; the owner's next POST /v1/carts opens a fresh cart. A trusted call (the
     * order saga): ownership was checked by `checkoutSnapshot`.
     */
    async markCheckedOut(cartId: string, orderId: string, expectedVersion: number): Promise<{ cartId: string; orderId: string; version: number; changed: boolean }> {
      if (!CartId.safeParse(cartId).success) throw new AppError('CART_NOT_FOUND', 'There is no such cart');
      const r = must(await cartFor(deps.objects, cartId).markCheckedOut({ actorId: undefined, orderId, expectedVersion }));
      return { cartId, orderId, version: r.cart.version, changed: r.changed };
    },

    /** GDPR export: the user's active cart (null when none is open or the account was erased), without opening one. */
    async activeCartOf(userId: string): Promise<Cart | null> {
      const current = must(await userCartPointer(deps.objects, userId).userCart()).cartId;
      if (!current) return null;
      const view = await cartFor(deps.objects, current).view({ actorId: userId });
      return view.ok && view.cart.status === 'active' ? render(view.cart) : null;
    },

    /**
     * user.erased: the pointer first remembers the erasure (from then on no cart is opened for the
     * account, even with a token still accepted somewhere; it deletes itself later), then the
     * cart it named is deleted. In that order, a cart opened meanwhile is either the one named or
     * refused. Idempotent (a redelivery deletes the same cart again).
     */
    async eraseUser(userId: string): Promise<{ erasedCart: string | null }> {
      const { cartId } = must(await userCartPointer(deps.objects, userId).markErased());
      if (cartId) await cartFor(deps.objects, cartId).erase();
      return { erasedCart: cartId };
    },
  };
}

export type CartService = ReturnType<typeof makeCartService>;
export type CheckoutSnapshotFn = CartService['checkoutSnapshot'];
export type MarkCheckedOutFn = CartService['markCheckedOut'];
