import type { OrderDurableObject } from './order.do';

/** The one way to reach an order's object (STYLE rule 6): `order:<orderId>`. */
export type OrdersEnv = Pick<Env, 'ORDERS'>;
export type OrderStub = DurableObjectStub<OrderDurableObject>;

export function orderFor(env: OrdersEnv, orderId: string): OrderStub {
  const ns = env.ORDERS;
  return ns.get(ns.idFromName(`order:${orderId}`));
}

export type { OrderResult, OrderFailure } from './order.do';
export type { OrderState, PaymentMethod, OrderStatus, PaymentEventInput, TrackingEvent, ReservedItem } from './order.schemas';
export type { SagaPorts, InventoryPort, PaymentsPort, BeginOutcome, RetrieveOutcome, ReserveOutcome, CapturedPayment } from './order.ports';
export { registerOrderSagaPorts } from './order.ports';
export { snapshot as orderSnapshot } from './order.do';
/** Canonical JSON (sorted keys) for request hashes: the same body always hashes the same. */
export { stableJson } from './order.logic';
/** The order's money views (public DTO, projection) and the event formats the projection reads. */
export { cancelledBy, isDuplicateRefund, isExtraRefund, refundedAmount, refundOwed } from './order.logic';
