import { and, desc, eq, exists, gte, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { AnyDb, HttpDb } from '../../shared/db/client';
import { erasedCustomers, orderItems, orderShipments, orders } from '../../shared/db/schema/orders';
import type { AuditRow } from '../../shared/audit/audit';
import type { OrderSnapshot } from '../../shared/events';
import { rowsOf } from '../../shared/db/rows';
import { isExtraRefund } from '../../durable-objects/order/order.stub';

/** Postgres side of orders: the projection kept by the order-events consumer, and its reads. */
type Db = AnyDb | HttpDb;

export type ProjectOutcome = 'inserted' | 'updated' | 'stale';

/**
 * One order event, once per (consumer, event id), in one statement (so one round trip and its
 * own transaction): the `processed_events` claim, the order as of `snap.version` unless the
 * projection already holds that version or a newer one (events arrive in any order, some more
 * than once), its child rows, and the audit rows, which are written for every event exactly once
 * whatever its order. Items never change after placement: written with the order's first row.
 * Payments, refunds and shipments only grow or change in place: upserted by their ids (no
 * deletes). A duplicate delivery finds the claim and changes nothing; a concurrent duplicate waits
 * on the claim's row lock, then does the same.
 */
export async function projectOrderOnce(
  db: AnyDb,
  claim: { consumer: string; eventId: string },
  snap: OrderSnapshot,
  audit: AuditRow[],
): Promise<{ processed: false } | { processed: true; outcome: ProjectOutcome }> {
  const id = snap.orderId;
  const p = snap.payment;
  // The order's money refunded: a duplicate payment's or an overpayment's refund is not (its row is kept all the same).
  const refunded = snap.refunds.filter((r) => r.status === 'succeeded' && !isExtraRefund(r)).reduce((s, r) => s + r.amount, 0);
  const itemCount = snap.items.reduce((s, i) => s + i.quantity, 0);
  const result = await db.execute(sql`
    with input as (select ${JSON.stringify(snap)}::jsonb as s),
    claimed as (
      insert into processed_events (consumer, event_id) values (${claim.consumer}, ${claim.eventId})
      on conflict do nothing
      returning 1 as one
    ),
    o as (
      insert into orders (id, user_id, status, fulfilment_status, version, channel, store_id, currency, subtotal, total,
                          amount_captured, amount_refunded, payment_method, payment_status, item_count, snapshot, created_at, updated_at)
      select ${id}, ${snap.userId}, ${snap.status}, ${snap.fulfilmentStatus}, ${snap.version}::bigint, ${snap.channel}, ${snap.storeId}, ${snap.currency},
             ${snap.subtotal}::bigint, ${snap.total}::bigint, ${p.amountCaptured}::bigint, ${refunded}::bigint, ${p.method}, ${p.status}, ${itemCount}::int,
             input.s, ${snap.createdAt}::timestamptz, ${snap.updatedAt}::timestamptz
        from input
       where exists (select 1 from claimed)
      on conflict (id) do update
         set user_id = excluded.user_id, status = excluded.status, fulfilment_status = excluded.fulfilment_status, version = excluded.version,
             channel = excluded.channel, store_id = excluded.store_id, currency = excluded.currency, subtotal = excluded.subtotal, total = excluded.total,
             amount_captured = excluded.amount_captured, amount_refunded = excluded.amount_refunded, payment_method = excluded.payment_method,
             payment_status = excluded.payment_status, item_count = excluded.item_count, snapshot = excluded.snapshot,
             created_at = excluded.created_at, updated_at = excluded.updated_at
       where orders.version < excluded.version
      returning (xmax = 0) as inserted
    ),
    items as (
      insert into order_items (order_id, item_id, product_id, variant_id, sku, name, quantity, unit_price, line_total)
      select ${id}, i."itemId", i."productId", i."variantId", i.sku, i.name, i.quantity, i."unitPrice", i."lineTotal"
        from input, jsonb_to_recordset(input.s -> 'items')
             as i("itemId" text, "productId" text, "variantId" text, sku text, name text, quantity int, "unitPrice" bigint, "lineTotal" bigint)
       where exists (select 1 from o where o.inserted)
      on conflict do nothing
    ),
    payment as (
      insert into order_payments (attempt_id, order_id, method, provider, provider_ref, status, amount_captured)
      select ${p.attemptId}, ${id}, ${p.method}, ${p.provider}, ${p.providerRef}, ${p.status}, ${p.amountCaptured}::bigint
       where exists (select 1 from o)
      on conflict (attempt_id) do update
         set order_id = excluded.order_id, method = excluded.method, provider = excluded.provider, provider_ref = excluded.provider_ref,
             status = excluded.status, amount_captured = excluded.amount_captured
    ),
    refunds as (
      insert into order_refunds (refund_id, order_id, amount, status, reason, provider_refund_ref, requested_by, created_at)
      select r."refundId", ${id}, r.amount, r.status, r.reason, r."providerRefundRef", r."requestedBy", r."createdAt"
        from input, jsonb_to_recordset(input.s -> 'refunds')
             as r("refundId" text, amount bigint, status text, reason text, "providerRefundRef" text, "requestedBy" text, "createdAt" timestamptz)
       where exists (select 1 from o)
      on conflict (refund_id) do update set status = excluded.status, provider_refund_ref = excluded.provider_refund_ref
    ),
    shipments as (
      insert into order_shipments (shipment_id, order_id, warehouse_id, carrier, tracking_number, status, lines, created_at)
      select sh."shipmentId", ${id}, sh."warehouseId", sh.carrier, sh."trackingNumber", sh.status, sh.lines, sh."createdAt"
        from input, jsonb_to_recordset(input.s -> 'shipments')
             as sh("shipmentId" text, "warehouseId" text, carrier text, "trackingNumber" text, status text, lines jsonb, "createdAt" timestamptz)
       where exists (select 1 from o)
      on conflict (shipment_id) do update set status = excluded.status
    ),
    audit as (
      insert into audit_log (id, occurred_at, action, outcome, actor_kind, actor_id, target_kind, target_id, request_id, ip, data)
      select a.id, a."occurredAt", a.action, a.outcome, a."actorKind", a."actorId", a."targetKind", a."targetId", a."requestId", a.ip, a.data
        from jsonb_to_recordset(${JSON.stringify(audit)}::jsonb)
             as a(id text, "occurredAt" timestamptz, action text, outcome text, "actorKind" text, "actorId" text, "targetKind" text, "targetId" text, "requestId" text, ip text, data jsonb)
       where exists (select 1 from claimed)
    )
    select exists (select 1 from claimed) as processed, (select inserted from o) as inserted`);
  const [row] = rowsOf(result) as { processed: boolean; inserted: boolean | null }[];
  if (!row?.processed) return { processed: false };
  return { processed: true, outcome: row.inserted === null ? 'stale' : row.inserted ? 'inserted' : 'updated' };
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
