import { describe, expect, it } from 'vitest';
import { addressNeeded, backoffMs, canTransition, checkShipment, fulfilmentStatus, redactedAddress, refundable, TERMINAL, transition, TransitionRefused, TRANSITIONS } from './order.logic';
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
