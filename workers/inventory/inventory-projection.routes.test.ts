import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { inventoryFor } from '../../durable-objects/inventory/inventory.stub';
import { DbProvider } from '../../shared/db/client';
import { readConfig } from '../../shared/env';
import { bearer, jsonInit, login } from '../../test/support/auth';
import { json } from '../../test/support/http';

/**
 * End to end: a staff adjustment goes to the SKU's object, whose outbox relays inventory.updated
 * to the agora-events queue; the Worker's consumer updates stock_levels and the variant's
 * available_qty, which the catalog's in-stock filter reads.
 */
async function rows<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]> {
  const db = new DbProvider(readConfig(env)).http();
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

type Candidate = { sku: string; product_id: string; price_min: number; brand_slug: string };

describe('inventory projection', () => {
  it('shows a staff adjustment that sells a SKU out in stock_levels, available_qty and the in-stock filter', async () => {
    const staff = await login('staff@agora.dev');
    const staffWh = staff.user.warehouseIds[0]!;
    const admin = await login('admin@agora.dev');
    // A single-variant product in stock, stocked in the staff member's warehouse (preferably only there).
    const [c] = await rows<Candidate>(sql`
      select v.sku, p.id as product_id, p.price_min, b.slug as brand_slug
        from product_variants v
        join products p on p.id = v.product_id
        join brands b on b.id = p.brand_id
        join stock_levels s on s.sku = v.sku
       where p.status = 'active' and v.available_qty > 0
         and (select count(*) from product_variants v2 where v2.product_id = p.id) = 1
       group by v.sku, p.id, p.price_min, b.slug
      having bool_or(s.warehouse_id = ${staffWh})
       order by bool_and(s.warehouse_id = ${staffWh}) desc, v.sku desc
       limit 1`);
    expect(c, 'a single-variant product stocked in the staff warehouse').toBeDefined();
    const { sku } = c!;

    // Live levels (this loads the object from the projection), then sell out every warehouse:
    // the staff member's own with their token, any other (if the SKU is elsewhere too) as admin.
    const live = await json(`/v1/inventory/${sku}`);
    expect(live.res.status).toBe(200);
    const warehouses = (live.body.warehouses as { warehouseId: string; available: number }[]).filter((w) => w.available > 0);
    expect(warehouses.map((w) => w.warehouseId)).toContain(staffWh);
    for (const w of warehouses) {
      const token = w.warehouseId === staffWh ? staff.accessToken : admin.accessToken;
      const made = await json(
        `/v1/warehouses/${w.warehouseId}/stock/adjustments`,
        jsonInit('POST', { sku, delta: -w.available, reason: 'damage', note: 'projection e2e' }, { ...bearer(token), 'idempotency-key': crypto.randomUUID() }),
      );
      expect(made.res.status, JSON.stringify(made.body)).toBe(201);
      expect(made.body.level.available).toBe(0);
    }
    expect((await json(`/v1/inventory/${sku}`)).body.available).toBe(0);

    // Eventually (outbox → queue → consumer): the projection and the catalog's column follow.
    await vi.waitFor(
      async () => {
        // Other suites running in parallel spy on the shared EVENTS binding to make it fail; a
        // relay that met such a spy waits for its backoff. Nudge the relay on every poll.
        await inventoryFor(env, sku).flushOutbox();
        const levels = await rows<{ warehouse_id: string; on_hand: number; reserved: number; version: number }>(
          sql`select warehouse_id, on_hand, reserved, version::int as version from stock_levels where sku = ${sku}`,
        );
        for (const w of warehouses) {
          const l = levels.find((x) => x.warehouse_id === w.warehouseId);
          expect(l, w.warehouseId).toBeDefined();
          expect(l!.version).toBeGreaterThan(0);
          expect(l!.on_hand - l!.reserved).toBe(0);
        }
        const [v] = await rows<{ q: number }>(sql`select available_qty as q from product_variants where sku = ${sku}`);
        expect(v!.q).toBe(0);
      },
      // Generous: in the full suite the consumer also works through other suites' stock events.
      { timeout: 30_000, interval: 250 },
    );

    // The in-stock filter now leaves the product out. A filter combination no one has asked for
    // before (brand + exact price), so the answer is computed now rather than served from cache;
    // the same query without inStock shows the product is found at all.
    const base = `/v1/products?brand=${c!.brand_slug}&minPrice=${c!.price_min}&maxPrice=${c!.price_min}&limit=100`;
    const all = await json(base);
    expect(all.res.status).toBe(200);
    expect(all.body.items.map((p: { id: string }) => p.id)).toContain(c!.product_id);
    const inStock = await json(`${base}&inStock=true`);
    expect(inStock.res.status).toBe(200);
    expect(inStock.body.items.map((p: { id: string }) => p.id)).not.toContain(c!.product_id);
  }, 90_000);
});
