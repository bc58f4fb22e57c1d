/**
 * The order saga object itself: crash and resume, early and duplicate provider events, the unpaid
 * deadline, a payment that lands after a cancellation, and a provider that is down (retries,
 * breaker, no double charge). The ports are the real ones (inventory objects, the payments
 * strategies against the Stripe emulator); a test wraps one of them only to inject a failure.
 */
import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { newId } from '../../shared/kernel/ids';
import { newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { available, deliverWebhooks, emulator, eventually, STRIPE as STRIPE_URL, stockedProduct } from '../../test/support/orders';
import { REFUND_CHECK_MS, REJECTED_RETENTION_MS, type OrderDurableObject } from './order.do';
import { excessRefundId, OWED_REFUND_DELAYS_MS, owedRefundId, refundable, refundedAmount, refundOwed } from './order.logic';
import type { PlaceInput } from './order.schemas';
import { orderFor } from './order.stub';
import type { InventoryDurableObject } from '../inventory/inventory.do';
import { inventoryFor } from '../inventory/inventory.stub';

async function setup(units: number, quantity: number, over: Partial<PlaceInput> = {}) {
  const p = await stockedProduct(units);
  const c = await newCustomer();
  const orderId = newId('order');
  const input: PlaceInput = {
    orderId,
    requestHash: 'h1',
    userId: c.user.id,
    placedBy: { kind: 'user', id: c.user.id, role: 'customer' },
    channel: 'web',
    storeId: null,
    cartId: null,
    currency: 'USD',
    lines: [{ itemId: 'itm_1', productId: p.productId, variantId: p.variantId, sku: p.sku, name: 'x', quantity, unitPrice: p.price, lineTotal: p.price * quantity }],
    shippingAddress: null,
    paymentMethod: 'CARD',
    shards: { [p.sku]: 1 },
    correlationId: 'test',
    ...over,
  };
  return { p, input, stub: orderFor(env, orderId) };
}

/** Places the order and has the shopper pay it at the emulator (its webhooks not delivered yet); the PaymentIntent id. */
async function placeAndPay(stub: ReturnType<typeof orderFor>, input: PlaceInput): Promise<string> {
  const placed = await stub.place(input);
  if (!placed.ok) throw new Error(JSON.stringify(placed));
  const pi = placed.order.payment.providerRef!;
  await emulator(`/_emulator/payment_intents/${pi}/succeed`, { method: 'POST' });
  return pi;
}

type Instance = OrderDurableObject;
const paymentIntents = async (attemptId: string) =>
  ((await emulator('/_emulator/requests')).requests as Array<{ method: string; path: string; status: number; key?: string }>).filter(
    (r) => r.key === attemptId && r.method === 'POST' && r.path === '/v1/payment_intents',
  );

describe('order saga object', () => {
  it('resumes after dying mid-checkout: the alarm finishes placing with the same ids, stock held once', async () => {
    const { p, input, stub } = await setup(5, 2);
    const first = await runInDurableObject(stub, async (o: Instance) => {
      const real = o.ports;
      o.ports = { ...real, inventory: { ...real.inventory, reserve: async () => Promise.reject(new Error('connection reset by peer')) } };
      const r = await o.place(input);
      o.ports = real;
      return { r, steps: o.pendingSteps() };
    });
    expect(first.r).toMatchObject({ ok: false, code: 'DEPENDENCY_UNAVAILABLE' });
    expect(first.steps.map((s) => s.kind)).toEqual(['reserve']);
    expect(await stub.view()).toBeNull();
    expect(await available(p.sku)).toBe(5);

    // Nobody retries: the step persisted before the call falls due (time passes) and the object's alarm picks the saga up.
    expect(await stub.dueNow()).toBe(1);
    // dueNow sets the alarm to now: it may fire by itself before runDurableObjectAlarm (which then
    // finds none to run), so the test waits for its effect rather than for who ran it.
    await runDurableObjectAlarm(stub);
    const order = await eventually(() => stub.view(), (o) => o?.phase === 'placed', 10_000);
    expect(order).toMatchObject({ status: 'PENDING', phase: 'placed', version: 1, payment: { status: 'requires_action' } });
    expect(await available(p.sku)).toBe(3);
    // The client's retry (same request) answers the same order and holds nothing more.
    const again = await stub.place(input);
    expect(again).toMatchObject({ ok: true, replayed: true, order: { orderId: input.orderId } });
    expect(await available(p.sku)).toBe(3);
    expect(await stub.place({ ...input, requestHash: 'other' })).toMatchObject({ ok: false, code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('applies an early webhook (before the payment call returned) and duplicates once', async () => {
    const { p, input, stub } = await setup(4, 1);
    const placed = await runInDurableObject(stub, async (o: Instance) => {
      const real = o.ports;
      o.ports = { ...real, payments: { ...real.payments, begin: async () => Promise.reject(new Error('socket hang up')) } };
      const r = await o.place(input);
      o.ports = real;
      return r;
    });
    expect(placed).toMatchObject({ ok: true, order: { status: 'PENDING', payment: { status: 'not_started' } } });
    const event = { eventId: 'stripe:evt_early', provider: 'stripe' as const, type: 'succeeded' as const, attemptId: `${input.orderId}-pay1`, providerRef: 'pi_early', amount: p.price, occurredAt: new Date().toISOString() };
    const paid = await stub.applyPaymentEvent(event);
    expect(paid).toMatchObject({ ok: true, replayed: false, order: { status: 'PAID', payment: { status: 'captured', amountCaptured: p.price } } });
    const version = paid.ok ? paid.order.version : -1;
    expect(await stub.applyPaymentEvent(event)).toMatchObject({ ok: true, replayed: true, order: { version } });
    // Another event of the same outcome, and a late failure, change nothing.
    expect(await stub.applyPaymentEvent({ ...event, eventId: 'stripe:evt_dup2' })).toMatchObject({ ok: true, order: { status: 'PAID', version } });
    expect(await stub.applyPaymentEvent({ ...event, eventId: 'stripe:evt_fail', type: 'failed', failure: { code: 'card_declined', message: 'no' } })).toMatchObject({ ok: true, order: { status: 'PAID' } });
    // The postponed payment step then finds the order paid and does not charge.
    await runInDurableObject(stub, (o: Instance) => o.nudge());
    const steps = await runInDurableObject(stub, (o: Instance) => o.pendingSteps());
    await stub.nudge();
    expect(steps.filter((s) => s.kind === 'commit_stock')).toEqual([]);
    expect(await paymentIntents(`${input.orderId}-pay1`)).toEqual([]);
    const inv = await available(p.sku);
    expect(inv).toBe(3);
  });

  it('cancels itself at the payment deadline and releases its stock (after asking the provider)', async () => {
    const { p, input, stub } = await setup(3, 3);
    await runInDurableObject(stub, async (o: Instance) => {
      o.ports = { ...o.ports, config: { paymentTimeoutMs: 1000 } };
      await o.place(input);
    });
    expect(await available(p.sku)).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    // The alarm fires by itself at the deadline; running it again (if still set) changes nothing.
    await runDurableObjectAlarm(stub);
    const order = await eventually(() => stub.view(), (o) => o?.status === 'CANCELLED' && o.payment.status === 'cancelled', 10_000);
    expect(order).toMatchObject({ status: 'CANCELLED', cancelReason: 'payment_timeout', payment: { status: 'cancelled' } });
    expect(await available(p.sku)).toBe(3);
  });

  it('refunds a payment that was captured while the order was being cancelled', async () => {
    const { p, input, stub } = await setup(2, 2);
    // The shopper pays; the webhook has not arrived yet when they cancel.
    await placeAndPay(stub, input);
    const cancelled = await stub.cancel({ opId: 'c1', by: 'user:x', reason: 'changed my mind' });
    expect(cancelled).toMatchObject({ ok: true, order: { status: 'CANCELLED' } });
    const order = await stub.view();
    expect(order?.payment).toMatchObject({ status: 'captured', amountCaptured: 2 * p.price });
    expect(order?.refunds).toHaveLength(1);
    expect(order?.refunds[0]).toMatchObject({ amount: 2 * p.price });
    expect(['pending', 'succeeded']).toContain(order?.refunds[0]?.status);
    expect(await available(p.sku)).toBe(2);
  });

  it('takes the goods of a paid order whose stock hold lapsed (inventory unreachable past its TTL): recorded as a sale that already happened, nothing left pending', async () => {
    const { p, input, stub } = await setup(5, 2);
    const placed = await stub.place(input);
    expect(placed).toMatchObject({ ok: true, order: { status: 'PENDING' } });
    expect(await available(p.sku)).toBe(3);
    // The hold expires in the SKU's object (its clock moved past the TTL, its alarm run): the units come back.
    const sku = inventoryFor(env, p.sku);
    await runInDurableObject(sku, (o: InventoryDurableObject) => {
      const previous = o.clock;
      o.clock = { now: () => new Date(previous.now().getTime() + 7 * 24 * 3600_000) };
    });
    await runDurableObjectAlarm(sku);
    expect(await available(p.sku)).toBe(5);
    // The payment is captured anyway (within the order's own deadline as the provider saw it).
    const paid = await stub.applyPaymentEvent({
      eventId: 'stripe:evt_lapsed',
      provider: 'stripe',
      type: 'succeeded',
      attemptId: `${input.orderId}-pay1`,
      providerRef: placed.ok ? placed.order.payment.providerRef! : 'pi_x',
      amount: 2 * p.price,
      occurredAt: new Date().toISOString(),
    });
    expect(paid).toMatchObject({ ok: true, order: { status: 'PAID' } });
    await stub.nudge();
    const order = await eventually(() => stub.view(), (o) => o?.stock.status === 'committed', 10_000);
    expect(order).toMatchObject({ status: 'PAID', stock: { status: 'committed' } });
    expect(await runInDurableObject(stub, (o: Instance) => o.pendingSteps())).toEqual([]);
    // The 2 units left on hand, through the rule of a sale that already happened (flagged when it oversells).
    const view = await sku.levels();
    expect(view.totals).toMatchObject({ onHand: 3, available: 3 });
    const sales = await runInDurableObject(sku, (_o: InventoryDurableObject, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM movements WHERE kind = 'offline_sale'").one().n,
    );
    expect(sales).toBe(1);
  });

  it('keeps a refused placement for a day (a retry answers the same refusal), then deletes its storage', async () => {
    const { p, input, stub } = await setup(1, 3);
    expect(await stub.place(input)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    expect(await stub.place(input)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    const kept = await runInDurableObject(stub, async (_o: Instance, state) => ({
      rows: state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM state').one().n,
      alarm: await state.storage.getAlarm(),
    }));
    expect(kept.rows).toBe(1);
    expect(kept.alarm).toBeGreaterThan(Date.now() + REJECTED_RETENTION_MS - 60_000);
    // Before the retention has passed, the alarm keeps it.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.place(input)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    await runInDurableObject(stub, (o: Instance) => {
      o.clock = { now: () => new Date(Date.now() + REJECTED_RETENTION_MS + 60_000) };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = await runInDurableObject(stub, async (_o: Instance, state) => ({
      rows: state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM state').one().n,
      alarm: await state.storage.getAlarm(),
    }));
    expect(after).toEqual({ rows: 0, alarm: null });
    expect(await stub.view()).toBeNull();
    // The object still answers (its schema is back): the same request meets the inventory's own
    // stored refusal of that reservation op id, and nothing was held meanwhile.
    expect(await stub.place(input)).toMatchObject({ ok: false, code: 'OUT_OF_STOCK' });
    expect(await available(p.sku)).toBe(1);
  });

  it('asks the provider about a refund it answered pending when no webhook settles it', async () => {
    const { p, input, stub } = await setup(3, 2);
    const pi = await placeAndPay(stub, input);
    await deliverWebhooks(pi);
    expect(await stub.view()).toMatchObject({ status: 'PAID' });
    // The provider answers this refund `pending`; its webhooks are never delivered here.
    const refundId = `rfd_pending_${crypto.randomUUID().slice(0, 8)}`;
    const faults = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pendingRefunds: refundId }) };
    await emulator('/_emulator/faults', faults);
    try {
      expect(await stub.refund({ refundId, requestHash: 'r1', amount: p.price, reason: 'scratched', by: 'user:usr_admin' })).toMatchObject({ ok: true });
      const pending = await stub.view();
      expect(pending?.refunds).toEqual([expect.objectContaining({ refundId, status: 'pending' })]);
      const providerRefundRef = pending!.refunds[0]!.providerRefundRef!;
      expect(providerRefundRef).toMatch(/^re_/);
      const check = (await runInDurableObject(stub, (o: Instance) => o.pendingSteps())).find((st) => st.kind === 'check_refund');
      expect(check?.nextAt).toBeGreaterThan(Date.now() + REFUND_CHECK_MS - 60_000);

      // Asked while still pending: the step stays and asks again later.
      await stub.retryStepsNow();
      const again = (await runInDurableObject(stub, (o: Instance) => o.pendingSteps())).find((st) => st.kind === 'check_refund');
      expect(again).toMatchObject({ attempts: 1, lastError: expect.stringContaining('still pending') });
      expect((await stub.view())?.refunds[0]?.status).toBe('pending');

      // The bank pays it out; the next check settles the refund and the order moves on.
      await emulator(`/_emulator/refunds/${providerRefundRef}/succeed`, { method: 'POST' });
      await stub.retryStepsNow();
      const settled = await stub.view();
      expect(settled).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunds: [{ refundId, status: 'succeeded' }] });
      expect((await runInDurableObject(stub, (o: Instance) => o.pendingSteps())).filter((st) => st.kind === 'check_refund')).toEqual([]);
    } finally {
      await fetch(`${STRIPE_URL}/_emulator/faults?match=${encodeURIComponent(refundId)}`, { method: 'DELETE' });
    }
  });

  it('a cancelled paid order whose refunds keep failing: its alarm refunds what is owed afresh after 1 min, 10 min and 1 h (by its clock), never before, then stops and owes it', async () => {
    const { p, input, stub } = await setup(3, 1);
    const pi = await placeAndPay(stub, input);
    await deliverWebhooks(pi);
    expect(await stub.view()).toMatchObject({ status: 'PAID' });
    const r = await runInDurableObject(stub, async (o: Instance) => {
      const real = o.ports;
      const previous = o.clock;
      let t = previous.now().getTime();
      o.clock = { now: () => new Date(t) };
      const calls: string[] = [];
      o.ports = {
        ...real,
        payments: {
          ...real.payments,
          refund: async (x) => {
            calls.push(x.refundId);
            return { status: 'failed', providerRefundRef: null, failure: { code: 'card_closed', message: 'the card was closed' } };
          },
        },
      };
      try {
        let failedAt = t;
        await o.cancel({ opId: 'c1', by: 'user:x', reason: 'changed my mind' });
        const waits: Array<{ stepId: string; dueIn: number; callsBeforeDue: number }> = [];
        for (let n = 1; n <= OWED_REFUND_DELAYS_MS.length; n++) {
          const step = o.pendingSteps().find((st) => st.kind === 'refund_owed')!;
          // The alarm before the step is due does nothing; when it is due, it refunds again.
          t = step.nextAt - 1;
          await o.alarm();
          waits.push({ stepId: step.stepId, dueIn: step.nextAt - failedAt, callsBeforeDue: calls.length });
          t = failedAt = step.nextAt;
          await o.alarm();
        }
        return { calls, waits, steps: o.pendingSteps().map((st) => st.kind), order: o.view()! };
      } finally {
        o.ports = real;
        o.clock = previous;
      }
    });
    expect(r.calls).toEqual([`${input.orderId}-cancel`, owedRefundId(input.orderId, 1), owedRefundId(input.orderId, 2), owedRefundId(input.orderId, 3)]);
    expect(r.waits).toEqual([
      { stepId: 'owed:1', dueIn: OWED_REFUND_DELAYS_MS[0], callsBeforeDue: 1 },
      { stepId: 'owed:2', dueIn: OWED_REFUND_DELAYS_MS[1], callsBeforeDue: 2 },
      { stepId: 'owed:3', dueIn: OWED_REFUND_DELAYS_MS[2], callsBeforeDue: 3 },
    ]);
    expect(r.steps).not.toContain('refund_owed');
    expect(r.order).toMatchObject({ status: 'CANCELLED', payment: { amountCaptured: p.price } });
    expect(r.order.refunds.map((x) => [x.refundId, x.status, x.amount])).toEqual([
      [`${input.orderId}-cancel`, 'failed', p.price],
      [owedRefundId(input.orderId, 1), 'failed', p.price],
      [owedRefundId(input.orderId, 2), 'failed', p.price],
      [owedRefundId(input.orderId, 3), 'failed', p.price],
    ]);
    expect(refundOwed(r.order)).toBe(p.price);
  });

  it('records a dispute of its own payment (opened, closed lost, an older update delivered late) with an event and an audit row each; a dispute of another intent or without our attempt id changes nothing; the status does not move', async () => {
    const { p, input, stub } = await setup(3, 1);
    const pi = await placeAndPay(stub, input);
    await deliverWebhooks(pi);
    expect(await stub.view()).toMatchObject({ status: 'PAID' });
    const t0 = Date.now();
    const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();
    const due = at(7 * 86_400);
    const base = { provider: 'stripe' as const, type: 'dispute' as const, attemptId: `${input.orderId}-pay1`, providerRef: pi, amount: p.price, currency: 'USD' };
    const word = (status: string) => ({ disputeRef: 'dp_probe1', status, reason: 'fraudulent', evidenceDueBy: due });
    const opened = await stub.applyPaymentEvent({ ...base, eventId: 'stripe:evt_dp1', occurredAt: at(0), dispute: word('needs_response') });
    expect(opened).toMatchObject({ ok: true, order: { status: 'PAID', payment: { dispute: { disputeRef: 'dp_probe1', status: 'needs_response', amount: p.price, reason: 'fraudulent', evidenceDueBy: due, openedAt: at(0), updatedAt: at(0) } } } });
    const v = opened.ok ? opened.order.version : -1;
    expect(await stub.applyPaymentEvent({ ...base, providerRef: 'pi_someoneelse', eventId: 'stripe:evt_dpx', occurredAt: at(1), dispute: word('lost') })).toMatchObject({ ok: true, order: { version: v } });
    expect(await stub.applyPaymentEvent({ ...base, attemptId: null, eventId: 'stripe:evt_dpy', occurredAt: at(1), dispute: word('lost') })).toMatchObject({ ok: true, order: { version: v } });
    const closed = await stub.applyPaymentEvent({ ...base, eventId: 'stripe:evt_dp3', occurredAt: at(120), dispute: word('lost') });
    expect(closed).toMatchObject({ ok: true, order: { status: 'PAID', version: v + 1, payment: { dispute: { status: 'lost', openedAt: at(0), updatedAt: at(120) } } } });
    expect(await stub.applyPaymentEvent({ ...base, eventId: 'stripe:evt_dp2', occurredAt: at(60), dispute: word('under_review') })).toMatchObject({ ok: true, order: { version: v + 1, payment: { dispute: { status: 'lost' } } } });
    const trail = await eventually(
      () => rows<{ action: string; outcome: string; actor_kind: string; actor_id: string | null; status: string; due: string }>(
        sql`select action, outcome, actor_kind, actor_id, data->>'status' as status, data->>'evidenceDueBy' as due from audit_log where target_id = ${input.orderId} and action like 'order.payment.dispute.%' order by action`,
      ),
      (r) => r.length >= 2,
      10_000,
    );
    expect(trail).toEqual([
      { action: 'order.payment.dispute.closed', outcome: 'failure', actor_kind: 'system', actor_id: 'stripe', status: 'lost', due },
      { action: 'order.payment.dispute.opened', outcome: 'failure', actor_kind: 'system', actor_id: 'stripe', status: 'needs_response', due },
    ]);
  });

  it('a payment of more than the order: PAID for its total, the excess refunded once as money that was never the order\'s (no status move, not counted as refunded nor against what may be refunded)', async () => {
    const { p, input, stub } = await setup(3, 1);
    const placed = await stub.place(input);
    if (!placed.ok) throw new Error(JSON.stringify(placed));
    const r = await runInDurableObject(stub, async (o: Instance) => {
      const real = o.ports;
      const refunds: Array<{ refundId: string; amount: number }> = [];
      o.ports = { ...real, payments: { ...real.payments, refund: async (x) => (refunds.push({ refundId: x.refundId, amount: x.amount }), { status: 'succeeded', providerRefundRef: 're_excess' }) } };
      try {
        const event = { eventId: 'stripe:evt_over', provider: 'stripe' as const, type: 'succeeded' as const, attemptId: `${input.orderId}-pay1`, providerRef: placed.order.payment.providerRef, amount: p.price + 250, currency: 'USD', occurredAt: new Date().toISOString() };
        await o.applyPaymentEvent(event);
        await o.applyPaymentEvent({ ...event, eventId: 'stripe:evt_over2' });
        return { refunds, order: o.view()! };
      } finally {
        o.ports = real;
      }
    });
    expect(r.refunds).toEqual([{ refundId: excessRefundId(input.orderId), amount: 250 }]);
    expect(r.order).toMatchObject({ status: 'PAID', payment: { status: 'captured', amountCaptured: p.price }, refunds: [{ refundId: excessRefundId(input.orderId), status: 'succeeded', amount: 250 }] });
    expect([refundedAmount(r.order), refundable(r.order), refundOwed(r.order)]).toEqual([0, p.price, 0]);
  });

  it('waits out a provider that is down: retries, the breaker opens, one PaymentIntent in the end', async () => {
    const { input, stub } = await setup(2, 1);
    const attemptId = `${input.orderId}-pay1`;
    // The next 5 Stripe calls carrying this attempt's idempotency key fail with 503.
    await emulator('/_emulator/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ status: 503, times: 5, match: `key=${attemptId}` }] }) });
    const placed = await stub.place(input);
    expect(placed).toMatchObject({ ok: true, order: { status: 'PENDING', payment: { status: 'not_started' } } });
    expect(placed.ok && placed.order.payment.retryAt).toBeTruthy();
    const afterFirst = (await paymentIntents(attemptId)).length;
    expect(afterFirst).toBe(4); // the first try and 3 retries

    // Second round: the 5th consecutive failure opens the breaker; the rest fail fast.
    await stub.retryStepsNow();
    expect((await paymentIntents(attemptId)).length).toBe(5);
    await stub.retryStepsNow();
    expect((await paymentIntents(attemptId)).length).toBe(5); // open: nothing sent
    expect(await stub.view()).toMatchObject({ status: 'PENDING', payment: { status: 'not_started' } });

    // After the cooldown one probe goes through, succeeds, and the saga carries on: one attempt, one intent.
    await new Promise((r) => setTimeout(r, 1600));
    await stub.retryStepsNow();
    const order = await stub.view();
    expect(order).toMatchObject({ status: 'PENDING', payment: { status: 'requires_action', attemptId } });
    const calls = await paymentIntents(attemptId);
    expect(calls.filter((c) => c.status === 200)).toHaveLength(1);
  });
});
