/**
 * Probes of the warehouse staff API (API.md "Warehouse staff"; docs/inventory.md "Staff: stock,
 * adjustments, transfers", "Reservations", "Events, projection and the catalog") at the edges the
 * inventory, concurrent-stock and api-contract tests leave open: staff bound only to the source or
 * only to the destination of a transfer, receipts and cancels at the wrong warehouse, reserved
 * units that must not travel, sharded SKUs (a transfer the SKU can cover but no single shard can,
 * a release answering the shard that held it), the Postgres projection and the staff views during
 * and after transit, reason codes at their bounds with nothing half-written, the audit trail's
 * actors, low-stock events caused by staff, and the public reservation routes.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InventoryDurableObject } from '../../durable-objects/inventory/inventory.do';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import type { EventEnvelope } from '../../shared/events';
import { encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { bearer, DEV_CLIENT, jsonInit, login, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { admin, eventually, staffSession, stockedProduct } from '../../test/support/orders';

let wh: string[] = [];
let adminToken: string;
let staff: { token: string; warehouseId: string; userId: string };
let others: [string, string];

beforeAll(async () => {
  wh = (await rows<{ id: string }>(sql`select id from warehouses order by id`)).map((w) => w.id);
  adminToken = (await login('admin@agora.dev')).accessToken;
  const s = await staffSession();
  const me = await json('/v1/me', { headers: bearer(s.token) });
  staff = { ...s, userId: me.body.id as string };
  const rest = wh.filter((w) => w !== s.warehouseId);
  expect(rest.length, JSON.stringify(wh)).toBeGreaterThanOrEqual(2);
  others = [rest[0]!, rest[1]!];
});

const key = () => crypto.randomUUID();
const post = (token: string, body: unknown, k: string | null = key()) => jsonInit('POST', body, { ...bearer(token), ...(k ? { 'idempotency-key': k } : {}) });
const adjustUrl = (w: string) => `/v1/warehouses/${w}/stock/adjustments`;
const transferUrl = (w: string) => `/v1/warehouses/${w}/stock/transfers`;
const close = (w: string, id: string, verb: 'receive' | 'cancel', token: string) => json(`${transferUrl(w)}/${id}/${verb}`, { method: 'POST', headers: bearer(token) });

/** A fresh account with role warehouse_staff bound to `warehouseIds` only, signed in. */
async function staffBoundTo(warehouseIds: string[]) {
  const c = await newCustomer('Warehouse Probe');
  const changed = await json(`/v1/admin/users/${c.user.id}`, jsonInit('PATCH', { roles: ['warehouse_staff'], warehouseIds }, await admin()));
  expect(changed.res.status, JSON.stringify(changed.body)).toBe(200);
  const s = await login(c.email, c.password);
  expect(s.user.warehouseIds).toEqual(warehouseIds);
  return { token: s.accessToken, userId: c.user.id };
}

/** The staff view's line of `sku` in warehouse `w`: listed from the projection (waits until listed), one page positioned just before it. */
async function stockLine(w: string, sku: string, token = adminToken) {
  const cursor = encodeCursor({ sku: sku.slice(0, -1) }, fingerprint({ warehouseId: w }));
  const read = async () => ((await json(`/v1/warehouses/${w}/stock?limit=2&cursor=${cursor}`, { headers: bearer(token) })).body.items as Array<Record<string, unknown>>).find((l) => l.sku === sku);
  const line = await eventually(read, (l) => l !== undefined, 10_000);
  expect(line, `${sku} never listed in ${w}`).toBeDefined();
  return line as { onHand: number; reserved: number; available: number; inTransitOut: number; needsReconciliation: boolean };
}

const live = async (sku: string) => {
  const { body } = await json(`/v1/inventory/${sku}`);
  return { total: body.available as number, by: Object.fromEntries((body.warehouses as Array<{ warehouseId: string; available: number }>).map((w) => [w.warehouseId, w.available])) as Record<string, number> };
};

const audits = async (action: string, sku: string) =>
  (await json(`/v1/admin/audit-log?action=${action}&targetId=${sku}&limit=100`, { headers: bearer(adminToken) })).body.items as Array<{ actor: { kind: string; id: string | null }; data: Record<string, unknown> }>;

const reserve = (sku: string, quantity: number, k = key(), extra: Record<string, unknown> = {}) =>
  json(`/v1/inventory/${sku}/reservations`, post(adminToken, { quantity, ref: { kind: 'checkout', id: `chk-${k.slice(0, 8)}` }, ...extra }, k));

// ---------------------------------------------------------------------------------------------
describe('transfers: who may do what, and where', () => {
  it('staff bound only to the destination see and receive it, never cancel it; the wrong warehouse is 403/404; each step audited with its actor', async () => {
    const p = await stockedProduct(10);
    const [dest, third] = others;
    const receiver = await staffBoundTo([dest]);
    const sent = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: p.sku, toWarehouseId: dest, quantity: 4, note: '  restock Utrecht  ' }));
    expect(sent.res.status, JSON.stringify(sent.body)).toBe(201);
    expect(sent.body.note).toBe('restock Utrecht');
    const id = sent.body.transferId as string;

    // The destination's staff see it coming in, at their warehouse only.
    expect((await json(`${transferUrl(dest)}/${id}`, { headers: bearer(receiver.token) })).body.status).toBe('in_transit');
    const incoming = await json(`${transferUrl(dest)}?direction=in&status=in_transit&limit=100`, { headers: bearer(receiver.token) });
    expect(incoming.body.items.map((t: { transferId: string }) => t.transferId)).toContain(id);
    const outgoing = await json(`${transferUrl(dest)}?direction=out&limit=100`, { headers: bearer(receiver.token) });
    expect(outgoing.body.items.map((t: { transferId: string }) => t.transferId)).not.toContain(id);
    await problem(`${transferUrl(staff.warehouseId)}/${id}`, 403, 'FORBIDDEN', { headers: bearer(receiver.token) });
    // Neither side of a cancel is theirs; the source's staff cannot receive; a third warehouse does not know it.
    await problem(`${transferUrl(dest)}/${id}/cancel`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(receiver.token) });
    await problem(`${transferUrl(staff.warehouseId)}/${id}/cancel`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(receiver.token) });
    await problem(`${transferUrl(dest)}/${id}/cancel`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(adminToken) });
    await problem(`${transferUrl(staff.warehouseId)}/${id}/receive`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(adminToken) });
    await problem(`${transferUrl(third)}/${id}/receive`, 404, 'NOT_FOUND', { method: 'POST', headers: bearer(adminToken) });
    await problem(`${transferUrl(third)}/${id}`, 404, 'NOT_FOUND', { headers: bearer(adminToken) });
    expect((await live(p.sku)).total).toBe(6);

    const received = await close(dest, id, 'receive', receiver.token);
    expect(received.res.status, JSON.stringify(received.body)).toBe(200);
    expect(received.body).toMatchObject({ status: 'received', cancelledAt: null });
    expect((await close(dest, id, 'receive', receiver.token)).body).toEqual(received.body);
    expect((await live(p.sku)).by).toMatchObject({ [staff.warehouseId]: 6, [dest]: 4 });

    const dispatched = await audits('inventory.transfer.dispatched', p.sku);
    expect(dispatched).toHaveLength(1);
    expect(dispatched[0]).toMatchObject({ actor: { kind: 'user', id: staff.userId }, data: { transferId: id, fromWarehouseId: staff.warehouseId, toWarehouseId: dest, quantity: 4 } });
    const got = await audits('inventory.transfer.received', p.sku);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ actor: { kind: 'user', id: receiver.userId }, data: { transferId: id, quantity: 4 } });
  });

  it('pos agents, POS clients, customers and staff of another warehouse are refused every staff route; nothing moves', async () => {
    const p = await stockedProduct(5);
    const sent = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: p.sku, toWarehouseId: others[0], quantity: 1 }));
    expect(sent.res.status).toBe(201);
    const id = sent.body.transferId as string;
    const pos = (await login('pos@agora.dev')).accessToken;
    const tok = await call('/v1/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${DEV_CLIENT.id}:${DEV_CLIENT.secret}`)}` },
      body: 'grant_type=client_credentials',
    });
    expect(tok.status).toBe(200);
    const posClient = ((await tok.json()) as { access_token: string }).access_token;
    const customer = (await newCustomer()).accessToken;
    const elsewhere = (await staffBoundTo([others[1]])).token;
    for (const t of [pos, posClient, customer, elsewhere]) {
      await problem(`/v1/warehouses/${staff.warehouseId}/stock`, 403, 'FORBIDDEN', { headers: bearer(t) });
      await problem(adjustUrl(staff.warehouseId), 403, 'FORBIDDEN', post(t, { sku: p.sku, delta: 1, reason: 'receipt' }));
      await problem(transferUrl(staff.warehouseId), 403, 'FORBIDDEN', post(t, { sku: p.sku, toWarehouseId: others[0], quantity: 1 }));
      await problem(transferUrl(staff.warehouseId), 403, 'FORBIDDEN', { headers: bearer(t) });
      await problem(`${transferUrl(others[0])}/${id}/receive`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(t) });
      await problem(`${transferUrl(staff.warehouseId)}/${id}/cancel`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(t) });
    }
    expect((await live(p.sku)).total).toBe(4);
    expect((await rows(sql`select status from stock_transfers where id = ${id}`))).toEqual([{ status: 'in_transit' }]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('transfers: the units', () => {
  it('reserved units do not travel: only available ones leave; the staff view, a release and a cancel agree', async () => {
    const p = await stockedProduct(10);
    const held = await reserve(p.sku, 7);
    expect(held.res.status, JSON.stringify(held.body)).toBe(201);
    const tooMany = await problem(transferUrl(staff.warehouseId), 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, toWarehouseId: others[0], quantity: 4 }));
    expect(tooMany.detail).toContain('Only 3');
    const sent = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: p.sku, toWarehouseId: others[0], quantity: 3 }));
    expect(sent.res.status, JSON.stringify(sent.body)).toBe(201);
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 7, reserved: 7, available: 0, inTransitOut: 3 });
    expect((await live(p.sku)).total).toBe(0);
    // Damage cannot take the units in transit either.
    await problem(adjustUrl(staff.warehouseId), 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, delta: -8, reason: 'damage' }));

    const released = await json(`/v1/inventory/${p.sku}/reservations/${held.body.reservationId}/release`, { method: 'POST', headers: bearer(adminToken) });
    expect(released.res.status).toBe(200);
    expect((await live(p.sku)).total).toBe(7);
    const cancelled = await close(staff.warehouseId, sent.body.transferId, 'cancel', staff.token);
    expect(cancelled.body.status).toBe('cancelled');
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 10, reserved: 0, available: 10, inTransitOut: 0 });
  });

  it('the Postgres projection and the catalog follow the transit: out of the source at once, into the destination only on receipt; the destination lists the SKU', async () => {
    const p = await stockedProduct(10);
    const dest = others[1];
    const sent = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: p.sku, toWarehouseId: dest, quantity: 10 }));
    expect(sent.res.status, JSON.stringify(sent.body)).toBe(201);
    const level = (w: string) => async () => (await rows<{ on_hand: number; reserved: number; in_transit_out: number }>(sql`select on_hand, reserved, in_transit_out from stock_levels where sku = ${p.sku} and warehouse_id = ${w}`))[0];
    const qty = async () => (await rows<{ q: number }>(sql`select available_qty as q from product_variants where sku = ${p.sku}`))[0]!.q;
    expect(await eventually(level(staff.warehouseId), (r) => r?.in_transit_out === 10, 10_000)).toEqual({ on_hand: 0, reserved: 0, in_transit_out: 10 });
    expect(await eventually(qty, (q) => q === 0, 10_000)).toBe(0);
    // Sent away whole: still listed at the source (0 on hand, 10 on the road), not yet at the destination.
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 0, available: 0, inTransitOut: 10 });
    expect(await level(dest)()).toBeUndefined();

    expect((await close(dest, sent.body.transferId, 'receive', adminToken)).res.status).toBe(200);
    expect(await eventually(level(dest), (r) => r?.on_hand === 10, 10_000)).toEqual({ on_hand: 10, reserved: 0, in_transit_out: 0 });
    expect(await eventually(level(staff.warehouseId), (r) => r?.in_transit_out === 0, 10_000)).toEqual({ on_hand: 0, reserved: 0, in_transit_out: 0 });
    expect(await eventually(qty, (q) => q === 10, 10_000)).toBe(10);
    expect(await stockLine(dest, p.sku)).toMatchObject({ onHand: 10, reserved: 0, available: 10, inTransitOut: 0 });
  });

  it('a sharded SKU: a transfer the warehouse can cover (but no single shard can) leaves, and arrives whole', async () => {
    const p = await stockedProduct(12);
    const split = await json(`/v1/admin/inventory/${p.sku}/shards`, jsonInit('PUT', { shards: 4 }, bearer(adminToken)));
    expect(split.res.status, JSON.stringify(split.body)).toBe(200);
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 12, available: 12 });
    const sent = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: p.sku, toWarehouseId: others[0], quantity: 8 }));
    expect(sent.res.status, JSON.stringify(sent.body)).toBe(201);
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 4, available: 4, inTransitOut: 8 });
    expect((await close(others[0], sent.body.transferId, 'receive', adminToken)).body.status).toBe('received');
    expect((await live(p.sku)).by).toMatchObject({ [staff.warehouseId]: 4, [others[0]]: 8 });
  });

  it('a sharded SKU: an adjustment answers and audits the warehouse’s on hand, not one shard’s', async () => {
    const p = await stockedProduct(12);
    expect((await json(`/v1/admin/inventory/${p.sku}/shards`, jsonInit('PUT', { shards: 4 }, bearer(adminToken)))).res.status).toBe(200);
    const k = key();
    const made = await json(adjustUrl(staff.warehouseId), post(staff.token, { sku: p.sku, delta: 1, reason: 'receipt' }, k));
    expect(made.res.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body.level).toMatchObject({ onHand: 13, available: 13 });
    const row = (await audits('inventory.stock.adjusted', p.sku)).find((a) => a.data.idempotencyKey === k);
    expect(row?.data).toMatchObject({ warehouseId: staff.warehouseId, delta: 1, reason: 'receipt', onHand: 13 });
  });

  it('lists pages of a warehouse’s transfers newest first with no repeats; status and direction filters hold; a cursor belongs to its filter', async () => {
    const a = await stockedProduct(6);
    const dest = others[0];
    const ids: string[] = [];
    const made: Array<{ transferId: string; createdAt: string }> = [];
    for (const q of [1, 2, 3]) {
      const r = await json(transferUrl(staff.warehouseId), post(staff.token, { sku: a.sku, toWarehouseId: dest, quantity: q }));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.transferId);
      made.push(r.body);
    }
    // Newest first; transfers made in the same millisecond by id, descending.
    const newestFirst = [...made].sort((x, y) => (x.createdAt !== y.createdAt ? (x.createdAt < y.createdAt ? 1 : -1) : x.transferId < y.transferId ? 1 : -1)).map((t) => t.transferId);
    expect((await close(dest, ids[1]!, 'receive', adminToken)).res.status).toBe(200);
    const walk = async (w: string, query: string) => {
      const seen: Array<{ transferId: string; createdAt: string; status: string; fromWarehouseId: string; toWarehouseId: string }> = [];
      let cursor: string | null = null;
      for (let i = 0; i < 200; i++) {
        const page: { res: Response; body: { items: typeof seen; nextCursor: string | null } } = await json(`${transferUrl(w)}?limit=2&${query}${cursor ? `&cursor=${cursor}` : ''}`, { headers: bearer(adminToken) });
        expect(page.res.status, JSON.stringify(page.body)).toBe(200);
        seen.push(...page.body.items);
        cursor = page.body.nextCursor;
        if (!cursor || ids.every((id) => seen.some((t) => t.transferId === id))) break;
      }
      return seen;
    };
    const out = await walk(staff.warehouseId, 'direction=out');
    expect(new Set(out.map((t) => t.transferId)).size).toBe(out.length);
    expect(out.every((t) => t.fromWarehouseId === staff.warehouseId)).toBe(true);
    for (let i = 1; i < out.length; i++) expect(out[i - 1]!.createdAt >= out[i]!.createdAt).toBe(true);
    expect(out.filter((t) => ids.includes(t.transferId)).map((t) => t.transferId)).toEqual(newestFirst);
    const inTransit = await walk(dest, 'direction=in&status=in_transit');
    expect(inTransit.every((t) => t.status === 'in_transit' && t.toWarehouseId === dest)).toBe(true);
    expect(inTransit.map((t) => t.transferId)).not.toContain(ids[1]);
    const received = await json(`${transferUrl(dest)}?direction=in&status=received&limit=100`, { headers: bearer(adminToken) });
    expect(received.body.items.map((t: { transferId: string }) => t.transferId)).toContain(ids[1]);
    const first = await json(`${transferUrl(dest)}?direction=in&status=in_transit&limit=1`, { headers: bearer(adminToken) });
    await problem(`${transferUrl(dest)}?direction=in&status=received&limit=1&cursor=${first.body.nextCursor}`, 400, 'INVALID_CURSOR', { headers: bearer(adminToken) });
    await problem(`${transferUrl(dest)}?status=lost`, 400, 'VALIDATION_FAILED', { headers: bearer(adminToken) });
    await problem(`${transferUrl(dest)}?direction=sideways`, 400, 'VALIDATION_FAILED', { headers: bearer(adminToken) });
  });
});

// ---------------------------------------------------------------------------------------------
describe('adjustments: reason codes, bounds, refusals', () => {
  it('each reason takes only its sign, at 1 and at 1,000,000; past the bounds and malformed input is 400; refusals write no ledger or audit row', async () => {
    const p = await stockedProduct(2);
    const url = adjustUrl(staff.warehouseId);
    const ok = async (delta: number, reason: string, note?: string) => {
      const r = await json(url, post(staff.token, { sku: p.sku, delta, reason, ...(note ? { note } : {}) }));
      expect(r.res.status, JSON.stringify([delta, reason, r.body])).toBe(201);
      return r.body.level as { onHand: number };
    };
    for (const [delta, reason] of [[-1, 'receipt'], [-1, 'return_to_stock'], [1, 'damage']] as const) {
      const r = await problem(url, 422, 'UNPROCESSABLE', post(staff.token, { sku: p.sku, delta, reason }));
      expect(r.errors?.[0]?.path).toBe('body.delta');
    }
    expect((await ok(1, 'receipt', 'pallet 7')).onHand).toBe(3);
    expect((await ok(1, 'return_to_stock')).onHand).toBe(4);
    expect((await ok(-1, 'damage')).onHand).toBe(3);
    expect((await ok(1, 'cycle_count')).onHand).toBe(4);
    expect((await ok(-1, 'cycle_count')).onHand).toBe(3);
    expect((await ok(1_000_000, 'receipt')).onHand).toBe(1_000_003);
    expect((await ok(-1_000_000, 'damage')).onHand).toBe(3);
    const bad: unknown[] = [
      { sku: p.sku, delta: 1_000_001, reason: 'receipt' },
      { sku: p.sku, delta: -1_000_001, reason: 'damage' },
      { sku: p.sku, delta: 1.5, reason: 'receipt' },
      { sku: p.sku, delta: '2', reason: 'receipt' },
      { sku: p.sku, delta: null, reason: 'receipt' },
      { sku: p.sku, delta: 1, reason: 'RECEIPT' },
      { sku: p.sku, delta: 1, reason: 'receipt', warehouseId: others[0] },
      { sku: p.sku, delta: 1, reason: 'receipt', note: 'x'.repeat(201) },
      { sku: `${p.sku} `, delta: 1, reason: 'receipt' },
      [{ sku: p.sku, delta: 1, reason: 'receipt' }],
    ];
    for (const body of bad) await problem(url, 400, 'VALIDATION_FAILED', post(staff.token, body));
    await problem(url, 400, 'MALFORMED_JSON', { method: 'POST', headers: { ...bearer(staff.token), 'content-type': 'application/json', 'idempotency-key': key() }, body: '{"sku":' });
    await problem(url, 400, 'VALIDATION_FAILED', post(staff.token, { sku: p.sku, delta: 1, reason: 'receipt' }, 'k'.repeat(101)));
    await problem(url, 400, 'VALIDATION_FAILED', post(staff.token, { sku: p.sku, delta: 1, reason: 'receipt' }, 'has space'));
    await problem(url, 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, delta: -4, reason: 'cycle_count' }));

    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 3, available: 3 });
    // The setup's receipt plus the seven accepted: one ledger row and one audit row each, with the actor.
    const ledger = await rows<{ delta: number; reason: string; note: string | null; actor_id: string }>(sql`select delta, reason, note, actor_id from stock_adjustments where sku = ${p.sku} order by created_at, id`);
    expect(ledger).toHaveLength(8);
    expect(ledger.every((l) => l.actor_id === staff.userId)).toBe(true);
    expect(ledger.reduce((s, l) => s + l.delta, 0)).toBe(3);
    expect(ledger.find((l) => l.note === 'pallet 7')).toMatchObject({ delta: 1, reason: 'receipt' });
    const audited = await audits('inventory.stock.adjusted', p.sku);
    expect(audited).toHaveLength(8);
    expect(audited.every((a) => a.actor.id === staff.userId && a.data.warehouseId === staff.warehouseId)).toBe(true);
  });

  it('damage below what is reserved is recorded and flags the SKU; nothing more can be held; a count that covers the holds clears the flag', async () => {
    const p = await stockedProduct(5);
    expect((await reserve(p.sku, 4)).res.status).toBe(201);
    const dmg = await json(adjustUrl(staff.warehouseId), post(staff.token, { sku: p.sku, delta: -3, reason: 'damage' }));
    expect(dmg.res.status, JSON.stringify(dmg.body)).toBe(201);
    expect(dmg.body.level).toMatchObject({ onHand: 2, reserved: 4, available: -2, needsReconciliation: true });
    expect((await live(p.sku)).total).toBe(0);
    await problem(`/v1/inventory/${p.sku}/reservations`, 409, 'OUT_OF_STOCK', post(adminToken, { quantity: 1, ref: { kind: 'checkout', id: 'after-damage' } }));
    await problem(transferUrl(staff.warehouseId), 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, toWarehouseId: others[0], quantity: 1 }));
    await problem(adjustUrl(staff.warehouseId), 409, 'INSUFFICIENT_STOCK', post(staff.token, { sku: p.sku, delta: -3, reason: 'damage' }));
    const counted = await json(adjustUrl(staff.warehouseId), post(staff.token, { sku: p.sku, delta: 2, reason: 'cycle_count' }));
    expect(counted.body.level).toMatchObject({ onHand: 4, reserved: 4, available: 0, needsReconciliation: false });
    expect(await stockLine(staff.warehouseId, p.sku, staff.token)).toMatchObject({ onHand: 4, needsReconciliation: false });
  });

  it('staff bound to two warehouses adjust both; one key for the same SKU in the two warehouses is not applied twice silently', async () => {
    const p = await stockedProduct(3);
    const both = await staffBoundTo([staff.warehouseId, others[0]]);
    const k = key();
    const here = await json(adjustUrl(staff.warehouseId), post(both.token, { sku: p.sku, delta: 2, reason: 'receipt' }, k));
    expect(here.res.status, JSON.stringify(here.body)).toBe(201);
    const there = await json(adjustUrl(others[0]), post(both.token, { sku: p.sku, delta: 2, reason: 'receipt' }, k));
    // Either its own adjustment in that warehouse (201, its own level) or the key refused (422): never the first answer replayed.
    expect([201, 422], JSON.stringify(there.body)).toContain(there.res.status);
    if (there.res.status === 201) expect(there.body).toMatchObject({ warehouseId: others[0], level: { onHand: 2 } });
    const expected = there.res.status === 201 ? { [staff.warehouseId]: 5, [others[0]]: 2 } : { [staff.warehouseId]: 5 };
    expect((await live(p.sku)).by).toMatchObject(expected);
    expect(await rows(sql`select count(*)::int as n from stock_adjustments where sku = ${p.sku}`)).toEqual([{ n: there.res.status === 201 ? 3 : 2 }]);
    await problem(adjustUrl(others[1]), 403, 'FORBIDDEN', post(both.token, { sku: p.sku, delta: 1, reason: 'receipt' }));
  });
});

// ---------------------------------------------------------------------------------------------
describe('low stock caused by staff', () => {
  it('a transfer and a damage that take availability to the threshold each emit inventory.low_stock once; a receipt back above does not', async () => {
    const { body: list } = await json('/v1/products?limit=1');
    const tag = crypto.randomUUID().slice(0, 8);
    const sku = `LOWSTAFF-${tag}`;
    const created = await json(
      '/v1/admin/products',
      jsonInit('POST', { slug: `low-staff-${tag}`, name: `Low Staff ${tag}`, brandSlug: list.items[0].brand.slug, categorySlug: list.items[0].category.slug, variants: [{ sku, name: 'One', price: 1500, attributes: {} }] }, bearer(adminToken)),
    );
    expect(created.res.status, JSON.stringify(created.body)).toBe(201);
    const stub = inventoryFor(env, sku);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (o: InventoryDurableObject) => {
      o.eventsQueue = { sendBatch: async (m) => void sent.push(...[...m].map((x) => x.body as EventEnvelope)) };
    });
    const adj = (delta: number, reason: string) => json(adjustUrl(staff.warehouseId), post(staff.token, { sku, delta, reason }));
    expect((await adj(9, 'receipt')).res.status).toBe(201);
    const t = await json(transferUrl(staff.warehouseId), post(staff.token, { sku, toWarehouseId: others[0], quantity: 5 })); // 9 → 4
    expect(t.res.status, JSON.stringify(t.body)).toBe(201);
    expect((await close(staff.warehouseId, t.body.transferId, 'cancel', staff.token)).res.status).toBe(200); // 4 → 9
    expect((await adj(-4, 'damage')).res.status).toBe(201); // 9 → 5: at the threshold
    expect((await adj(-1, 'damage')).res.status).toBe(201); // 4: below, no event
    await runInDurableObject(stub, (o: InventoryDurableObject) => o.flushOutbox());
    const low = sent.filter((e) => e.type === 'inventory.low_stock').map((e) => e.data as { sku: string; available: number; threshold: number });
    expect(low).toEqual([expect.objectContaining({ sku, available: 4, threshold: 5 }), expect.objectContaining({ sku, available: 5, threshold: 5 })]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('public reservations', () => {
  it('TTL bounds (30..3600) and expiresAt; a replay answers the same hold and holds nothing more, even after a release; who may reserve', async () => {
    const p = await stockedProduct(6);
    for (const ttlSeconds of [29, 3601, 0, 60.5]) await problem(`/v1/inventory/${p.sku}/reservations`, 400, 'VALIDATION_FAILED', post(adminToken, { quantity: 1, ttlSeconds, ref: { kind: 'checkout', id: 'ttl' } }));
    for (const quantity of [0, 1001, -1]) await problem(`/v1/inventory/${p.sku}/reservations`, 400, 'VALIDATION_FAILED', post(adminToken, { quantity, ref: { kind: 'checkout', id: 'q' } }));
    const before = Date.now();
    const k = key();
    const short = await reserve(p.sku, 2, k, { ttlSeconds: 30 });
    expect(short.res.status, JSON.stringify(short.body)).toBe(201);
    // expiresAt is the hold's start plus its TTL: between (sent + TTL) and (answered + TTL), a second of clock slack either side.
    const within = (expiresAt: string, sent: number, ttlMs: number) => {
      const at = Date.parse(expiresAt);
      expect(at).toBeGreaterThanOrEqual(sent + ttlMs - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + ttlMs + 1000);
    };
    within(short.body.expiresAt, before, 30_000);
    const sentLong = Date.now();
    const long = await reserve(p.sku, 1, key(), { ttlSeconds: 3600 });
    within(long.body.expiresAt, sentLong, 3_600_000);
    expect((await live(p.sku)).total).toBe(3);

    const released = await json(`/v1/inventory/${p.sku}/reservations/${short.body.reservationId}/release`, { method: 'POST', headers: bearer(adminToken) });
    expect(released.body).toMatchObject({ reservationId: short.body.reservationId, status: 'released' });
    expect((await live(p.sku)).total).toBe(5);
    const replay = await reserve(p.sku, 2, k, { ttlSeconds: 30 });
    expect(replay.res.status).toBe(201);
    expect(replay.body.reservationId).toBe(short.body.reservationId);
    expect((await live(p.sku)).total).toBe(5);
    await problem(`/v1/inventory/${p.sku}/reservations`, 422, 'IDEMPOTENCY_KEY_REUSED', post(adminToken, { quantity: 2, ttlSeconds: 60, ref: { kind: 'checkout', id: `chk-${k.slice(0, 8)}` } }, k));

    // Another SKU's path does not know the reservation; a malformed id is 400.
    const other = await stockedProduct(1);
    await problem(`/v1/inventory/${other.sku}/reservations/${long.body.reservationId}/release`, 404, 'NOT_FOUND', { method: 'POST', headers: bearer(adminToken) });
    await problem(`/v1/inventory/${p.sku}/reservations/rsv_nothex/release`, 400, 'VALIDATION_FAILED', { method: 'POST', headers: bearer(adminToken) });
    expect((await live(p.sku)).total).toBe(5);
    const pos = (await login('pos@agora.dev')).accessToken;
    for (const t of [pos, staff.token, (await newCustomer()).accessToken]) {
      await problem(`/v1/inventory/${p.sku}/reservations`, 403, 'FORBIDDEN', post(t, { quantity: 1, ref: { kind: 'checkout', id: 'nope' } }));
      await problem(`/v1/inventory/${p.sku}/reservations/${long.body.reservationId}/release`, 403, 'FORBIDDEN', { method: 'POST', headers: bearer(t) });
    }
    expect((await live(p.sku)).total).toBe(5);
  });

  it('a sharded SKU: a release without ?shard finds the hold and answers the shard that held it', async () => {
    const p = await stockedProduct(40);
    expect((await json(`/v1/admin/inventory/${p.sku}/shards`, jsonInit('PUT', { shards: 4 }, bearer(adminToken)))).res.status).toBe(200);
    let hold: { reservationId: string; shard: number } | undefined;
    for (let i = 0; i < 12 && !hold; i++) {
      const r = await reserve(p.sku, 1);
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
      if (r.body.shard !== 0) hold = r.body;
    }
    expect(hold, 'no hold landed on a shard other than 0').toBeDefined();
    const before = (await live(p.sku)).total;
    const released = await json(`/v1/inventory/${p.sku}/reservations/${hold!.reservationId}/release`, { method: 'POST', headers: bearer(adminToken) });
    expect(released.res.status, JSON.stringify(released.body)).toBe(200);
    expect((await live(p.sku)).total).toBe(before + 1);
    expect(released.body).toMatchObject({ reservationId: hold!.reservationId, status: 'released', shard: hold!.shard });
  });
});
