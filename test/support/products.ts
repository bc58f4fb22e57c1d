import { bearer, jsonInit, login } from './auth';
import { json } from './http';

/**
 * Test fixtures for cart and wishlist tests (inside workerd): products of their own, made through
 * the admin API and stocked through a staff adjustment, so tests never fight over seeded stock.
 */
let admin: { token: string; warehouseId: string } | undefined;

export async function adminSession(): Promise<{ token: string; warehouseId: string }> {
  if (!admin) {
    const [a, staff] = await Promise.all([login('admin@agora.dev'), login('staff@agora.dev')]);
    admin = { token: a.accessToken, warehouseId: staff.user.warehouseIds[0]! };
  }
  return admin;
}

let refs: { body: { items: { brand: { slug: string }; category: { slug: string } }[] } } | undefined;

export interface FixtureProduct {
  productId: string;
  variants: { id: string; sku: string; price: number }[];
}

/** A new active product with one variant per entry, each with `stock` units available. */
export async function productWith(variants: { price: number; stock: number }[]): Promise<FixtureProduct> {
  const { token, warehouseId } = await adminSession();
  const list = (refs ??= await json<{ items: { brand: { slug: string }; category: { slug: string } }[] }>('/v1/products?limit=1'));
  const tag = crypto.randomUUID().slice(0, 8).toLowerCase();
  const created = await json<{ id: string; variants: { id: string; sku: string; price: { amount: number } }[] }>(
    '/v1/admin/products',
    jsonInit(
      'POST',
      {
        slug: `cart-test-${tag}`,
        name: `Cart Test ${tag}`,
        brandSlug: list.body.items[0]!.brand.slug,
        categorySlug: list.body.items[0]!.category.slug,
        variants: variants.map((v, i) => ({ sku: `CT-${tag}-${i}`, name: `Size ${i}`, price: v.price })),
      },
      bearer(token),
    ),
  );
  if (created.res.status !== 201) throw new Error(`create product → ${created.res.status} ${JSON.stringify(created.body)}`);
  const out = created.body.variants.map((v) => ({ id: v.id, sku: v.sku, price: v.price.amount }));
  for (const [i, v] of variants.entries()) {
    if (v.stock <= 0) continue;
    const r = await json(
      `/v1/warehouses/${warehouseId}/stock/adjustments`,
      jsonInit('POST', { sku: out[i]!.sku, delta: v.stock, reason: 'receipt' }, { ...bearer(token), 'idempotency-key': `stock-${tag}-${i}` }),
    );
    if (r.res.status !== 201) throw new Error(`stock → ${r.res.status} ${JSON.stringify(r.body)}`);
  }
  return { productId: created.body.id, variants: out };
}

/** Changes the price of every variant of a product through the admin PATCH route. */
export async function reprice(p: FixtureProduct, price: (old: number, i: number) => number): Promise<void> {
  const { token } = await adminSession();
  const r = await json(
    `/v1/admin/products/${p.productId}`,
    jsonInit('PATCH', { variants: p.variants.map((v, i) => ({ sku: v.sku, name: `Size ${i}`, price: price(v.price, i) })) }, bearer(token)),
  );
  if (r.res.status !== 200) throw new Error(`reprice → ${r.res.status} ${JSON.stringify(r.body)}`);
}
