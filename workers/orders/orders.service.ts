import { orderFor, refundedAmount, refundOwed, stableJson, type OrdersEnv, type OrderResult, type OrderState, type PaymentEventInput } from '../../durable-objects/order/order.stub';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { assertWarehouseAccess, can, mustActor } from '../../shared/http/authorize';
import type { Actor, RequestMeta } from '../../shared/http/context';
import { AppError, type ErrorCode, ERROR_STATUS } from '../../shared/kernel/app-error';
import { toHex } from '../../shared/kernel/hex';
import type { Clock } from '../../shared/kernel/clock';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { newId } from '../../shared/kernel/ids';
import { isErasedCustomer, listOrders, orderIdsOfUser, ordersByTracking, rememberErasedCustomer, staleUnpaid, type ListPosition } from './orders.repo';
import { carrierCode } from './orders.schemas';
import type {
  AdminOrderListQuery,
  CarrierUpdate,
  OrderDto,
  OrderListQuery,
  PlaceOrderBody,
} from './orders.schemas';

/** What orders needs from the catalog: an active product with its variants (cached reads). */
export interface CatalogPort {
  product(id: string): Promise<{
    id: string;
    name: string;
    variants: Array<{ id: string; sku: string; name: string; price: { amount: number; currency: string }; inStock: boolean }>;
  } | null>;
}

/** What orders needs from inventory before placing: how many shards hold each SKU, how far each warehouse is. */
export interface StockPort {
  shardCount(sku: string): Promise<number>;
  /** Distance tier of each warehouse from a shipping country (0 same country, 1 same continent, 2 elsewhere). */
  distancesTo(country: string): Promise<Record<string, number>>;
}

/** What orders needs from the cart context (checkout from a cart). */
export interface CartPort {
  checkoutSnapshot(cartId: string, actor: Pick<Actor, 'kind' | 'id'>): Promise<{
    cartId: string;
    version: number;
    lines: Array<{ productId: string; variantId: string; quantity: number }>;
  }>;
  markCheckedOut(cartId: string, orderId: string, expectedVersion: number): Promise<unknown>;
}

/** What orders needs from identity: whether the customer an agent or integration orders for can order. */
export interface CustomerPort {
  /** `active`, `disabled`, `erased`, or null when there is no such account. */
  accountStatus(userId: string): Promise<string | null>;
}

export interface OrdersDeps {
  readDb: () => AnyDb | HttpDb;
  /** The primary, for the few rows orders writes outside its projection (erased customers). */
  writeDb: () => AnyDb;
  objects: OrdersEnv;
  catalog: CatalogPort;
  stock: StockPort;
  carts: CartPort | null;
  customers: CustomerPort;
  /** Shared secret of the carrier webhook (HMAC-SHA256 of the raw body, hex). */
  carrierWebhookSecret: string | null;
  clock: Clock;
  log?: Record<string, unknown>;
}

/** Payment methods that take one currency only (Razorpay: UPI and netbanking are in rupees). */
const PAYMENT_METHOD_CURRENCY: Partial<Record<PlaceOrderBody['paymentMethod'], string>> = { UPI: 'INR', NETBANKING: 'INR' };

/** The cart's refusals to close for an order (the cart service's codes): the order must not stand. */
const CART_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CART_VERSION_MISMATCH', 'CART_CHECKED_OUT', 'CART_CLOSED', 'CART_EXPIRED', 'CART_NOT_FOUND']);

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Orders of one customer handled by an erasure or an export (the projection's, oldest first). */
export const CUSTOMER_ORDERS_LIMIT = 10_000;

/** Runs `work` over `items`, at most `parallel` at a time. */
async function eachLimited<T, R>(items: readonly T[], parallel: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]!);
      }
    }),
  );
  return out;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** A keyed order's id is derived from who asked and the key, so a retry reaches the same object. */
async function orderIdFor(actorId: string, key: string): Promise<string> {
  const h = await sha256(`order|${actorId}|${key}`);
  let body = '';
  for (let i = 0; i < 26; i++) body += ALPHABET[h[i]! & 31];
  return `ord_${body}`;
}

async function hashHex(value: unknown): Promise<string> {
  return toHex(await sha256(stableJson(value)));
}


/** The object's refusals as typed AppErrors (codes the kernel does not know become 409/422). */
function orderError(r: Exclude<OrderResult, { ok: true }>): AppError {
  const code = (r.code in ERROR_STATUS ? r.code : r.code === 'INVALID_INPUT' ? 'UNPROCESSABLE' : 'CONFLICT') as ErrorCode;
  return new AppError(code, r.message, r.sku ? { errors: [{ path: 'body.items', message: r.message, code: r.code }] } : {});
}

const money = (amount: number, currency: string) => ({ amount, currency });

export function toOrderDto(s: OrderState, forOwner: boolean): OrderDto {
  const fulfil = s.shipments.length === 0
    ? 'unfulfilled'
    : s.lines.every((l) => s.shipments.flatMap((x) => x.lines).filter((x) => x.itemId === l.itemId).reduce((n, x) => n + x.quantity, 0) >= l.quantity)
      ? s.shipments.every((x) => x.status === 'delivered') ? 'delivered' : 'shipped'
      : 'partially_shipped';
  return {
    orderId: s.orderId,
    status: s.status,
    fulfilmentStatus: fulfil,
    version: s.version,
    userId: s.userId,
    channel: s.channel,
    items: s.lines.map((l) => ({ ...l, unitPrice: money(l.unitPrice, s.currency), lineTotal: money(l.lineTotal, s.currency) })),
    subtotal: money(s.subtotal, s.currency),
    total: money(s.total, s.currency),
    payment: {
      method: s.payment.method,
      status: s.payment.status,
      amountCaptured: money(s.payment.amountCaptured, s.currency),
      amountRefunded: money(refundedAmount(s), s.currency),
      refundOwed: money(refundOwed(s), s.currency),
      // What the payer needs to pay: only for the order's owner (or whoever placed it), only while unpaid.
      clientAction: forOwner && s.status === 'PENDING' ? s.payment.clientAction : null,
      failure: s.payment.failure,
      retryAt: s.payment.retryAt,
      dispute: s.payment.dispute ? { ...s.payment.dispute, amount: money(s.payment.dispute.amount, s.currency) } : null,
    },
    paymentDueAt: s.paymentDueAt,
    shippingAddress: s.shippingAddress,
    allocations: s.stock.items.flatMap((i) => i.lines.map((l) => ({ sku: i.sku, warehouseId: l.warehouseId, quantity: l.quantity }))),
    shipments: s.shipments,
    refunds: s.refunds.map((r) => ({ refundId: r.refundId, amount: money(r.amount, s.currency), status: r.status, reason: r.reason, createdAt: r.createdAt })),
    cancelReason: s.cancelReason,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

export function makeOrdersService(deps: OrdersDeps) {
  const stub = (id: string) => orderFor(deps.objects, id);

  /** The order if `actor` may see it (404 otherwise: we do not confirm that it exists). */
  async function visible(id: string, actor: Actor): Promise<OrderState> {
    const s = await stub(id).view();
    if (!s || !mayRead(actor, s)) throw new AppError('NOT_FOUND', `Order '${id}' was not found`);
    return s;
  }

  function mayRead(actor: Actor, s: OrderState): boolean {
    if (actor.roles.includes('admin')) return true;
    if (actor.kind === 'client' && can(actor, 'orders:admin')) return true;
    if (actor.kind === 'user' && actor.id === s.userId) return true;
    if (actor.roles.includes('pos_agent') && s.storeId !== null && actor.storeId === s.storeId) return true;
    if (actor.roles.includes('warehouse_staff')) return s.stock.items.some((i) => i.lines.some((l) => actor.warehouseIds.includes(l.warehouseId)));
    return false;
  }

  const isOwner = (actor: Actor, s: OrderState) => (actor.kind === 'user' && actor.id === s.userId) || actor.id === s.placedBy.id;

  async function resolveLines(body: PlaceOrderBody, actor: Actor) {
    const wanted: Array<{ productId: string; variantId?: string | undefined; quantity: number }> = [];
    let cart: { cartId: string; version: number } | null = null;
    if (body.cartId) {
      if (!deps.carts) throw new AppError('UNPROCESSABLE', 'Ordering from a cart is not available');
      const snap = await deps.carts.checkoutSnapshot(body.cartId, actor);
      if (snap.lines.length === 0) throw new AppError('UNPROCESSABLE', 'The cart is empty', { errors: [{ path: 'body.cartId', message: 'the cart has no items' }] });
      cart = { cartId: snap.cartId, version: snap.version };
      wanted.push(...snap.lines);
    } else {
      for (const i of body.items ?? []) wanted.push({ productId: i.productId, variantId: i.variantId, quantity: (i.quantity ?? i.qty)! });
    }
    const products = new Map<string, Awaited<ReturnType<CatalogPort['product']>>>();
    await Promise.all([...new Set(wanted.map((w) => w.productId))].map(async (id) => products.set(id, await deps.catalog.product(id))));
    const byVariant = new Map<string, { productId: string; variantId: string; sku: string; name: string; quantity: number; unitPrice: number; currency: string }>();
    wanted.forEach((w, index) => {
      const product = products.get(w.productId);
      const path = body.cartId ? 'body.cartId' : `body.items.${index}.productId`;
      if (!product) throw new AppError('PRODUCT_NOT_FOUND', `Product '${w.productId}' does not exist or is not for sale`, { errors: [{ path, message: 'unknown product' }] });
      const sellable = (v: (typeof product.variants)[number]) => Boolean(v.sku) && v.price.amount > 0;
      const variant = w.variantId
        ? product.variants.find((v) => v.id === w.variantId)
        : (product.variants.find((v) => sellable(v) && v.inStock) ?? product.variants.find(sellable) ?? product.variants[0]);
      if (!variant) throw new AppError('VARIANT_NOT_FOUND', `Product '${w.productId}' has no variant '${w.variantId ?? ''}'`, { errors: [{ path: `body.items.${index}.variantId`, message: 'unknown variant' }] });
      // Sellable as in the cart (docs/cart.md): a SKU and a price above 0. A variant priced 0 is not for sale.
      if (!sellable(variant)) {
        throw new AppError('PRODUCT_NOT_SELLABLE', `Variant '${variant.id}' of product '${product.id}' is not for sale`, {
          errors: [{ path: body.cartId ? 'body.cartId' : `body.items.${index}.variantId`, message: 'not for sale (no SKU or no price)' }],
        });
      }
      const prev = byVariant.get(variant.id);
      const quantity = (prev?.quantity ?? 0) + w.quantity;
      if (quantity > 1000) throw new AppError('QUANTITY_LIMIT_EXCEEDED', 'At most 1000 units of one variant per order', { errors: [{ path, message: 'too many units' }] });
      byVariant.set(variant.id, { productId: product.id, variantId: variant.id, sku: variant.sku, name: variant.name === product.name ? product.name : `${product.name} – ${variant.name}`, quantity, unitPrice: variant.price.amount, currency: variant.price.currency });
    });
    const lines = [...byVariant.values()];
    const currencies = new Set(lines.map((l) => l.currency));
    if (currencies.size > 1) throw new AppError('CURRENCY_MISMATCH', 'All items of an order must be priced in one currency');
    const currency = lines[0]!.currency;
    // Razorpay's UPI and netbanking take rupees only: refused here, from the prices just read (no
    // round trip), before any stock is held or any provider called. Before, such an order was
    // placed, held its stock and asked Razorpay for an order in another currency.
    const only = PAYMENT_METHOD_CURRENCY[body.paymentMethod];
    if (only && currency !== only) {
      throw new AppError('PAYMENT_METHOD_NOT_ALLOWED', `${body.paymentMethod} is for orders in ${only}; these items are priced in ${currency}`, {
        errors: [{ path: 'body.paymentMethod', message: `${body.paymentMethod} takes ${only} only; the items are priced in ${currency}`, code: 'CURRENCY_NOT_SUPPORTED' }],
      });
    }
    return { lines, currency, cart };
  }

  /**
   * Closes the cart for the order. When the cart refuses (it changed since its snapshot, another
   * order closed it first, as in a double submit with two keys, or it was merged, expired or
   * erased meanwhile), this order does not own it: the order is undone (its stock comes back, its
   * payment is cancelled) and the refusal passes on. A failure that is not a refusal leaves the
   * order for a retry with the same key.
   */
  async function closeCartFor(cartId: string, orderId: string, expectedVersion: number): Promise<void> {
    if (!deps.carts) return;
    try {
      await deps.carts.markCheckedOut(cartId, orderId, expectedVersion);
    } catch (e) {
      if (e instanceof AppError && CART_REFUSALS.has(e.code)) {
        await stub(orderId).cancel({ opId: 'cart-changed', by: 'system', reason: 'cart_changed_during_checkout' });
      }
      throw e;
    }
  }

  return {
    /**
     * Places an order (API.md): for oneself, or — POS agents, admins, integrations — for the
     * customer named in `userId`. Prices are re-read from the catalog; stock is reserved
     * all-or-nothing by the order's object, which answers PENDING with the payment's client action.
     */
    async place(body: PlaceOrderBody, idempotencyKey: string | undefined, meta: RequestMeta): Promise<{ order: OrderDto; replayed: boolean }> {
      const actor = mustActor(meta);
      const userId = body.userId ?? (actor.kind === 'user' ? actor.id : null);
      if (!userId) throw new AppError('VALIDATION_FAILED', 'A client must say whom the order is for', { errors: [{ path: 'body.userId', message: 'required for client credentials' }] });
      const actsForOther = actor.kind !== 'user' || userId !== actor.id;
      const agent = actor.roles.includes('admin') || actor.roles.includes('pos_agent') || (actor.kind === 'client' && actor.scopes.includes('orders:write'));
      if (actsForOther && !agent) throw new AppError('FORBIDDEN', 'You can only place orders for yourself');
      const pos = actor.roles.includes('pos_agent');
      if ((body.paymentMethod === 'POS_CASH' || body.paymentMethod === 'POS_CARD_PRESENT') && !pos) {
        throw new AppError('PAYMENT_METHOD_NOT_ALLOWED', 'Paying at the till is only for POS agents', { errors: [{ path: 'body.paymentMethod', message: 'POS only' }] });
      }
      const orderId = idempotencyKey ? await orderIdFor(actor.id, idempotencyKey) : newId('order', deps.clock.now().getTime());
      const requestHash = await hashHex({ body, userId });
      // A retry of an item order (a lost answer) gets the order the key placed before anything
      // is read again: the catalog may have changed since (a product archived, a price changed)
      // and must not turn a placed order into a refusal. Nothing placed yet: placed below. (A cart
      // order's retry must also close its cart for the order: the cart-checkout branch below.)
      if (idempotencyKey && !body.cartId) {
        const earlier = await stub(orderId).replay(requestHash);
        if (earlier?.ok) {
          if (deps.log) Object.assign(deps.log, { orderId, replayed: true });
          return { order: toOrderDto(earlier.order, true), replayed: true };
        }
        if (earlier) throw orderError(earlier);
      }
      // Acting for someone: that someone must be an account that can order (never a phantom
      // customer owning a sale nobody can see, nor a disabled or erased one). A retry of a sale
      // made before the account was closed still gets that sale back (the first answer again).
      if (actsForOther && (await deps.customers.accountStatus(userId)) !== 'active') {
        const earlier = idempotencyKey ? await stub(orderId).replay(requestHash) : null;
        if (earlier?.ok) return { order: toOrderDto(earlier.order, true), replayed: true };
        if (earlier) throw orderError(earlier);
        throw new AppError('CUSTOMER_NOT_FOUND', `There is no active customer '${userId}'`, { errors: [{ path: 'body.userId', message: 'no such active account' }] });
      }
      let resolved: Awaited<ReturnType<typeof resolveLines>>;
      try {
        resolved = await resolveLines(body, actor);
      } catch (e) {
        // A retry of a cart order finds its cart closed (checked out by the first try): the
        // object answers the replay. (`place` itself answers replays of item orders.)
        if (idempotencyKey && body.cartId && e instanceof AppError && e.code === 'CART_CHECKED_OUT') {
          const earlier = await stub(orderId).replay(requestHash);
          if (earlier && !earlier.ok) throw orderError(earlier);
          if (earlier?.ok) {
            // Closed for this order (the first try closed it: a no-op), or for another one (the
            // first try died before closing it and another order took the cart: a refusal,
            // which undoes this order). A checked-out cart answers before it looks at versions.
            await closeCartFor(body.cartId, orderId, 1);
            return { order: toOrderDto(earlier.order, true), replayed: true };
          }
        }
        throw e;
      }
      const { lines, currency, cart } = resolved;
      const shards: Record<string, number> = {};
      const country = body.shippingAddress?.country;
      // Nearest warehouses first for a shipping address (docs/inventory.md, "Warehouse allocation").
      const [distances] = await Promise.all([country ? deps.stock.distancesTo(country) : undefined, ...lines.map(async (l) => (shards[l.sku] = await deps.stock.shardCount(l.sku)))]);
      const r = await stub(orderId).place({
        orderId,
        requestHash,
        userId,
        placedBy: { kind: actor.kind, id: actor.id, role: actor.roles[0] ?? 'integration' },
        channel: pos ? 'pos' : 'web',
        storeId: pos ? actor.storeId : null,
        cartId: cart?.cartId ?? null,
        currency,
        lines: lines.map((l, i) => ({ itemId: `itm_${i + 1}`, productId: l.productId, variantId: l.variantId, sku: l.sku, name: l.name.slice(0, 300), quantity: l.quantity, unitPrice: l.unitPrice, lineTotal: l.unitPrice * l.quantity })),
        shippingAddress: body.shippingAddress ? { ...body.shippingAddress } : null,
        paymentMethod: body.paymentMethod,
        shards,
        ...(distances ? { distances } : {}),
        correlationId: meta.requestId,
      });
      if (!r.ok) throw orderError(r);
      if (deps.log) Object.assign(deps.log, { orderId, replayed: r.replayed });
      // Also on a replay: the first try may have died before closing the cart (closing is idempotent per order).
      if (cart) await closeCartFor(cart.cartId, orderId, cart.version);
      return { order: toOrderDto(r.order, true), replayed: r.replayed };
    },

    async get(id: string, meta: RequestMeta): Promise<OrderDto> {
      const actor = mustActor(meta);
      const s = await visible(id, actor);
      return toOrderDto(s, isOwner(actor, s));
    },

    async tracking(id: string, meta: RequestMeta) {
      const s = await visible(id, mustActor(meta));
      const dto = toOrderDto(s, false);
      const timeline = [
        ...s.history.map((h) => ({ at: h.at, kind: 'order' as const, status: h.to, description: h.reason, shipmentId: null, location: null })),
        ...s.shipments.flatMap((sh) => sh.events.map((e) => ({ at: e.occurredAt, kind: 'shipment' as const, status: e.status, description: e.description, shipmentId: sh.shipmentId, location: e.location }))),
      ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
      return { orderId: s.orderId, status: s.status, fulfilmentStatus: dto.fulfilmentStatus, timeline, shipments: s.shipments };
    },

    async listMine(q: OrderListQuery, meta: RequestMeta) {
      const actor = mustActor(meta);
      if (actor.kind !== 'user') throw new AppError('FORBIDDEN', 'Only a signed-in user has orders of their own');
      return list({ userId: actor.id, status: q.status }, q);
    },

    async adminList(q: AdminOrderListQuery) {
      return list({ userId: q.userId, storeId: q.storeId, status: q.status, paymentMethod: q.paymentMethod, sku: q.sku, createdFrom: q.createdFrom, createdTo: q.createdTo }, q);
    },

    async cancel(id: string, reason: string | undefined, meta: RequestMeta): Promise<OrderDto> {
      const actor = mustActor(meta);
      const s = await visible(id, actor);
      const allowed = actor.roles.includes('admin') || (actor.kind === 'user' && actor.id === s.userId) || (actor.roles.includes('pos_agent') && s.storeId === actor.storeId);
      if (!allowed) throw new AppError('FORBIDDEN', 'Only the customer or an admin can cancel this order');
      // A sale at the till (the goods left with the customer, paid there) is undone at the till:
      // its refund is given there. The customer's app cannot cancel it.
      const tillSale = s.payment.method === 'POS_CASH' || s.payment.method === 'POS_CARD_PRESENT';
      if (tillSale && !actor.roles.includes('admin') && !(actor.roles.includes('pos_agent') && s.storeId === actor.storeId)) {
        throw new AppError('FORBIDDEN', 'A sale made at the till is cancelled at the till (a POS agent of its store) or by an admin');
      }
      const r = await stub(id).cancel({ opId: `cancel:${actor.id}`, by: `${actor.kind}:${actor.id}`, reason: reason ?? (actor.id === s.userId ? 'cancelled by the customer' : `cancelled by ${actor.roles[0] ?? 'staff'}`) });
      if (!r.ok) throw orderError(r);
      return toOrderDto(r.order, isOwner(actor, r.order));
    },

    async refund(id: string, input: { amount: number; reason: string }, key: string, meta: RequestMeta): Promise<{ order: OrderDto; replayed: boolean }> {
      const actor = mustActor(meta);
      await visible(id, actor);
      const refundId = `rfd_${(await hashHex({ id, key })).slice(0, 26)}`;
      const r = await stub(id).refund({ refundId, requestHash: await hashHex(input), amount: input.amount, reason: input.reason, by: `${actor.kind}:${actor.id}` });
      if (!r.ok) throw orderError(r);
      return { order: toOrderDto(r.order, false), replayed: r.replayed };
    },

    async fulfil(id: string, input: { warehouseId: string; carrier: string; trackingNumber: string; items: Array<{ itemId: string; quantity: number }> }, key: string, meta: RequestMeta): Promise<{ order: OrderDto; replayed: boolean }> {
      const actor = mustActor(meta);
      assertWarehouseAccess(actor, input.warehouseId);
      await visible(id, actor);
      const shipmentId = `shp_${(await hashHex({ id, key })).slice(0, 26)}`;
      const r = await stub(id).fulfil({ shipmentId, requestHash: await hashHex(input), warehouseId: input.warehouseId, carrier: carrierCode(input.carrier), trackingNumber: input.trackingNumber, lines: input.items, by: `${actor.kind}:${actor.id}` });
      if (!r.ok) throw orderError(r);
      return { order: toOrderDto(r.order, false), replayed: r.replayed };
    },

    /** A verified carrier update (see the webhook route): applied to every order holding that parcel. */
    async carrierUpdate(carrier: string, update: CarrierUpdate): Promise<{ applied: number }> {
      const ids = await ordersByTracking(deps.readDb(), carrier, update.trackingNumber);
      if (ids.length === 0) throw new AppError('NOT_FOUND', `No shipment with tracking number '${update.trackingNumber}' (yet): retry later`);
      let applied = 0;
      for (const id of ids) {
        const r = await stub(id).track({ trackingNumber: update.trackingNumber, event: { eventId: `${carrier}:${update.eventId}`, status: update.status, description: update.description, location: update.location, occurredAt: new Date(update.occurredAt).toISOString() } });
        if (r.ok && !r.replayed) applied++;
      }
      return { applied };
    },

    /** Verifies a carrier webhook: hex HMAC-SHA256 of the raw body with the shared secret. */
    async verifyCarrierSignature(raw: string, signature: string | undefined): Promise<void> {
      if (!deps.carrierWebhookSecret) throw new AppError('DEPENDENCY_UNAVAILABLE', 'Carrier webhooks are not configured');
      if (!signature || !/^[0-9a-f]{64}$/i.test(signature)) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'Missing or malformed x-carrier-signature');
      const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(deps.carrierWebhookSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      const sig = new Uint8Array(signature.match(/../g)!.map((b) => parseInt(b, 16)));
      const ok = await crypto.subtle.verify('HMAC', key, sig, new TextEncoder().encode(raw));
      if (!ok) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'The signature does not match the body');
    },

    /** The payments context's events (webhooks, reconciliation) reach the order saga here. */
    async applyPaymentEvent(orderId: string, event: PaymentEventInput): Promise<void> {
      const r = await stub(orderId).applyPaymentEvent(event);
      if (!r.ok && r.code !== 'NOT_FOUND') throw orderError(r);
    },

    /**
     * The scheduled reconciliation: unpaid orders untouched for `olderThanMs` ask their provider
     * how the payment stands (a lost webhook, a timeout after send). Each order on its own: one
     * provider being down does not stop the others.
     */
    async reconcileUnpaid(olderThanMs: number, limit = 100): Promise<{ checked: number; settled: number; failed: number }> {
      const ids = await staleUnpaid(deps.readDb(), new Date(deps.clock.now().getTime() - olderThanMs), limit);
      let settled = 0;
      let failed = 0;
      for (const id of ids) {
        try {
          const r = await stub(id).reconcilePayment();
          if (r.ok && r.order.status !== 'PENDING') settled++;
        } catch {
          failed++;
        }
      }
      return { checked: ids.length, settled, failed };
    },

    /** Runs an order's due steps now (operators; the object's alarm does it on its own). */
    /**
     * user.erased (GDPR Art. 17): the customer is remembered as erased, then each of their orders
     * forgets its shipping address once it no longer needs it (docs/orders.md, "Erasure"). The
     * remembering commits before the orders are listed, and `afterFirstProjection` projects
     * first and checks after: so an order the list misses (not projected yet) is caught there.
     * Idempotent: a redelivery does it again and changes nothing.
     */
    async eraseCustomer(userId: string, erasedAt: Date): Promise<{ orders: number; pendingAddresses: number }> {
      await rememberErasedCustomer(deps.writeDb(), userId, erasedAt);
      const ids = await orderIdsOfUser(deps.writeDb(), userId, CUSTOMER_ORDERS_LIMIT);
      const pending = await eachLimited(ids, 8, async (id) => {
        const r = await stub(id).forgetCustomer();
        return r.ok && r.pending;
      });
      return { orders: ids.length, pendingAddresses: pending.filter(Boolean).length };
    },

    /** After the projection wrote an order's first row: an erased customer's order forgets its address too. */
    async afterFirstProjection(orderId: string, userId: string): Promise<{ customerErased: boolean }> {
      if (!(await isErasedCustomer(deps.writeDb(), userId))) return { customerErased: false };
      await stub(orderId).forgetCustomer();
      return { customerErased: true };
    },

    /** GDPR Art. 15/20: the customer's orders as `GET /v1/orders/{id}` shows them (shipping address included). */
    async exportFor(userId: string): Promise<OrderDto[]> {
      const ids = await orderIdsOfUser(deps.readDb(), userId, CUSTOMER_ORDERS_LIMIT);
      const states = await eachLimited(ids, 8, async (id): Promise<OrderState | null> => await stub(id).view());
      return states.filter((s): s is OrderState => s !== null && s.userId === userId).map((s) => toOrderDto(s, true));
    },

    async nudge(orderId: string): Promise<void> {
      await stub(orderId).nudge();
    },
  };

  async function list(filter: Parameters<typeof listOrders>[1], q: { limit: number; cursor?: string | undefined }) {
    const fp = fingerprint(filter);
    const after = q.cursor ? decodeCursor<{ c: string; i: string }>(q.cursor, fp, { c: 'time', i: 'string' }) : undefined;
    const position: ListPosition | undefined = after ? { createdAt: after.c, id: after.i } : undefined;
    const rows = await listOrders(deps.readDb(), filter, q.limit, position);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        orderId: r.id,
        status: r.status,
        fulfilmentStatus: r.fulfilmentStatus,
        total: money(Number(r.total), r.currency),
        itemCount: r.itemCount,
        paymentMethod: r.paymentMethod,
        createdAt: new Date(r.createdAt).toISOString(),
        updatedAt: new Date(r.updatedAt).toISOString(),
      })),
      nextCursor: rows.length > q.limit && last ? encodeCursor({ c: new Date(last.createdAt).toISOString(), i: last.id }, fp) : null,
    };
  }
}

export type OrdersService = ReturnType<typeof makeOrdersService>;
