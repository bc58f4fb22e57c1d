import { DurableObject } from 'cloudflare:workers';
import type { z } from 'zod';
import { CartAbandoned } from '../../shared/events';
import { systemClock, type Clock } from '../../shared/kernel/clock';
import { ConfigSchema } from '../../shared/env';
import { newId } from '../../shared/kernel/ids';
import { applyMigrations } from '../sqlite-migrations';
import { checkQuantity, planMerge, relayBackoffMs, stableJson, totalsByCurrency } from './cart.logic';
import { CART_MIGRATIONS } from './cart.migrations';
import {
  AddItemInput,
  CloseForMergeInput,
  MarkCheckedOutInput,
  MergeInput,
  OpenInput,
  RemoveItemInput,
  SetUserCartInput,
  SnapshotInput,
  StoredAnswerInput,
  UpdateItemInput,
  ViewInput,
  type CartErrorCode,
  type CartFailure,
  type CartReadResult,
  type CartState,
  type CartStatus,
  type CartWriteResult,
  type CloseForMergeResult,
  type LineView,
  type MarkCheckedOutResult,
  type MergeResult,
  type UserCartResult,
} from './cart.schemas';

/** How long a checked-out or merged cart is kept (answers 409/410, replays markCheckedOut) before its storage is deleted. */
export const CLOSED_RETENTION_MS = 7 * 86_400_000;
/** How long Idempotency-Keys are remembered. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 3600_000;
/**
 * How long a merge op id (`merge:<guestCartId>`) is remembered by the user's cart: longer than the
 * merged guest cart hands its lines over again (CLOSED_RETENTION_MS after it closed, just before
 * the merge; `closeForMerge`), so a login presenting the same guest cart days later merges nothing
 * twice (until 0.3.14 the op ids were purged with the clients' keys after 24 h).
 */
export const MERGE_OP_RETENTION_MS = CLOSED_RETENTION_MS + 86_400_000;
/**
 * How long a user's pointer object remembers that the account was erased (no cart is opened for
 * it): far longer than any access token of theirs can still be accepted somewhere (docs/security.md).
 */
export const ERASED_POINTER_RETENTION_MS = 7 * 86_400_000;

/** The queue side of the cart.abandoned relay (env.EVENTS). */
export interface AbandonedQueue {
  send(body: unknown, options?: QueueSendOptions): Promise<unknown>;
}

type CartRow = {
  cart_id: string;
  owner_id: string | null;
  status: CartStatus;
  version: number;
  created_at: number;
  updated_at: number;
  last_activity_at: number;
  idle_ttl_ms: number;
  order_id: string | null;
  closed_reason: string | null;
  closed_at: number | null;
};
type LineRow = {
  item_id: string;
  product_id: string;
  variant_id: string;
  sku: string;
  name: string;
  variant_name: string;
  quantity: number;
  unit_price: number;
  currency: string;
  added_at: number;
  updated_at: number;
};

const iso = (ms: number) => new Date(ms).toISOString();

function fail(code: CartErrorCode, message: string, extra: Omit<CartFailure, 'ok' | 'code' | 'message'> = {}): CartFailure {
  return { ok: false, code, message, ...extra };
}

function invalid(error: z.ZodError): CartFailure {
  return fail('INVALID_INPUT', 'the input is not valid', { issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) });
}

/**
 * One shopper's cart (`cart:<crt_…>`), or one user's pointer to their active cart (`user:<usr_…>`).
 *
 * Rules (STYLE rule 6): reached only through `cart.stub.ts`; typed RPC methods, no fetch; SQLite
 * with append-only migrations; every method is synchronous, one `transactionSync` with no await
 * inside, so calls are serialised and atomic (a thrown error rolls the call back); Idempotency-Keys
 * persisted here with the body hash and the first result; one alarm, driven by the `due` table.
 *
 * An object that never held a cart has no schema at all: reads of a random or deleted id answer
 * NOT_FOUND and write nothing, so probing ids creates no storage. The schema is created by the
 * first write that makes something (`open`, `setUserCart`), and again after an expiry deleted it.
 *
 * Expiry: a cart expires at last activity + idle TTL (the TTL of its last change, or the one
 * configured now when the alarm runs, if shorter); the `expire` due time is a lower bound. The alarm expires
 * an idle cart, writes `cart.abandoned` to the outbox in the same transaction, sends it to the
 * EVENTS queue and then deletes the object's storage. A refused send keeps the storage and
 * retries with backoff, so the event is not lost. Checked-out and merged carts are kept for
 * CLOSED_RETENTION_MS (to answer 409/410 and replay markCheckedOut), then deleted.
 */
export class CartDurableObject extends DurableObject<Env> {
  /** The time source. Tests move it through `runInDurableObject`. */
  clock: Clock = systemClock;
  /** Where cart.abandoned goes (null: env.EVENTS). Tests swap it through `runInDurableObject`. */
  eventsQueue: AbandonedQueue | null = null;
  /** The idle TTL configured now, ms (undefined: CART_IDLE_TTL_SECONDS from env). Read by the alarm only; tests set it. */
  configuredIdleTtlMs: number | undefined = undefined;
  private alarmAt: number | null = null;
  private schemaReady = false;
  /** Mirror of the cart (undefined: not loaded; null: no cart). */
  private mem: { row: CartRow; lines: LineRow[] } | null | undefined = undefined;
  /** Mirror of the `due` table. */
  private dues = new Map<string, number>();
  /** Each mirrored line as callers see it, made once per change of the line (dropped when the row is). */
  private views = new WeakMap<LineRow, LineView>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      if (this.hasSchema()) this.migrate();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Cart lifecycle and reads
  // ---------------------------------------------------------------------------------------------

  /** Creates the cart (idempotent: an existing cart is returned unchanged). */
  open(input: OpenInput): CartReadResult {
    const i = OpenInput.safeParse(input);
    if (!i.success) return invalid(i.error);
    if (this.kind() !== 'cart') return fail('WRONG_KIND', 'not a cart object');
    this.ensureSchema();
    const now = this.now();
    return this.write(() => {
      const row = this.load()?.row;
      if (row) return row.cart_id === i.data.cartId ? { ok: true as const, cart: this.state(row, now) } : fail('INVALID_INPUT', 'this object holds another cart');
      this.sql.exec(
        "INSERT INTO cart (id, cart_id, owner_id, status, version, created_at, updated_at, last_activity_at, idle_ttl_ms) VALUES (1, ?, ?, 'active', 1, ?, ?, ?, ?)",
        i.data.cartId,
        i.data.ownerId,
        now,
        now,
        now,
        i.data.idleTtlMs,
      );
      this.setDue('expire', now + i.data.idleTtlMs);
      return { ok: true as const, cart: this.state(this.reload()!, now) };
    });
  }

  /** The cart as the caller may see it: NOT_FOUND when there is none or it is another user's. */
  view(input: ViewInput): CartReadResult {
    const i = ViewInput.safeParse(input);
    if (!i.success) return invalid(i.error);
    const row = this.readRow();
    const denied = this.access(row, i.data.actorId);
    if (denied) return denied;
    return { ok: true, cart: this.state(row!, this.now()) };
  }

  /**
   * The answer stored with an add-item Idempotency-Key, changing nothing: the first answer again
   * (same body), KEY_REUSED (another body), or null when the key is unknown here. The service asks
   * before it passes on a refusal decided outside the object (the product is no longer sold), so a
   * retry of an add that succeeded still answers what the first call did.
   */
  storedAnswer(input: StoredAnswerInput): CartWriteResult | null {
    const p = StoredAnswerInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const row = this.readRow();
    const denied = this.access(row, p.data.actorId);
    if (denied) return denied;
    const { key, bodyHash } = p.data.idempotency;
    const prior = this.sql.exec<{ method: string; body_hash: string; result: string }>('SELECT method, body_hash, result FROM idempotency WHERE key = ?', key).toArray()[0];
    if (!prior) return null;
    if (prior.method !== 'addItem' || prior.body_hash !== bodyHash) return fail('KEY_REUSED', 'this key was used with another request');
    return { ...(JSON.parse(prior.result) as CartWriteResult), replayed: true } as CartWriteResult;
  }

  // ---------------------------------------------------------------------------------------------
  // Lines
  // ---------------------------------------------------------------------------------------------

  /** Adds units of a variant (to its line, or a new line), within the limits and what is available. */
  addItem(input: AddItemInput): CartWriteResult {
    const p = AddItemInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const i = p.data;
    return this.mutate(i.actorId, i.idempotency ? { store: 'client', method: 'addItem', ...i.idempotency } : undefined, (row, now) => {
      const existing = this.lineByVariant(i.line.variantId);
      const totals = this.totals(existing?.item_id);
      const check = checkQuantity((existing?.quantity ?? 0) + i.quantity, existing?.quantity ?? 0, totals, !existing, i.limits, i.available);
      if (!check.ok) return check.code === 'QUANTITY_LIMIT' ? fail(check.code, check.message, { limit: check.limit }) : fail(check.code, check.message, { available: check.available });
      let itemId: string;
      if (existing) {
        itemId = existing.item_id;
        // The shopper just saw the current price: the snapshot follows it.
        this.sql.exec(
          'UPDATE lines SET quantity = ?, unit_price = ?, currency = ?, name = ?, variant_name = ?, updated_at = ? WHERE item_id = ?',
          check.quantity,
          i.line.unitPrice,
          i.line.currency,
          i.line.name,
          i.line.variantName,
          now,
          itemId,
        );
        existing.quantity = check.quantity;
        existing.unit_price = i.line.unitPrice;
        existing.currency = i.line.currency;
        existing.name = i.line.name;
        existing.variant_name = i.line.variantName;
        existing.updated_at = now;
        this.views.delete(existing);
      } else {
        itemId = newId('cartItem', now);
        this.insertLine(itemId, i.line, check.quantity, now);
      }
      this.touch(now, i.idleTtlMs);
      return { ok: true as const, cart: this.state(row, now), itemId, created: !existing };
    });
  }

  /** Sets a line's quantity (availability is checked only when it grows). */
  updateItem(input: UpdateItemInput): CartWriteResult {
    const p = UpdateItemInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const i = p.data;
    return this.mutate(i.actorId, undefined, (row, now) => {
      const line = this.lineById(i.itemId);
      if (!line) return fail('ITEM_NOT_FOUND', `no item ${i.itemId} in this cart`);
      const check = checkQuantity(i.quantity, line.quantity, this.totals(line.item_id), false, i.limits, i.available);
      if (!check.ok) return check.code === 'QUANTITY_LIMIT' ? fail(check.code, check.message, { limit: check.limit }) : fail(check.code, check.message, { available: check.available });
      if (check.quantity === line.quantity) return { ok: true as const, cart: this.state(row, now), itemId: line.item_id };
      // Raising the quantity is adding units: the snapshot follows the price the shopper sees now,
      // as for an add (0.3.14). Lowering it keeps the snapshot.
      const price = check.quantity > line.quantity ? i.price : undefined;
      if (price) {
        this.sql.exec('UPDATE lines SET quantity = ?, unit_price = ?, currency = ?, updated_at = ? WHERE item_id = ?', check.quantity, price.unitPrice, price.currency, now, line.item_id);
        line.unit_price = price.unitPrice;
        line.currency = price.currency;
      } else {
        this.sql.exec('UPDATE lines SET quantity = ?, updated_at = ? WHERE item_id = ?', check.quantity, now, line.item_id);
      }
      line.quantity = check.quantity;
      line.updated_at = now;
      this.views.delete(line);
      this.touch(now, i.idleTtlMs);
      return { ok: true as const, cart: this.state(row, now), itemId: line.item_id };
    });
  }

  removeItem(input: RemoveItemInput): CartWriteResult {
    const p = RemoveItemInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const i = p.data;
    return this.mutate(i.actorId, undefined, (row, now) => {
      if (!this.lineById(i.itemId)) return fail('ITEM_NOT_FOUND', `no item ${i.itemId} in this cart`);
      this.sql.exec('DELETE FROM lines WHERE item_id = ?', i.itemId);
      this.mem!.lines = this.mem!.lines.filter((l) => l.item_id !== i.itemId);
      this.touch(now, i.idleTtlMs);
      return { ok: true as const, cart: this.state(row, now), itemId: i.itemId };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Merge at login
  // ---------------------------------------------------------------------------------------------

  /**
   * On the guest cart: closes it as merged into `into` and hands its lines over. Same `into` again:
   * the same lines. A user's cart is never merged and answers NOT_FOUND, as for no cart at all (until
   * 0.3.15 it answered NOT_GUEST, so a login presenting ids as guest carts could tell user carts).
   */
  closeForMerge(input: CloseForMergeInput): CloseForMergeResult {
    const p = CloseForMergeInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const row = this.readRow();
    if (!row || row.owner_id !== null) return fail('NOT_FOUND', 'no such cart');
    const now = this.now();
    return this.write(() => {
      const reason = `merged:${p.data.into}`;
      const status = this.effectiveStatus(row, now);
      if (status === 'closed' && row.closed_reason === reason) {
        // Past its retention (the purge alarm has not run yet) it is gone: the target remembers
        // the merge op only MERGE_OP_RETENTION_MS, so the lines must not be handed over again.
        if (row.closed_at !== null && now >= row.closed_at + CLOSED_RETENTION_MS) return fail('NOT_FOUND', 'no such cart');
        return { ok: true as const, lines: this.lines(), alreadyClosed: true };
      }
      const refused = this.statusFailure(status);
      if (refused) return refused;
      this.close('closed', reason, now);
      this.reload();
      return { ok: true as const, lines: this.lines(), alreadyClosed: false };
    });
  }

  /**
   * On the user's cart: adds a guest cart's lines, combining quantities and clamping to the limits
   * and to what is available (reported). Once per op id.
   */
  mergeFrom(input: MergeInput): MergeResult {
    const p = MergeInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const i = p.data;
    const available = i.available ? new Map(i.available.map((a) => [a.sku, a.units])) : undefined;
    return this.mutate(i.actorId, { store: 'merge', method: 'mergeFrom', key: i.opId, bodyHash: stableJson(i.lines) }, (row, now) => {
      const current = this.lines();
      const byVariant = new Map(current.map((l) => [l.variantId, l]));
      const plan = planMerge(new Map(current.map((l) => [l.variantId, l.quantity])), i.lines, i.limits, available);
      let changed = false;
      for (const line of i.lines) {
        const next = plan.quantities.get(line.variantId);
        const have = byVariant.get(line.variantId);
        if (next === undefined || next === have?.quantity) continue;
        changed = true;
        if (have) this.sql.exec('UPDATE lines SET quantity = ?, updated_at = ? WHERE item_id = ?', next, now, have.itemId);
        else {
          this.insertLine(newId('cartItem', now), line, next, now);
          byVariant.set(line.variantId, { ...line, itemId: '', quantity: next, addedAt: '', updatedAt: '' });
        }
      }
      if (changed) this.touch(now, i.idleTtlMs);
      return { ok: true as const, cart: this.state(this.reload()!, now), report: plan.report };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Checkout (issue 7)
  // ---------------------------------------------------------------------------------------------

  /** The cart's lines and version for checkout (the caller refuses a cart that is not active). */
  checkoutSnapshot(input: SnapshotInput): CartReadResult {
    const i = SnapshotInput.safeParse(input);
    if (!i.success) return invalid(i.error);
    return this.view(i.data);
  }

  /** Closes the cart for an order if it is still at `expectedVersion`. Same order id again: no-op. */
  markCheckedOut(input: MarkCheckedOutInput): MarkCheckedOutResult {
    const p = MarkCheckedOutInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    const i = p.data;
    const row = this.readRow();
    const denied = this.access(row, i.actorId === undefined ? (row?.owner_id ?? null) : i.actorId);
    if (denied) return denied;
    const now = this.now();
    return this.write(() => {
      const status = this.effectiveStatus(row!, now);
      if (status === 'checked_out' && row!.order_id === i.orderId) return { ok: true as const, cart: this.state(row!, now), changed: false };
      const refused = this.statusFailure(status);
      if (refused) return refused;
      if (row!.version !== i.expectedVersion) {
        return fail('VERSION_MISMATCH', `the cart is at version ${row!.version}, not ${i.expectedVersion}`, { version: row!.version });
      }
      this.close('checked_out', null, now, i.orderId);
      return { ok: true as const, cart: this.state(this.reload()!, now), changed: true };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Pointer objects (`user:<id>`): the user's active cart
  // ---------------------------------------------------------------------------------------------

  /** The user's active cart id (null: none); `erased` once the account was erased (no cart may be opened for it). */
  userCart(): UserCartResult {
    if (this.kind() !== 'user') return fail('WRONG_KIND', 'not a user pointer object');
    if (!this.schemaReady) return { ok: true, cartId: null };
    if (this.pointerErased()) return { ok: true, cartId: null, erased: true };
    return { ok: true, cartId: this.sql.exec<{ cart_id: string }>('SELECT cart_id FROM user_cart WHERE id = 1').toArray()[0]?.cart_id ?? null };
  }

  /** Compare-and-set: points at `cartId` if the pointer is still `expected`; answers the pointer after. */
  setUserCart(input: SetUserCartInput): UserCartResult {
    const p = SetUserCartInput.safeParse(input);
    if (!p.success) return invalid(p.error);
    if (this.kind() !== 'user') return fail('WRONG_KIND', 'not a user pointer object');
    this.ensureSchema();
    const now = this.now();
    return this.ctx.storage.transactionSync(() => {
      // The account was erased since the caller read the pointer: its new cart is not named.
      if (this.pointerErased()) return fail('ERASED', 'the account was erased');
      const current = this.sql.exec<{ cart_id: string }>('SELECT cart_id FROM user_cart WHERE id = 1').toArray()[0]?.cart_id ?? null;
      if (current !== p.data.expected) return { ok: true as const, cartId: current };
      this.sql.exec(
        'INSERT INTO user_cart (id, cart_id, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET cart_id = excluded.cart_id, updated_at = excluded.updated_at',
        p.data.cartId,
        now,
      );
      return { ok: true as const, cartId: p.data.cartId };
    });
  }

  /** Deletes everything this object holds (user erasure). */
  async erase(): Promise<{ ok: true }> {
    await this.dropStorage();
    return { ok: true };
  }

  /**
   * Pointer objects, user erasure: forgets the active cart and remembers that the account is
   * erased, so a token of theirs still accepted somewhere (the revocation takes up to a minute to
   * reach every location) cannot open a new cart (`setUserCart` refuses from now on). Answers the
   * cart the pointer named at the erasure, for the caller to delete, also when called again (a
   * redelivered event). The object deletes its storage ERASED_POINTER_RETENTION_MS later.
   */
  markErased(): { ok: true; cartId: string | null } | CartFailure {
    if (this.kind() !== 'user') return fail('WRONG_KIND', 'not a user pointer object');
    this.ensureSchema();
    const now = this.now();
    return this.write(() => {
      const erased = this.sql.exec<{ cart_id: string | null }>('SELECT cart_id FROM user_erased WHERE id = 1').toArray()[0];
      if (erased) return { ok: true as const, cartId: erased.cart_id };
      const current = this.sql.exec<{ cart_id: string }>('SELECT cart_id FROM user_cart WHERE id = 1').toArray()[0]?.cart_id ?? null;
      this.sql.exec('DELETE FROM user_cart');
      this.sql.exec('INSERT INTO user_erased (id, erased_at, cart_id) VALUES (1, ?, ?)', now, current);
      this.setDue('purge', now + ERASED_POINTER_RETENTION_MS);
      return { ok: true as const, cartId: current };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The alarm
  // ---------------------------------------------------------------------------------------------

  /**
   * Expires an idle cart (cart.abandoned, then its storage is deleted) and deletes closed carts
   * after their retention. Fired early (the cart was used since), it re-arms for the new due time.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    if (!this.schemaReady) return;
    const now = this.now();
    if (this.kind() === 'user') {
      // An erased user's pointer: deleted after its retention.
      const purge = this.dueAt('purge');
      if (purge !== null && purge <= now) await this.dropStorage();
      else this.rearm(true);
      return;
    }
    const row = this.load()?.row;
    if (!row) {
      this.rearm();
      return;
    }
    const purge = this.dueAt('purge');
    if (row.status !== 'active' && row.status !== 'expired' && purge !== null && purge <= now) {
      await this.dropStorage();
      return;
    }
    // The TTL is the one stored with the cart's last change, or the one configured now if that is
    // shorter: a lowered CART_IDLE_TTL_SECONDS counts from the next alarm on, even for a cart
    // nobody changed since (docs/cart.md, Expiry).
    const ttlNow = this.idleTtlNowMs();
    const ttlOf = (r: CartRow) => (ttlNow === null ? r.idle_ttl_ms : Math.min(r.idle_ttl_ms, ttlNow));
    if (row.status === 'active' && now >= row.last_activity_at + ttlOf(row)) {
      this.ctx.storage.transactionSync(() => this.expire(row, now));
    }
    const after = this.reload();
    if (after?.status === 'expired') {
      await this.relayAbandoned(now);
      return;
    }
    // Fired early (the cart was used since): the next check is at last activity + TTL.
    if (after?.status === 'active') this.ctx.storage.transactionSync(() => this.setDue('expire', after.last_activity_at + ttlOf(after)));
    this.rearm(true);
  }

  /** CART_IDLE_TTL_SECONDS now, ms (null when it cannot be read: the stored TTL stands). */
  private idleTtlNowMs(): number | null {
    if (this.configuredIdleTtlMs !== undefined) return this.configuredIdleTtlMs;
    const parsed = ConfigSchema.shape.CART_IDLE_TTL_SECONDS.safeParse((this.env as unknown as Record<string, unknown>).CART_IDLE_TTL_SECONDS);
    return parsed.success ? parsed.data * 1000 : null;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals
  // ---------------------------------------------------------------------------------------------

  private get sql() {
    return this.ctx.storage.sql;
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private kind(): 'cart' | 'user' | 'unknown' {
    const name = this.ctx.id.name ?? '';
    return name.startsWith('cart:') ? 'cart' : name.startsWith('user:') ? 'user' : 'unknown';
  }

  private hasSchema(): boolean {
    return this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").toArray().length > 0;
  }

  private migrate(): void {
    applyMigrations(this.ctx.storage, CART_MIGRATIONS);
    this.schemaReady = true;
    this.resync();
  }

  private ensureSchema(): void {
    if (!this.schemaReady) this.migrate();
  }

  private row(): CartRow | undefined {
    return this.sql.exec<CartRow>('SELECT * FROM cart WHERE id = 1').toArray()[0];
  }

  /** The cart row, or undefined without touching storage when the object has no schema. */
  private readRow(): CartRow | undefined {
    return this.load()?.row;
  }

  /**
   * The in-memory mirror of the cart row and its lines (the object is single-threaded and every
   * change goes through it, so the mirror is exact): reads cost no SQL. Line changes update it
   * beside their statements; other changes rebuild it (`reload`); a transaction that throws drops it.
   */
  private load(): { row: CartRow; lines: LineRow[] } | null {
    if (this.mem !== undefined) return this.mem;
    if (!this.schemaReady || this.kind() !== 'cart') return null;
    this.reload();
    return this.mem ?? null;
  }

  private reload(): CartRow | undefined {
    const row = this.row();
    this.mem = row ? { row, lines: this.sql.exec<LineRow>('SELECT * FROM lines ORDER BY added_at, item_id').toArray() } : null;
    return row;
  }

  /** NOT_FOUND for no cart, and for a user's cart asked by anyone else (the same answer: ids are not confirmed). */
  private access(row: CartRow | undefined, actorId: string | null): CartFailure | null {
    if (!row) return fail('NOT_FOUND', 'no such cart');
    if (row.owner_id !== null && row.owner_id !== actorId) return fail('NOT_FOUND', 'no such cart');
    return null;
  }

  private effectiveStatus(row: CartRow, now: number): CartStatus {
    return row.status === 'active' && now >= row.last_activity_at + row.idle_ttl_ms ? 'expired' : row.status;
  }

  private statusFailure(status: CartStatus): CartFailure | null {
    switch (status) {
      case 'active':
        return null;
      case 'checked_out':
        return fail('CHECKED_OUT', 'the cart has been checked out');
      case 'closed':
        return fail('CLOSED', 'the cart is closed');
      case 'expired':
        return fail('EXPIRED', 'the cart has expired');
    }
  }

  /**
   * The frame of every line change: access, then the stored answer of an Idempotency-Key or a
   * merge op id (same body: replayed; other body: KEY_REUSED), then the status, then `body`; the
   * answer is stored with the key (refusals too), all in one transaction.
   *
   * Two stores that never meet (0.3.14): the clients' Idempotency-Keys (`idempotency`, kept
   * IDEMPOTENCY_RETENTION_MS) and the merge op ids (`merge_ops`, kept MERGE_OP_RETENTION_MS), so
   * whatever key a client picks, `merge:<guestCartId>` included, it never takes a merge's place,
   * and purging old client keys never forgets a merge.
   */
  private mutate<R extends { ok: boolean }>(
    actorId: string | null,
    idem: { store: 'client' | 'merge'; method: string; key: string; bodyHash: string } | undefined,
    body: (row: CartRow, now: number) => R | CartFailure,
  ): R | CartFailure {
    const row = this.readRow();
    const denied = this.access(row, actorId);
    if (denied) return denied;
    const now = this.now();
    return this.write(() => {
      if (idem) {
        const prior =
          idem.store === 'client'
            ? this.sql.exec<{ method: string; body_hash: string; result: string }>('SELECT method, body_hash, result FROM idempotency WHERE key = ?', idem.key).toArray()[0]
            : this.sql.exec<{ method: string; body_hash: string; result: string }>("SELECT 'mergeFrom' AS method, body_hash, result FROM merge_ops WHERE op_id = ?", idem.key).toArray()[0];
        if (prior) {
          if (prior.method !== idem.method || prior.body_hash !== idem.bodyHash) return fail('KEY_REUSED', 'this key was used with another request');
          return { ...(JSON.parse(prior.result) as R), replayed: true };
        }
      }
      const refused = this.statusFailure(this.effectiveStatus(row!, now));
      const result = refused ?? body(row!, now);
      if (idem?.store === 'client') {
        this.sql.exec('DELETE FROM idempotency WHERE created_at < ?', now - IDEMPOTENCY_RETENTION_MS);
        this.sql.exec('INSERT INTO idempotency (key, method, body_hash, result, created_at) VALUES (?, ?, ?, ?, ?)', idem.key, idem.method, idem.bodyHash, JSON.stringify(result), now);
      } else if (idem) {
        this.sql.exec('DELETE FROM merge_ops WHERE created_at < ?', now - MERGE_OP_RETENTION_MS);
        this.sql.exec('INSERT INTO merge_ops (op_id, body_hash, result, created_at) VALUES (?, ?, ?, ?)', idem.key, idem.bodyHash, JSON.stringify(result), now);
      }
      return result;
    });
  }

  /** Pointer objects: whether the account was erased (`markErased`). */
  private pointerErased(): boolean {
    return this.sql.exec('SELECT 1 FROM user_erased WHERE id = 1').toArray().length > 0;
  }

  /** One synchronous transaction, then the alarm follows the due table. */
  private write<R>(body: () => R): R {
    let result: R;
    try {
      result = this.ctx.storage.transactionSync(body);
    } catch (error) {
      this.resync();
      throw error;
    }
    this.rearm();
    return result;
  }

  /** After a rolled-back transaction: mirrors are rebuilt from storage. */
  private resync(): void {
    this.mem = undefined;
    this.dues = this.schemaReady ? new Map(this.sql.exec<{ kind: string; due_at: number }>('SELECT kind, due_at FROM due').toArray().map((d) => [d.kind, d.due_at])) : new Map();
  }

  /**
   * A change: version + 1, activity now, the idle TTL in force now. The `expire` due time is left
   * where it is while it is a lower bound (activity only pushes expiry later); when it fires, the
   * alarm finds the cart still in use and moves it to last activity + TTL. One statement per
   * change instead of two. Only when the TTL was lowered since the due time was set (a smaller
   * CART_IDLE_TTL_SECONDS deployed) is it later than the new expiry: then it is moved earlier, so
   * the cart expires on the new TTL (0.3.15; before, cart.abandoned came on the old one).
   */
  private touch(now: number, idleTtlMs: number): void {
    this.sql.exec('UPDATE cart SET version = version + 1, updated_at = ?, last_activity_at = ?, idle_ttl_ms = ? WHERE id = 1', now, now, idleTtlMs);
    const row = this.mem?.row;
    if (row) {
      row.version += 1;
      row.updated_at = now;
      row.last_activity_at = now;
      row.idle_ttl_ms = idleTtlMs;
    }
    const due = this.dues.get('expire');
    if (due === undefined || due > now + idleTtlMs) this.setDue('expire', now + idleTtlMs);
  }

  private close(to: 'checked_out' | 'closed', reason: string | null, now: number, orderId: string | null = null): void {
    this.sql.exec(
      'UPDATE cart SET status = ?, closed_reason = ?, closed_at = ?, order_id = ?, version = version + 1, updated_at = ? WHERE id = 1',
      to,
      reason,
      now,
      orderId,
      now,
    );
    this.deleteDue('expire');
    this.setDue('purge', now + CLOSED_RETENTION_MS);
  }

  /** Marks the cart expired and writes cart.abandoned to the outbox (same transaction). */
  private expire(row: CartRow, now: number): void {
    this.sql.exec("UPDATE cart SET status = 'expired', closed_at = ?, version = version + 1, updated_at = ? WHERE id = 1", now, now);
    const lines = this.lines();
    // An empty cart is deleted without an event: nothing was abandoned.
    if (lines.length === 0) {
      this.deleteDue('expire');
      return;
    }
    const event = CartAbandoned.create(
      {
        cartId: row.cart_id,
        userId: row.owner_id,
        lines: lines.map((l) => ({ productId: l.productId, variantId: l.variantId, sku: l.sku, name: l.name, quantity: l.quantity, unitPrice: l.unitPrice, currency: l.currency })),
        totals: totalsByCurrency(lines),
        lastActivityAt: iso(row.last_activity_at),
      },
      { correlationId: `cart:${row.cart_id}`, source: 'cart', subject: row.cart_id, aggregateVersion: row.version + 1, occurredAt: new Date(now) },
    );
    this.sql.exec('INSERT INTO outbox (event_id, body, created_at) VALUES (?, ?, ?)', event.id, JSON.stringify(event), now);
    this.deleteDue('expire');
  }

  /** Sends the outbox; once the queue has it, deletes the storage. Refused: retry later with backoff. */
  private async relayAbandoned(now: number): Promise<void> {
    const rows = this.sql.exec<{ event_id: string; body: string; attempts: number }>('SELECT event_id, body, attempts FROM outbox').toArray();
    try {
      for (const r of rows) await (this.eventsQueue ?? this.env.EVENTS).send(JSON.parse(r.body), { contentType: 'json' });
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
      const attempts = rows[0]?.attempts ?? 0;
      this.ctx.storage.transactionSync(() => {
        this.sql.exec('UPDATE outbox SET attempts = attempts + 1, last_error = ?', message);
        this.setDue('expire', now + relayBackoffMs(attempts));
      });
      this.rearm(true);
      console.warn(JSON.stringify({ level: 'warn', msg: 'cart.abandoned relay failed', object: this.ctx.id.name, error: message }));
      return;
    }
    await this.dropStorage();
  }

  private async dropStorage(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.alarmAt = null;
    this.schemaReady = false;
    this.mem = undefined;
    this.dues = new Map();
  }

  private setDue(kind: 'expire' | 'purge', at: number): void {
    this.sql.exec('INSERT INTO due (kind, due_at) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET due_at = excluded.due_at', kind, at);
    this.dues.set(kind, at);
  }

  private deleteDue(kind: 'expire' | 'purge'): void {
    this.sql.exec('DELETE FROM due WHERE kind = ?', kind);
    this.dues.delete(kind);
  }

  private dueAt(kind: 'expire' | 'purge'): number | null {
    return this.dues.get(kind) ?? null;
  }

  /**
   * Keeps the one alarm at or before the earliest due time. It is moved earlier at once but not
   * later (a write that only pushes the expiry back costs no alarm write; the early alarm re-arms).
   * `exact` sets it to the due time whatever it was (after the alarm ran).
   */
  private rearm(exact = false): void {
    const next = this.dues.size === 0 ? null : Math.min(...this.dues.values());
    if (next === null) {
      if (this.alarmAt !== null) void this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
    } else if (this.alarmAt === null || next < this.alarmAt || (exact && next !== this.alarmAt)) {
      void this.ctx.storage.setAlarm(next);
      this.alarmAt = next;
    }
  }

  private insertLine(itemId: string, line: { productId: string; variantId: string; sku: string; name: string; variantName: string; unitPrice: number; currency: string }, quantity: number, now: number): void {
    this.sql.exec(
      'INSERT INTO lines (item_id, product_id, variant_id, sku, name, variant_name, quantity, unit_price, currency, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      itemId,
      line.productId,
      line.variantId,
      line.sku,
      line.name,
      line.variantName,
      quantity,
      line.unitPrice,
      line.currency,
      now,
      now,
    );
    // The mirror follows (same order as `reload`: added_at, then item_id).
    const lines = this.mem?.lines;
    if (lines) {
      lines.push({ item_id: itemId, product_id: line.productId, variant_id: line.variantId, sku: line.sku, name: line.name, variant_name: line.variantName, quantity, unit_price: line.unitPrice, currency: line.currency, added_at: now, updated_at: now });
      lines.sort((a, b) => a.added_at - b.added_at || (a.item_id < b.item_id ? -1 : a.item_id > b.item_id ? 1 : 0));
    }
  }

  private lineByVariant(variantId: string): LineRow | undefined {
    return this.load()?.lines.find((l) => l.variant_id === variantId);
  }

  private lineById(itemId: string): LineRow | undefined {
    return this.load()?.lines.find((l) => l.item_id === itemId);
  }

  /** Units and lines of the cart, leaving out `exceptItem`. */
  private totals(exceptItem?: string): { units: number; lines: number } {
    const others = (this.load()?.lines ?? []).filter((l) => l.item_id !== exceptItem);
    return { units: others.reduce((n, l) => n + l.quantity, 0), lines: others.length };
  }

  private lines(): LineView[] {
    return (this.load()?.lines ?? []).map((l) => this.views.get(l) ?? this.lineView(l));
  }

  private lineView(l: LineRow): LineView {
    const view: LineView = {
      itemId: l.item_id,
      productId: l.product_id,
      variantId: l.variant_id,
      sku: l.sku,
      name: l.name,
      variantName: l.variant_name,
      quantity: l.quantity,
      unitPrice: l.unit_price,
      currency: l.currency,
      addedAt: iso(l.added_at),
      updatedAt: iso(l.updated_at),
    };
    this.views.set(l, view);
    return view;
  }

  private state(row: CartRow, now: number): CartState {
    return {
      cartId: row.cart_id,
      ownerId: row.owner_id,
      status: this.effectiveStatus(row, now),
      version: row.version,
      createdAt: iso(row.created_at),
      updatedAt: iso(row.updated_at),
      expiresAt: iso(row.last_activity_at + row.idle_ttl_ms),
      orderId: row.order_id,
      lines: this.lines(),
    };
  }
}
