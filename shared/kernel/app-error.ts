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
  DEPENDENCY_UNAVAILABLE: 503,
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
    super(detail ?? TITLES[code], opts.cause === undefined ? undefined : { cause: opts.cause });
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
