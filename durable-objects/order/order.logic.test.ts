import { describe, expect, it } from 'vitest';
import { addressNeeded, backoffMs, cancelledBy, cancelledChange, canTransition, checkShipment, duplicateRefundId, excessRefundId, externalRefundId, fulfilmentStatus, isDuplicateRefund, isExtraRefund, redactedAddress, refundable, refundedAmount, refundOwed, TERMINAL, transition, TransitionRefused, TRANSITIONS } from './order.logic';
import type { OrderState } from './order.schemas';

const line = (itemId: string, quantity: number) => ({ itemId, productId: 'p', variantId: 'v', sku: 's', name: 'n', quantity, unitPrice: 100, lineTotal: 100 * quantity });

function state(over: Partial<OrderState> = {}): OrderState {
  return {
    orderId: 'ord_x', version: 1, status: 'PENDING', phase: 'placed', userId: 'u', placedBy: { kind: 'user', id: 'u', role: 'customer' }, channel: 'web', storeId: null, cartId: null,
    currency: 'USD', lines: [line('itm_1', 2), line('itm_2', 1)], subtotal: 300, total: 300, shippingAddress: null,
    payment: { method: 'CARD', attemptId: 'a', provider: 'stripe', status: 'requires_action', providerRef: null, clientAction: null, amountCaptured: 0, failure: null, retryAt: null },
    stock: { reservationId: 'r', status: 'held', items: [] }, refunds: [], shipments: [], history: [], cancelReason: null, rejection: null,
    paymentDueAt: '2026-01-01T00:00:00.000Z', createdAt: '', updatedAt: '', correlationId: 'c', ...over,
  };
}

describe('order state machine', () => {
  it('terminal states go nowhere; every other state can reach a terminal one', () => {
    for (const t of TERMINAL) expect(TRANSITIONS[t]).toEqual([]);
    expect(canTransition('PENDING', 'PAID')).toBe(true);
    expect(canTransition('PAID', 'PENDING')).toBe(false);
    expect(canTransition('SHIPPED', 'CANCELLED')).toBe(false);
    expect(canTransition('DELIVERED', 'REFUNDED')).toBe(true);
  });

  it('records each transition with a new version and refuses the rest', () => {
    const s = state();
    transition(s, 'PAID', 'paid', new Date(0));
    expect(s).toMatchObject({ status: 'PAID', version: 2, paymentDueAt: null });
    expect(s.history).toEqual([{ version: 2, from: 'PENDING', to: 'PAID', reason: 'paid', at: new Date(0).toISOString() }]);
    expect(() => transition(s, 'PAYMENT_FAILED', 'late', new Date(0))).toThrow(TransitionRefused);
    expect(s.version).toBe(2);
  });

  it('ships straight from PENDING only for cash on delivery', () => {
    expect(() => transition(state(), 'SHIPPED', 'x', new Date(0))).toThrow(TransitionRefused);
    const cod = state({ payment: { ...state().payment, method: 'COD', status: 'due_on_delivery' } });
    transition(cod, 'SHIPPED', 'x', new Date(0));
    expect(cod.status).toBe('SHIPPED');
  });

  it('checks shipments against what is left to ship and knows when the order is complete', () => {
    const s = state();
    expect(checkShipment(s.lines, [], [{ itemId: 'itm_1', quantity: 1 }])).toEqual({ ok: true, complete: false });
    const shipped = [{ shipmentId: 'a', warehouseId: 'w', carrier: 'c', trackingNumber: 't', lines: [{ itemId: 'itm_1', quantity: 2 }], status: 'in_transit' as const, createdAt: '', events: [] }];
    expect(checkShipment(s.lines, shipped, [{ itemId: 'itm_1', quantity: 1 }])).toMatchObject({ ok: false, itemId: 'itm_1' });
    expect(checkShipment(s.lines, shipped, [{ itemId: 'itm_2', quantity: 1 }])).toEqual({ ok: true, complete: true });
    expect(checkShipment(s.lines, [], [{ itemId: 'nope', quantity: 1 }])).toMatchObject({ ok: false });
    expect(fulfilmentStatus({ lines: s.lines, shipments: shipped })).toBe('partially_shipped');
  });

  it('never lets refunds exceed what was captured (pending refunds count)', () => {
    const s = state({ payment: { ...state().payment, status: 'captured', amountCaptured: 300 } });
    expect(refundable(s)).toBe(300);
    s.refunds.push({ refundId: 'a', amount: 200, reason: '', status: 'pending', providerRefundRef: null, requestedBy: 'x', createdAt: '' });
    expect(refundable(s)).toBe(100);
    s.refunds.push({ refundId: 'b', amount: 100, reason: '', status: 'failed', providerRefundRef: null, requestedBy: 'x', createdAt: '' });
    expect(refundable(s)).toBe(100);
  });

  it('backs off exponentially with jitter, within bounds', () => {
    expect(backoffMs(1, 60_000, () => 0.5)).toBe(2000);
    expect(backoffMs(3, 60_000, () => 0)).toBe(6400);
    expect(backoffMs(30, 60_000, () => 1)).toBe(72_000);
  });
});

describe('the shipping address after an erasure', () => {
  const line = { itemId: 'i1', quantity: 2 } as OrderState['lines'][number];
  const shipment = (quantity: number, status: string) => ({ lines: [{ itemId: 'i1', quantity }], status }) as unknown as OrderState['shipments'][number];
  const order = (status: OrderState['status'], shipments: OrderState['shipments'] = []) => ({ status, lines: [line], shipments });

  it('is needed while the order can still ship or is on its way, not once it is done', () => {
    expect(addressNeeded(order('PENDING'))).toBe(true);
    expect(addressNeeded(order('PAID'))).toBe(true);
    expect(addressNeeded(order('PARTIALLY_SHIPPED', [shipment(1, 'in_transit')]))).toBe(true);
    expect(addressNeeded(order('SHIPPED', [shipment(2, 'in_transit')]))).toBe(true);
    expect(addressNeeded(order('PARTIALLY_REFUNDED'))).toBe(true);
    expect(addressNeeded(order('PARTIALLY_REFUNDED', [shipment(2, 'delivered')]))).toBe(false);
    for (const done of ['DELIVERED', 'CANCELLED', 'PAYMENT_FAILED', 'REFUNDED'] as const) expect(addressNeeded(order(done)), done).toBe(false);
  });

  it('keeps only the country', () => {
    expect(redactedAddress({ name: 'Asha Rao', line1: '12 MG Road', city: 'Bengaluru', postalCode: '560001', country: 'IN', phone: '+91' })).toEqual({ country: 'IN' });
    expect(redactedAddress({ name: 'No country' })).toBeNull();
    expect(redactedAddress(null)).toBeNull();
  });
});

describe('money owed back', () => {
  const refund = (refundId: string, amount: number, status: 'pending' | 'succeeded' | 'failed') => ({ refundId, amount, status, reason: 'r', providerRefundRef: null, requestedBy: 'system', createdAt: '' });
  const paid = (over: Partial<OrderState>) => state({ payment: { ...state().payment, status: 'captured', amountCaptured: 300 }, ...over });

  it('a duplicate payment\'s refund id is derived from the payment id, at most 40 characters, and never counts as the order\'s money', () => {
    const id = duplicateRefundId('ord_01m8aq74hhhqx0yfh0sj6579tt', 'pay_Abc123Def456Gh');
    expect(id).toBe(duplicateRefundId('ord_01m8aq74hhhqx0yfh0sj6579tt', 'pay_Abc123Def456Gh'));
    expect(id).not.toBe(duplicateRefundId('ord_01m8aq74hhhqx0yfh0sj6579tt', 'pay_Abc123Def456Gi'));
    expect(id.length).toBeLessThanOrEqual(40);
    expect(isDuplicateRefund({ refundId: id })).toBe(true);
    expect(isDuplicateRefund({ refundId: 'ord_x-owed-1' })).toBe(false);
    const s = paid({ status: 'PAID', refunds: [refund(id, 300, 'succeeded')] });
    expect([refundable(s), refundedAmount(s), refundOwed(s)]).toEqual([300, 0, 0]);
  });

  it('an overpayment\'s excess refund is not the order\'s money (as a duplicate\'s); a refund made at the provider outside Agora is', () => {
    const excess = excessRefundId('ord_x');
    expect(excess).toBe('ord_x-excess');
    expect([isExtraRefund({ refundId: excess }), isExtraRefund({ refundId: duplicateRefundId('ord_x', 'pay_1') }), isExtraRefund({ refundId: externalRefundId('re_1') }), isExtraRefund({ refundId: 'ord_x-late' })]).toEqual([true, true, false, false]);
    const s = paid({ status: 'PAID', refunds: [refund(excess, 50, 'succeeded'), refund(externalRefundId('re_1'), 100, 'succeeded')] });
    expect([refundable(s), refundedAmount(s), refundOwed(s)]).toEqual([200, 100, 0]);
    expect(refundOwed(paid({ status: 'PAID', refunds: [refund(excess, 50, 'failed')] }))).toBe(50);
  });

  it('owed: on an order that can never ship, all captured and not refunded or under way; on one that can still ship, what failed refunds left (never more than refundable)', () => {
    expect(refundOwed(paid({ status: 'CANCELLED', refunds: [refund('c', 300, 'failed')] }))).toBe(300);
    expect(refundOwed(paid({ status: 'CANCELLED', refunds: [refund('c', 300, 'failed'), refund('o1', 300, 'pending')] }))).toBe(0);
    expect(refundOwed(paid({ status: 'REFUNDED', refunds: [refund('a', 100, 'succeeded'), refund('b', 200, 'failed')] }))).toBe(200);
    expect(refundOwed(state({ status: 'PAYMENT_FAILED' }))).toBe(0);
    expect(refundOwed(paid({ status: 'PAID', refunds: [refund('a', 100, 'failed')] }))).toBe(0);
    expect(refundOwed(paid({ status: 'PAID', refunds: [refund('a', 100, 'failed')], refundFailedOwed: 100 }))).toBe(100);
    expect(refundOwed(paid({ status: 'PARTIALLY_REFUNDED', refunds: [refund('a', 250, 'succeeded')], refundFailedOwed: 100 }))).toBe(50);
    expect(refundOwed(paid({ status: 'PAID', refunds: [refund(duplicateRefundId('ord_x', 'pay_1'), 300, 'failed')] }))).toBe(300);
  });

  it('a cancellation names the person who made it, not the system\'s own', () => {
    expect(cancelledChange('PAID', 'user:usr_1')).toBe('PAID->CANCELLED by user:usr_1');
    expect(cancelledBy(cancelledChange('PENDING', 'client:cli_9'))).toBe('client:cli_9');
    expect(cancelledChange('PENDING', 'system')).toBe('PENDING->CANCELLED');
    expect(cancelledBy('PENDING->CANCELLED')).toBeNull();
  });
});
