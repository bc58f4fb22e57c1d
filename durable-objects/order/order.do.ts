import { DurableObject } from 'cloudflare:workers';
import { ORDER_EVENTS, type EventEnvelope, type OrderEventType, type OrderSnapshot } from '../../shared/events';
import { systemClock, type Clock } from '../../shared/kernel/clock';
import { applyMigrations } from '../sqlite-migrations';
import {
  addressNeeded,
  backoffMs,
  cancelledChange,
  checkShipment,
  checkWarehouseShare,
  duplicateRefundId,
  excessRefundId,
  externalRefundId,
  fulfilmentStatus,
  isExtraRefund,
  opId,
  OWED_REFUND_DELAYS_MS,
  owedRefundId,
  PAID_AT_TILL,
  providerFor,
  redactedAddress,
  refundable,
  refundedAmount,
  subtotal,
  TERMINAL,
  touch,
  transition,
  TransitionRefused,
} from './order.logic';
import { ORDER_MIGRATIONS } from './order.migrations';
import { sagaPortsFor, type CapturedPayment, type SagaPorts } from './order.ports';
import type { OrderState } from './order.schemas';
import {
  CancelInput,
  FulfilInput,
  PaymentEventInput,
  PlaceInput,
  RefundInput,
  TrackingInput,
  type OrderStatus,
  type RefundState,
} from './order.schemas';

/**
 * One order's checkout saga (docs/orders.md). The object holds the order's authoritative state
 * and is the only writer of it. Every change is one synchronous SQLite transaction that writes
 * the new state, the side effects it needs (`steps`) and its events (`outbox`); the side effects
 * run after the commit and are retried by the alarm until they succeed, with the same ids each
 * time, so a crash at any point resumes where it stopped and nothing happens twice.
 */
export type OrderFailure = { ok: false; code: string; message: string; sku?: string | null; status?: OrderStatus };
export type OrderResult = { ok: true; order: OrderState; replayed: boolean } | OrderFailure;

/** The order gave its stock up: cancelled, or refunded in full before anything shipped (not at the till). */
const gaveUpStock = (s: OrderState) =>
  s.status === 'CANCELLED' || (s.status === 'REFUNDED' && s.shipments.length === 0 && !PAID_AT_TILL.has(s.payment.method));

type StepKind =
  | 'reserve'
  | 'begin_payment'
  | 'capture_payment'
  | 'commit_stock'
  | 'release_stock'
  | 'restock'
  | 'cancel_payment'
  | 'refund'
  | 'check_refund'
  | 'expire'
  /** Money still owed on a given-up order after a refund failed: a fresh refund of it (docs/orders.md). */
  | 'refund_owed'
  /** Another capture reported for an order already paid: which payments does its provider order hold? */
  | 'check_payments'
  /** A Stripe decline: the shopper may already have paid with another card on the same intent; ask before failing. */
  | 'confirm_failure';

interface Step {
  stepId: string;
  kind: StepKind;
  payload: Record<string, unknown>;
  attempts: number;
  nextAt: number;
  lastError: string | null;
}

/**
 * What the object stores: one document, written by one UPDATE per change (a new order object
 * creates one table, not five: that was a tenth of the CPU of placing an order). Besides the
 * order, the saga's bookkeeping: pending side effects, unsent events, operation ids and the
 * provider/carrier event ids already applied.
 */
interface SagaDoc {
  order: OrderState;
  steps: Step[];
  outbox: Array<{ body: EventEnvelope; nextAt: number; attempts: number }>;
  /** First request hash per operation id (place, refund:<id>, fulfil:<id>). */
  ops: Record<string, string>;
  /** Event ids already applied, newest last (the last APPLIED_KEEP). */
  applied: string[];
}
const APPLIED_KEEP = 500;

/** A step that failed permanently stops being retried after this many attempts and is flagged. */
const MAX_STEP_ATTEMPTS = 25;
/** Grace before the alarm relays an outbox row the inline relay did not manage to send. */
const OUTBOX_GRACE_MS = 5_000;
const RESERVE_RETRY_MS = 10_000;
/**
 * How long a rejected placement (refused at reservation: out of stock, unknown SKU) is kept so a
 * retry of the same request answers the same refusal; then the object deletes its storage. The
 * same as the Idempotency-Key retention elsewhere (24 h).
 */
export const REJECTED_RETENTION_MS = 24 * 3600_000;
/**
 * A refund the provider answered `pending` is normally settled by its webhook; if none has come,
 * the object asks the provider this long after, and again every as long until it settles.
 */
export const REFUND_CHECK_MS = 15 * 60_000;

/** A dispute's final statuses (Stripe): nothing more will happen to it. */
const DISPUTE_CLOSED: ReadonlySet<string> = new Set(['won', 'lost', 'warning_closed']);

export class OrderDurableObject extends DurableObject<Env> {
  clock: Clock = systemClock;
  /** Swapped by tests through runInDurableObject. */
  ports: SagaPorts;
  private driving: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ports = sagaPortsFor(env);
    void ctx.blockConcurrencyWhile(async () => {
      applyMigrations(ctx.storage, ORDER_MIGRATIONS);
    });
  }

  private get sql() {
    return this.ctx.storage.sql;
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  // ---------------------------------------------------------------------------------------------
  // Reads
  // ---------------------------------------------------------------------------------------------

  /** The order, or null when this object holds none (or only a rejected attempt). */
  view(): OrderState | null {
    const s = this.load();
    return s && s.phase === 'placed' ? s : null;
  }

  /** Pending side effects (for operators and tests). */
  pendingSteps(): Array<{ stepId: string; kind: string; attempts: number; nextAt: number; lastError: string | null }> {
    const doc = this.loadDoc();
    return (doc?.steps ?? []).map(({ stepId, kind, attempts, nextAt, lastError }) => ({ stepId, kind, attempts, nextAt, lastError })).sort((a, b) => a.nextAt - b.nextAt);
  }

  /** Makes every pending step due now; the alarm (set for now) runs them (operators: "retry now"). */
  dueNow(): number {
    const doc = this.loadDoc();
    if (!doc || doc.steps.length === 0) return 0;
    for (const step of doc.steps) step.nextAt = 0;
    this.saveDoc(doc);
    void this.ctx.storage.setAlarm(this.now());
    return doc.steps.length;
  }

  /** Makes every pending step due and runs them at once. */
  async retryStepsNow(): Promise<void> {
    if (this.dueNow() > 0) await this.drive();
  }

  // ---------------------------------------------------------------------------------------------
  // Verbs
  // ---------------------------------------------------------------------------------------------

  /**
   * Places the order: persists it, reserves its stock all-or-nothing, starts the payment, and
   * answers with the order (PENDING, with what the client needs to pay). Idempotent: the same
   * request again answers the same order; another request under the same id is refused.
   */
  async place(raw: PlaceInput): Promise<OrderResult> {
    const input = PlaceInput.parse(raw);
    const existing = this.load();
    if (existing) {
      const op = this.op('place');
      if (op && op.request_hash !== input.requestHash) return fail('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different order request');
      if (existing.phase === 'rejected') return fail(existing.rejection?.code ?? 'OUT_OF_STOCK', existing.rejection?.message ?? 'refused', existing.rejection?.sku ?? null);
      if (existing.phase === 'placed') {
        await this.drive();
        return { ok: true, order: this.load()!, replayed: true };
      }
      // Still placing (an earlier call died half way): finish it below.
    } else {
      this.create(input);
    }
    await this.runStep('reserve:1');
    await this.drive();
    const s = this.load()!;
    if (s.phase === 'rejected') return fail(s.rejection!.code, s.rejection!.message, s.rejection!.sku);
    if (s.phase === 'placing') return fail('DEPENDENCY_UNAVAILABLE', 'inventory could not be reached; retry with the same Idempotency-Key');
    return { ok: true, order: s, replayed: existing !== null };
  }

  /**
   * The answer to a repeated place request, without re-running it: the order when this object
   * already placed one for the same request, a refusal for another request, null when nothing
   * was placed yet (the caller then places).
   */
  async replay(requestHash: string): Promise<OrderResult | null> {
    const s = this.load();
    if (!s) return null;
    const op = this.op('place');
    if (op && op.request_hash !== requestHash) return fail('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different order request');
    if (s.phase === 'rejected') return fail(s.rejection?.code ?? 'OUT_OF_STOCK', s.rejection?.message ?? 'refused', s.rejection?.sku ?? null);
    if (s.phase === 'placed') {
      // As `place` answers a replay: due steps first (a payment start that waited for the provider
      // gives the client what it needs to pay).
      await this.drive();
      return { ok: true, order: this.load()!, replayed: true };
    }
    return null;
  }

  /** A provider's word on a payment (webhook, till, reconciliation). Applied once per event id. */
  async applyPaymentEvent(raw: PaymentEventInput): Promise<OrderResult> {
    const ev = PaymentEventInput.parse(raw);
    const applied = this.write((s, now) => {
      const doc = this.doc!;
      if (doc.applied.includes(ev.eventId)) return false;
      doc.applied.push(ev.eventId);
      if (doc.applied.length > APPLIED_KEEP) doc.applied.splice(0, doc.applied.length - APPLIED_KEEP);
      if (ev.type === 'refund_succeeded' || ev.type === 'refund_failed') {
        const refund = s.refunds.find((r) => r.refundId === ev.refundId || (ev.providerRef !== null && r.providerRefundRef === ev.providerRef));
        if (refund) this.settleRefund(s, refund, ev.type === 'refund_succeeded' ? 'succeeded' : 'failed', ev.providerRef, now);
        // A refund we did not make (none of our refund ids), of this order's own PaymentIntent (the
        // intent's metadata carries the order's attempt id): made in the Stripe dashboard. The
        // money went back all the same: recorded, so nothing refunds it twice.
        else if (ev.type === 'refund_succeeded' && ev.provider === 'stripe' && ev.refundId === null && ev.attemptId === s.payment.attemptId && ev.providerRef && ev.amount) {
          this.externalRefund(s, ev.providerRef, ev.amount, ev.currency, ev.provider, now);
        }
        return true;
      }
      if (ev.attemptId !== null && ev.attemptId !== s.payment.attemptId) return true; // not this order's attempt
      if (ev.providerRef !== null) {
        // Not this order's payment: a Stripe intent without our attempt id (another integration's,
        // or one made in the dashboard, naming the order in its metadata), or any intent other
        // than the one the order's attempt created. Its money is not the order's.
        if (ev.provider === 'stripe' && ev.attemptId === null) return true;
        if (s.payment.providerRef && ev.providerRef !== s.payment.providerRef) return true;
      }
      if (ev.providerRef && !s.payment.providerRef) s.payment.providerRef = ev.providerRef;
      if (ev.type === 'succeeded') {
        const already = s.payment.status === 'captured';
        // Paid after the deadline (by the provider's clock): the order is given up as the deadline
        // says, and the late money refunded, whether or not the deadline's alarm has run yet. Its
        // hold may have lapsed and its units been sold to someone else.
        if (s.status === 'PENDING' && s.paymentDueAt && Date.parse(ev.occurredAt) > Date.parse(s.paymentDueAt)) this.cancelLate(s, now);
        this.paymentCaptured(s, ev.amount ?? s.total, now, `payment ${ev.eventId}`, ev.currency);
        // Another capture of an order already paid: the same payment again (Razorpay sends
        // payment.captured and order.paid for each), or a second payment of the same Razorpay
        // order (a UPI retry, two tabs), which the event does not tell apart. The provider does:
        // every capture beyond the first is refunded (check_payments). A Stripe PaymentIntent is
        // paid at most once.
        if (already && s.payment.provider === 'razorpay') this.addStep('check_payments', `check-payments:${ev.eventId}`, {}, now);
      }
      else if (ev.type === 'authorized' && s.status === 'PENDING' && s.payment.status !== 'captured') this.addStep('capture_payment', 'capture:1', {}, now);
      else if (ev.type === 'failed' && ev.provider === 'stripe' && s.payment.provider === 'stripe') {
        // A Stripe decline is not the intent's last word: Stripe.js lets the shopper try another
        // card on the same intent at once, and its success may be in before this event is. Stripe
        // is asked how the intent stands before the order fails (`confirm_failure`).
        if (s.status === 'PENDING' && s.payment.status !== 'captured') this.addStep('confirm_failure', 'confirm-failure:1', { failure: ev.failure ?? { code: 'declined', message: 'the payment failed' } }, now);
      } else if (ev.type === 'failed') this.paymentFailed(s, ev.failure ?? { code: 'declined', message: 'the payment failed' }, now);
      else if (ev.type === 'dispute' && ev.dispute) this.disputed(s, { ...ev.dispute, amount: ev.amount ?? s.payment.amountCaptured }, ev.occurredAt, now);
      else if (ev.type === 'cancelled' && s.status === 'PENDING') this.cancelUnpaid(s, 'payment_cancelled', now);
      return true;
    });
    if (applied === null) return fail('NOT_FOUND', 'no such order');
    await this.drive();
    return { ok: true, order: this.load()!, replayed: !applied };
  }

  /** Customer or admin cancellation before anything shipped (stock back; a refund when paid). */
  async cancel(raw: CancelInput): Promise<OrderResult> {
    const input = CancelInput.parse(raw);
    const r = this.write((s, now) => {
      if (s.status === 'CANCELLED') return { ok: true as const, replayed: true };
      if (s.status === 'PENDING' && s.payment.method !== 'COD') return this.cancelUnpaid(s, input.reason, now, input.by);
      if ((s.status === 'PENDING' && s.payment.method === 'COD') || s.status === 'PAID' || s.status === 'PARTIALLY_REFUNDED') {
        if (s.shipments.length > 0) return fail('ORDER_NOT_CANCELLABLE', 'part of the order has shipped', null, s.status);
        const from = s.status;
        transition(s, 'CANCELLED', input.reason, new Date(now));
        s.cancelReason = input.reason;
        // Cash on delivery that never shipped: nothing will be collected.
        if (s.payment.status === 'due_on_delivery') s.payment.status = 'cancelled';
        if (s.stock.status === 'committed') this.addStep('restock', 'restock:1', {}, now);
        else this.addStep('release_stock', 'release:1', { reason: 'cancelled' }, now);
        const left = refundable(s);
        if (left > 0) this.newRefund(s, { refundId: `${s.orderId}-cancel`, amount: left, reason: 'order cancelled', by: input.by }, now);
        this.emit(s, 'order.cancelled', cancelledChange(from, input.by), now);
        return { ok: true as const, replayed: false };
      }
      return fail('ORDER_NOT_CANCELLABLE', `an order in ${s.status} cannot be cancelled`, null, s.status);
    });
    if (r === null) return fail('NOT_FOUND', 'no such order');
    if (!r.ok) return r;
    await this.drive();
    return { ok: true, order: this.load()!, replayed: r.replayed };
  }

  /** Admin refund, full or partial, of captured money. Idempotent per refund id. */
  async refund(raw: RefundInput): Promise<OrderResult> {
    const input = RefundInput.parse(raw);
    const r = this.write((s, now) => {
      const op = this.op(`refund:${input.refundId}`);
      if (op) return op.request_hash === input.requestHash ? { ok: true as const, replayed: true } : fail('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different refund');
      const left = refundable(s);
      if (s.payment.amountCaptured === 0) return fail('NOTHING_TO_REFUND', 'no payment has been captured for this order', null, s.status);
      if (input.amount > left) return fail('REFUND_EXCEEDS_CAPTURED', `at most ${left} (minor units) can still be refunded`, null, s.status);
      this.doc!.ops[`refund:${input.refundId}`] = input.requestHash;
      this.newRefund(s, input, now);
      touch(s, new Date(now));
      this.emit(s, 'order.changed', 'refund_requested', now, input.refundId);
      return { ok: true as const, replayed: false };
    });
    if (r === null) return fail('NOT_FOUND', 'no such order');
    if (!r.ok) return r;
    await this.drive();
    return { ok: true, order: this.load()!, replayed: r.replayed };
  }

  /** Staff ship some or all of the order's items from one warehouse. Idempotent per shipment id. */
  async fulfil(raw: FulfilInput): Promise<OrderResult> {
    const input = FulfilInput.parse(raw);
    const r = this.write((s, now) => {
      const op = this.op(`fulfil:${input.shipmentId}`);
      if (op) return op.request_hash === input.requestHash ? { ok: true as const, replayed: true } : fail('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different shipment');
      const codReady = s.status === 'PENDING' && s.payment.method === 'COD';
      const shippable = codReady || s.status === 'PAID' || s.status === 'PARTIALLY_SHIPPED' || (s.status === 'PARTIALLY_REFUNDED' && fulfilmentStatus(s) !== 'shipped' && fulfilmentStatus(s) !== 'delivered');
      if (!shippable) return fail('ORDER_NOT_SHIPPABLE', `an order in ${s.status} cannot ship${s.status === 'PENDING' ? ' before it is paid' : ''}`, null, s.status);
      const allocated = new Set(s.stock.items.flatMap((i) => i.lines.map((l) => l.warehouseId)));
      if (!allocated.has(input.warehouseId)) return fail('WRONG_WAREHOUSE', `this order's stock is not held in warehouse ${input.warehouseId}`, null, s.status);
      const check = checkShipment(s.lines, s.shipments, input.lines);
      if (!check.ok) return fail('SHIPMENT_EXCEEDS_ORDER', check.message, null, s.status);
      // Each parcel ships from a warehouse holding its lines' units, no more than were held there.
      const share = checkWarehouseShare(s.lines, s.stock.items, s.shipments, input.warehouseId, input.lines);
      if (!share.ok) return fail('WRONG_WAREHOUSE', share.message, null, s.status);
      // The carrier's updates find a parcel by its tracking number: one parcel per number.
      if (s.shipments.some((x) => x.carrier === input.carrier && x.trackingNumber === input.trackingNumber)) {
        return fail('TRACKING_NUMBER_IN_USE', `parcel ${input.trackingNumber} of ${input.carrier} is already a shipment of this order`, null, s.status);
      }
      this.doc!.ops[`fulfil:${input.shipmentId}`] = input.requestHash;
      const at = new Date(now).toISOString();
      s.shipments.push({
        shipmentId: input.shipmentId,
        warehouseId: input.warehouseId,
        carrier: input.carrier,
        trackingNumber: input.trackingNumber,
        lines: input.lines,
        status: 'label_created',
        createdAt: at,
        events: [{ eventId: `${input.shipmentId}:created`, status: 'label_created', description: `handed to ${input.carrier}`, location: null, occurredAt: at }],
      });
      const from = s.status;
      if (s.status === 'PARTIALLY_REFUNDED') {
        touch(s, new Date(now));
        this.emit(s, 'order.changed', 'shipment', now);
      } else {
        const to = check.complete ? 'SHIPPED' : 'PARTIALLY_SHIPPED';
        transition(s, to, `shipment ${input.shipmentId} by ${input.by}`, new Date(now));
        this.emit(s, to === 'SHIPPED' ? 'order.shipped' : 'order.partially_shipped', `${from}->${to}`, now);
      }
      // Cash on delivery: the stock was committed at placement; nothing else to do here.
      return { ok: true as const, replayed: false };
    });
    if (r === null) return fail('NOT_FOUND', 'no such order');
    if (!r.ok) return r;
    await this.drive();
    return { ok: true, order: this.load()!, replayed: r.replayed };
  }

  /** A carrier's tracking update. Applied once per event id; all parcels delivered → DELIVERED. */
  async track(raw: TrackingInput): Promise<OrderResult> {
    const input = TrackingInput.parse(raw);
    const r = this.write((s, now) => {
      const shipment = s.shipments.find((x) => x.trackingNumber === input.trackingNumber);
      if (!shipment) return fail('NOT_FOUND', 'no shipment of this order has that tracking number');
      if (shipment.events.some((e) => e.eventId === input.event.eventId)) return { ok: true as const, replayed: true };
      shipment.events.push(input.event);
      // By time, not by text: a carrier may write its times with an offset (UTC from 0.3.13 on).
      shipment.events.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
      // Events may arrive out of order: the newest by time wins, but nothing undoes a delivery.
      if (shipment.status !== 'delivered') {
        shipment.status = input.event.status === 'delivered' ? 'delivered' : shipment.events[shipment.events.length - 1]!.status;
      }
      const delivered = fulfilmentStatus(s) === 'delivered';
      // Cash on delivery: collected with the last parcel. The event says so (`cod_collected`): the
      // projection's audit row of the capture hangs on it.
      const collected = delivered && s.payment.method === 'COD' && s.payment.status === 'due_on_delivery';
      if (collected) {
        s.payment.status = 'captured';
        s.payment.amountCaptured = s.total;
      }
      if (delivered && s.status === 'SHIPPED') {
        transition(s, 'DELIVERED', `carrier ${input.event.eventId}`, new Date(now));
        this.emit(s, 'order.delivered', collected ? 'cod_collected' : 'SHIPPED->DELIVERED', now);
      } else {
        touch(s, new Date(now));
        this.emit(s, 'order.changed', collected ? 'cod_collected' : 'tracking', now);
      }
      return { ok: true as const, replayed: false };
    });
    if (r === null) return fail('NOT_FOUND', 'no such order');
    if (!r.ok) return r;
    await this.drive();
    return { ok: true, order: this.load()!, replayed: r.replayed };
  }

  /**
   * Reconciliation (the scheduled job): asks the provider how an unpaid order's payment stands
   * and applies the answer, as a webhook would have. Throws when the provider cannot answer.
   */
  async reconcilePayment(): Promise<OrderResult> {
    const s = this.view();
    if (!s) return fail('NOT_FOUND', 'no such order');
    if (s.status === 'PENDING' && s.payment.provider !== 'none' && s.payment.providerRef) {
      const r = await this.ports.payments.retrieve({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef });
      this.write((st, now) => {
        if (st.status !== 'PENDING') return null;
        if (r.status === 'captured') {
          this.paymentCaptured(st, r.amountCaptured, now, 'found paid by reconciliation');
          this.refundDuplicates(st, r.captures, now);
        } else if (r.status === 'authorized') this.addStep('capture_payment', 'capture:1', {}, now);
        else if (r.status === 'failed') this.paymentFailed(st, r.failure, now);
        else if (r.status === 'cancelled') this.cancelUnpaid(st, 'payment_cancelled_at_provider', now);
        return null;
      });
    }
    await this.drive();
    return { ok: true, order: this.load()!, replayed: false };
  }

  /**
   * The customer's account was erased (`user.erased`): the order stays (an accounting record,
   * under the user's pseudonymous id) but forgets who it ships to as soon as it no longer needs
   * to: now when it is done, else when it is delivered, cancelled or refunded. Idempotent; no
   * event (the projection holds no address).
   */
  forgetCustomer(): { ok: true; pending: boolean } | OrderFailure {
    const r = this.write((s) => {
      s.customerErased = true;
      return { ok: true as const };
    });
    if (r === null) return fail('NOT_FOUND', 'no such order');
    const s = this.load()!;
    // pending: the address stays until the order no longer needs it.
    return { ok: true, pending: addressNeeded(s) && s.shippingAddress !== null };
  }

  /** Runs due steps and relays the outbox now (operators, tests; the alarm does the same). */
  async nudge(): Promise<void> {
    await this.drive();
  }

  override async alarm(): Promise<void> {
    const now = this.now();
    const rejected = this.load();
    if (rejected?.phase === 'rejected') {
      if (now < Date.parse(rejected.updatedAt) + REJECTED_RETENTION_MS) return this.rearm();
      // Nothing is held, owed or unsent for a refused placement: the object forgets it.
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.doc = null;
      applyMigrations(this.ctx.storage, ORDER_MIGRATIONS);
      return;
    }
    this.write((s) => {
      if (s.status === 'PENDING' && s.paymentDueAt && Date.parse(s.paymentDueAt) <= now && !this.hasStep('expire:1')) {
        this.addStep('expire', 'expire:1', {}, now);
      }
      return null;
    });
    await this.drive();
  }

  // ---------------------------------------------------------------------------------------------
  // The driver: run due steps (outside I/O happens only here, never inside a transaction)
  // ---------------------------------------------------------------------------------------------

  private drive(): Promise<void> {
    this.driving ??= this.driveLoop().finally(() => {
      this.driving = null;
    });
    return this.driving;
  }

  private async driveLoop(): Promise<void> {
    for (let round = 0; round < 20; round++) {
      const now = this.now();
      const due = (this.loadDoc()?.steps ?? []).filter((st) => st.nextAt <= now).sort((a, b) => a.nextAt - b.nextAt || (a.stepId < b.stepId ? -1 : 1));
      if (due.length === 0) break;
      let progressed = false;
      for (const step of due) progressed = (await this.runStep(step.stepId)) || progressed;
      if (!progressed) break;
    }
    await this.relay();
    this.rearm();
  }

  /** Runs one step; true when it finished (its row is gone). */
  private async runStep(stepId: string): Promise<boolean> {
    const step = this.loadDoc()?.steps.find((st) => st.stepId === stepId);
    const state = this.load();
    if (!step || !state) return false;
    try {
      const apply = await this.perform(step.kind, state, step.payload);
      this.write((s, now) => {
        this.doc!.steps = this.doc!.steps.filter((st) => st.stepId !== stepId);
        apply(s, now);
        return null;
      }, true);
      return true;
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const attempts = step.attempts + 1;
      const retryIn = step.kind === 'reserve' ? RESERVE_RETRY_MS : step.kind === 'check_refund' ? REFUND_CHECK_MS : backoffMs(attempts);
      const next = attempts >= MAX_STEP_ATTEMPTS && step.kind !== 'check_refund' ? this.now() + 24 * 3600_000 : this.now() + retryIn;
      this.write((s) => {
        const current = this.doc!.steps.find((st) => st.stepId === stepId);
        if (current) Object.assign(current, { attempts, nextAt: next, lastError: message.slice(0, 500) });
        if (step.kind === 'begin_payment') s.payment.retryAt = new Date(next).toISOString();
        return null;
      }, true);
      return false;
    }
  }

  /**
   * Does a step's outside work and returns how to record its outcome (applied in a transaction
   * with the step's deletion). Throws when the outcome is unknown: the step stays and is retried.
   */
  private async perform(kind: StepKind, s: OrderState, payload: Record<string, unknown>): Promise<(s: OrderState, now: number) => void> {
    const { inventory, payments } = this.ports;
    switch (kind) {
      case 'reserve': {
        const r = await inventory.reserve({
          opId: opId(s.orderId, 'reserve'),
          reservationId: s.stock.reservationId,
          orderId: s.orderId,
          ttlSeconds: Math.ceil(this.ports.config.paymentTimeoutMs / 1000) + 15 * 60,
          items: aggregateBySku(s, (payload.shards ?? {}) as Record<string, number>),
          ...(payload.distances ? { distances: payload.distances as Record<string, number> } : {}),
        });
        return (st, now) => {
          if (st.phase !== 'placing') return;
          if (!r.ok) {
            st.phase = 'rejected';
            st.stock.status = 'refused';
            st.rejection = { code: r.code, message: r.message, sku: r.sku };
            st.updatedAt = new Date(now).toISOString();
            return;
          }
          st.stock.items = r.items;
          st.stock.status = 'held';
          st.phase = 'placed';
          st.version = 1;
          st.history.push({ version: 1, from: 'NEW', to: 'PENDING', reason: 'placed', at: new Date(now).toISOString() });
          this.emit(st, 'order.placed', 'NEW->PENDING', now);
          if (PAID_AT_TILL.has(st.payment.method)) {
            this.paymentCaptured(st, st.total, now, 'paid at the till');
          } else if (st.payment.method === 'COD') {
            st.payment.status = 'due_on_delivery';
            st.paymentDueAt = null;
            this.addStep('commit_stock', 'commit:1', {}, now);
          } else {
            st.paymentDueAt = new Date(now + this.ports.config.paymentTimeoutMs).toISOString();
            this.addStep('begin_payment', 'begin:1', {}, now);
          }
        };
      }
      case 'begin_payment': {
        if (s.status !== 'PENDING' || s.payment.status !== 'not_started') return () => undefined;
        const r = await payments.begin({ attemptId: s.payment.attemptId, orderId: s.orderId, method: s.payment.method, amount: s.total, currency: s.currency, userId: s.userId });
        return (st, now) => {
          st.payment.retryAt = null;
          if (r.providerRef) st.payment.providerRef = r.providerRef;
          if (r.status === 'requires_action') {
            // Payment details inside PENDING: no transition, no event (the next event carries them).
            if (st.payment.status === 'not_started') st.payment.status = 'requires_action';
            st.payment.clientAction = r.clientAction;
            st.updatedAt = new Date(now).toISOString();
          } else if (r.status === 'captured') this.paymentCaptured(st, r.amountCaptured, now, 'captured at once');
          else this.paymentFailed(st, r.failure, now);
        };
      }
      case 'capture_payment': {
        // Authorized only (the provider's account captures by hand): take the money the shopper
        // already approved, unless the order was given up meanwhile (the authorization then lapses
        // at the provider, which returns it).
        if (s.status !== 'PENDING' || s.payment.status === 'captured' || !s.payment.providerRef) return () => undefined;
        const r = await payments.capture({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef, amount: s.total, currency: s.currency });
        return (st, now) => this.paymentCaptured(st, r.amountCaptured, now, 'captured after the provider authorized it');
      }
      case 'commit_stock':
        // Cancelled (or refunded in full, unshipped) before the commit ran (or while it waited for a
        // retry): the release step gives the held units back; committing them now would sell what
        // the order gave up.
        if (gaveUpStock(s)) return () => undefined;
        await inventory.commit({
          opId: opId(s.orderId, 'commit'),
          reservationId: s.stock.reservationId,
          items: s.stock.items,
          // Fixed for the order (a retry sends the same): when it was paid, or placed (cash on delivery).
          soldAt: s.history.find((h) => h.to === 'PAID')?.at ?? s.createdAt,
        });
        return (st, now) => {
          if (st.stock.status !== 'held') return;
          st.stock.status = 'committed';
          // Cancelled (or refunded in full) while this commit was in flight: the release will find
          // nothing held, so the committed units go back to stock instead.
          if (gaveUpStock(st)) this.addStep('restock', 'restock:1', {}, now);
        };
      case 'release_stock':
        if (s.stock.status === 'held' || s.stock.status === 'reserving') {
          await inventory.release({ opId: opId(s.orderId, 'release'), reservationId: s.stock.reservationId, items: s.stock.items, reason: payload.reason === 'payment_failed' ? 'payment_failed' : 'cancelled' });
        }
        return (st) => {
          if (st.stock.status === 'held') st.stock.status = 'released';
        };
      case 'restock':
        await inventory.restock({ opId: opId(s.orderId, 'restock'), items: s.stock.items, note: `order ${s.orderId} ${s.status === 'REFUNDED' ? 'refunded before shipping' : 'cancelled'}` });
        return (st) => {
          st.stock.status = 'restocked';
        };
      case 'cancel_payment': {
        if (s.payment.provider === 'none' || s.payment.status === 'captured') return () => undefined;
        const r = await payments.cancel({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef });
        return (st, now) => {
          if (r.status === 'captured') this.paymentCaptured(st, r.amountCaptured ?? st.total, now, 'paid before the cancellation reached the provider');
          else if (st.payment.status !== 'captured' && st.payment.status !== 'failed') st.payment.status = 'cancelled';
        };
      }
      case 'refund': {
        const refund = s.refunds.find((x) => x.refundId === payload.refundId);
        if (!refund || refund.status !== 'pending') return () => undefined;
        if (s.payment.provider === 'none') return (st, now) => this.settleRefund(st, st.refunds.find((x) => x.refundId === refund.refundId)!, 'succeeded', null, now);
        const r = await payments.refund({
          refundId: refund.refundId,
          orderId: s.orderId,
          attemptId: s.payment.attemptId,
          method: s.payment.method,
          providerRef: s.payment.providerRef,
          paymentRef: refund.paymentRef ?? null,
          amount: refund.amount,
          currency: s.currency,
        });
        return (st, now) => {
          const target = st.refunds.find((x) => x.refundId === refund.refundId)!;
          if (r.providerRefundRef) target.providerRefundRef = r.providerRefundRef;
          if (r.status === 'succeeded' || r.status === 'failed') this.settleRefund(st, target, r.status, r.providerRefundRef, now);
          // pending: the provider's webhook settles it; if it never comes, the object asks later.
          else if (r.providerRefundRef) this.addStep('check_refund', `refund-check:${target.refundId}`, { refundId: target.refundId }, now + REFUND_CHECK_MS);
        };
      }
      case 'check_refund': {
        const refund = s.refunds.find((x) => x.refundId === payload.refundId);
        // Settled meanwhile (by the webhook): nothing to ask.
        if (!refund || refund.status !== 'pending' || !refund.providerRefundRef) return () => undefined;
        const r = await payments.refundStatus({ method: s.payment.method, providerRefundRef: refund.providerRefundRef });
        // Still pending: the step stays and asks again in REFUND_CHECK_MS.
        const settled = r.status;
        if (settled === 'pending') throw new Error(`refund ${refund.refundId} is still pending at the provider`);
        return (st, now) => {
          const target = st.refunds.find((x) => x.refundId === refund.refundId);
          if (target) this.settleRefund(st, target, settled, null, now);
        };
      }
      case 'refund_owed':
        // No outside call: the refund it adds is a step of its own (the provider call, retried as
        // any refund's, with the same refund id).
        return (st, now) => {
          const owed = refundable(st);
          // Refunded meanwhile (an admin, a webhook settling another refund): nothing is owed.
          if (!TERMINAL.has(st.status) || owed <= 0) return;
          const n = Number(payload.n);
          const refundId = owedRefundId(st.orderId, n);
          if (st.refunds.some((r) => r.refundId === refundId)) return;
          this.newRefund(st, { refundId, amount: owed, reason: `still owed after a failed refund (saga refund ${n} of ${OWED_REFUND_DELAYS_MS.length})`, by: 'system' }, now);
          touch(st, new Date(now));
          this.emit(st, 'order.changed', 'refund_requested', now, refundId);
        };
      case 'confirm_failure': {
        // Settled meanwhile (paid, given up): nothing to ask.
        if (s.status !== 'PENDING' || s.payment.status === 'captured' || !s.payment.providerRef) return () => undefined;
        const r = await payments.retrieve({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef });
        const declined = (payload.failure ?? { code: 'declined', message: 'the payment failed' }) as { code: string; message: string };
        return (st, now) => {
          if (st.status !== 'PENDING') return;
          // Another card paid the intent after the decline: the order is paid.
          if (r.status === 'captured') this.paymentCaptured(st, r.amountCaptured, now, 'paid after a declined attempt on the same intent');
          else if (r.status === 'authorized') this.addStep('capture_payment', 'capture:1', {}, now);
          // Still declined (requires_payment_method after a decline): final for the order, as documented.
          else if (r.status === 'failed') this.paymentFailed(st, r.failure ?? declined, now);
          else if (r.status === 'cancelled') this.cancelUnpaid(st, 'payment_cancelled_at_provider', now);
          // Otherwise (another card under way: 3-D Secure, processing) the decline is not the last
          // word: the order waits for the next event, or its deadline.
        };
      }
      case 'check_payments': {
        if (s.payment.provider !== 'razorpay' || !s.payment.providerRef) return () => undefined;
        const r = await payments.retrieve({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef });
        return (st, now) => {
          if (r.status === 'captured') this.refundDuplicates(st, r.captures, now);
        };
      }
      case 'expire': {
        if (s.status !== 'PENDING') return () => undefined;
        // Ask the provider before giving up on the payment: never cancel an order that was paid.
        const r = s.payment.provider === 'none' || s.payment.status === 'not_started' ? ({ status: 'open' } as const) : await payments.retrieve({ attemptId: s.payment.attemptId, method: s.payment.method, providerRef: s.payment.providerRef });
        return (st, now) => {
          if (st.status !== 'PENDING') return;
          if (r.status === 'captured') {
            this.paymentCaptured(st, r.amountCaptured, now, 'found paid at the payment deadline');
            this.refundDuplicates(st, r.captures, now);
          } else if (r.status === 'authorized') this.addStep('capture_payment', 'capture:1', {}, now);
          else if (r.status === 'failed') this.paymentFailed(st, r.failure, now);
          else this.cancelUnpaid(st, 'payment_timeout', now);
        };
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions (inside a transaction)
  // ---------------------------------------------------------------------------------------------

  /**
   * The provider took money for this order (a webhook, the till, reconciliation). Less than the
   * order's total, or in another currency (`currency`, when the provider said), is not a payment
   * of the order: a PENDING order is cancelled (stock released) and what came in refunded.
   */
  private paymentCaptured(s: OrderState, amount: number, now: number, reason: string, currency: string | null = null): void {
    const already = s.payment.status === 'captured';
    s.payment.status = 'captured';
    // Only the first capture counts: the same payment reported again changes nothing, and a second
    // payment of the same provider order is not the order's money (refunded as a duplicate).
    if (!already) s.payment.amountCaptured = Math.max(s.payment.amountCaptured, amount);
    s.payment.failure = null;
    s.payment.retryAt = null;
    if (already) return;
    const mismatch = amount < s.total || (currency !== null && currency !== s.currency);
    if (s.status === 'PENDING' && mismatch) {
      transition(s, 'CANCELLED', `payment of ${amount} ${currency ?? s.currency} does not pay the order's ${s.total} ${s.currency}`, new Date(now));
      s.cancelReason = 'payment_mismatch';
      this.addStep('release_stock', 'release:1', { reason: 'cancelled' }, now);
      this.emit(s, 'order.cancelled', 'PENDING->CANCELLED', now);
      this.newRefund(s, { refundId: `${s.orderId}-mismatch`, amount, reason: 'the payment did not match the order total', by: 'system' }, now);
      this.emit(s, 'order.changed', 'mismatched_payment_refunded', now, `${s.orderId}-mismatch`);
      return;
    }
    if (s.status === 'PENDING') {
      // More than the order's total (an intent's amount edited upwards): the order is paid its
      // total; what is beyond it is not the order's money and goes back at once.
      const excess = amount - s.total;
      if (excess > 0) s.payment.amountCaptured = s.total;
      transition(s, 'PAID', reason, new Date(now));
      this.emit(s, 'order.paid', 'PENDING->PAID', now);
      if (s.stock.status === 'held') this.addStep('commit_stock', 'commit:1', {}, now);
      if (excess > 0) {
        this.newRefund(s, { refundId: excessRefundId(s.orderId), amount: excess, reason: `payment of ${amount} ${s.currency} exceeds the order's ${s.total}`, by: 'system' }, now);
        touch(s, new Date(now));
        this.emit(s, 'order.changed', 'excess_payment_refunded', now, excessRefundId(s.orderId));
      }
      return;
    }
    // Paid after the order was given up (cancelled, failed): never keep money for nothing.
    touch(s, new Date(now));
    this.newRefund(s, { refundId: `${s.orderId}-late`, amount: refundable(s), reason: `payment captured after the order was ${s.status.toLowerCase()}`, by: 'system' }, now);
    this.emit(s, 'order.changed', 'late_payment_refunded', now, `${s.orderId}-late`);
  }

  private paymentFailed(s: OrderState, failure: { code: string; message: string }, now: number): void {
    if (s.status !== 'PENDING' || s.payment.status === 'captured') return;
    s.payment.status = 'failed';
    s.payment.failure = failure;
    transition(s, 'PAYMENT_FAILED', `payment failed: ${failure.code}`, new Date(now));
    // A failure is final for the order: the provider attempt is closed too, so no other card can
    // still pay it (a capture that wins the race is refunded as late).
    if (s.payment.provider !== 'none') this.addStep('cancel_payment', 'cancel-payment:1', {}, now);
    this.addStep('release_stock', 'release:1', { reason: 'payment_failed' }, now);
    this.emit(s, 'order.payment_failed', 'PENDING->PAYMENT_FAILED', now);
  }

  /** `by`: the person who cancelled (`user:…`, `client:…`; the event and its audit row name them), or `system`. */
  private cancelUnpaid(s: OrderState, reason: string, now: number, by = 'system'): { ok: true; replayed: boolean } {
    transition(s, 'CANCELLED', reason, new Date(now));
    s.cancelReason = reason;
    if (s.payment.provider !== 'none' && s.payment.status !== 'not_started') this.addStep('cancel_payment', 'cancel-payment:1', {}, now);
    else if (s.payment.status === 'not_started') s.payment.status = 'cancelled';
    this.addStep('release_stock', 'release:1', { reason: 'cancelled' }, now);
    this.emit(s, 'order.cancelled', cancelledChange('PENDING', by), now);
    return { ok: true, replayed: false };
  }

  /** PENDING → CANCELLED for a payment made after the deadline (paymentCaptured then refunds it). */
  private cancelLate(s: OrderState, now: number): void {
    transition(s, 'CANCELLED', 'paid after the payment deadline', new Date(now));
    s.cancelReason = 'payment_timeout';
    this.addStep('release_stock', 'release:1', { reason: 'cancelled' }, now);
    this.emit(s, 'order.cancelled', 'PENDING->CANCELLED', now);
  }

  private newRefund(s: OrderState, input: { refundId: string; amount: number; reason: string; by: string; paymentRef?: string }, now: number): void {
    if (input.amount <= 0 || s.refunds.some((r) => r.refundId === input.refundId)) return;
    s.refunds.push({
      refundId: input.refundId,
      amount: input.amount,
      reason: input.reason,
      status: 'pending',
      providerRefundRef: null,
      requestedBy: input.by,
      createdAt: new Date(now).toISOString(),
      ...(input.paymentRef ? { paymentRef: input.paymentRef } : {}),
    });
    // A new refund of the order's money returns first what failed refunds left owed.
    if (!input.paymentRef && s.refundFailedOwed) s.refundFailedOwed = Math.max(0, s.refundFailedOwed - input.amount);
    this.addStep('refund', `refund:${input.refundId}`, { refundId: input.refundId }, now);
  }

  /**
   * The provider order holds more than one capture (a shopper paid the same Razorpay order twice:
   * a UPI retry, two tabs): the first is the order's; each other is refunded in full, once (its
   * refund id derived from its payment id), and changes neither the order's captured amount nor
   * its status.
   */
  private refundDuplicates(s: OrderState, captures: CapturedPayment[] | undefined, now: number): void {
    if (!captures || captures.length <= 1) return;
    for (const c of captures.slice(1)) {
      const refundId = duplicateRefundId(s.orderId, c.paymentRef);
      const left = c.amount - c.amountRefunded;
      if (left <= 0 || s.refunds.some((r) => r.refundId === refundId)) continue;
      this.newRefund(s, { refundId, amount: left, reason: `payment ${c.paymentRef} paid this order a second time`, by: 'system', paymentRef: c.paymentRef }, now);
      touch(s, new Date(now));
      this.emit(s, 'order.changed', 'duplicate_payment_refunded', now, refundId);
    }
  }

  /**
   * A refund failed (at once, after it was pending, or reversed after it succeeded): its money is
   * the customer's again. An order that can still ship leaves it to the admin (the view tells the
   * amount). An order that never will (cancelled, failed, refunded) must not keep it: the saga
   * refunds what is owed afresh, up to OWED_REFUND_DELAYS_MS.length times, each after its delay;
   * then the order says it owes the amount (`order.changed` `refund_owed`, and its audit row).
   */
  private refundFailed(s: OrderState, refund: RefundState, now: number): void {
    // A duplicate payment's (or an overpayment's) refund that failed: shown as owed, not retried (docs/orders.md).
    if (isExtraRefund(refund)) return;
    if (!TERMINAL.has(s.status)) {
      s.refundFailedOwed = Math.min(refundable(s), (s.refundFailedOwed ?? 0) + refund.amount);
      return;
    }
    if (refundable(s) <= 0) return;
    const issued = s.refunds.filter((r) => r.refundId.startsWith(`${s.orderId}-owed-`)).length;
    const delay = OWED_REFUND_DELAYS_MS[issued];
    if (delay !== undefined) {
      this.addStep('refund_owed', `owed:${issued + 1}`, { n: issued + 1 }, now + delay);
      return;
    }
    touch(s, new Date(now));
    this.emit(s, 'order.changed', 'refund_owed', now, refund.refundId);
  }

  /**
   * A refund made at the provider outside Agora (the Stripe dashboard) of the order's own payment:
   * recorded as a refund of the order's money (`ext:<provider refund id>`, requested by the
   * provider), settled at once, so the status moves as for any refund and nothing refunds that
   * money again. Once per provider refund.
   */
  private externalRefund(s: OrderState, providerRefundRef: string, amount: number, currency: string | null, provider: string, now: number): void {
    const refundId = externalRefundId(providerRefundRef);
    if (s.refunds.some((r) => r.refundId === refundId || r.providerRefundRef === providerRefundRef)) return;
    // In another currency it cannot be the order's payment (whose currency is the order's).
    if (currency !== null && currency !== s.currency) return;
    s.refunds.push({
      refundId,
      amount,
      reason: `refunded at ${provider}, outside Agora`,
      status: 'pending',
      providerRefundRef,
      requestedBy: `provider:${provider}`,
      createdAt: new Date(now).toISOString(),
    });
    if (s.refundFailedOwed) s.refundFailedOwed = Math.max(0, s.refundFailedOwed - amount);
    this.settleRefund(s, s.refunds[s.refunds.length - 1]!, 'succeeded', providerRefundRef, now);
  }

  /**
   * The cardholder disputed the payment (a chargeback): the order records the provider's latest
   * word (an event older than the one recorded changes nothing) with an `order.changed` event
   * (`dispute_opened`, `dispute_updated`, `dispute_closed`) and its audit row, so someone answers
   * it before the evidence is due. The order's status does not move.
   */
  private disputed(s: OrderState, d: { disputeRef: string; status: string; reason: string | null; evidenceDueBy: string | null; amount: number }, occurredAt: string, now: number): void {
    const current = s.payment.dispute ?? null;
    const same = current?.disputeRef === d.disputeRef;
    if (same && Date.parse(current.updatedAt) > Date.parse(occurredAt)) return;
    // Within the same second (Stripe's events are timed to the second), a closed dispute stays closed.
    if (same && Date.parse(current.updatedAt) === Date.parse(occurredAt) && DISPUTE_CLOSED.has(current.status) && !DISPUTE_CLOSED.has(d.status)) return;
    if (same && current.status === d.status && current.amount === d.amount && current.evidenceDueBy === d.evidenceDueBy) return;
    s.payment.dispute = {
      disputeRef: d.disputeRef,
      status: d.status,
      amount: d.amount,
      reason: d.reason,
      evidenceDueBy: d.evidenceDueBy,
      openedAt: same ? current.openedAt : occurredAt,
      updatedAt: occurredAt,
    };
    touch(s, new Date(now));
    this.emit(s, 'order.changed', DISPUTE_CLOSED.has(d.status) ? 'dispute_closed' : same ? 'dispute_updated' : 'dispute_opened', now);
  }

  private settleRefund(s: OrderState, refund: RefundState, status: 'succeeded' | 'failed', providerRef: string | null, now: number): void {
    if (refund.status === 'succeeded' && status === 'failed') {
      // The provider reversed a refund it had reported done (Stripe: the card was closed, the money
      // came back to the merchant). The money did not reach the customer: it stops counting as
      // refunded (an admin can refund again, by other means if need be). The status does not go
      // back; the order.changed event and its audit row say what happened.
      refund.status = 'failed';
      if (providerRef) refund.providerRefundRef = providerRef;
      touch(s, new Date(now));
      this.emit(s, 'order.changed', 'refund_failed', now, refund.refundId);
      this.refundFailed(s, refund, now);
      return;
    }
    if (refund.status !== 'pending') return;
    refund.status = status;
    if (providerRef) refund.providerRefundRef = providerRef;
    const refundedAll = refundedAmount(s) >= s.payment.amountCaptured && s.payment.amountCaptured > 0;
    // A duplicate payment's (or an overpayment's) refund moves no status: it is not the order's money.
    const movable = s.status !== 'CANCELLED' && s.status !== 'PAYMENT_FAILED' && s.status !== 'REFUNDED' && s.status !== 'PENDING' && !isExtraRefund(refund);
    if (status === 'succeeded' && movable) {
      const from = s.status;
      const to: OrderStatus = refundedAll ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
      transition(s, to, `refund ${refund.refundId}`, new Date(now));
      // Refunded in full before anything shipped: the order can never ship (REFUNDED is final), so
      // its units go back, as a cancellation's do. Not a till sale: its goods left at the till (a
      // return there is a staff return_to_stock). Before 0.3.14 the units stayed sold for good.
      if (gaveUpStock(s)) {
        if (s.stock.status === 'held') this.addStep('release_stock', 'release:1', { reason: 'cancelled' }, now);
        else if (s.stock.status === 'committed') this.addStep('restock', 'restock:1', {}, now);
      }
      this.emit(s, to === 'REFUNDED' ? 'order.refunded' : 'order.partially_refunded', `${from}->${to}`, now, refund.refundId);
    } else {
      touch(s, new Date(now));
      this.emit(s, 'order.changed', `refund_${status}`, now, refund.refundId);
      if (status === 'failed') this.refundFailed(s, refund, now);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Storage helpers
  // ---------------------------------------------------------------------------------------------

  private create(input: PlaceInput): void {
    const now = this.now();
    const at = new Date(now).toISOString();
    const total = subtotal(input.lines);
    const state: OrderState = {
      orderId: input.orderId,
      version: 0,
      status: 'PENDING',
      phase: 'placing',
      userId: input.userId,
      placedBy: input.placedBy,
      channel: input.channel,
      storeId: input.storeId,
      cartId: input.cartId,
      currency: input.currency,
      lines: input.lines,
      subtotal: total,
      total,
      shippingAddress: input.shippingAddress,
      payment: {
        method: input.paymentMethod,
        attemptId: `${input.orderId}-pay1`,
        provider: providerFor(input.paymentMethod),
        status: 'not_started',
        providerRef: null,
        clientAction: null,
        amountCaptured: 0,
        failure: null,
        retryAt: null,
      },
      stock: { reservationId: reservationIdFor(input.orderId), status: 'reserving', items: [] },
      refunds: [],
      shipments: [],
      history: [],
      cancelReason: null,
      rejection: null,
      paymentDueAt: null,
      createdAt: at,
      updatedAt: at,
      correlationId: input.correlationId,
    };
    const doc: SagaDoc = {
      order: state,
      // Persisted before the call: if this object dies mid-call, the alarm finishes placing.
      steps: [{ stepId: 'reserve:1', kind: 'reserve', payload: { distances: input.distances ?? null, shards: input.shards }, attempts: 0, nextAt: now + RESERVE_RETRY_MS, lastError: null }],
      outbox: [],
      ops: { place: input.requestHash },
      applied: [],
    };
    this.sql.exec('INSERT INTO state (k, doc, version) VALUES (?, ?, ?)', 'order', JSON.stringify(doc), 0);
    this.doc = doc;
    void this.ctx.storage.setAlarm(now + RESERVE_RETRY_MS);
  }

  /**
   * The order's state. This instance is its only writer, so it keeps the last state it read or
   * wrote in memory and parses the stored document only after a restart or a failed write.
   * Callers get a copy (RPC results are copies anyway; internal callers must not mutate it).
   */
  private load(): OrderState | null {
    return this.loadDoc()?.order ?? null;
  }

  private loadDoc(): SagaDoc | null {
    if (this.doc) return this.doc;
    const row = this.sql.exec<{ doc: string }>("SELECT doc FROM state WHERE k = 'order'").toArray()[0];
    this.doc = row ? (JSON.parse(row.doc) as SagaDoc) : null;
    return this.doc;
  }

  private saveDoc(doc: SagaDoc): void {
    try {
      this.sql.exec("UPDATE state SET doc = ?, version = ? WHERE k = 'order'", JSON.stringify(doc), doc.order.version);
    } catch (e) {
      this.doc = null;
      throw e;
    }
  }

  private doc: SagaDoc | null = null;

  /**
   * Runs `fn` on the current state in one transaction and saves the state if it changed
   * (version or phase). Returns null when there is no placed order.
   */
  private write<R>(fn: (s: OrderState, now: number) => R, allowPlacing = false): R | null {
    const now = this.now();
    const s = this.load();
    // Verbs see only a placed order; a step's outcome may also complete one being placed.
    if (!s || s.phase === 'rejected' || (s.phase === 'placing' && !allowPlacing)) return null;
    try {
      return this.ctx.storage.transactionSync(() => {
        let result: R;
        try {
          result = fn(s, now);
        } catch (e) {
          if (e instanceof TransitionRefused) {
            this.doc = null; // the in-memory copy may be half changed: reread it
            return fail('INVALID_TRANSITION', e.message, null, e.from) as R;
          }
          throw e;
        }
        if (isFailure(result)) this.doc = null; // a refusal saves nothing; drop any partial change
        else {
          // The one place every change passes: an erased customer's address goes when it is no longer needed.
          if (s.customerErased && s.shippingAddress && !addressNeeded(s)) s.shippingAddress = redactedAddress(s.shippingAddress);
          this.saveDoc(this.doc!);
        }
        return result;
      });
    } catch (e) {
      this.doc = null; // the transaction rolled back: the stored document is the truth
      throw e;
    }
  }

  private op(id: string): { request_hash: string } | undefined {
    const hash = this.loadDoc()?.ops[id];
    return hash === undefined ? undefined : { request_hash: hash };
  }

  private hasStep(stepId: string): boolean {
    return (this.loadDoc()?.steps ?? []).some((st) => st.stepId === stepId);
  }

  /** Adds a step due at `at` (inside a write: saved with it). A step id already pending is kept as is. */
  private addStep(kind: StepKind, stepId: string, payload: Record<string, unknown>, at: number): void {
    const doc = this.doc!;
    if (doc.steps.some((st) => st.stepId === stepId)) return;
    doc.steps.push({ stepId, kind, payload, attempts: 0, nextAt: at, lastError: null });
  }

  private emit(s: OrderState, type: OrderEventType, change: string, now: number, refundId: string | null = null): void {
    const envelope = ORDER_EVENTS[type].create(snapshot(s, change, refundId), {
      correlationId: s.correlationId,
      source: 'orders',
      subject: s.orderId,
      aggregateVersion: s.version,
      occurredAt: new Date(now),
    });
    this.doc!.outbox.push({ body: envelope, nextAt: now + OUTBOX_GRACE_MS, attempts: 0 });
  }

  /** Sends the outbox to the order-events queue; rows are deleted only once the queue has them. */
  private async relay(): Promise<void> {
    const batch = (this.loadDoc()?.outbox ?? []).slice(0, 50);
    if (batch.length === 0) return;
    const ids = new Set(batch.map((e) => e.body.id));
    try {
      await this.ports.publish(batch.map((e) => e.body));
      const doc = this.loadDoc();
      if (!doc) return;
      doc.outbox = doc.outbox.filter((e) => !ids.has(e.body.id));
      this.saveDoc(doc);
    } catch (error) {
      const doc = this.loadDoc();
      if (!doc) return;
      const attempts = (batch[0]?.attempts ?? 0) + 1;
      for (const e of doc.outbox) if (ids.has(e.body.id)) Object.assign(e, { attempts, nextAt: this.now() + backoffMs(attempts) });
      this.saveDoc(doc);
      console.warn(JSON.stringify({ msg: 'order outbox relay failed', error: error instanceof Error ? error.message : String(error) }));
    }
  }

  /** One alarm: the earliest of the due steps, the outbox retry and the payment deadline. */
  private rearm(): void {
    const doc = this.loadDoc();
    const step = doc && doc.steps.length > 0 ? Math.min(...doc.steps.map((st) => st.nextAt)) : null;
    const out = doc && doc.outbox.length > 0 ? Math.min(...doc.outbox.map((e) => e.nextAt)) : null;
    const s = doc?.order ?? null;
    // The deadline wakes the object once: when its `expire` step exists, the step's own retry
    // time rules (a past deadline kept as a candidate re-fired the alarm every 10 ms).
    const due = s && s.status === 'PENDING' && s.paymentDueAt && !doc!.steps.some((st) => st.stepId === 'expire:1') ? Date.parse(s.paymentDueAt) : null;
    const purge = s && s.phase === 'rejected' ? Date.parse(s.updatedAt) + REJECTED_RETENTION_MS : null;
    const candidates = [step, out, due, purge].filter((t): t is number => typeof t === 'number');
    if (candidates.length === 0) {
      void this.ctx.storage.deleteAlarm();
      return;
    }
    void this.ctx.storage.setAlarm(Math.max(Math.min(...candidates), this.now() + 10));
  }
}

function isFailure(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

function fail(code: string, message: string, sku: string | null = null, status?: OrderStatus): OrderFailure {
  return status === undefined ? { ok: false, code, message, sku } : { ok: false, code, message, sku, status };
}

/** Inventory reservation ids are `rsv_` + 32 hex; an order's is derived from its id. */
export function reservationIdFor(orderId: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  let hex = '';
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < orderId.length; i++) {
      h1 = Math.imul(h1 ^ orderId.charCodeAt(i), 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ (orderId.charCodeAt(i) + round), 0x5bd1e995) >>> 0;
    }
    hex += ((h1 ^ h2) >>> 0).toString(16).padStart(8, '0');
  }
  return `rsv_${hex}`;
}

/** Order lines summed per SKU (an order may hold a SKU twice via two lines). */
function aggregateBySku(s: OrderState, shards: Record<string, number>): Array<{ sku: string; quantity: number; shards: number }> {
  const by = new Map<string, number>();
  for (const l of s.lines) by.set(l.sku, (by.get(l.sku) ?? 0) + l.quantity);
  return [...by].map(([sku, quantity]) => ({ sku, quantity, shards: shards[sku] ?? 1 }));
}

export function snapshot(s: OrderState, change: string, refundId: string | null = null): OrderSnapshot {
  return {
    orderId: s.orderId,
    userId: s.userId,
    status: s.status,
    fulfilmentStatus: fulfilmentStatus(s),
    version: s.version,
    channel: s.channel,
    storeId: s.storeId,
    placedBy: s.placedBy,
    currency: s.currency,
    subtotal: s.subtotal,
    total: s.total,
    items: s.lines,
    payment: {
      attemptId: s.payment.attemptId,
      method: s.payment.method,
      provider: s.payment.provider,
      status: s.payment.status,
      providerRef: s.payment.providerRef,
      amountCaptured: s.payment.amountCaptured,
      ...(s.payment.dispute ? { dispute: s.payment.dispute } : {}),
    },
    refunds: s.refunds,
    shipments: s.shipments,
    cancelReason: s.cancelReason,
    change,
    ...(refundId ? { refundId } : {}),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
