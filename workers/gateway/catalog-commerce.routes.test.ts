/**
 * Admin catalog changes (/v1/admin/products) as shoppers meet them, through the real Worker: what
 * the cached catalog reads (docs/caching.md), search, filters, facets and cursors show next; what a
 * cart shows and refuses; what an order placed before and after the change charges. Prices moved,
 * products archived and brought back, variants added, removed, renamed and re-added, SKUs renamed,
 * a product priced in another currency, stock going to 0 through a warehouse adjustment (and the
 * projection), and bad admin input that must be a 4xx problem with nothing written.
 *
 * Each test's products carry a word of their own (`group()`, consonants only so the English stemmer
 * leaves it alone) in their names: searching it scopes every list to this test's products, whatever
 * other files write to the catalog at the same time.
 *
 * Eight of these failed before 0.3.15 (a variant priced 0 listed at 0 and in stock, a cart showing
 * the names at add time, a SKU put back out of stock for good, an EUR product repriced into USD, a
 * dictionary keeping archived and former words, relevance pages skipping a product, a repeated SKU
 * accepted, accented names not found); each one's comment says what a shop expects.
 */
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, jsonInit, newCustomer } from '../../test/support/auth';
import { rows } from '../../test/support/db';
import { call, json, problem } from '../../test/support/http';
import { available, eventually } from '../../test/support/orders';
import { adminSession } from '../../test/support/products';

// ------------------------------------------------------------------ fixtures

type Money = { amount: number; currency: string };
type Variant = { id: string; sku: string; name: string; price: Money; inStock: boolean };
type Product = { id: string; slug: string; name: string; price: Money; priceMax: Money; inStock: boolean; brand: { slug: string }; category: { slug: string }; variants: Variant[]; status?: string };
type Summary = Omit<Product, 'variants'>;
type Facet = { slug: string; count: number };
type List = { items: Summary[]; total: number; nextCursor: string | null; correctedQuery: string | null; facets: { categories: Facet[]; brands: Facet[]; price: { min: number; max: number | null; count: number }[] } };
type Line = { itemId: string; variantId: string; sku: string; name: string; variantName: string; quantity: number; unitPrice: Money; priceAtAdd: Money; priceChanged: boolean; sellable: boolean };
type Cart = { id: string; status: string; version: number; lines: Line[]; totals: { currency: string; total: Money; units: number }[] };

const CONSONANTS = 'bcdfghjklmnpqrstvwxz';
/** A word no other product has: consonants only, so stemming and stop words leave it as it is. */
function group(): string {
  const r = crypto.getRandomValues(new Uint8Array(8));
  return `qz${[...r].map((b) => CONSONANTS[b % CONSONANTS.length]).join('')}`;
}
/** One typo: two adjacent (different) letters swapped, past the `qz` prefix. */
function typo(word: string): string {
  for (let i = 3; i < word.length - 1; i++) {
    if (word[i] !== word[i + 1]) return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
  }
  throw new Error(`no typo possible in ${word}`);
}

let refs: { brands: [string, string]; categories: [string, string] } | undefined;
/** Two brands and two leaf categories (disjoint subtrees), from the seed. */
async function catalogRefs() {
  if (!refs) {
    const b = await rows<{ slug: string }>(sql`select slug from brands order by slug limit 2`);
    const c = await rows<{ slug: string }>(sql`select slug from categories c where not exists (select 1 from categories k where k.parent_id = c.id) order by slug limit 2`);
    refs = { brands: [b[0]!.slug, b[1]!.slug], categories: [c[0]!.slug, c[1]!.slug] };
  }
  return refs;
}

const adminH = async () => bearer((await adminSession()).token);

interface Made {
  id: string;
  slug: string;
  name: string;
  variants: { id: string; sku: string; name: string; price: number }[];
}

/** An active product named `Probe <word> <suffix>`, one variant per entry, each stocked through a staff adjustment. */
async function make(word: string, variants: { price: number; stock?: number; name?: string }[], over: Record<string, unknown> = {}): Promise<Made> {
  const { token, warehouseId } = await adminSession();
  const { brands, categories } = await catalogRefs();
  const tag = crypto.randomUUID().slice(0, 8).toLowerCase();
  const body = {
    slug: `probe-${word}-${tag}`,
    name: `Probe ${word} item`,
    brandSlug: brands[0],
    categorySlug: categories[0],
    variants: variants.map((v, i) => ({ sku: `PC-${tag}-${i}`, name: v.name ?? `Size ${i}`, price: v.price })),
    ...over,
  };
  const created = await json<Product>('/v1/admin/products', jsonInit('POST', body, bearer(token)));
  expect(created.res.status, JSON.stringify(created.body)).toBe(201);
  for (const [i, v] of variants.entries()) {
    if (!v.stock) continue;
    const r = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, jsonInit('POST', { sku: `PC-${tag}-${i}`, delta: v.stock, reason: 'receipt' }, bearer(token, { 'idempotency-key': `pc-${tag}-${i}` })));
    expect(r.res.status, JSON.stringify(r.body)).toBe(201);
  }
  return { id: created.body.id, slug: created.body.slug, name: created.body.name, variants: created.body.variants.map((v) => ({ id: v.id, sku: v.sku, name: v.name, price: v.price.amount })) };
}

async function patch(id: string, body: unknown): Promise<Product> {
  const r = await json<Product>(`/v1/admin/products/${id}`, jsonInit('PATCH', body, await adminH()));
  expect(r.res.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}
const archive = (id: string) => patch(id, { status: 'archived' });
const unarchive = (id: string) => patch(id, { status: 'active' });
/** The variants as the admin PATCH takes them (sent variants replace the stored ones, by SKU). */
const variantsOf = (p: Made, price: (v: Made['variants'][number], i: number) => number = (v) => v.price) => p.variants.map((v, i) => ({ sku: v.sku, name: v.name, price: price(v, i) }));

async function list(params: Record<string, string | number | boolean>): Promise<List> {
  const qs = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const { res, body } = await json<List>(`/v1/products?${qs}`);
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}
const ids = (l: List) => l.items.map((i) => i.id);
const facet = (fs: Facet[], slug: string) => fs.find((f) => f.slug === slug)?.count ?? 0;

async function detail(idOrSlug: string): Promise<{ status: number; body: Product; cache: string | null }> {
  const { res, body } = await json<Product>(`/v1/products/${idOrSlug}`);
  return { status: res.status, body, cache: res.headers.get('x-cache') };
}

async function userCart(token: string): Promise<Cart> {
  const { res, body } = await json<Cart>('/v1/carts', { method: 'POST', headers: bearer(token) });
  expect([200, 201], JSON.stringify(body)).toContain(res.status);
  return body;
}
async function addOk(cartId: string, p: Made, i: number, quantity: number, token: string): Promise<Cart> {
  const { res, body } = await json<Cart>(`/v1/carts/${cartId}/items`, jsonInit('POST', { productId: p.id, variantId: p.variants[i]!.id, quantity }, bearer(token)));
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}
const getCart = async (cartId: string, token: string) => (await json<Cart>(`/v1/carts/${cartId}`, { headers: bearer(token) })).body;
const order = (body: unknown, token: string) => json('/v1/orders', jsonInit('POST', body, bearer(token, { 'idempotency-key': crypto.randomUUID() })));

async function adjust(sku: string, delta: number) {
  const { token, warehouseId } = await adminSession();
  const r = await json(`/v1/warehouses/${warehouseId}/stock/adjustments`, jsonInit('POST', { sku, delta, reason: delta > 0 ? 'receipt' : 'damage' }, bearer(token, { 'idempotency-key': crypto.randomUUID() })));
  expect(r.res.status, JSON.stringify(r.body)).toBe(201);
}
/** The catalog's projected units of a SKU (product_variants.available_qty, fed through the queue). */
const projected = async (sku: string) => (await rows<{ q: number }>(sql`select available_qty as q from product_variants where sku = ${sku}`))[0]?.q ?? null;

// The first requests of a run pay for cold starts (sign-in, pools, the first catalog queries, the
// first order and cart objects): outside any one test's 30 s budget.
beforeAll(async () => {
  await Promise.all([adminSession(), catalogRefs(), list({ limit: 1 }), newCustomer()]);
});

// ------------------------------------------------------------------ prices

describe('a price change', () => {
  it('shows on the next cached read (by id, slug and in lists, filters, facets, sorts); a cart line shows it flagged; an order placed before keeps its price, one placed after charges the new one', async () => {
    const w = group();
    const p = await make(w, [{ price: 1000, stock: 20 }]);
    const q = await make(w, [{ price: 2000, stock: 20 }]);
    const first = await detail(p.id);
    expect(first.body.price).toEqual({ amount: 1000, currency: 'USD' });
    const again = await detail(p.id);
    expect(again.cache, 'a repeated read is served from a cache layer').not.toBe('miss');
    await detail(p.slug);
    expect(ids(await list({ q: w, sort: 'price_asc' }))).toEqual([p.id, q.id]);

    const early = await newCustomer();
    const before = await order({ items: [{ productId: p.id, variantId: p.variants[0]!.id, quantity: 2 }], paymentMethod: 'COD' }, early.accessToken);
    expect(before.res.status, JSON.stringify(before.body)).toBe(201);
    expect(before.body.total).toEqual({ amount: 2000, currency: 'USD' });
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await addOk(cart.id, p, 0, 1, shopper.accessToken);

    // 1000 → 3000 moves it from the [0, 2500) price bucket to [2500, 5000) and past q in price order.
    await patch(p.id, { variants: variantsOf(p, () => 3000) });
    expect((await detail(p.id)).body.price).toEqual({ amount: 3000, currency: 'USD' });
    expect((await detail(p.slug)).body.variants[0]!.price).toEqual({ amount: 3000, currency: 'USD' });
    const all = await list({ q: w });
    expect(all.items.find((i) => i.id === p.id)?.price).toEqual({ amount: 3000, currency: 'USD' });
    expect(all.facets.price.filter((b) => b.count > 0).map((b) => [b.min, b.count])).toEqual([[0, 1], [2500, 1]]);
    expect(ids(await list({ q: w, sort: 'price_asc' }))).toEqual([q.id, p.id]);
    expect(ids(await list({ q: w, sort: 'price_desc' }))).toEqual([p.id, q.id]);
    expect(ids(await list({ q: w, maxPrice: 2500 }))).toEqual([q.id]);
    expect(ids(await list({ q: w, minPrice: 3000, maxPrice: 3000 }))).toEqual([p.id]);

    const seen = await getCart(cart.id, shopper.accessToken);
    expect(seen.lines.map((l) => [l.unitPrice.amount, l.priceAtAdd.amount, l.priceChanged, l.sellable])).toEqual([[3000, 1000, true, true]]);
    expect(seen.totals.map((t) => t.total)).toEqual([{ amount: 3000, currency: 'USD' }]);

    const after = await order({ cartId: cart.id, paymentMethod: 'COD' }, shopper.accessToken);
    expect(after.res.status, JSON.stringify(after.body)).toBe(201);
    expect(after.body.items.map((i: { unitPrice: Money }) => i.unitPrice.amount)).toEqual([3000]);
    expect(after.body.total).toEqual({ amount: 3000, currency: 'USD' });
    const kept = await json(`/v1/orders/${before.body.orderId}`, { headers: bearer(early.accessToken) });
    expect({ unit: kept.body.items[0].unitPrice, total: kept.body.total }).toEqual({ unit: { amount: 1000, currency: 'USD' }, total: { amount: 2000, currency: 'USD' } });
  });

  // A variant priced 0 is "not for sale" (docs/cart.md; the cart and orders refuse it), and
  // docs/search.md says `inStock` means "some variant has *sellable* stock": the listing shows the
  // lowest price one can pay (1500, not "from $0.00" inside maxPrice=0) and inStock false (the only
  // stocked variant cannot be sold). The variant itself still says it has units.
  it('a variant that is not for sale (price 0) sets neither the listed price nor inStock', async () => {
    const w = group();
    const p = await make(w, [{ price: 0, stock: 3 }, { price: 1500 }]);
    expect(await eventually(() => projected(p.variants[0]!.sku), (q) => q === 3, 15_000)).toBe(3);
    const read = await eventually(() => detail(p.id), (d) => d.body.variants[0]?.inStock === true, 5_000);
    const listed = await list({ q: w, maxPrice: 0 });
    expect({ price: read.body.price.amount, inStock: read.body.inStock, listedAtZero: ids(listed) }).toEqual({ price: 1500, inStock: false, listedAtZero: [] });
  });
});

// ------------------------------------------------------------------ archive

describe('archiving a product', () => {
  it('hides it from lists, search, facets and the product page; add-to-cart and checkout refuse it with a 4xx; an existing order is untouched; un-archiving brings everything back', async () => {
    const w = group();
    const { brands, categories } = await catalogRefs();
    const keep = await make(w, [{ price: 1500, stock: 10 }]);
    const gone = await make(w, [{ price: 800, stock: 10 }]);
    const buyer = await newCustomer();
    const placed = await order({ items: [{ productId: gone.id, variantId: gone.variants[0]!.id, quantity: 1 }], paymentMethod: 'COD' }, buyer.accessToken);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await addOk(cart.id, keep, 0, 1, shopper.accessToken);
    await addOk(cart.id, gone, 0, 2, shopper.accessToken);
    const listed = await list({ q: w });
    expect({ total: listed.total, brand: facet(listed.facets.brands, brands[0]), category: facet(listed.facets.categories, categories[0]) }).toEqual({ total: 2, brand: 2, category: 2 });
    expect((await list({ q: typo(w) })).total).toBe(2);

    await archive(gone.id);
    const after = await list({ q: w });
    expect({ ids: ids(after), total: after.total, brand: facet(after.facets.brands, brands[0]), category: facet(after.facets.categories, categories[0]), buckets: after.facets.price.filter((b) => b.count > 0).map((b) => b.min) }).toEqual({
      ids: [keep.id],
      total: 1,
      brand: 1,
      category: 1,
      buckets: [0],
    });
    expect(ids(await list({ q: w, sort: 'price_asc', maxPrice: 1000 }))).toEqual([]);
    expect(ids(await list({ q: typo(w) }))).toEqual([keep.id]);
    await problem(`/v1/products/${gone.id}`, 404, 'NOT_FOUND');
    await problem(`/v1/products/${gone.slug}`, 404, 'NOT_FOUND');
    await problem(`/v1/carts/${cart.id}/items`, 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', { productId: gone.id, variantId: gone.variants[0]!.id, quantity: 1 }, bearer(shopper.accessToken)));
    const seen = await getCart(cart.id, shopper.accessToken);
    expect(seen.lines.map((l) => [l.sku, l.sellable])).toEqual([[keep.variants[0]!.sku, true], [gone.variants[0]!.sku, false]]);
    expect(seen.totals.map((t) => t.total)).toEqual([{ amount: 1500, currency: 'USD' }]);
    const refused = await problem('/v1/orders', 422, 'PRODUCT_NOT_SELLABLE', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(shopper.accessToken, { 'idempotency-key': crypto.randomUUID() })));
    expect(refused.errors!.map((e) => e.path)).toEqual(['cart.lines.1']);
    await problem('/v1/orders', 422, 'PRODUCT_NOT_FOUND', jsonInit('POST', { items: [{ productId: gone.id, quantity: 1 }], paymentMethod: 'COD' }, bearer(shopper.accessToken, { 'idempotency-key': crypto.randomUUID() })));
    const old = await json(`/v1/orders/${placed.body.orderId}`, { headers: bearer(buyer.accessToken) });
    expect(old.res.status).toBe(200);
    expect({ status: old.body.status, total: old.body.total, items: old.body.items.map((i: { sku: string; quantity: number }) => [i.sku, i.quantity]) }).toEqual({
      status: placed.body.status,
      total: { amount: 800, currency: 'USD' },
      items: [[gone.variants[0]!.sku, 1]],
    });

    // Back on sale: listed, searchable, on its page, and the cart line sells again at checkout.
    expect((await unarchive(gone.id)).status).toBe('active');
    expect(new Set(ids(await list({ q: w })))).toEqual(new Set([keep.id, gone.id]));
    expect((await list({ q: typo(w) })).total).toBe(2);
    expect((await detail(gone.slug)).status).toBe(200);
    expect((await getCart(cart.id, shopper.accessToken)).lines.map((l) => l.sellable)).toEqual([true, true]);
    const bought = await order({ cartId: cart.id, paymentMethod: 'COD' }, shopper.accessToken);
    expect(bought.res.status, JSON.stringify(bought.body)).toBe(201);
    expect(bought.body.total).toEqual({ amount: 1500 + 2 * 800, currency: 'USD' });
  });
});

// ------------------------------------------------------------------ variants and SKUs

describe('variants changed while they sit in a cart', () => {
  it('a SKU renamed (old SKU gone, new one added) and a variant added: the untouched line sells on, the renamed line is flagged and refused at checkout with a 4xx naming it; the new variants are listed', async () => {
    const w = group();
    const p = await make(w, [{ price: 1000, stock: 5 }, { price: 1200, stock: 5 }]);
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await addOk(cart.id, p, 0, 1, shopper.accessToken);
    const both = await addOk(cart.id, p, 1, 1, shopper.accessToken);
    expect(await eventually(() => projected(p.variants[1]!.sku), (q) => q === 5, 15_000)).toBe(5);
    const renamedSku = `${p.variants[0]!.sku}-R`;
    const changed = await patch(p.id, {
      variants: [
        { sku: renamedSku, name: 'Size 0', price: 1000 },
        { sku: p.variants[1]!.sku, name: 'Size 1', price: 1200 },
        { sku: `${p.variants[0]!.sku}-NEW`, name: 'Size 2', price: 5000 },
      ],
    });
    // The kept SKU keeps its variant id; the renamed and the new one are new variants without stock.
    expect(changed.variants.map((v) => [v.sku, v.id === p.variants[1]!.id, v.inStock])).toEqual([
      [renamedSku, false, false],
      [p.variants[1]!.sku, true, true],
      [`${p.variants[0]!.sku}-NEW`, false, false],
    ]);
    expect({ min: changed.price.amount, max: changed.priceMax.amount }).toEqual({ min: 1000, max: 5000 });
    expect((await list({ q: w })).items[0]!.priceMax).toEqual({ amount: 5000, currency: 'USD' });

    const seen = await getCart(cart.id, shopper.accessToken);
    expect(seen.lines.map((l) => [l.sku, l.sellable, l.priceChanged])).toEqual([
      [p.variants[0]!.sku, false, false],
      [p.variants[1]!.sku, true, false],
    ]);
    expect(seen.totals.map((t) => t.total)).toEqual([{ amount: 1200, currency: 'USD' }]);
    await problem(`/v1/carts/${cart.id}/items`, 422, 'VARIANT_NOT_FOUND', jsonInit('POST', { productId: p.id, variantId: p.variants[0]!.id, quantity: 1 }, bearer(shopper.accessToken)));
    // The new variant has no stock under its SKU: a clear 409, not a line.
    await problem(`/v1/carts/${cart.id}/items`, 409, 'OUT_OF_STOCK', jsonInit('POST', { productId: p.id, variantId: changed.variants[2]!.id, quantity: 1 }, bearer(shopper.accessToken)));
    const refused = await problem('/v1/orders', 422, 'PRODUCT_NOT_SELLABLE', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(shopper.accessToken, { 'idempotency-key': crypto.randomUUID() })));
    expect(refused.errors).toEqual([expect.objectContaining({ path: 'cart.lines.0', code: both.lines[0]!.itemId })]);
    // The old SKU is no longer the catalog's.
    expect((await call(`/v1/inventory/${p.variants[0]!.sku}`)).status).toBe(404);
    expect((await getCart(cart.id, shopper.accessToken)).status).toBe('active');
  });

  // The cart renders each sellable line with the catalog's price and names now, so after a rename
  // it says "Midnight Blue" as the product page and the order placed from that very cart do (until
  // 0.3.15 it kept the names of when the line was added).
  it('a product and a variant renamed while in a cart: the cart shows the names the order will carry', async () => {
    const w = group();
    const p = await make(w, [{ price: 900, stock: 5 }]);
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await addOk(cart.id, p, 0, 1, shopper.accessToken);
    const newName = `Probe ${w} lantern`;
    await patch(p.id, { name: newName, variants: [{ sku: p.variants[0]!.sku, name: 'Midnight Blue', price: 900 }] });
    const line = (await getCart(cart.id, shopper.accessToken)).lines[0]!;
    const placed = await order({ cartId: cart.id, paymentMethod: 'COD' }, shopper.accessToken);
    expect(placed.res.status, JSON.stringify(placed.body)).toBe(201);
    expect({ cart: [line.name, line.variantName], order: placed.body.items[0].name }).toEqual({ cart: [newName, 'Midnight Blue'], order: `${newName} – Midnight Blue` });
  });

  // A variant removed and put back (same SKU) is in stock at once, as GET /v1/inventory/{sku} and
  // add-to-cart say, although its SKU's stock never moved (so no inventory.updated follows): the
  // save takes an added SKU's units from the inventory projection (catalog.repo.ts replaceVariants).
  // Until 0.3.15 the re-inserted row started at 0 and stayed there until the next stock movement.
  it('a variant removed and put back (same SKU) is in stock again, as its stock never moved', async () => {
    const w = group();
    const p = await make(w, [{ price: 1000, stock: 4 }, { price: 1200 }]);
    expect(await eventually(() => projected(p.variants[0]!.sku), (q) => q === 4, 15_000)).toBe(4);
    await patch(p.id, { variants: [variantsOf(p)[1]] });
    const back = await patch(p.id, { variants: variantsOf(p) });
    expect(back.variants.map((v) => v.sku)).toEqual(p.variants.map((v) => v.sku));
    const live = await available(p.variants[0]!.sku);
    const page = await detail(p.id);
    expect({ live, variantInStock: page.body.variants[0]!.inStock, productInStock: page.body.inStock, listedInStock: ids(await list({ q: w, inStock: true })) }).toEqual({
      live: 4,
      variantInStock: true,
      productInStock: true,
      listedInStock: [p.id],
    });
  });
});

// ------------------------------------------------------------------ currency

describe('a product priced in another currency than the store', () => {
  // A mixed-currency cart totals per currency and checkout refuses it (422 CURRENCY_MISMATCH).
  // Repricing an EUR product through the admin PATCH keeps its variants in EUR (its own currency, not
  // the store's): until 0.3.15 they became 2500 USD while the product row stayed EUR.
  it('a mixed-currency cart totals per currency and cannot be checked out; repricing the EUR product keeps it in EUR', async () => {
    const w = group();
    const usd = await make(w, [{ price: 1000, stock: 5 }]);
    const eur = await make(w, [{ price: 2000, stock: 5 }]);
    // Saved before a STORE_CURRENCY change: the API cannot make one, the database can.
    await rows(sql`update product_variants set currency = 'EUR' where product_id = ${eur.id}`);
    await rows(sql`update products set currency = 'EUR' where id = ${eur.id}`);
    expect((await patch(eur.id, { description: 'priced in euros' })).variants[0]!.price).toEqual({ amount: 2000, currency: 'EUR' });
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await addOk(cart.id, usd, 0, 1, shopper.accessToken);
    const mixed = await addOk(cart.id, eur, 0, 2, shopper.accessToken);
    expect(mixed.totals.map((t) => [t.currency, t.total.amount, t.units])).toEqual([
      ['EUR', 4000, 2],
      ['USD', 1000, 1],
    ]);
    await problem('/v1/orders', 422, 'CURRENCY_MISMATCH', jsonInit('POST', { cartId: cart.id, paymentMethod: 'COD' }, bearer(shopper.accessToken, { 'idempotency-key': crypto.randomUUID() })));

    const repriced = await patch(eur.id, { variants: variantsOf(eur, () => 2500) });
    const page = (await detail(eur.id)).body;
    const line = (await getCart(cart.id, shopper.accessToken)).lines.find((l) => l.sku === eur.variants[0]!.sku)!;
    expect({ saved: repriced.variants[0]!.price, page: page.price, pageVariant: page.variants[0]!.price, cartLine: line.unitPrice }).toEqual({
      saved: { amount: 2500, currency: 'EUR' },
      page: { amount: 2500, currency: 'EUR' },
      pageVariant: { amount: 2500, currency: 'EUR' },
      cartLine: { amount: 2500, currency: 'EUR' },
    });
  });
});

// ------------------------------------------------------------------ search and filters

describe('search and filters follow the change', () => {
  it('a brand and category change moves the product between filters and facets (facets stay disjunctive)', async () => {
    const w = group();
    const { brands, categories } = await catalogRefs();
    const a = await make(w, [{ price: 1000 }]);
    const b = await make(w, [{ price: 2000 }]);
    expect(ids(await list({ q: w, brand: brands[1] }))).toEqual([]);
    await patch(b.id, { brandSlug: brands[1], categorySlug: categories[1] });
    const all = await list({ q: w });
    expect({ brands: [facet(all.facets.brands, brands[0]), facet(all.facets.brands, brands[1])], categories: [facet(all.facets.categories, categories[0]), facet(all.facets.categories, categories[1])] }).toEqual({ brands: [1, 1], categories: [1, 1] });
    const byBrand = await list({ q: w, brand: brands[1] });
    expect({ ids: ids(byBrand), total: byBrand.total, otherBrand: facet(byBrand.facets.brands, brands[0]) }).toEqual({ ids: [b.id], total: 1, otherBrand: 1 });
    expect(ids(await list({ q: w, category: categories[0] }))).toEqual([a.id]);
    expect(ids(await list({ q: w, category: categories[1], brand: brands[1] }))).toEqual([b.id]);
    expect((await detail(b.id)).body).toMatchObject({ brand: { slug: brands[1] }, category: { slug: categories[1] } });
  });

  it('a renamed product is found by its new name, with a typo too, and no longer by its old name; sorts newest and rating still list it', async () => {
    const oldWord = group();
    const newWord = group();
    const p = await make(oldWord, [{ price: 1000 }]);
    expect(ids(await list({ q: typo(oldWord) }))).toEqual([p.id]);
    await patch(p.id, { name: `Probe ${newWord} item` });
    expect(ids(await list({ q: oldWord }))).toEqual([]);
    expect(ids(await list({ q: newWord }))).toEqual([p.id]);
    const fuzzy = await list({ q: typo(newWord) });
    expect({ ids: ids(fuzzy), corrected: fuzzy.correctedQuery }).toEqual({ ids: [p.id], corrected: newWord });
    expect(ids(await list({ q: `${newWord} probe`, sort: 'newest' }))).toEqual([p.id]);
    expect(ids(await list({ q: newWord, sort: 'rating' }))).toEqual([p.id]);
  });

  // docs/search.md: the typo dictionary is "every word of *active* products' names and keywords".
  // A word leaves it with its last active product (archived or renamed), so a typo of it is not
  // "corrected" to a word nothing on sale carries (correctedQuery null, not the dead word over an
  // empty page, as until 0.3.15).
  it('typo correction never suggests a word only an archived or renamed product had', async () => {
    const archivedWord = group();
    const formerWord = group();
    const a = await make(archivedWord, [{ price: 1000 }]);
    const b = await make(formerWord, [{ price: 1000 }]);
    await archive(a.id);
    await patch(b.id, { name: `Probe ${group()} item` });
    const [x, y] = await Promise.all([list({ q: typo(archivedWord) }), list({ q: typo(formerWord) })]);
    expect({ archived: [x.total, x.correctedQuery], renamed: [y.total, y.correctedQuery] }).toEqual({ archived: [0, null], renamed: [0, null] });
  });

  it('inStock follows stock going to 0 through a warehouse adjustment (via the projection), and back', async () => {
    const w = group();
    const p = await make(w, [{ price: 1000, stock: 3 }]);
    const sku = p.variants[0]!.sku;
    // The API is polled once the follower committed (the projected units are read first). The
    // follower bumps the cache generation after its commit (catalog.consumer.ts; until 0.3.15 inside
    // its transaction, so a read between the bump and the commit cached the old rows for the TTL).
    expect(await eventually(() => projected(sku), (q) => q === 3, 15_000)).toBe(3);
    expect(ids(await eventually(() => list({ q: w, inStock: true }), (l) => l.total === 1, 5_000))).toEqual([p.id]);

    await adjust(sku, -3);
    expect(await eventually(() => projected(sku), (q) => q === 0, 15_000)).toBe(0);
    const out = await eventually(() => list({ q: w, inStock: true }), (l) => l.total === 0, 5_000);
    expect({ inStock: out.total, outOfStock: ids(await list({ q: w, inStock: false })), page: (await detail(p.id)).body.inStock }).toEqual({ inStock: 0, outOfStock: [p.id], page: false });
    const shopper = await newCustomer();
    const cart = await userCart(shopper.accessToken);
    await problem(`/v1/carts/${cart.id}/items`, 409, 'OUT_OF_STOCK', jsonInit('POST', { productId: p.id, variantId: p.variants[0]!.id, quantity: 1 }, bearer(shopper.accessToken)));

    await adjust(sku, 2);
    expect(await eventually(() => projected(sku), (q) => q === 2, 15_000)).toBe(2);
    const back = await eventually(() => list({ q: w, inStock: true }), (l) => l.total === 1, 5_000);
    expect({ inStock: ids(back), outOfStock: (await list({ q: w, inStock: false })).total, page: (await detail(p.id)).body.inStock }).toEqual({ inStock: [p.id], outOfStock: 0, page: true });
    await addOk(cart.id, p, 0, 2, shopper.accessToken);
  });
});

// ------------------------------------------------------------------ pagination under change

/** Walks the remaining pages of `params` from `cursor`, returning every id seen. */
async function rest(params: Record<string, string | number>, cursor: string | null): Promise<string[]> {
  const seen: string[] = [];
  for (let pages = 0; cursor && pages < 20; pages++) {
    const page = await list({ ...params, cursor });
    seen.push(...ids(page));
    cursor = page.nextCursor;
  }
  return seen;
}

describe('cursors while the catalog changes', () => {
  it('keyset sorts (price_asc, price_desc, newest, rating): an item of page 1 archived and a new item created between pages never duplicate or skip an unchanged item', async () => {
    const w = group();
    for (const price of [1100, 1200, 1300, 1400, 1500, 1600]) await make(w, [{ price }]);
    const problems: Record<string, unknown> = {};
    for (const sort of ['price_asc', 'price_desc', 'newest', 'rating'] as const) {
      const params = { q: w, sort, limit: 2 };
      const baseline = ids(await list({ q: w, sort, limit: 100 }));
      const first = await list(params);
      const changed = first.items[0]!.id;
      await archive(changed);
      await make(w, [{ price: 1350 }]);
      const seen = [...ids(first), ...(await rest(params, first.nextCursor))];
      const unchanged = baseline.filter((id) => id !== changed);
      const counts = unchanged.map((id) => seen.filter((s) => s === id).length);
      if (counts.some((n) => n !== 1)) problems[sort] = { baseline, seen };
      await unarchive(changed);
    }
    expect(problems).toEqual({});
  });

  // With `q`, the default sort (relevance) pages by keyset on (rank, id) like the other sorts
  // (docs/search.md), so archiving a product of page 1 never makes page 2 skip an unchanged one. The
  // five products share one rank, so the id breaks every tie. (Until 0.3.15 relevance paged by
  // offset and one unchanged product was never shown.)
  it('relevance (with q): an item of page 1 archived between pages never makes an unchanged item skipped', async () => {
    const w = group();
    for (let i = 0; i < 5; i++) await make(w, [{ price: 1000 + i }]);
    const baseline = ids(await list({ q: w, limit: 100 }));
    expect(baseline).toHaveLength(5);
    const first = await list({ q: w, limit: 2 });
    const changed = first.items[0]!.id;
    await archive(changed);
    const seen = [...ids(first), ...(await rest({ q: w, limit: 2 }, first.nextCursor))];
    const unchanged = baseline.filter((id) => id !== changed);
    expect(Object.fromEntries(unchanged.map((id) => [id, seen.filter((s) => s === id).length]))).toEqual(Object.fromEntries(unchanged.map((id) => [id, 1])));
  });
});

// ------------------------------------------------------------------ bad admin input

describe('bad admin input', () => {
  const written = async (slug: string, sku: string) =>
    (await rows<{ p: number; v: number }>(sql`select (select count(*) from products where slug = ${slug})::int as p, (select count(*) from product_variants where sku = ${sku})::int as v`))[0];

  it('negative or too-big prices, unknown brand or category, a SKU of another product, a 10,000-character name, a NUL, a bad slug: 4xx problem+json, nothing written; emoji and RTL text are kept exactly and searchable', async () => {
    const w = group();
    const { brands, categories } = await catalogRefs();
    const h = await adminH();
    const other = await make(w, [{ price: 700 }]);
    const base = (tag: string, variant: Record<string, unknown> = {}) => ({ slug: `probe-bad-${tag}`, name: `Probe ${w} bad`, brandSlug: brands[0], categorySlug: categories[0], variants: [{ sku: `BAD-${tag}`, name: 'Default', price: 100, ...variant }] });
    const cases: Array<[string, (tag: string) => unknown, number, string, string | null]> = [
      ['negative price', (t) => base(t, { price: -1 }), 400, 'VALIDATION_FAILED', 'body.variants.0.price'],
      ['price 2^31', (t) => base(t, { price: 2 ** 31 }), 400, 'VALIDATION_FAILED', 'body.variants.0.price'],
      ['fractional price', (t) => base(t, { price: 10.5 }), 400, 'VALIDATION_FAILED', 'body.variants.0.price'],
      ['negative compareAtPrice', (t) => base(t, { compareAtPrice: -5 }), 400, 'VALIDATION_FAILED', 'body.variants.0.compareAtPrice'],
      ['unknown category', (t) => ({ ...base(t), categorySlug: 'no-such-category' }), 422, 'UNPROCESSABLE', 'body.categorySlug'],
      ['unknown brand', (t) => ({ ...base(t), brandSlug: 'no-such-brand' }), 422, 'UNPROCESSABLE', 'body.brandSlug'],
      ['10,000-character name', (t) => ({ ...base(t), name: 'N'.repeat(10_000) }), 400, 'VALIDATION_FAILED', 'body.name'],
      ['upper-case slug', (t) => ({ ...base(t), slug: `Probe-Bad-${t}` }), 400, 'VALIDATION_FAILED', 'body.slug'],
      ['per-variant currency', (t) => base(t, { currency: 'EUR' }), 400, 'VALIDATION_FAILED', null],
    ];
    const answers: Record<string, unknown> = {};
    for (const [label, body, status, code, path] of cases) {
      const tag = crypto.randomUUID().slice(0, 8);
      const { res, body: got } = await json('/v1/admin/products', jsonInit('POST', body(tag), h));
      const ok = res.status === status && got.code === code && res.headers.get('content-type') === 'application/problem+json' && (path === null || (got.errors ?? []).some((e: { path: string }) => e.path === path));
      answers[label] = ok ? 'ok' : { status: res.status, body: JSON.stringify(got).slice(0, 300) };
      expect(await written(`probe-bad-${tag}`, `BAD-${tag}`), label).toEqual({ p: 0, v: 0 });
    }
    // A NUL in the body never reaches Postgres (which cannot store it).
    const nulTag = crypto.randomUUID().slice(0, 8);
    const nul = await call('/v1/admin/products', { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(base(nulTag)).replace(`Probe ${w} bad`, 'Probe \\u0000 bad') });
    answers['NUL in the name'] = nul.status === 400 ? 'ok' : nul.status;
    // The SKU another product holds: 409, and the other product keeps it.
    const taken = await json('/v1/admin/products', jsonInit('POST', { ...base(crypto.randomUUID().slice(0, 8)), variants: [{ sku: other.variants[0]!.sku, name: 'Default', price: 100 }] }, h));
    answers['SKU of another product'] = taken.res.status === 409 && taken.body.code === 'CONFLICT' ? 'ok' : taken.res.status;
    expect(answers).toEqual(Object.fromEntries([...cases.map((c) => c[0]), 'NUL in the name', 'SKU of another product'].map((l) => [l, 'ok'])));

    // Refused changes of an existing product change nothing of it (name, price, category, variants).
    const before = (await detail(other.id)).body;
    const id = other.id;
    await problem(`/v1/admin/products/${id}`, 422, 'UNPROCESSABLE', jsonInit('PATCH', { name: 'Changed', categorySlug: 'no-such-category', variants: [{ sku: other.variants[0]!.sku, name: 'X', price: 999 }] }, h));
    await problem(`/v1/admin/products/${id}`, 400, 'VALIDATION_FAILED', jsonInit('PATCH', { name: 'Changed', variants: [{ sku: other.variants[0]!.sku, name: 'X', price: -1 }] }, h));
    await problem(`/v1/admin/products/${id}`, 400, 'VALIDATION_FAILED', jsonInit('PATCH', { name: 'x'.repeat(10_000) }, h));
    const third = await make(group(), [{ price: 100 }]);
    await problem(`/v1/admin/products/${id}`, 409, 'CONFLICT', jsonInit('PATCH', { name: 'Changed', variants: [{ sku: third.variants[0]!.sku, name: 'X', price: 999 }] }, h));
    const after = (await detail(id)).body;
    expect({ name: after.name, price: after.price, category: after.category.slug, variants: after.variants.map((v) => [v.id, v.sku, v.name, v.price.amount]) }).toEqual({
      name: before.name,
      price: before.price,
      category: before.category.slug,
      variants: before.variants.map((v) => [v.id, v.sku, v.name, v.price.amount]),
    });
    expect((await detail(third.id)).body.variants.map((v) => v.sku)).toEqual([third.variants[0]!.sku]);

    // Emoji, Arabic (RTL) and Hebrew are kept exactly; the RTL word finds the product.
    const name = `Lampe 💡 مصباح ${w} שלום`;
    const created = await json<Product>('/v1/admin/products', jsonInit('POST', { ...base(crypto.randomUUID().slice(0, 8)), name, description: 'ضوء دافئ 🌙' }, h));
    expect(created.res.status, JSON.stringify(created.body)).toBe(201);
    expect((await detail(created.body.id)).body.name).toBe(name);
    expect(ids(await list({ q: `مصباح ${w}` }))).toEqual([created.body.id]);
  });

  // Two variants with one SKU in one body are refused: 400 VALIDATION_FAILED naming
  // body.variants.1.sku, nothing written. (Until 0.3.15 they were accepted and merged into one
  // variant, the second overwriting the first, while the price range was derived from both.)
  it('two variants with one SKU in one body are refused (400), on create and on change; nothing is written', async () => {
    const { brands, categories } = await catalogRefs();
    const h = await adminH();
    const tag = crypto.randomUUID().slice(0, 8);
    const sku = `DUP-${tag}`;
    const created = await json('/v1/admin/products', jsonInit('POST', { slug: `probe-dup-${tag}`, name: `Probe ${group()} dup`, brandSlug: brands[0], categorySlug: categories[0], variants: [{ sku, name: 'Small', price: 1000 }, { sku, name: 'Large', price: 2000 }] }, h));
    const p = await make(group(), [{ price: 500 }]);
    const changed = await json(`/v1/admin/products/${p.id}`, jsonInit('PATCH', { variants: [{ sku: p.variants[0]!.sku, name: 'A', price: 500 }, { sku: p.variants[0]!.sku, name: 'B', price: 900 }] }, h));
    expect({
      create: [created.res.status, created.body.code],
      // What the storefront would list had it been written: the range derived from both bodies' prices.
      createdListing: created.res.status === 201 ? { price: [created.body.price.amount, created.body.priceMax.amount], variants: created.body.variants.map((v: Variant) => [v.name, v.price.amount]) } : null,
      createWritten: await written(`probe-dup-${tag}`, sku),
      change: [changed.res.status, changed.body.code],
      afterChange: (await detail(p.id)).body.variants.map((v) => [v.name, v.price.amount]),
    }).toEqual({ create: [400, 'VALIDATION_FAILED'], createdListing: null, createWritten: { p: 0, v: 0 }, change: [400, 'VALIDATION_FAILED'], afterChange: [['Size 0', 500]] });
  });

  // A product named with accented letters is found typed with or without the accents ("crème" and
  // "creme" for "Crème Brûlée Torch"): the index strips accents as the query does (docs/search.md
  // "Accents"; until 0.3.15 it kept them and both searches found nothing).
  it('a product named with accents is found by the accented word and by the word without accents', async () => {
    const w = group();
    const p = await make(w, [{ price: 2500 }], { name: `Crème Brûlée Torch ${w}` });
    const [accented, plain] = await Promise.all([list({ q: `crème ${w}` }), list({ q: `creme ${w}` })]);
    expect({ accented: ids(accented), plain: ids(plain), byOwnWord: ids(await list({ q: w })) }).toEqual({ accented: [p.id], plain: [p.id], byOwnWord: [p.id] });
  });
});
