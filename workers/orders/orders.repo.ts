import { and, desc, eq, exists, gte, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { erasedCustomers, orderItems, orderPayments, orderRefunds, orderShipments, orders } from '../../shared/db/schema/orders';
import type { OrderSnapshot } from '../../shared/events';

/** Postgres side of orders: the projection kept by the order-events consumer, and its reads. */
type Db = AnyDb | HttpDb;

export type ProjectOutcome = 'inserted' | 'updated' | 'stale';

/**
 * Writes the order as of `snap.version` unless the projection already holds that version or a
 * newer one (events arrive in any order, some more than once). Child rows are replaced with the
 * order row, in the caller's transaction.
 */
export async function projectOrder(tx: AnyDb, snap: OrderSnapshot): Promise<ProjectOutcome> {
  const refunded = snap.refunds.filter((r) => r.status === 'succeeded').reduce((s, r) => s + r.amount, 0);
  const row = {
    id: snap.orderId,
    userId: snap.userId,
    status: snap.status,
    fulfilmentStatus: snap.fulfilmentStatus,
    version: snap.version,
    channel: snap.channel,
    storeId: snap.storeId,
    currency: snap.currency,
    subtotal: snap.subtotal,
    total: snap.total,
    amountCaptured: snap.payment.amountCaptured,
    amountRefunded: refunded,
    paymentMethod: snap.payment.method,
    paymentStatus: snap.payment.status,
    itemCount: snap.items.reduce((s, i) => s + i.quantity, 0),
    snapshot: snap,
    createdAt: new Date(snap.createdAt),
    updatedAt: new Date(snap.updatedAt),
  };
  const written = await tx
    .insert(orders)
    .values(row)
    .onConflictDoUpdate({ target: orders.id, set: { ...row, id: undefined }, setWhere: lt(orders.version, snap.version) })
    .returning({ version: orders.version, inserted: sql<boolean>`(xmax = 0)` });
  if (written.length === 0) return 'stale';
  const id = snap.orderId;
  const inserted = written[0]!.inserted;
  // Items never change after placement: written with the order's first row. Payments, refunds and
  // shipments only grow or change in place: upserted by their ids (no deletes).
  if (inserted) await tx.insert(orderItems).values(snap.items.map((i) => ({ orderId: id, ...i }))).onConflictDoNothing();
  const payment = {
    orderId: id,
    method: snap.payment.method,
    provider: snap.payment.provider,
    providerRef: snap.payment.providerRef,
    status: snap.payment.status,
    amountCaptured: snap.payment.amountCaptured,
  };
  await tx
    .insert(orderPayments)
    .values({ attemptId: snap.payment.attemptId, ...payment })
    .onConflictDoUpdate({ target: orderPayments.attemptId, set: payment });
  if (snap.refunds.length > 0) {
    await tx
      .insert(orderRefunds)
      .values(snap.refunds.map((r) => ({ refundId: r.refundId, orderId: id, amount: r.amount, status: r.status, reason: r.reason, providerRefundRef: r.providerRefundRef, requestedBy: r.requestedBy, createdAt: new Date(r.createdAt) })))
      .onConflictDoUpdate({ target: orderRefunds.refundId, set: { status: sql`excluded.status`, providerRefundRef: sql`excluded.provider_refund_ref` } });
  }
  if (snap.shipments.length > 0) {
    await tx
      .insert(orderShipments)
      .values(snap.shipments.map((sh) => ({ shipmentId: sh.shipmentId, orderId: id, warehouseId: sh.warehouseId, carrier: sh.carrier, trackingNumber: sh.trackingNumber, status: sh.status, lines: sh.lines, createdAt: new Date(sh.createdAt) })))
      .onConflictDoUpdate({ target: orderShipments.shipmentId, set: { status: sql`excluded.status` } });
  }
  return inserted ? 'inserted' : 'updated';
}

export interface ListPosition {
  createdAt: string;
  id: string;
}

export interface OrderFilter {
  userId?: string | undefined;
  storeId?: string | undefined;
  status?: string | undefined;
  paymentMethod?: string | undefined;
  sku?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export async function listOrders(db: Db, filter: OrderFilter, limit: number, after?: ListPosition) {
  const where: SQL[] = [];
  if (filter.userId) where.push(eq(orders.userId, filter.userId));
  if (filter.storeId) where.push(eq(orders.storeId, filter.storeId));
  if (filter.status) where.push(eq(orders.status, filter.status));
  if (filter.paymentMethod) where.push(eq(orders.paymentMethod, filter.paymentMethod));
  if (filter.createdFrom) where.push(gte(orders.createdAt, new Date(filter.createdFrom)));
  if (filter.createdTo) where.push(lte(orders.createdAt, new Date(filter.createdTo)));
  if (filter.sku) {
    where.push(exists((db as AnyDb).select({ one: sql`1` }).from(orderItems).where(and(eq(orderItems.orderId, orders.id), eq(orderItems.sku, filter.sku)))));
  }
  if (after) {
    const at = new Date(after.createdAt);
    where.push(or(lt(orders.createdAt, at), and(eq(orders.createdAt, at), lt(orders.id, after.id)))!);
  }
  return (db as AnyDb)
    .select({
      id: orders.id,
      status: orders.status,
      fulfilmentStatus: orders.fulfilmentStatus,
      total: orders.total,
      currency: orders.currency,
      itemCount: orders.itemCount,
      paymentMethod: orders.paymentMethod,
      createdAt: orders.createdAt,
      updatedAt: orders.updatedAt,
    })
    .from(orders)
    .where(where.length > 0 ? and(...where) : undefined)
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(limit + 1);
}

/** The order ids holding a parcel with this carrier's tracking number. */
export async function ordersByTracking(db: Db, carrier: string, trackingNumber: string): Promise<string[]> {
  const rows = await (db as AnyDb)
    .select({ orderId: orderShipments.orderId })
    .from(orderShipments)
    .where(and(eq(orderShipments.carrier, carrier), eq(orderShipments.trackingNumber, trackingNumber)));
  return [...new Set(rows.map((r) => r.orderId))];
}

export async function projectedVersions(db: Db, ids: string[]) {
  if (ids.length === 0) return [];
  return (db as AnyDb).select({ id: orders.id, version: orders.version, status: orders.status }).from(orders).where(inArray(orders.id, ids));
}

/** Unpaid orders (card, UPI) not changed since `before`: candidates for payment reconciliation. */
export async function staleUnpaid(db: Db, before: Date, limit: number): Promise<string[]> {
  const rows = await (db as AnyDb)
    .select({ id: orders.id })
    .from(orders)
    .where(and(eq(orders.status, 'PENDING'), inArray(orders.paymentStatus, ['requires_action', 'not_started']), lt(orders.updatedAt, before)))
    .orderBy(orders.updatedAt)
    .limit(limit);
  return rows.map((r) => r.id);
}

/** Every order id of a customer in the projection, oldest first (erasure, export). At most `limit`. */
export async function orderIdsOfUser(db: Db, userId: string, limit: number): Promise<string[]> {
  const rows = await (db as AnyDb).select({ id: orders.id }).from(orders).where(eq(orders.userId, userId)).orderBy(orders.createdAt, orders.id).limit(limit);
  return rows.map((r) => r.id);
}

/** Remembers that a customer's account was erased (idempotent). */
export async function rememberErasedCustomer(db: AnyDb, userId: string, erasedAt: Date): Promise<void> {
  await db.insert(erasedCustomers).values({ userId, erasedAt }).onConflictDoNothing();
}

export async function isErasedCustomer(db: Db, userId: string): Promise<boolean> {
  const rows = await (db as AnyDb).select({ userId: erasedCustomers.userId }).from(erasedCustomers).where(eq(erasedCustomers.userId, userId)).limit(1);
  return rows.length > 0;
}
