import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/env';
import { UserErased } from '../../shared/events';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';
import { productWith } from '../../test/support/products';
import worker from './index';
import { EVENTS_QUEUE } from './queues';
import { buildServices } from './services';

/** The cart verbs issue 7 (checkout) calls, and the user.erased consumers of cart and wishlist. */
const cartService = () => buildServices(env, readConfig(env), () => undefined).cart;

describe('checkout verbs', () => {
  it('snapshots at current prices with the version, closes once per order, then a fresh cart', async () => {
    const p = await productWith([{ price: 2100, stock: 10 }]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    const cart = (await json<{ id: string }>('/v1/carts', { method: 'POST', headers: h })).body;
    await json(`/v1/carts/${cart.id}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variants[0]!.id, quantity: 3 }, h));

    const service = cartService();
    const actor = { kind: 'user' as const, id: me.user.id };
    const snap = await service.checkoutSnapshot(cart.id, actor);
    expect(snap).toMatchObject({ cartId: cart.id, version: 2, ownerId: me.user.id, lines: [{ productId: p.productId, variantId: p.variants[0]!.id, sku: p.variants[0]!.sku, quantity: 3, unitPrice: 2100, currency: 'USD' }] });
    await expect(service.checkoutSnapshot(cart.id, { kind: 'user', id: 'usr_someone_else' })).rejects.toMatchObject({ code: 'CART_NOT_FOUND' });
    await expect(service.markCheckedOut(cart.id, 'ord_test_1', 1)).rejects.toMatchObject({ code: 'CART_VERSION_MISMATCH' });
    expect(await service.markCheckedOut(cart.id, 'ord_test_1', 2)).toMatchObject({ changed: true });
    expect(await service.markCheckedOut(cart.id, 'ord_test_1', 2)).toMatchObject({ changed: false });
    await expect(service.markCheckedOut(cart.id, 'ord_test_2', 3)).rejects.toMatchObject({ code: 'CART_CHECKED_OUT' });
    await expect(service.checkoutSnapshot(cart.id, actor)).rejects.toMatchObject({ code: 'CART_CHECKED_OUT' });

    await problem(`/v1/carts/${cart.id}/items`, 409, 'CART_CHECKED_OUT', jsonInit('POST', { productId: p.productId, variantId: p.variants[0]!.id }, h));
    expect((await json(`/v1/carts/${cart.id}`, { headers: h })).body).toMatchObject({ status: 'checked_out', orderId: 'ord_test_1' });
    const fresh = await json<{ id: string; lines: unknown[] }>('/v1/carts', { method: 'POST', headers: h });
    expect(fresh.res.status).toBe(201);
    expect(fresh.body.id).not.toBe(cart.id);
    expect(fresh.body.lines).toEqual([]);
  });
});

describe('user.erased', () => {
  it("deletes the user's wishlist rows and active cart", async () => {
    const p = await productWith([{ price: 100, stock: 5 }]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
    const cart = (await json<{ id: string }>('/v1/carts', { method: 'POST', headers: h })).body;
    await json(`/v1/carts/${cart.id}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variants[0]!.id }, h));

    const event = UserErased.create({ userId: me.user.id }, { correlationId: 'req_erase_test', source: 'auth', subject: me.user.id });
    const batch = createMessageBatch(EVENTS_QUEUE, [{ id: 'm1', timestamp: new Date(), attempts: 1, body: event }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect(await getQueueResult(batch, ctx)).toMatchObject({ explicitAcks: ['m1'], retryMessages: [] });

    expect((await json('/v1/me/wishlist', { headers: h })).body).toEqual({ items: [], nextCursor: null });
    await problem(`/v1/carts/${cart.id}`, 404, 'CART_NOT_FOUND', { headers: h });
    // A redelivery is harmless.
    const again = createMessageBatch(EVENTS_QUEUE, [{ id: 'm2', timestamp: new Date(), attempts: 2, body: event }]);
    const ctx2 = createExecutionContext();
    await worker.queue(again, env, ctx2);
    expect(await getQueueResult(again, ctx2)).toMatchObject({ explicitAcks: ['m2'] });
  });
});
