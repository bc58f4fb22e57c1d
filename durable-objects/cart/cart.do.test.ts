import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { parseEnvelope, type EventEnvelope } from '../../shared/events';
import { newId } from '../../shared/kernel/ids';
import { applyMigrations } from '../sqlite-migrations';
import { CLOSED_RETENTION_MS, ERASED_POINTER_RETENTION_MS, IDEMPOTENCY_RETENTION_MS, type AbandonedQueue, type CartDurableObject } from './cart.do';
import { CART_MIGRATIONS } from './cart.migrations';
import type { LineInput } from './cart.schemas';
import { cartFor, userCartPointer, type CartStub } from './cart.stub';

/**
 * The cart object inside workerd, through the stub helper (the only way in). Each test opens its
 * own carts (fresh ids), so tests never share an object. Time is moved with `travel`, which swaps
 * the object's clock through `runInDurableObject`; expiry is driven with `runDurableObjectAlarm`.
 */
const DAY = 86_400_000;
const TTL = 7 * DAY;
const LIMITS = { maxLineQuantity: 10, maxUnits: 100, maxLines: 50 };
const BIG = { maxLineQuantity: 1000, maxUnits: 1000, maxLines: 50 };

const line = (n: number, price = 1999): LineInput => ({
  productId: `prd_test${n}`,
  variantId: `var_test${n}`,
  sku: `SKU-${n}`,
  name: `Product ${n}`,
  variantName: 'One size',
  unitPrice: price,
  currency: 'USD',
});

async function opened(ownerId: string | null = null): Promise<{ cartId: string; stub: CartStub }> {
  const cartId = newId('cart');
  const stub = cartFor(env, cartId);
  expect(await stub.open({ cartId, ownerId, idleTtlMs: TTL })).toMatchObject({ ok: true, cart: { cartId, status: 'active', version: 1, lines: [] } });
  return { cartId, stub };
}

const add = (stub: CartStub, n: number, quantity = 1, extra: { actorId?: string | null; available?: number | null; limits?: typeof LIMITS; key?: string; hash?: string; price?: number } = {}) =>
  stub.addItem({
    actorId: extra.actorId ?? null,
    idleTtlMs: TTL,
    line: line(n, extra.price),
    quantity,
    available: extra.available === undefined ? 1000 : extra.available,
    limits: extra.limits ?? LIMITS,
    ...(extra.key ? { idempotency: { key: extra.key, bodyHash: extra.hash ?? 'h1' } } : {}),
  });

/** Moves the object's clock forward by `ms` (cumulative). */
async function travel(stub: CartStub, ms: number) {
  await runInDurableObject(stub, (instance: CartDurableObject) => {
    const previous = instance.clock;
    instance.clock = { now: () => new Date(previous.now().getTime() + ms) };
  });
}

function recording(sent: EventEnvelope[]): AbandonedQueue {
  return { send: async (body) => void sent.push(body as EventEnvelope) };
}

const tables = (state: DurableObjectState) =>
  state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'").toArray().map((r) => r.name);

describe('storage and migrations', () => {
  it('creates no storage for an id nobody opened; migrates on open; an edited history is refused', async () => {
    const stub = cartFor(env, newId('cart'));
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    await runInDurableObject(stub, (_i: CartDurableObject, state) => expect(tables(state)).toEqual([]));

    const { stub: s2 } = await opened();
    await runInDurableObject(s2, (_i: CartDurableObject, state) => {
      const rows = state.storage.sql.exec<{ id: number; name: string }>('SELECT id, name FROM _migrations ORDER BY id').toArray();
      expect(rows).toEqual(CART_MIGRATIONS.map((m, i) => ({ id: i + 1, name: m.name })));
      expect(applyMigrations(state.storage, CART_MIGRATIONS)).toEqual([]);
      expect(() => applyMigrations(state.storage, CART_MIGRATIONS.map((m) => ({ ...m, name: `${m.name}_x` })))).toThrow(/append-only/);
    });
  });

  it('survives a restart: lines, version and the idempotency keys are in SQLite, not memory', async () => {
    const { stub } = await opened();
    await add(stub, 1, 2, { key: 'k-restart' });
    await add(stub, 2, 3);
    const before = await stub.view({ actorId: null });
    await evictDurableObject(stub);
    const after = await stub.view({ actorId: null });
    expect(after).toEqual(before);
    expect(after).toMatchObject({ ok: true, cart: { version: 3, lines: [{ sku: 'SKU-1', quantity: 2 }, { sku: 'SKU-2', quantity: 3 }] } });
    // The key still replays the first answer (at version 2) after the restart, adding nothing.
    expect(await add(stub, 1, 2, { key: 'k-restart' })).toMatchObject({ ok: true, replayed: true, cart: { version: 2, lines: [{ quantity: 2 }] } });
    expect(await stub.view({ actorId: null })).toEqual(before);
  });
});

describe('lines', () => {
  it("answers every line change with exactly what its storage holds (the in-memory mirror is never ahead or behind)", async () => {
    const { stub } = await opened();
    const fromStorage = async () => {
      await evictDurableObject(stub);
      return stub.view({ actorId: null });
    };
    const steps: Array<() => Promise<unknown>> = [
      () => add(stub, 1, 2, { price: 1000 }),
      () => add(stub, 2, 1),
      () => add(stub, 1, 1, { price: 1100, key: 'k-mirror' }),
      () => add(stub, 3, 4),
    ];
    for (const step of steps) {
      const answer = (await step()) as { ok: boolean; cart?: unknown };
      expect(answer.ok).toBe(true);
      expect(await fromStorage()).toEqual({ ok: true, cart: answer.cart });
    }
    const view = await stub.view({ actorId: null });
    if (!view.ok) throw new Error('no cart');
    const [l1, l2] = view.cart.lines;
    const updated = await stub.updateItem({ actorId: null, idleTtlMs: TTL, itemId: l2!.itemId, quantity: 5, available: 100, limits: LIMITS });
    expect(updated).toMatchObject({ ok: true, cart: { lines: [{ quantity: 3 }, { quantity: 5 }, { quantity: 4 }] } });
    expect(await fromStorage()).toEqual({ ok: true, cart: (updated as { cart: unknown }).cart });
    const removed = await stub.removeItem({ actorId: null, idleTtlMs: TTL, itemId: l1!.itemId });
    expect(removed).toMatchObject({ ok: true, cart: { version: 7, lines: [{ sku: 'SKU-2' }, { sku: 'SKU-3' }] } });
    expect(await fromStorage()).toEqual({ ok: true, cart: (removed as { cart: unknown }).cart });
    // A refused change leaves both as they were.
    expect(await add(stub, 2, 50, { limits: LIMITS })).toMatchObject({ ok: false, code: 'QUANTITY_LIMIT' });
    expect(await stub.view({ actorId: null })).toEqual(await fromStorage());
  });

  it('adds to the same line for the same variant, keeps a price snapshot, and sets and removes lines', async () => {
    const { stub } = await opened();
    const first = await add(stub, 1, 2, { price: 1000 });
    expect(first).toMatchObject({ ok: true, created: true, cart: { version: 2, lines: [{ variantId: 'var_test1', quantity: 2, unitPrice: 1000 }] } });
    const again = await add(stub, 1, 3, { price: 1200 });
    expect(again).toMatchObject({ ok: true, created: false, cart: { version: 3, lines: [{ quantity: 5, unitPrice: 1200 }] } });
    if (!again.ok) return;
    const itemId = again.cart.lines[0]!.itemId;
    expect(await stub.updateItem({ actorId: null, idleTtlMs: TTL, itemId, quantity: 7, available: 100, limits: LIMITS })).toMatchObject({ ok: true, cart: { lines: [{ quantity: 7 }] } });
    expect(await stub.removeItem({ actorId: null, idleTtlMs: TTL, itemId })).toMatchObject({ ok: true, cart: { lines: [], version: 5 } });
    expect(await stub.removeItem({ actorId: null, idleTtlMs: TTL, itemId })).toMatchObject({ ok: false, code: 'ITEM_NOT_FOUND' });
  });

  it('refuses over each limit and over what is available, changing nothing', async () => {
    const { stub } = await opened();
    expect(await add(stub, 1, 11)).toMatchObject({ ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxLineQuantity', value: 10 } });
    expect(await add(stub, 1, 3, { available: 0 })).toMatchObject({ ok: false, code: 'OUT_OF_STOCK', available: 0 });
    expect(await add(stub, 1, 3, { available: 2 })).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', available: 2 });
    await add(stub, 1, 2, { available: 2 });
    // 2 in the cart + 1 more than the 2 available
    expect(await add(stub, 1, 1, { available: 2 })).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK' });
    const tight = { maxLineQuantity: 10, maxUnits: 5, maxLines: 2 };
    expect(await add(stub, 2, 4, { limits: tight })).toMatchObject({ ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxUnits', value: 5 } });
    await add(stub, 2, 1, { limits: tight });
    expect(await add(stub, 3, 1, { limits: tight })).toMatchObject({ ok: false, code: 'QUANTITY_LIMIT', limit: { name: 'maxLines', value: 2 } });
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: true, cart: { version: 3, lines: [{ quantity: 2 }, { quantity: 1 }] } });
  });

  it('serialises 50 simultaneous adds: exactly 50 units, or exactly the line limit and the rest refused', async () => {
    const { stub } = await opened();
    const results = await Promise.all(Array.from({ length: 50 }, () => add(stub, 1, 1, { limits: BIG })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: true, cart: { version: 51, lines: [{ quantity: 50 }] } });

    const { stub: limited } = await opened();
    const capped = await Promise.all(Array.from({ length: 50 }, () => add(limited, 1, 1)));
    expect(capped.filter((r) => r.ok)).toHaveLength(10);
    expect(capped.filter((r) => !r.ok && r.code === 'QUANTITY_LIMIT')).toHaveLength(40);
    expect(await limited.view({ actorId: null })).toMatchObject({ ok: true, cart: { version: 11, lines: [{ quantity: 10 }] } });
  });
});

describe('idempotency keys', () => {
  it('replays the first answer for the same key and body, refuses the key with another body, replays refusals too', async () => {
    const { stub } = await opened();
    const first = await add(stub, 1, 2, { key: 'k1', hash: 'body-a' });
    const again = await add(stub, 1, 2, { key: 'k1', hash: 'body-a' });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: true, cart: { lines: [{ quantity: 2 }] } });
    expect(await add(stub, 1, 3, { key: 'k1', hash: 'body-b' })).toMatchObject({ ok: false, code: 'KEY_REUSED' });

    const refused = await add(stub, 2, 5, { key: 'k2', hash: 'body-c', available: 1 });
    expect(refused).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK' });
    // Same key and body after a restock: the first answer again, nothing added.
    expect(await add(stub, 2, 5, { key: 'k2', hash: 'body-c', available: 100 })).toMatchObject({ ok: false, code: 'INSUFFICIENT_STOCK', replayed: true });
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: true, cart: { lines: [{ sku: 'SKU-1' }] } });
  });
});

describe('ownership', () => {
  it("answers NOT_FOUND to anyone but a user cart's owner, for reads and writes", async () => {
    const { stub } = await opened('usr_owner');
    expect(await stub.view({ actorId: 'usr_owner' })).toMatchObject({ ok: true });
    expect(await stub.view({ actorId: 'usr_other' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await add(stub, 1, 1, { actorId: 'usr_other' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await add(stub, 1, 1, { actorId: 'usr_owner' })).toMatchObject({ ok: true });
    // A guest cart is a capability: anyone holding its id.
    const guest = await opened();
    expect(await guest.stub.view({ actorId: 'usr_anyone' })).toMatchObject({ ok: true });
  });
});

describe('merge at login', () => {
  it('closes the guest cart once, combines quantities into the user cart, clamps to the limits and reports', async () => {
    const user = await opened('usr_m');
    await add(user.stub, 1, 8, { actorId: 'usr_m' });
    const guest = await opened();
    await add(guest.stub, 1, 5);
    await add(guest.stub, 2, 2);
    const closed = await guest.stub.closeForMerge({ into: user.cartId });
    expect(closed).toMatchObject({ ok: true, alreadyClosed: false, lines: [{ variantId: 'var_test1', quantity: 5 }, { variantId: 'var_test2', quantity: 2 }] });
    expect(await guest.stub.closeForMerge({ into: user.cartId })).toMatchObject({ ok: true, alreadyClosed: true });
    expect(await guest.stub.closeForMerge({ into: newId('cart') })).toMatchObject({ ok: false, code: 'CLOSED' });
    expect(await add(guest.stub, 3)).toMatchObject({ ok: false, code: 'CLOSED' });
    if (!closed.ok) return;

    const lines = closed.lines.map(({ itemId: _i, addedAt: _a, updatedAt: _u, ...l }) => l);
    const merge = { actorId: 'usr_m', idleTtlMs: TTL, opId: `merge:${guest.cartId}`, limits: LIMITS, lines };
    const merged = await user.stub.mergeFrom(merge);
    expect(merged).toMatchObject({
      ok: true,
      cart: { lines: [{ variantId: 'var_test1', quantity: 10 }, { variantId: 'var_test2', quantity: 2 }] },
      report: [
        { variantId: 'var_test1', requested: 5, merged: 2, clampedBy: 'maxLineQuantity' },
        { variantId: 'var_test2', requested: 2, merged: 2, clampedBy: null },
      ],
    });
    // A retried login merges nothing more.
    expect(await user.stub.mergeFrom(merge)).toMatchObject({ ok: true, replayed: true, cart: { lines: [{ quantity: 10 }, { quantity: 2 }] } });
    // Only guest carts merge; a user's cart answers as no cart at all (0.3.15: it answered NOT_GUEST, which told user carts from unknown ids).
    const unknown = await cartFor(env, newId('cart')).closeForMerge({ into: guest.cartId });
    expect(unknown).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await user.stub.closeForMerge({ into: guest.cartId })).toEqual(unknown);
    expect(await user.stub.view({ actorId: 'usr_m' })).toMatchObject({ ok: true, cart: { status: 'active', lines: [{ quantity: 10 }, { quantity: 2 }] } });
  });

  it('caps merged lines to what is available, in the same transaction as the limits; a retried merge replays the first report whatever the stock is now (0.3.15)', async () => {
    const user = await opened('usr_s');
    await add(user.stub, 1, 2, { actorId: 'usr_s' });
    await add(user.stub, 4, 2, { actorId: 'usr_s' });
    const guest = await opened();
    for (const [n, q] of [[1, 4], [2, 3], [3, 2], [4, 1]] as const) await add(guest.stub, n, q);
    const closed = await guest.stub.closeForMerge({ into: user.cartId });
    if (!closed.ok) throw new Error('not closed');
    const lines = closed.lines.map(({ itemId: _i, addedAt: _a, updatedAt: _u, ...l }) => l);
    const available = [
      { sku: 'SKU-1', units: 3 },
      { sku: 'SKU-2', units: 0 },
      { sku: 'SKU-3', units: 50 },
      { sku: 'SKU-4', units: 1 },
    ];
    const merge = { actorId: 'usr_s', idleTtlMs: TTL, opId: `merge:${guest.cartId}`, limits: LIMITS, lines, available };
    const merged = await user.stub.mergeFrom(merge);
    expect(merged).toMatchObject({
      ok: true,
      cart: { lines: [{ sku: 'SKU-1', quantity: 3 }, { sku: 'SKU-4', quantity: 2 }, { sku: 'SKU-3', quantity: 2 }] },
      report: [
        { sku: 'SKU-1', requested: 4, merged: 1, clampedBy: 'insufficient_stock' },
        { sku: 'SKU-2', requested: 3, merged: 0, clampedBy: 'out_of_stock' },
        { sku: 'SKU-3', requested: 2, merged: 2, clampedBy: null },
        { sku: 'SKU-4', requested: 1, merged: 0, clampedBy: 'insufficient_stock' },
      ],
    });
    if (!merged.ok) return;
    expect(merged.cart.lines).toHaveLength(3);
    const restocked = await user.stub.mergeFrom({ ...merge, available: available.map((a) => ({ ...a, units: 100 })) });
    expect(restocked).toEqual({ ...merged, replayed: true });
  });

  it("keeps merge op ids apart from the clients' Idempotency-Keys, and for as long as the guest cart hands its lines over (0.3.14)", async () => {
    const user = await opened('usr_k');
    const guest = await opened();
    await add(guest.stub, 2, 2);
    const opId = `merge:${guest.cartId}`;
    // A client key spelled like the op id is the client's own.
    const own = await add(user.stub, 1, 1, { actorId: 'usr_k', key: opId });
    expect([own.ok, own.ok && own.replayed]).toEqual([true, undefined]);
    const closed = await guest.stub.closeForMerge({ into: user.cartId });
    if (!closed.ok) throw new Error('not closed');
    const lines = closed.lines.map(({ itemId: _i, addedAt: _a, updatedAt: _u, ...l }) => l);
    const merge = { actorId: 'usr_k', idleTtlMs: TTL, opId, limits: LIMITS, lines };
    expect(await user.stub.mergeFrom(merge)).toMatchObject({ ok: true, report: [{ requested: 2, merged: 2 }] });
    expect(await add(user.stub, 1, 1, { actorId: 'usr_k', key: opId })).toMatchObject({ ok: true, replayed: true, cart: { lines: [{ quantity: 1 }] } });

    // Past the client keys' retention a keyed add purges old client keys, not the merge.
    await travel(user.stub, IDEMPOTENCY_RETENTION_MS + 3_600_000);
    expect(await add(user.stub, 3, 1, { actorId: 'usr_k', key: 'k-later' })).toMatchObject({ ok: true });
    const fresh = await add(user.stub, 1, 1, { actorId: 'usr_k', key: opId });
    expect(fresh).toMatchObject({ ok: true, cart: { lines: [{ quantity: 2 }, { quantity: 2 }, { quantity: 1 }] } });
    expect(fresh.ok && fresh.replayed).toBeUndefined();
    expect(await user.stub.mergeFrom(merge)).toMatchObject({ ok: true, replayed: true });
    expect(await user.stub.view({ actorId: 'usr_k' })).toMatchObject({ ok: true, cart: { lines: [{ quantity: 2 }, { quantity: 2 }, { quantity: 1 }] } });

    // Past the closed retention the guest cart hands nothing over, even before its alarm ran.
    await travel(guest.stub, CLOSED_RETENTION_MS);
    expect(await guest.stub.closeForMerge({ into: user.cartId })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('0002 copies the merge op ids an object stored before 0.3.14 into their own table', async () => {
    const { stub } = await opened('usr_old');
    await runInDurableObject(stub, (_i: CartDurableObject, state) => {
      const sql = state.storage.sql;
      sql.exec("INSERT INTO idempotency (key, method, body_hash, result, created_at) VALUES ('merge:crt_x', 'mergeFrom', 'h', '{\"ok\":true}', 1)");
      sql.exec('DELETE FROM merge_ops');
      sql.exec("DELETE FROM _migrations WHERE name <> '0001_cart_core'");
      sql.exec('DROP TABLE merge_ops');
      sql.exec('DROP TABLE user_erased');
      expect(applyMigrations(state.storage, CART_MIGRATIONS)).toEqual(['0002_merge_ops', '0003_user_erased']);
      expect(sql.exec('SELECT op_id, body_hash, created_at FROM merge_ops').toArray()).toEqual([{ op_id: 'merge:crt_x', body_hash: 'h', created_at: 1 }]);
    });
  });
});

describe('checkout', () => {
  it('closes at the expected version only, once per order; later writes are refused; purged after the retention', async () => {
    const { stub } = await opened('usr_c');
    const added = await add(stub, 1, 2, { actorId: 'usr_c' });
    expect(added.ok).toBe(true);
    expect(await stub.markCheckedOut({ orderId: 'ord_1', expectedVersion: 1 })).toMatchObject({ ok: false, code: 'VERSION_MISMATCH', version: 2 });
    expect(await stub.markCheckedOut({ actorId: 'usr_x', orderId: 'ord_1', expectedVersion: 2 })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await stub.markCheckedOut({ orderId: 'ord_1', expectedVersion: 2 })).toMatchObject({ ok: true, changed: true, cart: { status: 'checked_out', orderId: 'ord_1', version: 3 } });
    expect(await stub.markCheckedOut({ orderId: 'ord_1', expectedVersion: 2 })).toMatchObject({ ok: true, changed: false });
    expect(await stub.markCheckedOut({ orderId: 'ord_2', expectedVersion: 3 })).toMatchObject({ ok: false, code: 'CHECKED_OUT' });
    expect(await add(stub, 2, 1, { actorId: 'usr_c' })).toMatchObject({ ok: false, code: 'CHECKED_OUT' });

    await travel(stub, CLOSED_RETENTION_MS + 1000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.view({ actorId: 'usr_c' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    await runInDurableObject(stub, (_i: CartDurableObject, state) => expect(tables(state)).toEqual([]));
  });
});

describe('expiry (the alarm)', () => {
  it('expires an idle cart: emits cart.abandoned, then deletes the storage and the alarm', async () => {
    const { cartId, stub } = await opened('usr_e');
    await add(stub, 1, 2, { actorId: 'usr_e', price: 2500 });
    await add(stub, 2, 1, { actorId: 'usr_e', price: 1000 });
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, async (instance: CartDurableObject, state) => {
      instance.eventsQueue = recording(sent);
      expect(Math.abs((await state.storage.getAlarm())! - (instance.clock.now().getTime() + TTL))).toBeLessThan(5000);
    });
    // Not yet idle long enough: nothing happens, the alarm is kept.
    await travel(stub, TTL - 60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(0);
    expect(await stub.view({ actorId: 'usr_e' })).toMatchObject({ ok: true, cart: { status: 'active' } });

    await travel(stub, 120_000);
    expect(await stub.view({ actorId: 'usr_e' })).toMatchObject({ ok: true, cart: { status: 'expired' } });
    expect(await add(stub, 3, 1, { actorId: 'usr_e' })).toMatchObject({ ok: false, code: 'EXPIRED' });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(1);
    const parsed = parseEnvelope(sent[0]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.event).toMatchObject({
      type: 'cart.abandoned',
      version: 1,
      source: 'cart',
      subject: cartId,
      data: {
        cartId,
        userId: 'usr_e',
        lines: [{ sku: 'SKU-1', quantity: 2, unitPrice: 2500 }, { sku: 'SKU-2', quantity: 1, unitPrice: 1000 }],
        totals: [{ currency: 'USD', amount: 6000, units: 3 }],
      },
    });
    await runInDurableObject(stub, async (_i: CartDurableObject, state) => {
      expect(tables(state)).toEqual([]);
      expect(await state.storage.getAlarm()).toBeNull();
    });
    expect(await stub.view({ actorId: 'usr_e' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('keeps the cart and retries with backoff while the queue refuses; never loses the event', async () => {
    const { stub } = await opened();
    await add(stub, 1, 1);
    await travel(stub, TTL + 1000);
    await runInDurableObject(stub, (instance: CartDurableObject) => {
      instance.eventsQueue = { send: async () => Promise.reject(new Error('queue down')) };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const eventId = await runInDurableObject(stub, async (instance: CartDurableObject, state) => {
      const rows = state.storage.sql.exec<{ event_id: string; attempts: number; last_error: string }>('SELECT * FROM outbox').toArray();
      expect(rows).toMatchObject([{ attempts: 1, last_error: 'queue down' }]);
      expect(Math.abs((await state.storage.getAlarm())! - (instance.clock.now().getTime() + 30_000))).toBeLessThan(5000);
      return rows[0]!.event_id;
    });
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: CartDurableObject) => {
      instance.eventsQueue = recording(sent);
    });
    await travel(stub, 30_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.map((e) => e.id)).toEqual([eventId]);
    await runInDurableObject(stub, (_i: CartDurableObject, state) => expect(tables(state)).toEqual([]));
  });

  it('deletes an idle empty cart without an event; a write pushes expiry back', async () => {
    const { stub } = await opened();
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (instance: CartDurableObject) => {
      instance.eventsQueue = recording(sent);
    });
    await travel(stub, TTL - 1000);
    await add(stub, 1, 1);
    const removed = await stub.view({ actorId: null });
    if (!removed.ok) throw new Error('cart gone');
    await stub.removeItem({ actorId: null, idleTtlMs: TTL, itemId: removed.cart.lines[0]!.itemId });
    await travel(stub, 2000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: true, cart: { status: 'active' } });
    await travel(stub, TTL);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toHaveLength(0);
    expect(await stub.view({ actorId: null })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });
});

describe('a lowered idle TTL (CART_IDLE_TTL_SECONDS) and carts that already exist (0.3.15)', () => {
  const OLD = 30 * DAY;
  const alarmAndNow = (stub: CartStub) => runInDurableObject(stub, async (i: CartDurableObject, state) => ({ alarm: (await state.storage.getAlarm())!, now: i.clock.now().getTime() }));
  const addWith = (stub: CartStub, n: number, idleTtlMs: number) => stub.addItem({ actorId: null, idleTtlMs, line: line(n), quantity: 1, available: 100, limits: LIMITS });

  it("the first change after the deploy moves the cart's alarm to last activity + the new TTL, and cart.abandoned comes then", async () => {
    const cartId = newId('cart');
    const stub = cartFor(env, cartId);
    await stub.open({ cartId, ownerId: null, idleTtlMs: OLD });
    expect(await addWith(stub, 1, OLD)).toMatchObject({ ok: true });
    await travel(stub, DAY);
    // Deployed with a 2-day TTL: the next change carries it.
    expect(await addWith(stub, 2, 2 * DAY)).toMatchObject({ ok: true, cart: { version: 3 } });
    const { alarm, now } = await alarmAndNow(stub);
    expect(alarm - now, 'the alarm is at the new expiry, not the old one').toBeGreaterThan(2 * DAY - 5000);
    expect(alarm - now).toBeLessThanOrEqual(2 * DAY);
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (i: CartDurableObject) => {
      i.eventsQueue = recording(sent);
    });
    await travel(stub, 2 * DAY + 60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
  });

  it('an alarm that fires early (the cart was used since its due time was set) re-arms on, or expires by, the TTL configured now when that is shorter', async () => {
    const cartId = newId('cart');
    const stub = cartFor(env, cartId);
    await stub.open({ cartId, ownerId: null, idleTtlMs: OLD });
    await travel(stub, 10 * DAY);
    // Used on day 10 (with the old TTL): its alarm stays at day 30, a lower bound.
    expect(await addWith(stub, 1, OLD)).toMatchObject({ ok: true });
    const sent: EventEnvelope[] = [];
    await runInDurableObject(stub, (i: CartDurableObject) => {
      i.eventsQueue = recording(sent);
      // Deployed with a 25-day TTL; nobody touches the cart again.
      i.configuredIdleTtlMs = 25 * DAY;
    });
    await travel(stub, 20 * DAY + 60_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([]);
    // Re-armed at day 10 + 25, not day 10 + 30.
    const { alarm, now } = await alarmAndNow(stub);
    expect(alarm - now).toBeGreaterThan(5 * DAY - 120_000);
    expect(alarm - now).toBeLessThan(5 * DAY);
    // Lowered again, to 7 days: the next alarm expires it at once.
    await runInDurableObject(stub, (i: CartDurableObject) => {
      i.configuredIdleTtlMs = 7 * DAY;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent.map((e) => e.type)).toEqual(['cart.abandoned']);
    await runInDurableObject(stub, (_i: CartDurableObject, state) => expect(tables(state)).toEqual([]));
  });
});

describe('user pointer', () => {
  it('compare-and-sets the active cart; cart methods are refused on it', async () => {
    const userId = `usr_${crypto.randomUUID().slice(0, 8)}`;
    const pointer = userCartPointer(env, userId);
    expect(await pointer.userCart()).toEqual({ ok: true, cartId: null });
    const a = newId('cart');
    const b = newId('cart');
    expect(await pointer.setUserCart({ expected: null, cartId: a })).toEqual({ ok: true, cartId: a });
    expect(await pointer.setUserCart({ expected: null, cartId: b })).toEqual({ ok: true, cartId: a });
    expect(await pointer.setUserCart({ expected: a, cartId: b })).toEqual({ ok: true, cartId: b });
    expect(await pointer.open({ cartId: a, ownerId: userId, idleTtlMs: TTL })).toMatchObject({ ok: false, code: 'WRONG_KIND' });
    await pointer.erase();
    expect(await pointer.userCart()).toEqual({ ok: true, cartId: null });
  });

  it('remembers an erased account: answers the cart it named (again on a retry), refuses to name a new one, deletes itself after the retention', async () => {
    const userId = `usr_${crypto.randomUUID().slice(0, 8)}`;
    const pointer = userCartPointer(env, userId);
    const a = newId('cart');
    expect(await pointer.setUserCart({ expected: null, cartId: a })).toEqual({ ok: true, cartId: a });
    expect(await pointer.markErased()).toEqual({ ok: true, cartId: a });
    expect(await pointer.markErased()).toEqual({ ok: true, cartId: a });
    expect(await pointer.userCart()).toEqual({ ok: true, cartId: null, erased: true });
    expect(await pointer.setUserCart({ expected: null, cartId: newId('cart') })).toMatchObject({ ok: false, code: 'ERASED' });
    // A user who never had a cart is remembered too.
    const never = userCartPointer(env, `usr_${crypto.randomUUID().slice(0, 8)}`);
    expect(await never.markErased()).toEqual({ ok: true, cartId: null });
    expect(await never.userCart()).toEqual({ ok: true, cartId: null, erased: true });

    await travel(pointer, ERASED_POINTER_RETENTION_MS - 1000);
    expect(await runDurableObjectAlarm(pointer)).toBe(true);
    expect(await pointer.userCart()).toEqual({ ok: true, cartId: null, erased: true });
    await travel(pointer, 2000);
    expect(await runDurableObjectAlarm(pointer)).toBe(true);
    await runInDurableObject(pointer, (_i: CartDurableObject, state) => expect(tables(state)).toEqual([]));
    expect(await pointer.userCart()).toEqual({ ok: true, cartId: null });
  });
});
