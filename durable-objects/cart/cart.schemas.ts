import { z } from 'zod';

/**
 * RPC inputs and outputs of the cart object. Every input is parsed by the object (a caller
 * bug is INVALID_INPUT, never a corrupt cart). Refusals are values, `{ ok: false, code,
 * message }`, with a stable code, so they cross RPC intact and callers can switch on them.
 */

export const CartId = z.string().regex(/^crt_[0-9a-z]{26}$/, 'a cart id (crt_…)');
export const UserId = z.string().min(1).max(64);
export const ItemId = z.string().regex(/^itm_[0-9a-z]{26}$/, 'an item id (itm_…)');
export const Quantity = z.number().int().min(1).max(100_000);
export const Currency = z.string().regex(/^[A-Z]{3}$/);
/** Null for an anonymous caller: it may use guest carts only. */
export const ActorId = UserId.nullable();
export const IdleTtlMs = z.number().int().min(1000).max(366 * 86_400_000);

export const Limits = z.object({
  /** Most units of one variant. */
  maxLineQuantity: z.number().int().min(1),
  /** Most units in the cart. */
  maxUnits: z.number().int().min(1),
  /** Most distinct lines. */
  maxLines: z.number().int().min(1),
});
export type Limits = z.infer<typeof Limits>;

/** What the cart keeps about a variant: identity plus the price snapshot at the time it was added. */
export const LineInput = z.object({
  productId: z.string().min(1).max(64),
  variantId: z.string().min(1).max(64),
  sku: z.string().min(1).max(64),
  name: z.string().max(200),
  variantName: z.string().max(200),
  unitPrice: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  currency: Currency,
});
export type LineInput = z.infer<typeof LineInput>;

/** An HTTP Idempotency-Key with the hash of the request body it came with. */
export const IdempotencyInput = z.object({ key: z.string().min(1).max(255), bodyHash: z.string().min(1).max(128) });

const Write = { actorId: ActorId, idleTtlMs: IdleTtlMs };

export const OpenInput = z.object({ cartId: CartId, ownerId: UserId.nullable(), idleTtlMs: IdleTtlMs });
export const ViewInput = z.object({ actorId: ActorId });
/** The stored answer of an add-item Idempotency-Key, asked before a refusal outside the object. */
export const StoredAnswerInput = z.object({ actorId: ActorId, idempotency: IdempotencyInput });

export const AddItemInput = z.object({
  ...Write,
  line: LineInput,
  quantity: Quantity,
  /** Units the inventory could sell now (read just before; not reserved). Null: not checked. */
  available: z.number().int().nullable(),
  limits: Limits,
  idempotency: IdempotencyInput.optional(),
});

export const UpdateItemInput = z.object({
  ...Write,
  itemId: ItemId,
  quantity: Quantity,
  /** Checked only when the quantity grows. */
  available: z.number().int().nullable(),
  limits: Limits,
  /** The catalog's price now: when the quantity grows, the line's snapshot becomes this (raising it is adding units). */
  price: z.object({ unitPrice: LineInput.shape.unitPrice, currency: Currency }).optional(),
});

export const RemoveItemInput = z.object({ ...Write, itemId: ItemId });

export const MergeLine = LineInput.extend({ quantity: Quantity });
export type MergeLine = z.infer<typeof MergeLine>;

/** Units of a SKU the inventory could sell now (read just before a merge; not reserved). */
export const SkuAvailability = z.object({ sku: LineInput.shape.sku, units: z.number().int() });

/**
 * Into a user's cart: the lines of a guest cart (op id: one merge per guest cart). `available`:
 * per SKU of the lines, what the inventory could sell (a line is capped to it, as an add is
 * refused past it); a SKU left out is not checked. Not part of the op's body hash: a retried
 * merge replays the first answer whatever the stock is now.
 */
export const MergeInput = z.object({ ...Write, opId: z.string().min(1).max(255), lines: z.array(MergeLine).max(500), limits: Limits, available: z.array(SkuAvailability).max(500).optional() });

/** On the guest cart: close it because it was merged into `into`. Idempotent for the same `into`. */
export const CloseForMergeInput = z.object({ into: CartId });

export const SnapshotInput = z.object({ actorId: ActorId });

/** `actorId` undefined: a trusted caller (the order saga), which checked ownership at the snapshot. */
export const MarkCheckedOutInput = z.object({ actorId: ActorId.optional(), orderId: z.string().min(1).max(64), expectedVersion: z.number().int().min(1) });

/** Pointer objects: compare-and-set of the user's active cart. */
export const SetUserCartInput = z.object({ expected: CartId.nullable(), cartId: CartId });

export type OpenInput = z.input<typeof OpenInput>;
export type ViewInput = z.input<typeof ViewInput>;
export type StoredAnswerInput = z.input<typeof StoredAnswerInput>;
export type AddItemInput = z.input<typeof AddItemInput>;
export type UpdateItemInput = z.input<typeof UpdateItemInput>;
export type RemoveItemInput = z.input<typeof RemoveItemInput>;
export type MergeInput = z.input<typeof MergeInput>;
export type CloseForMergeInput = z.input<typeof CloseForMergeInput>;
export type SnapshotInput = z.input<typeof SnapshotInput>;
export type MarkCheckedOutInput = z.input<typeof MarkCheckedOutInput>;
export type SetUserCartInput = z.input<typeof SetUserCartInput>;

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

export const CART_STATUSES = ['active', 'checked_out', 'closed', 'expired'] as const;
export type CartStatus = (typeof CART_STATUSES)[number];

export interface LineView extends LineInput {
  itemId: string;
  quantity: number;
  addedAt: string;
  updatedAt: string;
}

export interface CartState {
  cartId: string;
  ownerId: string | null;
  status: CartStatus;
  /** Grows by one with every change (lines or status). */
  version: number;
  createdAt: string;
  updatedAt: string;
  /** When it expires if nobody changes it (meaningful while active). */
  expiresAt: string;
  orderId: string | null;
  lines: LineView[];
}

export const CART_ERROR_CODES = [
  'INVALID_INPUT',
  /** No such cart (never opened, deleted after expiry) or not the caller's. */
  'NOT_FOUND',
  'ITEM_NOT_FOUND',
  'CHECKED_OUT',
  'CLOSED',
  'EXPIRED',
  'QUANTITY_LIMIT',
  'OUT_OF_STOCK',
  'INSUFFICIENT_STOCK',
  'KEY_REUSED',
  'VERSION_MISMATCH',
  /** A pointer method on a cart object or a cart method on a pointer object. */
  'WRONG_KIND',
  /** Pointer objects: the user's account was erased; no cart is opened for it. */
  'ERASED',
] as const;
export type CartErrorCode = (typeof CART_ERROR_CODES)[number];

export interface CartFailure {
  ok: false;
  code: CartErrorCode;
  message: string;
  /** OUT_OF_STOCK / INSUFFICIENT_STOCK: units available when refused. */
  available?: number;
  /** QUANTITY_LIMIT: which limit and its value. */
  limit?: { name: 'maxLineQuantity' | 'maxUnits' | 'maxLines'; value: number };
  /** VERSION_MISMATCH: the cart's version now. */
  version?: number;
  issues?: { path: string; message: string }[];
  /** The stored answer of an earlier call with the same Idempotency-Key (a refusal replayed). */
  replayed?: boolean;
}

export interface CartOk {
  ok: true;
  cart: CartState;
}

/** A write's answer; `replayed` when it is the stored answer of an earlier call with the same key. */
export type CartWriteResult = (CartOk & { itemId?: string; created?: boolean; replayed?: boolean }) | CartFailure;
export type CartReadResult = CartOk | CartFailure;

/** What capped a merged line: a cart limit, or what the inventory had (nothing, or fewer units than asked). */
export const MERGE_CLAMPS = ['maxLineQuantity', 'maxUnits', 'maxLines', 'out_of_stock', 'insufficient_stock'] as const;
export type MergeClamp = (typeof MERGE_CLAMPS)[number];

export interface MergeReportLine {
  variantId: string;
  sku: string;
  /** Units the guest cart had. */
  requested: number;
  /** Units added to the user's cart (less than requested when a limit or the stock clamped it). */
  merged: number;
  /** Set when clamped: the limit that bit, or `out_of_stock` / `insufficient_stock`. */
  clampedBy: MergeClamp | null;
}
export type MergeResult = (CartOk & { report: MergeReportLine[]; replayed?: boolean }) | CartFailure;
export type CloseForMergeResult = { ok: true; lines: LineView[]; alreadyClosed: boolean } | CartFailure;
export type MarkCheckedOutResult = (CartOk & { changed: boolean }) | CartFailure;
/** `erased`: the account was erased (the pointer remembers it for a while); no cart may be opened for it. */
export type UserCartResult = { ok: true; cartId: string | null; erased?: boolean } | CartFailure;
