import type { OrderLine, OrderState, OrderStatus, PaymentMethod, ReservedItem, ShipmentState } from './order.schemas';

/**
 * The order state machine and the arithmetic around it: pure, unit-tested, and the one place
 * where a transition is allowed or refused (the object calls `transition` for every change).
 */

/** Every transition the machine allows (docs/orders.md draws it). */
export const TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  PENDING: ['PAID', 'PAYMENT_FAILED', 'CANCELLED', 'PARTIALLY_SHIPPED', 'SHIPPED'],
  PAID: ['PARTIALLY_SHIPPED', 'SHIPPED', 'CANCELLED', 'PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_SHIPPED: ['PARTIALLY_SHIPPED', 'SHIPPED', 'PARTIALLY_REFUNDED', 'REFUNDED'],
  SHIPPED: ['DELIVERED', 'PARTIALLY_REFUNDED', 'REFUNDED'],
  DELIVERED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED', 'PARTIALLY_SHIPPED', 'SHIPPED', 'DELIVERED', 'CANCELLED'],
  CANCELLED: [],
  PAYMENT_FAILED: [],
  REFUNDED: [],
};

export const TERMINAL: ReadonlySet<OrderStatus> = new Set(['CANCELLED', 'PAYMENT_FAILED', 'REFUNDED']);

export class TransitionRefused extends Error {
  constructor(
    readonly from: OrderStatus,
    readonly to: OrderStatus,
  ) {
    super(`an order cannot go from ${from} to ${to}`);
    this.name = 'TransitionRefused';
  }
}

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Moves `state` to `to` (mutating it), bumping the version and recording why. Throws
 * TransitionRefused for a move the machine does not allow. Shipping straight from PENDING is
 * only for cash on delivery (nothing to wait for before the parcel leaves).
 */
export function transition(state: OrderState, to: OrderStatus, reason: string, now: Date): void {
  const from = state.status;
  const codShipping = from === 'PENDING' && (to === 'SHIPPED' || to === 'PARTIALLY_SHIPPED');
  if (!canTransition(from, to) || (codShipping && state.payment.method !== 'COD')) throw new TransitionRefused(from, to);
  state.status = to;
  state.version += 1;
  state.updatedAt = now.toISOString();
  state.history.push({ version: state.version, from, to, reason, at: state.updatedAt });
  if (TERMINAL.has(to) || to !== 'PENDING') state.paymentDueAt = null;
}

/** Bumps the version for a change that keeps the status (a refund recorded, a tracking event). */
export function touch(state: OrderState, now: Date): void {
  state.version += 1;
  state.updatedAt = now.toISOString();
}

/** Which provider serves a payment method; `none` for cash on delivery and the till. */
export function providerFor(method: PaymentMethod): 'stripe' | 'razorpay' | 'none' {
  if (method === 'CARD') return 'stripe';
  if (method === 'UPI' || method === 'NETBANKING') return 'razorpay';
  return 'none';
}

/** Methods paid at the till: captured before the order is even placed. */
export const PAID_AT_TILL: ReadonlySet<PaymentMethod> = new Set(['POS_CASH', 'POS_CARD_PRESENT']);

export function lineTotal(unitPrice: number, quantity: number): number {
  const total = unitPrice * quantity;
  if (!Number.isSafeInteger(total)) throw new RangeError('line total overflows');
  return total;
}

export function subtotal(lines: readonly Pick<OrderLine, 'lineTotal'>[]): number {
  return lines.reduce((s, l) => s + l.lineTotal, 0);
}

/** Units of each order item already in a shipment. */
export function shippedQuantities(shipments: readonly ShipmentState[]): Map<string, number> {
  const shipped = new Map<string, number>();
  for (const s of shipments) for (const l of s.lines) shipped.set(l.itemId, (shipped.get(l.itemId) ?? 0) + l.quantity);
  return shipped;
}

export type ShipmentCheck = { ok: true; complete: boolean } | { ok: false; itemId: string; message: string };

/** Whether `lines` can ship given what already shipped, and whether the order is then complete. */
export function checkShipment(orderLines: readonly OrderLine[], shipments: readonly ShipmentState[], lines: ReadonlyArray<{ itemId: string; quantity: number }>): ShipmentCheck {
  const shipped = shippedQuantities(shipments);
  const adding = new Map<string, number>();
  for (const l of lines) adding.set(l.itemId, (adding.get(l.itemId) ?? 0) + l.quantity);
  for (const [itemId, qty] of adding) {
    const line = orderLines.find((l) => l.itemId === itemId);
    if (!line) return { ok: false, itemId, message: `the order has no item ${itemId}` };
    const left = line.quantity - (shipped.get(itemId) ?? 0);
    if (qty > left) return { ok: false, itemId, message: `only ${left} unit(s) of ${itemId} are left to ship` };
  }
  const complete = orderLines.every((l) => (shipped.get(l.itemId) ?? 0) + (adding.get(l.itemId) ?? 0) >= l.quantity);
  return { ok: true, complete };
}

/**
 * Whether a parcel from `warehouseId` may carry `lines`: each line's SKU must have units held in
 * that warehouse (the reservation's allocation), and the warehouse ships no more of a line than
 * was held there, less what its earlier parcels carried.
 */
export function checkWarehouseShare(
  orderLines: readonly OrderLine[],
  stock: readonly ReservedItem[],
  shipments: readonly ShipmentState[],
  warehouseId: string,
  lines: ReadonlyArray<{ itemId: string; quantity: number }>,
): { ok: true } | { ok: false; itemId: string; message: string } {
  const adding = new Map<string, number>();
  for (const l of lines) adding.set(l.itemId, (adding.get(l.itemId) ?? 0) + l.quantity);
  for (const [itemId, qty] of adding) {
    const sku = orderLines.find((l) => l.itemId === itemId)?.sku;
    const held = stock.filter((i) => i.sku === sku).flatMap((i) => i.lines).filter((l) => l.warehouseId === warehouseId).reduce((n, l) => n + l.quantity, 0);
    const shipped = shipments.filter((s) => s.warehouseId === warehouseId).flatMap((s) => s.lines).filter((l) => l.itemId === itemId).reduce((n, l) => n + l.quantity, 0);
    if (held === 0) return { ok: false, itemId, message: `no unit of ${itemId} is held in warehouse ${warehouseId}` };
    if (qty > held - shipped) return { ok: false, itemId, message: `warehouse ${warehouseId} holds ${held - shipped} more unit(s) of ${itemId} to ship` };
  }
  return { ok: true };
}

export type FulfilmentStatus = 'unfulfilled' | 'partially_shipped' | 'shipped' | 'delivered';

export function fulfilmentStatus(state: Pick<OrderState, 'lines' | 'shipments'>): FulfilmentStatus {
  if (state.shipments.length === 0) return 'unfulfilled';
  const shipped = shippedQuantities(state.shipments);
  const all = state.lines.every((l) => (shipped.get(l.itemId) ?? 0) >= l.quantity);
  if (!all) return 'partially_shipped';
  return state.shipments.every((s) => s.status === 'delivered') ? 'delivered' : 'shipped';
}

/**
 * Whether the order may still need its shipping address: it can still ship, or is on its way.
 * Cancelled, failed, fully refunded and delivered orders do not.
 */
export function addressNeeded(state: Pick<OrderState, 'status' | 'lines' | 'shipments'>): boolean {
  if (state.status === 'CANCELLED' || state.status === 'PAYMENT_FAILED' || state.status === 'REFUNDED' || state.status === 'DELIVERED') return false;
  return fulfilmentStatus(state) !== 'delivered';
}

/**
 * The shipping address after the customer's erasure (GDPR Art. 17): only the country is kept,
 * the tax jurisdiction of the sale; name, street, postal code and phone go.
 */
export function redactedAddress(address: Record<string, string> | null): Record<string, string> | null {
  return address?.country ? { country: address.country } : null;
}

/**
 * The refund of a second capture of the same order (a shopper paid one Razorpay order twice: a
 * UPI retry, two tabs): `<orderId>-dup<6 hex of the payment id>`, the same for every retry and
 * replay, and at most 40 characters (Razorpay's limit on a refund's receipt). Such a refund returns
 * that payment, not the order's money: it never counts against what the order captured.
 */
export function duplicateRefundId(orderId: string, paymentRef: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < paymentRef.length; i++) h = Math.imul(h ^ paymentRef.charCodeAt(i), 0x01000193) >>> 0;
  return `${orderId}-dup${(h >>> 8).toString(16).padStart(6, '0')}`;
}
const DUPLICATE_REFUND = /-dup[0-9a-f]{6}$/;
export const isDuplicateRefund = (r: { refundId: string }): boolean => DUPLICATE_REFUND.test(r.refundId);

/**
 * The refund of what a payment took beyond the order's total (a PaymentIntent whose amount was
 * edited upwards): `<orderId>-excess`. Like a duplicate's, it returns money that was never the
 * order's: the order is paid its total, and this refund counts neither as refunded nor against
 * what may still be refunded.
 */
export const excessRefundId = (orderId: string): string => `${orderId}-excess`;

/** A refund of money that was never the order's: a duplicate payment's, or an overpayment's excess. */
export const isExtraRefund = (r: { refundId: string }): boolean => isDuplicateRefund(r) || r.refundId.endsWith('-excess');

/** A refund made at the provider outside Agora (the Stripe dashboard), recorded from its webhook: `ext:<provider refund id>`. */
export const externalRefundId = (providerRefundRef: string): string => `ext:${providerRefundRef}`;

/** The saga's own refunds of money still owed on a given-up order: `<orderId>-owed-<n>` (n = 1, 2, …). */
export const owedRefundId = (orderId: string, n: number): string => `${orderId}-owed-${n}`;

/** Money captured and not refunded (pending refunds count as gone: they cannot be promised twice). */
export function refundable(state: Pick<OrderState, 'payment' | 'refunds'>): number {
  const out = state.refunds.filter((r) => r.status !== 'failed' && !isExtraRefund(r)).reduce((s, r) => s + r.amount, 0);
  return Math.max(0, state.payment.amountCaptured - out);
}

/** The order's money refunded (a duplicate payment's or an overpayment's refund is not the order's money). */
export function refundedAmount(state: Pick<OrderState, 'refunds'>): number {
  return state.refunds.filter((r) => r.status === 'succeeded' && !isExtraRefund(r)).reduce((s, r) => s + r.amount, 0);
}

/**
 * Money the customer paid and is still owed, with no refund under way to return it:
 * - an order that can never ship (CANCELLED, PAYMENT_FAILED, REFUNDED): everything captured and
 *   not refunded or being refunded (a refund of it failed, and the saga's retries, if any are
 *   left, have not started yet);
 * - an order that can still ship: what failed refunds were to return and no later refund has
 *   (the admin decides; `refundFailedOwed` is kept by the object);
 * - plus, for either, the refunds of money that was never the order's (a duplicate payment, an
 *   overpayment's excess) that failed.
 */
export function refundOwed(state: Pick<OrderState, 'status' | 'payment' | 'refunds' | 'refundFailedOwed'>): number {
  const duplicates = state.refunds.filter((r) => r.status === 'failed' && isExtraRefund(r)).reduce((s, r) => s + r.amount, 0);
  const own = TERMINAL.has(state.status) ? refundable(state) : Math.min(refundable(state), state.refundFailedOwed ?? 0);
  return own + duplicates;
}

/** Refunds the saga issues on its own for money still owed on a given-up order, and when each is due after the failure before it. */
export const OWED_REFUND_DELAYS_MS: readonly number[] = [60_000, 10 * 60_000, 60 * 60_000];

/** Exponential backoff with ±20 % jitter, from 1 s, capped (ms). */
export function backoffMs(attempts: number, capMs = 5 * 60_000, random: () => number = Math.random): number {
  const base = Math.min(capMs, 1000 * 2 ** Math.max(0, Math.min(attempts, 20)));
  return Math.max(250, Math.round(base * (0.8 + 0.4 * random())));
}

/** A stable JSON (sorted keys) for request hashes. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

/** Derives a child op id (inventory, provider idempotency keys) from the order's own ids. */
export const opId = (...parts: Array<string | number>) => parts.join('|');

/**
 * The `change` of an `order.cancelled` event: `<from>->CANCELLED`, and ` by <user|client>:<id>`
 * when a person cancelled (the customer, an admin, a POS agent), so its audit row names them;
 * cancellations of the system (the deadline, a mismatched payment, a cart refusal) name nobody.
 */
export function cancelledChange(from: string, by: string): string {
  return /^(user|client):./.test(by) ? `${from}->CANCELLED by ${by}` : `${from}->CANCELLED`;
}

/** Who cancelled, read back from an `order.cancelled` event's change (`user:…`, `client:…`), or null for the system. */
export function cancelledBy(change: string): string | null {
  return /->CANCELLED by ((?:user|client):.+)$/.exec(change)?.[1] ?? null;
}
