/**
 * Every error tessera throws on purpose. Each has a stable `code` that callers and clients can
 * rely on, and an HTTP `status` where one applies. Adapters turn them into `{error:{code,message}}`.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NO_SESSION'
  | 'FORBIDDEN'
  | 'SESSION_ENDED'
  | 'SESSION_LIMIT'
  | 'NOT_FOUND'
  | 'UPDATE_CONFLICT'
  | 'STORE_UNAVAILABLE'
  | 'TOO_MANY_REQUESTS'
  | 'SESSION_TOO_LARGE'
  | 'INVALID_OPTION'
  | 'INVALID_VALUE'
  | 'INTERNAL';

/** The base of every error tessera throws on purpose: `instanceof` it, or switch on `code`. */
export class TesseraError extends Error {
  /** Stable: clients and callers may rely on it, across versions. */
  readonly code: ErrorCode;
  /** HTTP status an adapter should answer with. */
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** Client input that tessera (or an app built on it) refuses. */
export class BadRequestError extends TesseraError {
  constructor(message: string) {
    super('BAD_REQUEST', 400, message);
  }
}

/** The request carries no valid session where one is required. */
export class NoSessionError extends TesseraError {
  constructor(message = 'no valid session') {
    super('NO_SESSION', 401, message);
  }
}

/** The request is authenticated but not allowed: not an admin, or a mutating request without same-origin proof. */
export class ForbiddenError extends TesseraError {
  constructor(message = 'forbidden') {
    super('FORBIDDEN', 403, message);
  }
}

/** The session was revoked, logged out or replaced while this request was using it. */
export class SessionEndedError extends TesseraError {
  constructor(message = 'the session ended while the request was running') {
    super('SESSION_ENDED', 401, message);
  }
}

/** A login was refused because the subject already has the maximum number of sessions. */
export class SessionLimitError extends TesseraError {
  /** The subject's limit, `maxSessionsPerSubject`. */
  readonly limit: number;
  constructor(limit: number) {
    super('SESSION_LIMIT', 409, `the maximum of ${limit} session(s) per user is reached`);
    this.limit = limit;
  }
}

/** Something the request names does not exist; for an app's own answers (tessera's calls return false or null instead). */
export class NotFoundError extends TesseraError {
  constructor(message = 'not found') {
    super('NOT_FOUND', 404, message);
  }
}

/** A compare-and-set update kept losing to concurrent writers; nothing was written. */
export class UpdateConflictError extends TesseraError {
  constructor(message = 'the session kept changing concurrently; try again') {
    super('UPDATE_CONFLICT', 409, message);
  }
}

/** What a client is told of a store outage: the error's own message may quote the store or its driver. */
const STORE_UNAVAILABLE_MESSAGE = 'the session store is unavailable';

/**
 * The store cannot be reached or did not answer in time. Never treated as "no session":
 * adapters answer 503 with `Retry-After`. The message and `cause` may name the store's internals
 * (a host, a statement); they are for the app (see `onStoreError`), and `errorResponse` tells
 * a client only that the session store is unavailable.
 */
export class StoreUnavailableError extends TesseraError {
  /** Seconds a client should wait before retrying. */
  readonly retryAfter: number;
  constructor(message = STORE_UNAVAILABLE_MESSAGE, options?: { cause?: unknown; retryAfter?: number }) {
    super('STORE_UNAVAILABLE', 503, message, options);
    this.retryAfter = options?.retryAfter ?? 1;
  }
}

/**
 * A client address went past a per-address limit (`anonymousSessionLimit`, or `bruteForceLimit`
 * with `bruteForceAction: 'block'`); adapters answer 429 with `Retry-After`.
 */
export class TooManyRequestsError extends TesseraError {
  /** Seconds until the client's next request can go through. */
  readonly retryAfter: number;
  /**
   * A `Set-Cookie` value the error response must carry (it clears the stale session cookie that
   * led here, so that the client's next request goes through), or null.
   */
  readonly setCookie: string | null;
  constructor(retryAfter: number, message = 'too many requests', options: { setCookie?: string | null } = {}) {
    super('TOO_MANY_REQUESTS', 429, message);
    this.retryAfter = retryAfter;
    this.setCookie = options.setCookie ?? null;
  }
}

/** A write that would take a session past `maxFields`, `maxValueBytes` or `maxSessionBytes`; nothing was written. */
export class SessionTooLargeError extends TesseraError {
  constructor(message: string) {
    super('SESSION_TOO_LARGE', 413, message);
  }
}

/** A configuration mistake, thrown at construction so it is found at start-up. */
export class InvalidOptionError extends TesseraError {
  constructor(message: string) {
    super('INVALID_OPTION', 500, message);
  }
}

/**
 * A value given to `set()` that is not JSON (a function, `undefined`, a `BigInt`, a `Date`, a
 * `Map`, a class instance, `NaN`, a cycle…): a mistake in the app's code, not in a client's
 * request, so `errorResponse` answers it as a bare 500 and the details stay in the app's logs.
 */
export class InvalidValueError extends TesseraError {
  /** The session key being set. */
  readonly key: string;
  /** Where in the value the problem is: `value`, or a path into it such as `value.items[2]`. */
  readonly path: string;

  constructor(key: string, path: string, problem: string) {
    super('INVALID_VALUE', 500, `cannot set '${key}': ${path} ${problem}`);
    this.key = key;
    this.path = path;
  }
}

/** An error as an HTTP answer: what `errorResponse` gives an adapter to send. */
export interface ErrorResponse {
  /** The HTTP status. */
  status: number;
  /** Lower-case header names: `content-type`, `cache-control`, and where they apply `retry-after` and `set-cookie`. */
  headers: Record<string, string>;
  /** The JSON body. */
  body: {
    /** What went wrong, for the client. */
    error: {
      /** The error's stable code; `INTERNAL` for anything that is not a tessera error. */
      code: ErrorCode;
      /** A message fit for the client; never one from an error that is not tessera's. */
      message: string;
    };
  };
}

/** Mistakes in the app's code or configuration: a client gets a bare 500, the app the details. */
const PROGRAMMING_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['INVALID_OPTION', 'INVALID_VALUE']);

/**
 * Maps any thrown value to a safe HTTP response. Unknown errors and programming errors
 * (`InvalidOptionError`, `InvalidValueError`) become a bare 500 with no message or stack from the
 * original error, and a store outage a 503 that says only that the store is unavailable, so
 * nothing internal leaks to a client. The cause of an outage goes to the manager's `onStoreError`.
 */
export function errorResponse(error: unknown): ErrorResponse {
  if (error instanceof TesseraError && !PROGRAMMING_ERRORS.has(error.code)) {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    if (error instanceof StoreUnavailableError || error instanceof TooManyRequestsError) {
      headers['retry-after'] = String(error.retryAfter);
    }
    if (error instanceof TooManyRequestsError && error.setCookie !== null) headers['set-cookie'] = error.setCookie;
    const message = error instanceof StoreUnavailableError ? STORE_UNAVAILABLE_MESSAGE : error.message;
    return { status: error.status, headers, body: { error: { code: error.code, message } } };
  }
  return {
    status: 500,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: { error: { code: 'INTERNAL', message: 'internal error' } },
  };
}
