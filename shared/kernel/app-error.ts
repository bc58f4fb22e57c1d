/**
 * Typed application errors. Every error a client can cause is an AppError with a
 * stable UPPER_SNAKE code; the HTTP layer maps codes to statuses in one place.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  INVALID_CURSOR: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  EMAIL_TAKEN: 409,
  INSUFFICIENT_STOCK: 409,
  OUT_OF_STOCK: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  PAYMENT_PROVIDER_ERROR: 502,
  DEPENDENCY_UNAVAILABLE: 503,
  // Cart and wishlist (workers/cart, workers/wishlist; docs/cart.md)
  CART_NOT_FOUND: 404,
  CART_ITEM_NOT_FOUND: 404,
  CART_CHECKED_OUT: 409,
  CART_VERSION_MISMATCH: 409,
  CART_CLOSED: 410,
  CART_EXPIRED: 410,
  PRODUCT_NOT_FOUND: 422,
  VARIANT_NOT_FOUND: 422,
  PRODUCT_NOT_SELLABLE: 422,
  QUANTITY_LIMIT_EXCEEDED: 422,
  PAYMENT_PROVIDER_UNAVAILABLE: 503,
  WEBHOOK_SIGNATURE_INVALID: 400,
  // Orders (workers/orders, durable-objects/order; docs/orders.md)
  ORDER_NOT_CANCELLABLE: 409,
  ORDER_NOT_SHIPPABLE: 409,
  TRACKING_NUMBER_IN_USE: 409,
  INVALID_TRANSITION: 409,
  NOTHING_TO_REFUND: 409,
  REFUND_EXCEEDS_CAPTURED: 422,
  SHIPMENT_EXCEEDS_ORDER: 422,
  WRONG_WAREHOUSE: 422,
  PAYMENT_METHOD_NOT_ALLOWED: 422,
  CURRENCY_MISMATCH: 422,
  CUSTOMER_NOT_FOUND: 422,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FieldError {
  /** JSON-pointer-like dotted path of the offending field, e.g. `query.maxPrice`. */
  path: string;
  message: string;
  code?: string;
}

const TITLES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The request is not valid',
  MALFORMED_JSON: 'The request body is not valid JSON',
  INVALID_CURSOR: 'The pagination cursor is not valid',
  UNAUTHENTICATED: 'Authentication is required',
  INVALID_CREDENTIALS: 'The email or password is not right',
  FORBIDDEN: 'You are not allowed to do this',
  NOT_FOUND: 'The resource does not exist',
  ROUTE_NOT_FOUND: 'No such route',
  METHOD_NOT_ALLOWED: 'Method not allowed on this route',
  NOT_ACCEPTABLE: 'Not acceptable',
  CONFLICT: 'The request conflicts with the current state',
  EMAIL_TAKEN: 'An account with this email already exists',
  INSUFFICIENT_STOCK: 'There is not enough stock for this',
  OUT_OF_STOCK: 'Not enough units are available',
  PAYLOAD_TOO_LARGE: 'The request body is too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  IDEMPOTENCY_KEY_REUSED: 'The Idempotency-Key was used with a different request',
  UNPROCESSABLE: 'The request cannot be processed',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal server error',
  DEPENDENCY_UNAVAILABLE: 'A dependency is unavailable',
  CART_NOT_FOUND: 'The cart does not exist',
  CART_ITEM_NOT_FOUND: 'The cart has no such item',
  CART_CHECKED_OUT: 'The cart has been checked out',
  CART_VERSION_MISMATCH: 'The cart changed since it was read',
  CART_CLOSED: 'The cart is closed',
  CART_EXPIRED: 'The cart has expired',
  PRODUCT_NOT_FOUND: 'The product does not exist',
  VARIANT_NOT_FOUND: 'The product has no such variant',
  PRODUCT_NOT_SELLABLE: 'The product cannot be sold',
  QUANTITY_LIMIT_EXCEEDED: 'The quantity is over the limit',
  PAYMENT_PROVIDER_ERROR: 'The payment provider refused the request',
  PAYMENT_PROVIDER_UNAVAILABLE: 'The payment provider is unavailable; try again later',
  WEBHOOK_SIGNATURE_INVALID: 'The webhook signature is not valid',
  ORDER_NOT_CANCELLABLE: 'The order can no longer be cancelled',
  ORDER_NOT_SHIPPABLE: 'The order cannot ship in its current state',
  TRACKING_NUMBER_IN_USE: 'The order already has a parcel with this tracking number',
  INVALID_TRANSITION: 'The order cannot move to that state',
  NOTHING_TO_REFUND: 'Nothing has been paid for this order',
  REFUND_EXCEEDS_CAPTURED: 'The refund is larger than what can still be refunded',
  SHIPMENT_EXCEEDS_ORDER: 'The shipment holds more than is left to ship',
  WRONG_WAREHOUSE: "The order's stock is not held in this warehouse",
  PAYMENT_METHOD_NOT_ALLOWED: 'This payment method cannot be used here',
  CURRENCY_MISMATCH: 'The items are priced in different currencies',
  CUSTOMER_NOT_FOUND: 'The customer named does not exist or cannot order',
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    opts: { errors?: FieldError[]; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    // A client error is an answer, not a fault: no stack trace is captured for it (V8 walks and
    // formats the stack at construction; a flash sale answers thousands of 409s a second).
    const limit = Error.stackTraceLimit;
    if (ERROR_STATUS[code] < 500) Error.stackTraceLimit = 0;
    try {
      super(detail ?? TITLES[code], opts.cause === undefined ? undefined : { cause: opts.cause });
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.title = TITLES[code];
    this.errors = opts.errors;
    this.headers = opts.headers;
  }
}

export const notFound = (what: string, id: string) => new AppError('NOT_FOUND', `${what} '${id}' was not found`);

export const validationFailed = (errors: FieldError[], detail = 'One or more fields are not valid') =>
  new AppError('VALIDATION_FAILED', detail, { errors });

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;
