import { systemClock, type Clock } from './clock.js';
import { jsonCodec, type ValueCodec } from './codec.js';
import type { SameSite } from './cookie.js';
import { InvalidOptionError } from './errors.js';
import type { TouchPolicy } from './expiry.js';
import { cacheFor } from './cache-registry.js';
import { resolveCacheOptions, type CacheOptions, type ResolvedCacheOptions } from './cache-options.js';
import { assertKnownOptions, assertStore } from './option-checks.js';
import { logStoreErrors, ReportingStore, type StoreErrorHandler, type StoreOperation } from './reporting-store.js';
import type { SessionAdopter } from './adopt.js';
import { hasSessionOutbox, type SessionNotifier, type SessionOutbox } from './outbox.js';
import type { SessionStore } from './store.js';

/** How the session cookie is named and sent. */
export interface CookieOptions {
  /**
   * Cookie name. When the cookie is Secure, `__Host-` is put in front of it, which makes the
   * browser refuse it unless it is Secure, host-only and `Path=/`.
   * @default 'tessera'
   */
  name?: string;
  /**
   * `'auto'` sets Secure exactly when the request came over HTTPS; `true` always (use behind a
   * TLS-terminating proxy); `false` never (local development only).
   * @default 'auto'
   */
  secure?: 'auto' | boolean;
  /**
   * `'lax'`: the browser sends the cookie on same-site requests and top-level navigations from
   * other sites; `'strict'`: on same-site requests only.
   * @default 'lax'
   */
  sameSite?: SameSite;
}

/** The options of `new SessionManager(options)`; only `store` is required. Times are in seconds. */
export interface SessionManagerOptions {
  /** Where sessions live. */
  store: SessionStore;
  /**
   * Sliding timeout in seconds: a session not used for this long ends. Sessions may override it.
   * @default 1800
   */
  idleTimeout?: number;
  /**
   * Absolute lifetime in seconds from login (or creation, while anonymous). Activity and
   * rotation never extend it; only a fresh login restarts it.
   * @default 86400
   */
  absoluteTimeout?: number;
  /**
   * Longest time in seconds between two writes of `lastSeenAt` for a busy session. The actual
   * interval is the smaller of this and a tenth of the session's idle timeout, so a read-only
   * request writes nothing inside that window.
   * @default 60
   */
  touchInterval?: number;
  /**
   * Live sessions one subject may have; 1 means a single session per user. Finite by default so
   * that no user's sessions grow without bound (a script logging in in a loop); give `Infinity`
   * to lift it.
   * @default 100
   */
  maxSessionsPerSubject?: number;
  /**
   * What a login beyond `maxSessionsPerSubject` does: end the subject's oldest sessions, or
   * fail with `SessionLimitError` (HTTP 409).
   * @default 'evict-oldest'
   */
  onLimit?: 'evict-oldest' | 'reject';
  /** How the session cookie is named and sent. */
  cookie?: CookieOptions;
  /**
   * Accept `Authorization: Bearer <token>` (for API clients). Tokens in URLs are never accepted.
   * @default false
   */
  bearer?: boolean;
  /**
   * How often, in seconds, expired sessions are removed in batches and `expired` events sent;
   * `false` turns the sweep off (an expired session is never returned either way).
   * @default 60
   */
  cleanupInterval?: number | false;
  /**
   * Expired sessions removed per store call of a sweep; the sweep lets other work run between
   * batches.
   * @default 500
   */
  cleanupBatchSize?: number;
  /**
   * Anonymous sessions one client address may create per minute (a first write without a
   * session); past it such writes get `TooManyRequestsError` (HTTP 429), while logged-in users and
   * reads are unaffected. `false` turns the bound off. Apps should create anonymous sessions only
   * when something must be remembered (a cart, a flash message), not on every page view.
   * @default 300
   */
  anonymousSessionLimit?: number | false;
  /**
   * Most data fields one session may hold; a write that would add more gets
   * `SessionTooLargeError` (HTTP 413).
   * @default 128
   */
  maxFields?: number;
  /**
   * Most bytes of one data value, as JSON text in UTF-8 (before any encryption), key included.
   * @default 16384
   */
  maxValueBytes?: number;
  /**
   * Most bytes of a session's data, as JSON text in UTF-8 (before any encryption), keys included.
   * Checked against the session as the writing request sees it.
   * @default 65536
   */
  maxSessionBytes?: number;
  /**
   * Seconds a store remembers the idempotency key of a change set (the `Idempotency-Key` request
   * header, through the adapters), so that a write retried after a 503 ("outcome unknown") is
   * applied once.
   * @default 600
   */
  idempotencyWindow?: number;
  /**
   * Well-formed but unknown, expired or revoked tokens one client address may present per minute
   * before a `bruteForce` event is sent (once per address and minute). What happens to the
   * requests past it is `bruteForceAction`. `false` turns counting off.
   * @default 120
   */
  bruteForceLimit?: number | false;
  /**
   * `'detect'`: past the limit, a request with an unknown token is still answered as one without
   * a session (its stale cookie cleared); only the event tells. `'block'`: such requests get
   * `TooManyRequestsError` (HTTP 429) for the rest of the minute, with the stale cookie cleared in
   * that same response so the browser's next request goes through. Requests with a valid token or
   * none are never refused. Detection is the default: a 256-bit secret cannot be guessed, and a
   * 429 keyed by address mostly hurts people who share one (an office, a carrier NAT).
   * @default 'detect'
   */
  bruteForceAction?: 'detect' | 'block';
  /**
   * Seconds after which a live session's token is renewed on its next request (the secret changes,
   * the session and its id stay). `false` never renews.
   * @default false
   */
  renewalInterval?: number | false;
  /**
   * Seconds during which the token replaced by a renewal still works, for requests that were
   * already in flight with it; after that the old token is dead. For as long, a token replaced by
   * a login or rotation is recognised as replaced, so that a late response for it leaves the
   * newer cookie alone instead of clearing it.
   * @default 30
   */
  renewalGracePeriod?: number;
  /**
   * Where every expiry decision gets the time; `ManualClock` (from `tessera-session/testing`)
   * lets a test move it.
   * @default the system clock
   */
  clock?: Clock;
  /**
   * How data values are stored; `encryptionCodec(keys)` stores AES-256-GCM ciphertext.
   * @default plain JSON
   */
  codec?: ValueCodec;
  /**
   * Called when an event listener throws (or `onStoreError` does).
   * @default writes to console.error
   */
  onListenerError?: (error: unknown) => void;
  /**
   * Called once for every store call that fails: an outage (`StoreUnavailableError`, with the
   * driver's error as its `cause`) or an error the store did not mean to throw, and `operation`,
   * the store method (`'load'`, `'apply'`, `'deleteExpired'`…). Failures no request sees are
   * reported too: the cleanup sweep, and the undo of a write whose outcome was unknown. Clients
   * are told only that the session store is unavailable (see `errorResponse`): this is where the
   * cause goes, to be logged or counted. It runs inside the failing call and must not block; what
   * it throws goes to `onListenerError` and never reaches the request.
   * @default writes the operation and the error to console.error: the first failure, then at most
   * one line every ten seconds while failures go on
   */
  onStoreError?: (error: unknown, context: { operation: StoreOperation }) => void | Promise<void>;
  /**
   * Keeps recently read sessions in this process, in front of the store: a request whose session
   * is cached sends nothing to the store until a touch is due or it writes. `true` for the
   * defaults, or {@link CacheOptions}. Revocation stays bounded: with Redis, PostgreSQL and the
   * memory store every instance is told of each change (and serves nothing while it cannot be);
   * with SQLite an entry is served for at most `maxStaleness` after it was read. Managers on one
   * store object share one cache, and change sessions only through it (see `cachedStore`).
   * @default false
   */
  cache?: CacheOptions | boolean;
  /**
   * Takes over sessions another library wrote (`tessera-session/migrate/express-session` gives
   * one): called for a request that carries no tessera token, and what it recognises becomes a
   * tessera session, its cookie set in the same response. See {@link SessionAdopter}.
   * @default none (no request is adopted)
   */
  adopt?: SessionAdopter;
  /**
   * Sends the systems that depend on a session word when it ends (`sessionWebhooks` from
   * `tessera-session/webhooks` gives one): the store records each ending's notice in the same
   * atomic step (it needs an outbox: every bundled store has one), and the notifier delivers it
   * off the request path.
   * @default none (no notices are recorded)
   */
  webhooks?: SessionNotifier;
}

/**
 * The options a manager runs with (`SessionManager.options`): every {@link SessionManagerOptions}
 * field checked and with its default filled in, frozen.
 */
export interface ResolvedOptions {
  /** The app's store as the manager calls it: the same calls, each failure reported to `onStoreError`. */
  readonly store: SessionStore;
  /** See {@link SessionManagerOptions.idleTimeout}. */
  readonly idleTimeout: number;
  /** See {@link SessionManagerOptions.absoluteTimeout}. */
  readonly absoluteTimeout: number;
  /** When a read writes `lastSeenAt` again, from {@link SessionManagerOptions.touchInterval}. */
  readonly touch: Readonly<TouchPolicy>;
  /** See {@link SessionManagerOptions.maxSessionsPerSubject}. */
  readonly maxSessionsPerSubject: number;
  /** See {@link SessionManagerOptions.onLimit}. */
  readonly onLimit: 'evict-oldest' | 'reject';
  /** See {@link SessionManagerOptions.cookie}. */
  readonly cookie: Readonly<Required<CookieOptions>>;
  /** See {@link SessionManagerOptions.bearer}. */
  readonly bearer: boolean;
  /** See {@link SessionManagerOptions.cleanupInterval}. */
  readonly cleanupInterval: number | false;
  /** See {@link SessionManagerOptions.cleanupBatchSize}. */
  readonly cleanupBatchSize: number;
  /** See {@link SessionManagerOptions.anonymousSessionLimit}. */
  readonly anonymousSessionLimit: number | false;
  /** See {@link SessionManagerOptions.maxFields}. */
  readonly maxFields: number;
  /** See {@link SessionManagerOptions.maxValueBytes}. */
  readonly maxValueBytes: number;
  /** See {@link SessionManagerOptions.maxSessionBytes}. */
  readonly maxSessionBytes: number;
  /** See {@link SessionManagerOptions.idempotencyWindow}. */
  readonly idempotencyWindow: number;
  /** See {@link SessionManagerOptions.bruteForceLimit}. */
  readonly bruteForceLimit: number | false;
  /** See {@link SessionManagerOptions.bruteForceAction}. */
  readonly bruteForceAction: 'detect' | 'block';
  /** See {@link SessionManagerOptions.renewalInterval}. */
  readonly renewalInterval: number | false;
  /** See {@link SessionManagerOptions.renewalGracePeriod}. */
  readonly renewalGracePeriod: number;
  /** See {@link SessionManagerOptions.clock}. */
  readonly clock: Clock;
  /** See {@link SessionManagerOptions.codec}. */
  readonly codec: ValueCodec;
  /** See {@link SessionManagerOptions.onListenerError}. */
  readonly onListenerError: (error: unknown) => void;
  /** The cache in front of the store, or null; see {@link SessionManagerOptions.cache}. */
  readonly cache: ResolvedCacheOptions | null;
  /** See {@link SessionManagerOptions.adopt}; null without one. */
  readonly adopt: SessionAdopter | null;
  /** See {@link SessionManagerOptions.webhooks}; null without one. */
  readonly notifier: SessionNotifier | null;
  /** The store's outbox, where the notifier's notices are kept; null without a notifier. */
  readonly outbox: SessionOutbox | null;
}

/** The secure defaults, in one place: each field is the default of the {@link SessionManagerOptions} field of that name. */
export const defaultOptions = Object.freeze({
  /** Seconds: 30 minutes. */
  idleTimeout: 1800,
  /** Seconds: 24 hours. */
  absoluteTimeout: 86_400,
  /** Seconds. */
  touchInterval: 60,
  /** A read writes `lastSeenAt` again after at most this fraction of the idle timeout (not an option). */
  touchIdleFraction: 0.1,
  /** Sessions per user. */
  maxSessionsPerSubject: 100,
  /** The oldest sessions end. */
  onLimit: 'evict-oldest' as const,
  /** The cookie's defaults. */
  cookie: Object.freeze({
    /** `tessera`, or `__Host-tessera` when Secure. */
    name: 'tessera',
    /** Secure exactly on HTTPS requests. */
    secure: 'auto' as const,
    /** Sent on same-site requests and top-level navigations. */
    sameSite: 'lax' as const,
  }),
  /** Cookies only. */
  bearer: false,
  /** Seconds between sweeps. */
  cleanupInterval: 60,
  /** Sessions per sweep batch. */
  cleanupBatchSize: 500,
  /** Anonymous sessions per client address per minute. */
  anonymousSessionLimit: 300,
  /** Fields per session. */
  maxFields: 128,
  /** Bytes of one value, as JSON. */
  maxValueBytes: 16 * 1024,
  /** Bytes of a session's data, as JSON. */
  maxSessionBytes: 64 * 1024,
  /** Seconds an idempotency key is remembered. */
  idempotencyWindow: 600,
  /** Unknown tokens per client address per minute. */
  bruteForceLimit: 120,
  /** Only the event. */
  bruteForceAction: 'detect' as const,
  /** Tokens are not renewed. */
  renewalInterval: false as const,
  /** Seconds. */
  renewalGracePeriod: 30,
});

/** Longest idle or absolute timeout accepted: ten years. */
const MAX_TIMEOUT = 10 * 365 * 86_400;

export function assertTimeout(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT) {
    throw new InvalidOptionError(`${name} must be a whole number of seconds from 1 to ${MAX_TIMEOUT}, got ${String(value)}`);
  }
  return value;
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function checkNotifier(notifier: SessionNotifier | undefined): SessionNotifier | null {
  if (notifier === undefined) return null;
  if (notifier === null || typeof notifier !== 'object' || typeof notifier.start !== 'function') {
    throw new InvalidOptionError('webhooks must be a notifier (sessionWebhooks() from tessera-session/webhooks)');
  }
  return notifier;
}

/** The outbox notices go to: the store's own (a cache in front offers it too). */
function outboxOf(store: SessionStore): SessionOutbox {
  const outbox = hasSessionOutbox(store) ? store.outbox : null;
  if (outbox === null)
    throw new InvalidOptionError('webhooks need a store with an outbox (capabilities.outbox); every bundled store has one');
  return outbox;
}

function defaultOnListenerError(error: unknown): void {
  console.error('tessera: event listener failed', error);
}

export function resolveOptions(options: SessionManagerOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options are required');
  assertKnownOptions(options);
  assertStore(options.store);
  const onListenerError = options.onListenerError ?? defaultOnListenerError;
  const clock = options.clock ?? systemClock;
  const onStoreError: StoreErrorHandler = options.onStoreError ?? logStoreErrors(clock);
  if (typeof onStoreError !== 'function') throw new InvalidOptionError('onStoreError must be a function');
  const cached = cacheFor(options.store, resolveCacheOptions(options.cache), clock);
  // Every store call goes through it, so that each failure reaches onStoreError whoever made the call.
  const store = new ReportingStore(cached ?? options.store, onStoreError, onListenerError);
  const idleTimeout = assertTimeout('idleTimeout', options.idleTimeout ?? defaultOptions.idleTimeout);
  const absoluteTimeout = assertTimeout('absoluteTimeout', options.absoluteTimeout ?? defaultOptions.absoluteTimeout);
  const touchInterval = assertTimeout('touchInterval', options.touchInterval ?? defaultOptions.touchInterval);
  const maxSessionsPerSubject = options.maxSessionsPerSubject ?? defaultOptions.maxSessionsPerSubject;
  if (maxSessionsPerSubject !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxSessionsPerSubject) || maxSessionsPerSubject < 1)) {
    throw new InvalidOptionError(`maxSessionsPerSubject must be a positive integer or Infinity, got ${String(maxSessionsPerSubject)}`);
  }
  const onLimit = options.onLimit ?? defaultOptions.onLimit;
  if (onLimit !== 'evict-oldest' && onLimit !== 'reject') {
    throw new InvalidOptionError(`onLimit must be 'evict-oldest' or 'reject', got ${String(onLimit)}`);
  }
  const name = options.cookie?.name ?? defaultOptions.cookie.name;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || name.startsWith('__')) {
    throw new InvalidOptionError('cookie.name must be 1-64 of A-Z a-z 0-9 _ - and not start with "__" (the prefix is added when Secure)');
  }
  const secure = options.cookie?.secure ?? defaultOptions.cookie.secure;
  if (secure !== 'auto' && typeof secure !== 'boolean') throw new InvalidOptionError("cookie.secure must be 'auto', true or false");
  const sameSite = options.cookie?.sameSite ?? defaultOptions.cookie.sameSite;
  if (sameSite !== 'lax' && sameSite !== 'strict') throw new InvalidOptionError("cookie.sameSite must be 'lax' or 'strict'");
  const cleanupInterval = options.cleanupInterval ?? defaultOptions.cleanupInterval;
  if (cleanupInterval !== false) assertTimeout('cleanupInterval', cleanupInterval);
  const cleanupBatchSize = options.cleanupBatchSize ?? defaultOptions.cleanupBatchSize;
  if (!Number.isInteger(cleanupBatchSize) || cleanupBatchSize < 1)
    throw new InvalidOptionError('cleanupBatchSize must be a positive integer');
  const bruteForceLimit = options.bruteForceLimit ?? defaultOptions.bruteForceLimit;
  if (bruteForceLimit !== false && (!Number.isInteger(bruteForceLimit) || bruteForceLimit < 1)) {
    throw new InvalidOptionError('bruteForceLimit must be a positive integer or false');
  }
  const anonymousSessionLimit = options.anonymousSessionLimit ?? defaultOptions.anonymousSessionLimit;
  if (anonymousSessionLimit !== false) positiveInteger('anonymousSessionLimit', anonymousSessionLimit);
  const maxFields = positiveInteger('maxFields', options.maxFields ?? defaultOptions.maxFields);
  const maxValueBytes = positiveInteger('maxValueBytes', options.maxValueBytes ?? defaultOptions.maxValueBytes);
  const maxSessionBytes = positiveInteger('maxSessionBytes', options.maxSessionBytes ?? defaultOptions.maxSessionBytes);
  const idempotencyWindow = assertTimeout('idempotencyWindow', options.idempotencyWindow ?? defaultOptions.idempotencyWindow);
  const bruteForceAction = options.bruteForceAction ?? defaultOptions.bruteForceAction;
  if (bruteForceAction !== 'detect' && bruteForceAction !== 'block') {
    throw new InvalidOptionError(`bruteForceAction must be 'detect' or 'block', got ${String(bruteForceAction)}`);
  }
  const renewalInterval = options.renewalInterval ?? defaultOptions.renewalInterval;
  if (renewalInterval !== false) assertTimeout('renewalInterval', renewalInterval);
  if (options.adopt !== undefined && typeof options.adopt !== 'function') throw new InvalidOptionError('adopt must be a function');
  const renewalGracePeriod = assertTimeout('renewalGracePeriod', options.renewalGracePeriod ?? defaultOptions.renewalGracePeriod);
  const notifier = checkNotifier(options.webhooks);
  return Object.freeze({
    store,
    bruteForceLimit,
    bruteForceAction,
    anonymousSessionLimit,
    maxFields,
    maxValueBytes,
    maxSessionBytes,
    idempotencyWindow,
    renewalInterval,
    renewalGracePeriod,
    idleTimeout,
    absoluteTimeout,
    touch: Object.freeze({ maxIntervalMs: touchInterval * 1000, idleFraction: defaultOptions.touchIdleFraction }),
    maxSessionsPerSubject,
    onLimit,
    cookie: Object.freeze({ name, secure, sameSite }),
    bearer: options.bearer ?? defaultOptions.bearer,
    cleanupInterval,
    cleanupBatchSize,
    clock,
    codec: options.codec ?? jsonCodec,
    onListenerError,
    cache: cached?.options ?? null,
    adopt: options.adopt ?? null,
    notifier,
    outbox: notifier === null ? null : outboxOf(cached ?? options.store),
  });
}
