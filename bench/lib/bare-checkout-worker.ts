/**
 * The checkout journey's skeleton on bare workerd (a reference, like the bare Worker and the bare
 * inventory object): the same requests into the Worker, and the same Durable Object work that
 * Agora's design cannot do without, and nothing else. No framework, auth, validation, logging,
 * payment provider, queue or Postgres. Bundled by `bundleScript` (lib/worker.ts) and served by
 * Miniflare with three SQLite-backed Durable Object bindings.
 *
 * Per checkout, as in `checkout.journey`:
 *   POST /carts                   a new cart object (its table created, one row); with
 *                                 `?owner=U` the object named U is reused (emptied), so only the
 *                                 order object is new: what the journey costs without a new cart object
 *   POST /carts/{id}/items        the SKU object's availability, then one line in the cart object
 *   POST /orders {cartId}         the cart's lines, a reservation in the SKU object, a new order
 *                                 object (its table created, one row), the cart marked checked out
 *   POST /orders/{id}/paid        what the payment webhook does: the order object records the
 *                                 payment and commits the reservation in the SKU object
 *   GET  /orders/{id}             the order object's state (the journey polls until PAID)
 *   POST /stock?sku=X&units=N     setup: units of a SKU
 *
 * What it leaves out is what Agora adds to this floor: docs/performance.md reads the two together.
 */
import { DurableObject } from 'cloudflare:workers';

interface BareEnv {
  CART: DurableObjectNamespace<BareCart>;
  ORDER: DurableObjectNamespace<BareOrder>;
  STOCK: DurableObjectNamespace<BareStock>;
}

interface Line {
  sku: string;
  quantity: number;
  price: number;
}

const CART_SCHEMA = `CREATE TABLE IF NOT EXISTS cart (id INTEGER PRIMARY KEY CHECK (id = 1), cart_id TEXT NOT NULL, status TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS lines (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL, price INTEGER NOT NULL)`;
const STOCK_SCHEMA = `CREATE TABLE IF NOT EXISTS stock (id INTEGER PRIMARY KEY CHECK (id = 1), on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS holds (ref TEXT PRIMARY KEY, quantity INTEGER NOT NULL, status TEXT NOT NULL)`;

/** An object of the skeleton: SQLite storage whose tables `schema` creates when the object starts. */
abstract class BareObject extends DurableObject<BareEnv> {
  protected readonly sql = this.ctx.storage.sql;
  constructor(ctx: DurableObjectState, env: BareEnv, schema: string) {
    super(ctx, env);
    this.sql.exec(schema);
  }
}

export class BareCart extends BareObject {
  constructor(ctx: DurableObjectState, env: BareEnv) {
    super(ctx, env, CART_SCHEMA);
  }
  open(cartId: string): { cartId: string; status: string } {
    // A reused object (`?owner=`) starts its next cart empty.
    this.ctx.storage.transactionSync(() => {
      this.sql.exec('DELETE FROM lines');
      this.sql.exec(`INSERT INTO cart (id, cart_id, status) VALUES (1, ?, 'active') ON CONFLICT (id) DO UPDATE SET cart_id = excluded.cart_id, status = 'active'`, cartId);
    });
    return { cartId, status: 'active' };
  }
  add(line: Line): { lines: Line[] } {
    this.sql.exec('INSERT INTO lines (sku, quantity, price) VALUES (?, ?, ?) ON CONFLICT (sku) DO UPDATE SET quantity = quantity + excluded.quantity', line.sku, line.quantity, line.price);
    return { lines: this.lines() };
  }
  lines(): Line[] {
    return this.sql.exec<{ sku: string; quantity: number; price: number }>('SELECT sku, quantity, price FROM lines').toArray();
  }
  checkOut(): boolean {
    return this.sql.exec(`UPDATE cart SET status = 'checked_out' WHERE status = 'active'`).rowsWritten === 1;
  }
}

export class BareStock extends BareObject {
  constructor(ctx: DurableObjectState, env: BareEnv) {
    super(ctx, env, STOCK_SCHEMA);
  }
  receive(units: number): void {
    this.sql.exec('INSERT INTO stock (id, on_hand, reserved) VALUES (1, ?, 0) ON CONFLICT (id) DO UPDATE SET on_hand = on_hand + excluded.on_hand', units);
  }
  available(): number {
    const row = this.sql.exec<{ a: number }>('SELECT on_hand - reserved AS a FROM stock').toArray()[0];
    return row?.a ?? 0;
  }
  reserve(ref: string, quantity: number): boolean {
    return this.ctx.storage.transactionSync(() => {
      if (this.available() < quantity) return false;
      this.sql.exec('UPDATE stock SET reserved = reserved + ?', quantity);
      this.sql.exec(`INSERT INTO holds (ref, quantity, status) VALUES (?, ?, 'held')`, ref, quantity);
      return true;
    });
  }
  commit(ref: string): boolean {
    return this.ctx.storage.transactionSync(() => {
      const hold = this.sql.exec<{ quantity: number }>(`SELECT quantity FROM holds WHERE ref = ? AND status = 'held'`, ref).toArray()[0];
      if (!hold) return false;
      this.sql.exec('UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ?', hold.quantity, hold.quantity);
      this.sql.exec(`UPDATE holds SET status = 'committed' WHERE ref = ?`, ref);
      return true;
    });
  }
}

interface OrderDoc {
  orderId: string;
  status: 'PENDING' | 'PAID';
  lines: Line[];
  total: number;
}

export class BareOrder extends BareObject {
  constructor(ctx: DurableObjectState, env: BareEnv) {
    super(ctx, env, 'CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID');
  }
  private load(): OrderDoc | null {
    const row = this.sql.exec<{ doc: string }>(`SELECT doc FROM state WHERE k = 'order'`).toArray()[0];
    return row ? (JSON.parse(row.doc) as OrderDoc) : null;
  }
  private save(doc: OrderDoc): void {
    this.sql.exec(`INSERT INTO state (k, doc) VALUES ('order', ?) ON CONFLICT (k) DO UPDATE SET doc = excluded.doc`, JSON.stringify(doc));
  }
  place(orderId: string, lines: Line[]): OrderDoc {
    const doc: OrderDoc = { orderId, status: 'PENDING', lines, total: lines.reduce((s, l) => s + l.quantity * l.price, 0) };
    this.save(doc);
    return doc;
  }
  async paid(): Promise<OrderDoc | null> {
    const doc = this.load();
    if (!doc || doc.status !== 'PENDING') return doc;
    doc.status = 'PAID';
    this.save(doc);
    for (const line of doc.lines) await this.env.STOCK.get(this.env.STOCK.idFromName(line.sku)).commit(doc.orderId);
    return doc;
  }
  view(): OrderDoc | null {
    return this.load();
  }
}

const cart = (env: BareEnv, id: string) => env.CART.get(env.CART.idFromName(id));
const order = (env: BareEnv, id: string) => env.ORDER.get(env.ORDER.idFromName(id));
const stock = (env: BareEnv, sku: string) => env.STOCK.get(env.STOCK.idFromName(sku));

export default {
  async fetch(request: Request, env: BareEnv): Promise<Response> {
    const url = new URL(request.url);
    const parts = url.pathname.split('/').filter(Boolean);
    if (request.method === 'POST' && url.pathname === '/stock') {
      const sku = url.searchParams.get('sku') ?? 'SKU';
      await stock(env, sku).receive(Number(url.searchParams.get('units') ?? '1000'));
      return Response.json({ sku, available: await stock(env, sku).available() });
    }
    if (request.method === 'POST' && parts[0] === 'carts' && parts.length === 1) {
      const owner = url.searchParams.get('owner');
      const cartId = owner ? `owner-${owner}` : crypto.randomUUID();
      return Response.json(await cart(env, cartId).open(cartId), { status: 201 });
    }
    if (request.method === 'POST' && parts[0] === 'carts' && parts[2] === 'items') {
      const body = (await request.json()) as { sku: string; quantity: number; price: number };
      if ((await stock(env, body.sku).available()) < body.quantity) return Response.json({ code: 'OUT_OF_STOCK' }, { status: 409 });
      return Response.json(await cart(env, parts[1]!).add(body), { status: 201 });
    }
    if (request.method === 'POST' && url.pathname === '/orders') {
      const { cartId } = (await request.json()) as { cartId: string };
      const c = cart(env, cartId);
      const lines = await c.lines();
      const orderId = crypto.randomUUID();
      for (const line of lines) {
        if (!(await stock(env, line.sku).reserve(orderId, line.quantity))) return Response.json({ code: 'OUT_OF_STOCK' }, { status: 409 });
      }
      const placed = await order(env, orderId).place(orderId, lines);
      await c.checkOut();
      return Response.json(placed, { status: 201 });
    }
    if (request.method === 'POST' && parts[0] === 'orders' && parts[2] === 'paid') {
      const doc = await order(env, parts[1]!).paid();
      return doc ? Response.json({ received: true }) : new Response(null, { status: 404 });
    }
    if (request.method === 'GET' && parts[0] === 'orders' && parts.length === 2) {
      const doc = await order(env, parts[1]!).view();
      return doc ? Response.json(doc) : new Response(null, { status: 404 });
    }
    return new Response(null, { status: 404 });
  },
};
