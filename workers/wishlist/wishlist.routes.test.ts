import { describe, expect, it } from 'vitest';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';
import { productWith, reprice } from '../../test/support/products';

/** The signed-in user's wishlist through the real Worker (Postgres), and moving an item to the cart. */
type Page = { items: { productId: string; variantId: string | null; product: { name: string; price: { amount: number } } | null }[]; nextCursor: string | null };

describe('wishlist', () => {
  it('saves, lists newest first with a cursor, updates the variant, removes', async () => {
    const a = await productWith([{ price: 900, stock: 1 }]);
    const b = await productWith([{ price: 800, stock: 1 }]);
    const c = await productWith([{ price: 700, stock: 1 }]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    expect((await json<Page>('/v1/me/wishlist', { headers: h })).body).toEqual({ items: [], nextCursor: null });
    for (const p of [a, b, c]) {
      const r = await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
      expect(r.res.status, JSON.stringify(r.body)).toBe(201);
    }
    const again = await json('/v1/me/wishlist', jsonInit('POST', { productId: a.productId, variantId: a.variants[0]!.id }, h));
    expect(again.res.status).toBe(200);
    expect(again.body).toMatchObject({ productId: a.productId, variantId: a.variants[0]!.id, product: { price: { amount: 900 } } });

    const first = await json<Page>('/v1/me/wishlist?limit=2', { headers: h });
    expect(first.body.items.map((i) => i.productId)).toEqual([c.productId, b.productId]);
    const second = await json<Page>(`/v1/me/wishlist?limit=2&cursor=${first.body.nextCursor}`, { headers: h });
    expect(second.body).toMatchObject({ items: [{ productId: a.productId }], nextCursor: null });
    await problem('/v1/me/wishlist?cursor=garbage!', 400, 'INVALID_CURSOR', { headers: h });
    // Another user's cursor does not page my list.
    await problem(`/v1/me/wishlist?cursor=${first.body.nextCursor}`, 400, 'INVALID_CURSOR', { headers: bearer((await newCustomer()).accessToken) });

    expect((await json('/v1/me/wishlist', { headers: bearer((await newCustomer()).accessToken) })).body).toEqual({ items: [], nextCursor: null });

    const del = await fetchStatus(`/v1/me/wishlist/${b.productId}`, { method: 'DELETE', headers: h });
    expect(del).toBe(204);
    await problem(`/v1/me/wishlist/${b.productId}`, 404, 'NOT_FOUND', { method: 'DELETE', headers: h });
  });

  it('shows the lowest price of what is for sale: a variant priced 0 (not for sale) is not the price, and none for sale shows no product', async () => {
    const p = await productWith([
      { price: 1200, stock: 1 },
      { price: 900, stock: 1 },
    ]);
    const h = bearer((await newCustomer()).accessToken);
    expect((await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h))).res.status).toBe(201);
    const shown = async () => ((await json<Page>('/v1/me/wishlist', { headers: h })).body.items.find((i) => i.productId === p.productId)!.product);
    expect((await shown())?.price.amount).toBe(900);
    await reprice(p, (old, i) => (i === 1 ? 0 : old));
    expect((await shown())?.price.amount).toBe(1200);
    await reprice(p, () => 0);
    expect(await shown()).toBeNull();
  });

  it('refuses unknown products, unknown fields and anonymous callers', async () => {
    const p = await productWith([{ price: 100, stock: 0 }]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    await problem('/v1/me/wishlist', 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', { productId: 'prd_00000000000000000000000000' }, h));
    await problem('/v1/me/wishlist', 422, 'VARIANT_NOT_FOUND', jsonInit('POST', { productId: p.productId, variantId: 'var_x' }, h));
    await problem('/v1/me/wishlist', 400, 'VALIDATION_FAILED', jsonInit('POST', { productId: p.productId, userId: 'usr_someone_else' }, h));
    await problem('/v1/me/wishlist', 401, 'UNAUTHENTICATED');
    await problem('/v1/me/wishlist', 401, 'UNAUTHENTICATED', jsonInit('POST', { productId: p.productId }));
    await problem(`/v1/me/wishlist/${p.productId}`, 401, 'UNAUTHENTICATED', { method: 'DELETE' });
  });

  it('moves an item into my cart (then it leaves the wishlist); a refusal leaves it where it was', async () => {
    const p = await productWith([
      { price: 1500, stock: 5 },
      { price: 1600, stock: 0 },
    ]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
    await problem(`/v1/me/wishlist/${p.productId}/move-to-cart`, 409, 'OUT_OF_STOCK', jsonInit('POST', { variantId: p.variants[1]!.id }, h));
    await problem(`/v1/me/wishlist/${p.productId}/move-to-cart`, 400, 'VALIDATION_FAILED', jsonInit('POST', { variantId: p.variants[0]!.id, price: 1 }, h));
    expect((await json<Page>('/v1/me/wishlist', { headers: h })).body.items).toHaveLength(1);

    const moved = await json<{ id: string; lines: { variantId: string; quantity: number }[] }>(
      `/v1/me/wishlist/${p.productId}/move-to-cart`,
      jsonInit('POST', { variantId: p.variants[0]!.id, quantity: 2 }, h),
    );
    expect(moved.res.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.lines).toMatchObject([{ variantId: p.variants[0]!.id, quantity: 2 }]);
    expect((await json<Page>('/v1/me/wishlist', { headers: h })).body.items).toEqual([]);
    // It is my cart: the one POST /v1/carts gives me.
    expect((await json<{ id: string }>('/v1/carts', { method: 'POST', headers: h })).body.id).toBe(moved.body.id);
    await problem(`/v1/me/wishlist/${p.productId}/move-to-cart`, 404, 'NOT_FOUND', jsonInit('POST', { variantId: p.variants[0]!.id }, h));
  });

  it('moves an item once when the move is sent several times at once (a double click)', async () => {
    const p = await productWith([{ price: 1500, stock: 9 }]);
    const me = await newCustomer();
    const h = bearer(me.accessToken);
    await json('/v1/me/wishlist', jsonInit('POST', { productId: p.productId }, h));
    const move = () => json<{ lines: { quantity: number }[] }>(`/v1/me/wishlist/${p.productId}/move-to-cart`, jsonInit('POST', { variantId: p.variants[0]!.id, quantity: 2 }, h));
    const moves = await Promise.all([move(), move(), move()]);
    expect(moves.every((m) => m.res.status === 200 || m.res.status === 404), JSON.stringify(moves.map((m) => [m.res.status, m.body]))).toBe(true);
    const cart = await json<{ lines: { quantity: number }[] }>('/v1/carts', { method: 'POST', headers: h });
    expect(cart.body.lines).toMatchObject([{ quantity: 2 }]);
    expect((await json<Page>('/v1/me/wishlist', { headers: h })).body.items).toEqual([]);
  });
});

async function fetchStatus(path: string, init: RequestInit): Promise<number> {
  const { call } = await import('../../test/support/http');
  return (await call(path, init)).status;
}
