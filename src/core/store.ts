/**
 * The store contract. A store persists session records; all policy (timeouts, limits, tokens,
 * events) lives in the core. Every method takes the core's `now` so that expiry follows the
 * injected clock, not the store's.
 *
 * Guarantees every store gives (checked by `tessera-session/testing`):
 * - A record is never returned once `now >= expiresAt`, whether or not cleanup has run.
 * - `apply` never recreates a session: it is conditional on the session existing and being live.
 * - `create` with a `limit` keeps a subject at or under the limit even under concurrent creates.
 * - Multi-record changes (create replacing another, evictions, delete by subject) are atomic.
 */
import type { TouchPolicy } from './expiry.js';
import type { NoticeRequest } from './outbox.js';

export type { InvalidationListener, InvalidationSource, InvalidationSubscription } from './invalidation-contract.js';
export { hasInvalidationSource } from './invalidation-contract.js';

/** A value as JSON can write it: what a session's data holds. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where a session was used from. */
export interface DeviceInfo {
  /** The client's address as the adapter resolved it (proxies counted), at most 64 characters; null when unknown. */
  ip: string | null;
  /** The `User-Agent` header, cut to 512 characters; null when absent. */
  userAgent: string | null;
}

/** A session as a store holds it. Times are milliseconds since the epoch. */
export interface SessionRecord {
  /** Public id: safe to show, useless as a credential. */
  id: string;
  /** The first 128 bits of the SHA-256 of the token's secret, base64url (`hashSecret`); the token itself is never stored. */
  secretHash: string;
  /** The user id; null while anonymous. */
  subject: string | null;
  /** The name given at login, shown in session lists; null when none was given. */
  displayName: string | null;
  /** When the session was first stored; a login or rotation keeps it. */
  createdAt: number;
  /** The last request that touched the session (written at most once per touch interval). */
  lastSeenAt: number;
  /** Sliding timeout in seconds. */
  idleTimeout: number;
  /** Set at creation and at each login; never moved by activity or rotation. */
  absoluteExpiresAt: number;
  /** Derived: `min(lastSeenAt + idleTimeout s, absoluteExpiresAt)`; stored so stores can index it. */
  expiresAt: number;
  /** When the subject last logged in; null while anonymous. */
  authenticatedAt: number | null;
  /** Bumped by every `apply`; a touch does not bump it. */
  version: number;
  /** App data as encoded by the core's value codec (plain JSON unless encryption is on). */
  data: Record<string, JsonValue>;
  /** Where the session was first stored from. */
  createdDevice: DeviceInfo;
  /** Where the session was last touched from. */
  lastDevice: DeviceInfo;
  /** When the current secret was issued: at creation, login, rotation or renewal. */
  renewedAt: number;
  /** Hash of the secret the last renewal replaced; still accepted until `previousSecretExpiresAt`. */
  previousSecretHash: string | null;
  /** End of the renewal grace period, in which requests already in flight with the old token still work. */
  previousSecretExpiresAt: number | null;
}

/** What a store reports about a session it removed, for events. */
export interface RemovedSession {
  /** The removed session's public id. */
  id: string;
  /** Its user; null for an anonymous session. */
  subject: string | null;
}

/** How `SessionStore.load` reads a session. */
export interface LoadOptions {
  /** The core's time: a record is live only while `now < expiresAt`. */
  now: number;
  /**
   * The presented secret's hash: it must equal `secretHash`, or `previousSecretHash` while
   * `now < previousSecretExpiresAt`. A mismatch loads nothing and touches nothing.
   */
  secretHash?: string;
  /**
   * When given and a touch is due (see `isTouchDue`), the store moves `lastSeenAt` to `now`,
   * recomputes `expiresAt`, records `device` as `lastDevice`, and returns the touched record,
   * all in the same round trip.
   */
  touch?: TouchPolicy;
  /** The requesting client, recorded as `lastDevice` by a touch. */
  device?: DeviceInfo;
}

/**
 * The changes of one request. Keys of `set`, `delete` and `increment` are disjoint. The store
 * applies them atomically: deletes, then sets, then increments (an absent or non-integer value
 * counts as 0).
 */
export interface ChangeSet {
  /** Keys to set, with their values as the codec encoded them. */
  set?: Record<string, JsonValue>;
  /** Keys to remove. */
  delete?: string[];
  /** Integer deltas added server-side; only sent when the codec keeps numbers readable. */
  increment?: Record<string, number>;
  /** New sliding timeout in seconds; the store recomputes `expiresAt`. */
  idleTimeout?: number;
  /** Moves `lastSeenAt` forward (never back); the store recomputes `expiresAt`. */
  lastSeenAt?: number;
  /** The client of the request that made the change, when it also touches the session. */
  lastDevice?: DeviceInfo;
  /** A new display name (null removes it). */
  displayName?: string | null;
  /** Renewal: the secret is replaced in place; the old hash stays valid for a grace period. */
  renewSecret?: {
    /** The new secret's hash. */
    secretHash: string;
    /** When it was issued. */
    renewedAt: number;
    /** The replaced secret's hash, accepted until `previousSecretExpiresAt`. */
    previousSecretHash: string;
    /** The end of the grace period. */
    previousSecretExpiresAt: number;
  };
}

/** How `SessionStore.apply` applies a change set. */
export interface ApplyOptions {
  /** The core's time: the change applies only to a session live at `now`. */
  now: number;
  /** Compare-and-set: apply only if the record is still at this version. */
  expectedVersion?: number;
  /**
   * Makes a retried change set safe: a change set with this `key`, for this session, that the store
   * applied before `until` is not applied again; the store then answers `applied` with the current
   * record and `duplicate: true`. The store remembers keys until `until` (a time on the core's
   * clock; a store with its own clock uses `until - now` as a TTL). The key is at most 256
   * characters of printable ASCII.
   */
  idempotency?: {
    /** The change set's key: the request's `Idempotency-Key` and the change set's number in the request. */
    key: string;
    /** Until when the store remembers that the key was applied. */
    until: number;
  };
  /**
   * The record as the caller last had it. When the stored record was still at `base.version`
   * (nothing else wrote in between), the result is exactly `applyChangeSet(base, changes)`, so a
   * store may return that instead of reading the record back. When another write came in between
   * it must return the stored record.
   */
  base?: SessionRecord;
}

/** What `SessionStore.apply` did. */
export type ApplyResult =
  | {
      /** The change set is stored. */
      status: 'applied';
      /** The record after it. */
      record: SessionRecord;
      /** A change set with the same idempotency key was applied before; nothing was written now. */
      duplicate?: boolean;
    }
  | {
      /** Missing, expired or revoked: nothing was written. */
      status: 'gone';
    }
  | {
      /** `expectedVersion` did not match: nothing was written. */
      status: 'conflict';
      /** The current record, so a retry needs no extra read. */
      record: SessionRecord;
    };

/**
 * Refuse the create (status `limit`) when the subject already has `max` live sessions, not
 * counting the one replaced. Evicting to make room is not the create's job: the core does it with
 * `trimSubject` once the create has succeeded, so a login whose outcome is unknown evicts nobody.
 */
export interface SessionLimit {
  /** Live sessions the subject may have, the new one included. */
  max: number;
}

/** How `SessionStore.create` inserts a record. */
export interface CreateOptions {
  /** The core's time: sessions past their expiry do not count and cannot be replaced. */
  now: number;
  /**
   * Atomically remove this session (login and rotation); fails with `gone` unless it is live at
   * this version. In the same step the store remembers the removed session's id with its secret
   * hashes (`secretHash`, and `previousSecretHash` while its grace period lasts) until
   * `supersededUntil`, for `isSuperseded`.
   */
  replaces?: {
    /** The session replaced. */
    id: string;
    /** The version it must still be at. */
    version: number;
    /** Until when its tokens are recognised as superseded. */
    supersededUntil: number;
  };
  /** Applies when the new record has a subject. The replaced session does not count. */
  limit?: SessionLimit;
}

/** What `SessionStore.create` did. */
export type CreateResult =
  | {
      /** The record is stored (and the session it replaces, if any, removed). */
      status: 'created';
      /**
       * Sessions a bounded store (memory) removed to make room for this one, anonymous ones before
       * logged-in ones; empty for stores without a capacity.
       */
      evicted: RemovedSession[];
    }
  | {
      /** The subject is at `limit.max`: nothing was written. */
      status: 'limit';
    }
  | {
      /** The session to replace is no longer live at that version: nothing was written. */
      status: 'gone';
    };

/**
 * What a store can do beyond the base contract. Every capability is optional and absent means
 * false, so a store written before a capability existed keeps working when one is added
 * (`defineCapabilities` in `tessera-session/store-kit` fills in the rest).
 */
export interface StoreCapabilities {
  /** Implements `SessionIndex`. @default false */
  readonly index?: boolean;
  /** Removes expired records by itself (the core still calls `deleteExpired` for its events). @default false */
  readonly nativeExpiry?: boolean;
  /**
   * Implements `SubjectPartitions`: a logged-in session's id must start with the partition the
   * store gives for its subject. Absent or false: every id's partition is random.
   * @default false
   */
  readonly subjectPartitions?: boolean;
  /**
   * Implements `InvalidationSource`, for caches in front of the store (`SessionManagerOptions.cache`):
   * `'everywhere'`: every change to a session reaches subscribers (those made through this store
   * object may be left out), whoever made it (another process, an operator deleting a key by hand); `'none'`:
   * no invalidations, so a cached session is served for at most `maxStaleness` after it was read.
   * @default 'none'
   */
  readonly invalidation?: 'none' | 'everywhere';
  /** Implements `SharedCounters`: counts every instance on the store shares (Redis, PostgreSQL). @default false */
  readonly sharedCounters?: boolean;
  /**
   * Has an `outbox` (a `SessionOutbox`), and records a session-end notice in it in the same atomic
   * step as the removal when an ending call asks for one (its `notice` option). @default false
   */
  readonly outbox?: boolean;
}

/**
 * The store contract: where sessions live. The stores of `tessera-session/stores/*` implement
 * it; a store of your own is written with `tessera-session/store-kit` and checked by
 * `runStoreConformance` from `tessera-session/testing`.
 */
export interface SessionStore {
  /** What the store can do beyond this contract. */
  readonly capabilities: StoreCapabilities;
  /** A short name for metrics and traces (`memory`, `sqlite`, `redis`, `postgres`). @default 'custom' */
  readonly name?: string;
  /** Inserts a new record (ids are random; a duplicate is an error). */
  create(record: SessionRecord, options: CreateOptions): Promise<CreateResult>;
  /** The live record whose secret hash matches, touching it when due; otherwise null. */
  load(id: string, options: LoadOptions): Promise<SessionRecord | null>;
  /**
   * Applies a change set atomically to a live session; never recreates one that is gone (see
   * {@link ApplyOptions} for the version check and idempotency).
   */
  apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult>;
  /**
   * Removes a session; returns what it removed, or null if there was nothing. With `notice` (and
   * `capabilities.outbox`), records its `session.ended` notice in the same atomic step.
   */
  delete(id: string, options?: { notice?: NoticeRequest }): Promise<RemovedSession | null>;
  /**
   * Ends the subject's oldest live sessions (by `createdAt`, then id), never `keep`, until at most
   * `max` live ones remain, removing at most `batch` in one call, atomically; returns what it
   * removed. The core calls it after a login has succeeded (`onLimit: 'evict-oldest'`), until it
   * removes fewer than `batch`.
   */
  trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]>;
  /**
   * Whether a token that opens nothing (`load` returned null) was superseded by a newer one of the
   * same browser, rather than being unknown, expired or revoked: true when a `create` replaced
   * session `id` and `now` is before that replacement's `supersededUntil`, and `secretHash` was one
   * it remembered; or when the live session `id` has `secretHash` as its `previousSecretHash`
   * (a renewal replaced it), whether or not the grace period is over. The core then leaves the
   * cookie alone, since the response that carries the newer token may reach the browser first.
   */
  isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean>;
  /**
   * Removes up to `limit` sessions with `expiresAt <= now`, and forgets superseded tokens whose
   * `supersededUntil` has passed (those are not reported). With `notice` (and `capabilities.outbox`),
   * records a `session.ended` notice with reason `expired`, `at` the session's `expiresAt`, for each
   * session removed, in the same atomic step.
   */
  deleteExpired(now: number, limit: number, options?: { notice?: boolean }): Promise<RemovedSession[]>;
  /** Releases what this store opened; leaves a client or pool it was given alone. */
  close(): Promise<void>;
  /**
   * Resolves once the store can serve (connected, its schema or scripts in place), or rejects within
   * a bounded time with why it cannot: a `StoreUnavailableError` whose message names the cause and
   * whose `cause` is the driver's error, or an `InvalidOptionError`. For an app to await at start-up
   * (`SessionManager.ready()`), so that a wrong URL or password stops it there. Optional: a store
   * without it is taken as ready, and its first request reports what is wrong.
   */
  ready?(): Promise<void>;
}

/** What `SessionIndex.query` matches: every filter given, at `now`. */
export interface SessionQuery {
  /** The core's time: only live sessions match. */
  now: number;
  /** Only this user's sessions. */
  subject?: string;
  /** Matches display names starting with this text (case-sensitive). */
  displayNamePrefix?: string;
  /** Only the session with this public id. */
  id?: string;
  /** From a previous page's `nextCursor`. */
  cursor?: string | null;
  /** Most sessions on the page. */
  limit: number;
}

/** One page of a listing or query. */
export interface SessionPage {
  /** The page's sessions, in the listing's order. */
  sessions: SessionRecord[];
  /** Null on the last page. */
  nextCursor: string | null;
}

/**
 * Per-user listing, bulk revocation, search and counting. No call walks more than about one page
 * (`limit`) of sessions, however many a subject has.
 */
export interface SessionIndex {
  /**
   * A page of the subject's live sessions, oldest first (by `createdAt`, then id), after `cursor`
   * (a previous page's `nextCursor`, opaque to callers); `nextCursor` is null on the last page.
   */
  listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage>;
  /**
   * Removes up to `limit` of the subject's live sessions, never `except`; the caller repeats until
   * fewer come back. With `notice`, records each one's `session.ended` notice in the same step.
   */
  deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]>;
  /** Live sessions matching every given filter, ordered by id. */
  query(query: SessionQuery): Promise<SessionPage>;
  /** How many sessions are live at `filter.now`: all of them, or the subject's. */
  count(filter: { now: number; subject?: string }): Promise<number>;
}

/** Whether the store implements {@link SessionIndex} (declared by `capabilities.index`). */
export function hasSessionIndex(store: SessionStore): store is SessionStore & SessionIndex {
  return store.capabilities.index === true;
}

/**
 * For stores that keep a subject's sessions together (Redis Cluster places a session and its
 * subject's index in one slot by the id's first characters). The partition is derived with a key
 * the deployment owns, so an id says nothing about its subject to whoever lacks the key.
 */
export interface SubjectPartitions {
  /** The `PARTITION_LENGTH` characters a logged-in session's id for `subject` starts with. */
  subjectPartition(subject: string): Promise<string>;
}

/** Whether the store implements {@link SubjectPartitions} (declared by `capabilities.subjectPartitions`). */
export function hasSubjectPartitions(store: SessionStore): store is SessionStore & SubjectPartitions {
  return store.capabilities.subjectPartitions === true;
}

/**
 * Counters every instance on a shared store sees alike, so that a per-address limit means the
 * same with one instance or ten. Called only on a failure path (a token that opened nothing).
 */
export interface SharedCounters {
  /**
   * Adds one to `key`'s count in the window of `windowMs` that holds `now` (windows start at
   * multiples of `windowMs` since the epoch) and returns the new count, in one round trip; the
   * store forgets a window once it is over. `key` is at most 100 printable ASCII characters.
   */
  countInWindow(key: string, options: { now: number; windowMs: number }): Promise<number>;
}

/** Whether the store implements {@link SharedCounters} (declared by `capabilities.sharedCounters`). */
export function hasSharedCounters(store: SessionStore): store is SessionStore & SharedCounters {
  return store.capabilities.sharedCounters === true;
}
