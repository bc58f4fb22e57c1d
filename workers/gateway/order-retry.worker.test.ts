/**
 * Checkout retries across a failure, through the services as the gateway builds them (the
 * orders service with the cart service behind it), with one call made to fail.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { readConfig } from '../../shared/env';
import type { Actor, RequestMeta } from '../../shared/http/context';
import type { Role } from '../../shared/kernel/roles';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { json } from '../../test/support/http';
import { available, stockedProduct } from '../../test/support/orders';
import { buildServices } from './services';

const config = readConfig(env);

const place = (body: unknown, token: string, key: string = crypto.randomUUID()) => json('/v1/orders', jsonInit('POST', body, { ...bearer(token), 'idempotency-key': key }));

describe('placing an order from a cart, retried', () => {
  it('a retry whose first try died before closing the cart, after another order took the cart: refused, its order undone', async () => {
    const p = await stockedProduct(6, 1500);
    const c = await newCustomer();
    const cartId = (await json('/v1/carts', jsonInit('POST', {}, bearer(c.accessToken)))).body.id as string;
    expect((await json(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.productId, variantId: p.variantId, quantity: 2 }, bearer(c.accessToken)))).res.status).toBe(201);
    const actor: Actor = { kind: 'user', id: c.user.id, roles: c.user.roles as Role[], scopes: [], warehouseIds: [], storeId: null, sessionId: null };
    const meta: RequestMeta = { requestId: 'req_retry_after_crash', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', actor };
    const body = { cartId, paymentMethod: 'CARD' as const };
    const keyA = crypto.randomUUID();
    // Try A: its order object places the order (2 units reserved), then the cart is out of reach.
    const first = buildServices(env, config, () => undefined);
    vi.spyOn(first.cart, 'markCheckedOut').mockRejectedValueOnce(new Error('connection lost'));
    await expect(first.orders.place(body, keyA, meta)).rejects.toThrow('connection lost');
    expect(await available(p.sku)).toBe(4);
    // Meanwhile another order (key B) takes the cart.
    const b = await place(body, c.accessToken);
    expect(b.res.status, JSON.stringify(b.body)).toBe(201);
    expect(await available(p.sku)).toBe(2);
    // A's retry: the cart is B's, so A is refused and undone; B stands.
    const retry = buildServices(env, config, () => undefined);
    await expect(retry.orders.place(body, keyA, meta)).rejects.toMatchObject({ code: 'CART_CHECKED_OUT' });
    expect(await available(p.sku)).toBe(4);
    expect((await json(`/v1/carts/${cartId}`, { headers: bearer(c.accessToken) })).body).toMatchObject({ status: 'checked_out', orderId: b.body.orderId });
  });
});
