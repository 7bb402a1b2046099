import type { ValueCodec } from './codec.js';
import { BadRequestError, SessionEndedError, SessionLimitError, SessionTooLargeError, StoreUnavailableError, UpdateConflictError } from './errors.js';
import { toSessionInfo, type SessionEvents, type SessionInfo } from './events.js';
import { assertTimeout, type ResolvedOptions } from './options.js';
import { newRecord } from './record.js';
import { integerOrZero } from './record-ops.js';
import { hasSubjectPartitions, type ApplyOptions, type ApplyResult, type ChangeSet, type CreateResult, type DeviceInfo, type JsonValue, type RemovedSession, type SessionRecord } from './store.js';
import { hashSecret, issueToken, parseToken } from './token.js';

/** What a session handle needs from the manager that made it. */
export interface SessionContext {
  readonly options: ResolvedOptions;
  readonly events: SessionEvents;
  readonly device: DeviceInfo;
  /**
   * Sets the session cookie to a token issued in this request, with a Max-Age that ends at the
   * session's absolute expiry, or with `null` clears it; a no-op for bearer requests.
   */
  writeCookie(token: string | null, absoluteExpiresAt: number): void;
  /** Whether `id`'s token with this secret hash was replaced by a newer one (see `SessionStore.isSuperseded`). */
  isSuperseded(id: string, secretHash: string): Promise<boolean>;
  /** The request's idempotency key, from which each change set's key is derived. */
  readonly idempotencyKey: string | null;
  listSessions(subject: string, options: { cursor?: string | null; limit?: number; currentId: string | null }): Promise<{ sessions: Array<SessionInfo & { current: boolean }>; nextCursor: string | null }>;
  /** Throws `TooManyRequestsError` when this client address has created too many anonymous sessions this minute. */
  countAnonymous(): void;
  /** Runs `undo` now and, while the store is unavailable, again until `until`. */
  compensate(undo: () => Promise<void>, until: number): void;
  revokeOwn(subject: string, id: string): Promise<boolean>;
  revokeSubject(subject: string, except: string | null): Promise<number>;
}

export interface LoginOptions {
  /** Shown in session lists and searchable by prefix. */
  displayName?: string | null;
  /** Idle timeout in seconds for this session, overriding the manager's. */
  idleTimeout?: number;
}

/** Changes not yet stored; each collection is made on its first entry (most requests make one kind of change). */
interface Pending {
  set: Map<string, JsonValue> | null;
  delete: Set<string> | null;
  increment: Map<string, number> | null;
  idleTimeout: number | null;
}

const MAX_KEY_LENGTH = 128;
const MAX_SUBJECT_LENGTH = 256;
const MAX_DISPLAY_NAME_LENGTH = 256;
const CAS_ATTEMPTS = 400;
/** Sessions ended per store call when a login trims its subject's oldest ones. */
const TRIM_BATCH = 500;
const REPLACE_ATTEMPTS = 8;
const noop = (): void => {};
const SUPERSEDED_MESSAGE = 'this request carried a session token that a newer one replaced (a login, rotation or renewal in another request)';

function emptyPending(): Pending {
  return { set: null, delete: null, increment: null, idleTimeout: null };
}

function isPendingEmpty(p: Pending): boolean {
  return !p.set?.size && !p.delete?.size && !p.increment?.size && p.idleTimeout === null;
}

/** A dictionary without a prototype, so keys like `__proto__` are plain data. */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** A lone surrogate: text that is not well-formed Unicode, which some stores refuse and others mangle. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Throws unless every string in `value` (keys included) is well-formed Unicode. */
function assertWellFormed(value: JsonValue): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
  } else if (Array.isArray(value)) for (const item of value) assertWellFormed(item);
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (LONE_SURROGATE.test(key)) throw new BadRequestError('session values must be well-formed Unicode (no lone surrogates)');
      assertWellFormed(value[key] as JsonValue);
    }
  }
}

/** The value as plain JSON data, and the byte length of its JSON text. */
function toJson(value: unknown): { json: JsonValue; bytes: number } {
  const text = JSON.stringify(value);
  if (text === undefined) throw new BadRequestError('session values must be JSON-serializable');
  const json = JSON.parse(text) as JsonValue;
  assertWellFormed(json);
  return { json, bytes: Buffer.byteLength(text) };
}

function jsonBytes(value: JsonValue | undefined): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value));
}

function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || LONE_SURROGATE.test(key)) {
    throw new BadRequestError(`session keys must be well-formed strings of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}

function assertText(name: string, value: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || LONE_SURROGATE.test(value)) {
    throw new BadRequestError(`${name} must be a well-formed string of 1 to ${max} characters`);
  }
}

/**
 * Decodes a record's data. With `known` (the same session's previous record and its decoded
 * data), a value whose stored form has not changed is reused rather than decoded again, which
 * spares a decryption per unchanged field when values are encrypted.
 */
export function decodeData(record: SessionRecord, codec: ValueCodec, known?: { record: SessionRecord; data: Map<string, JsonValue> }): Map<string, JsonValue> {
  const data = new Map<string, JsonValue>();
  const reuse = known !== undefined && known.record.id === record.id && !codec.additive;
  const values = record.data;
  for (const field in values) {
    if (!Object.hasOwn(values, field)) continue;
    const stored = values[field] as JsonValue;
    if (reuse && typeof stored === 'string' && known.record.data[field] === stored && known.data.has(field)) {
      data.set(field, structuredClone(known.data.get(field) as JsonValue));
    } else data.set(field, codec.decode(stored, { sessionId: record.id, field }));
  }
  return data;
}

function encodeData(data: Map<string, JsonValue>, sessionId: string, codec: ValueCodec): Record<string, JsonValue> {
  const encoded = dict<JsonValue>();
  for (const [field, value] of data) encoded[field] = codec.encode(value, { sessionId, field });
  return encoded;
}

/** `base` with `pending` on top, or null when nothing is pending (the view is then `base` itself). */
function withPending(base: Map<string, JsonValue>, pending: Pending | null): Map<string, JsonValue> | null {
  if (pending === null || isPendingEmpty(pending)) return null;
  const view = new Map(base);
  if (pending.delete !== null) for (const key of pending.delete) view.delete(key);
  if (pending.set !== null) for (const [key, value] of pending.set) view.set(key, value);
  if (pending.increment !== null) for (const [key, delta] of pending.increment) view.set(key, integerOrZero(view.get(key)) + delta);
  return view;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One request's view of its session. Reads are synchronous and see this request's own writes.
 * Writes made in the same tick are coalesced into one change set and sent to the store at once;
 * the returned promise settles when the store has them. A request that changes nothing writes
 * nothing.
 */
export class Session {
  readonly #ctx: SessionContext;
  #record: SessionRecord | null;
  /** Decoded data as the store last returned it. */
  #base: Map<string, JsonValue>;
  /**
   * `#base` with this request's not-yet-stored changes on top, made when first read and dropped
   * by every change. Without pending changes the view is `#base` itself: most requests only
   * read, and a request that writes and then reads only what the store returned copies nothing.
   */
  #view: Map<string, JsonValue> | null = null;
  #token: string | null;
  #issuedToken: string | null = null;
  #ended = false;
  /** The request's token was replaced by a newer one elsewhere: nothing here may write or set a cookie for it. */
  #superseded = false;
  /** Change sets sent so far, which numbers each one's idempotency key. */
  #changeSets = 0;
  /** Changes not yet sent to the store; null until the first. */
  #pending: Pending | null = null;
  /** Changes on their way to the store: still part of the view until the store answers. */
  #sending: Pending | null = null;
  #queuedFlush: Promise<void> | null = null;
  /** The last queued store operation; null until the first (read-only requests never queue one). */
  #queue: Promise<unknown> | null = null;

  /** @internal Made by `SessionManager.load`. */
  constructor(ctx: SessionContext, record: SessionRecord | null, token: string | null, data: Map<string, JsonValue>, issuedToken: string | null = null) {
    this.#ctx = ctx;
    this.#record = record;
    this.#token = token;
    this.#issuedToken = issuedToken;
    this.#base = data;
  }

  /**
   * @internal The session of a request whose token a login, rotation or renewal in another request
   * replaced: it reads as no session, and writes fail with `SessionEndedError`, because a new
   * session's cookie would overwrite the newer token the browser is getting.
   */
  static superseded(ctx: SessionContext): Session {
    const session = new Session(ctx, null, null, new Map());
    session.#superseded = true;
    return session;
  }

  #data(): Map<string, JsonValue> {
    if (this.#pending === null && this.#sending === null) return this.#base;
    if (this.#view === null) {
      const sent = withPending(this.#base, this.#sending) ?? this.#base;
      this.#view = withPending(sent, this.#pending) ?? sent;
    }
    return this.#view;
  }

  /** The pending change set, for a change: the cached view no longer holds. */
  #writablePending(): Pending {
    this.#view = null;
    return (this.#pending ??= emptyPending());
  }

  /** Public id, or null while nothing is stored. */
  get id(): string | null {
    return this.#record?.id ?? null;
  }
  get subject(): string | null {
    return this.#record?.subject ?? null;
  }
  get displayName(): string | null {
    return this.#record?.displayName ?? null;
  }
  get isAuthenticated(): boolean {
    return this.#record?.subject != null;
  }
  /** True once the session exists in the store. */
  get isStored(): boolean {
    return this.#record !== null;
  }
  /** The session's stored state without its data, or null while nothing is stored. */
  get info(): SessionInfo | null {
    return this.#record === null ? null : toSessionInfo(this.#record);
  }
  /**
   * True when this request carried a token that a newer one replaced while it ran (a login,
   * rotation or renewal in a concurrent request of the same browser). Such a request sees no
   * session and cannot write; the browser already holds, or is about to get, the newer token.
   */
  get superseded(): boolean {
    return this.#superseded;
  }
  /** The version the store last reported. */
  get version(): number | null {
    return this.#record?.version ?? null;
  }
  /**
   * The token issued during this request (on creation, login or rotation), for API clients that
   * use `Authorization: Bearer`; null when none was issued. Never log it.
   */
  get issuedToken(): string | null {
    return this.#issuedToken;
  }

  get(key: string): JsonValue | undefined {
    return this.#data().get(key);
  }
  has(key: string): boolean {
    return this.#data().has(key);
  }
  /** A copy of the data, including this request's writes. */
  data(): Record<string, JsonValue> {
    const copy = dict<JsonValue>();
    for (const [key, value] of this.#data()) copy[key] = structuredClone(value);
    return copy;
  }

  set(key: string, value: unknown): Promise<void> {
    let json: JsonValue;
    try {
      assertKey(key);
      const converted = toJson(value);
      this.#assertFits(key, converted.bytes);
      json = converted.json;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(() => {
      const pending = this.#writablePending();
      pending.delete?.delete(key);
      pending.increment?.delete(key);
      (pending.set ??= new Map()).set(key, json);
    }, noop);
  }

  delete(key: string): Promise<void> {
    try {
      assertKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(() => {
      const pending = this.#writablePending();
      pending.set?.delete(key);
      pending.increment?.delete(key);
      (pending.delete ??= new Set()).add(key);
    }, noop);
  }

  /**
   * Adds `by` to an integer field (absent or non-integer counts as 0), without losing concurrent
   * increments from other requests. Resolves to the value right after this increment.
   */
  increment(key: string, by = 1): Promise<number> {
    try {
      assertKey(key);
      if (!Number.isSafeInteger(by)) throw new BadRequestError('increments must be safe integers');
      // A counter is at most 17 bytes of JSON; only a new field can take the session past its caps.
      if (!this.#data().has(key)) this.#assertFits(key, 17);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(
      () => {
        const pending = this.#writablePending();
        if (pending.set?.has(key)) pending.set.set(key, integerOrZero(pending.set.get(key)) + by);
        else if (pending.delete?.has(key)) {
          pending.delete.delete(key);
          (pending.set ??= new Map()).set(key, by);
        } else {
          const increments = (pending.increment ??= new Map());
          increments.set(key, (increments.get(key) ?? 0) + by);
        }
      },
      // The stored value once this change is saved, without later changes still pending.
      () => integerOrZero(this.#base.get(key)),
    );
  }

  /**
   * Refuses a write of `bytes` (JSON) under `key` that would take the session past `maxValueBytes`,
   * `maxFields` or `maxSessionBytes`, as this request sees the session. A session already past a
   * cap (a lower cap configured later, or concurrent requests that each added fields) can still
   * shrink or change within its size.
   */
  #assertFits(key: string, bytes: number): void {
    const { maxFields, maxValueBytes, maxSessionBytes } = this.#ctx.options;
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes + bytes > maxValueBytes) throw new SessionTooLargeError(`a session value may take ${maxValueBytes} bytes (as JSON, key included); this one takes ${keyBytes + bytes}`);
    const view = this.#data();
    if (!view.has(key) && view.size >= maxFields) throw new SessionTooLargeError(`a session may hold ${maxFields} fields`);
    let total = 0;
    for (const [field, value] of view) total += Buffer.byteLength(field) + jsonBytes(value);
    const after = total - (view.has(key) ? keyBytes + jsonBytes(view.get(key)) : 0) + keyBytes + bytes;
    if (after > maxSessionBytes && after > total) throw new SessionTooLargeError(`a session may take ${maxSessionBytes} bytes (as JSON); this write would make it ${after}`);
  }

  /** Changes this session's idle timeout (seconds) and restarts its idle clock. */
  setIdleTimeout(seconds: number): Promise<void> {
    assertTimeout('idleTimeout', seconds);
    return this.#mutate(() => {
      this.#writablePending().idleTimeout = seconds;
    }, noop);
  }

  /** Waits until every change made so far is stored. */
  save(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#flush();
    });
  }

  /**
   * Authenticates the session as `subject`: a new token replaces the old one at once (which dies
   * immediately: the session-fixation defence), data is kept, and the absolute lifetime restarts.
   * Throws `SessionLimitError` when the subject is at its limit and `onLimit` is `'reject'`.
   */
  login(subject: string, options: LoginOptions = {}): Promise<void> {
    try {
      assertText('subject', subject, MAX_SUBJECT_LENGTH);
      if (options.displayName != null) assertText('displayName', options.displayName, MAX_DISPLAY_NAME_LENGTH);
      if (options.idleTimeout !== undefined) assertTimeout('idleTimeout', options.idleTimeout);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue(() => this.#replace('login', subject, options));
  }

  /** Issues a new token for the same session (after a privilege change); the old token dies at once. */
  rotate(): Promise<void> {
    return this.#enqueue(() => this.#replace('rotate', null, {}));
  }

  /** Ends the session in the store and clears the cookie. Unsaved changes are dropped. */
  logout(): Promise<void> {
    return this.#enqueue(() => this.#logout());
  }

  /** A page of the subject's live sessions, oldest first, this one flagged `current`. */
  async listSessions(options: { cursor?: string | null; limit?: number } = {}): Promise<{ sessions: Array<SessionInfo & { current: boolean }>; nextCursor: string | null }> {
    const subject = this.#requireSubject();
    return this.#ctx.listSessions(subject, { ...options, currentId: this.id });
  }

  /** Revokes one of this subject's sessions by public id; false if it is not theirs or not live. */
  async revokeSession(id: string): Promise<boolean> {
    const subject = this.#requireSubject();
    if (id === this.id) {
      await this.logout();
      return true;
    }
    return this.#ctx.revokeOwn(subject, id);
  }

  /** "Log out other devices": revokes every session of this subject except this one. */
  async revokeOtherSessions(): Promise<number> {
    const subject = this.#requireSubject();
    return this.#ctx.revokeSubject(subject, this.id);
  }

  #requireSubject(): string {
    const subject = this.#record?.subject;
    if (subject == null) throw new SessionEndedError('the session is not logged in');
    return subject;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const result = (this.#queue ?? Promise.resolve()).then(operation);
    this.#queue = result.catch(noop);
    return result;
  }

  #mutate<T>(change: () => void, result: () => T): Promise<T> {
    if (this.#ended) return Promise.reject(new SessionEndedError());
    if (this.#superseded) return Promise.reject(new SessionEndedError(SUPERSEDED_MESSAGE));
    change();
    this.#queuedFlush ??= this.#enqueue(() => this.#flush());
    const done = this.#queuedFlush.then(result);
    // A caller that does not await must not crash the process; one that awaits still sees the error.
    done.catch(noop);
    return done;
  }

  async #flush(): Promise<void> {
    this.#queuedFlush = null;
    const pending = this.#pending;
    if (pending === null || isPendingEmpty(pending)) return;
    this.#pending = null;
    if (this.#ended) throw new SessionEndedError();
    this.#sending = pending;
    try {
      if (this.#record === null) await this.#create(pending);
      else await this.#apply(this.#record, pending);
    } finally {
      this.#sending = null;
      this.#view = null;
    }
  }

  async #create(pending: Pending): Promise<void> {
    const { options, device } = this.#ctx;
    const now = options.clock.now();
    const issued = issueToken(null);
    const data = withPending(this.#base, pending) ?? this.#base;
    const idleTimeout = pending.idleTimeout ?? options.idleTimeout;
    const absoluteExpiresAt = now + options.absoluteTimeout * 1000;
    const record = newRecord({
      id: issued.id,
      secretHash: issued.secretHash,
      now,
      idleTimeout,
      absoluteExpiresAt,
      device,
      data: encodeData(data, issued.id, options.codec),
    });
    this.#ctx.countAnonymous();
    let result: CreateResult;
    try {
      result = await options.store.create(record, { now });
    } catch (error) {
      // The store may still create it; nobody will ever hold its token.
      if (error instanceof StoreUnavailableError) this.#ctx.compensate(() => options.store.delete(record.id).then(noop), record.expiresAt);
      throw error;
    }
    if (result.status !== 'created') throw new Error(`store refused a new anonymous session: ${result.status}`);
    this.#adopt(record, issued.token, data);
    // A bounded store (memory) may have made room for it.
    for (const evicted of result.evicted) this.#ctx.events.emit({ type: 'revoked', at: now, session: evicted, reason: 'evicted' });
    this.#ctx.events.emit({ type: 'created', at: now, session: toSessionInfo(record) });
  }

  async #apply(current: SessionRecord, pending: Pending): Promise<void> {
    this.#changeSets++;
    const { options, device } = this.#ctx;
    const { codec, store } = options;
    const now = options.clock.now();
    const changes: ChangeSet = {};
    const id = current.id;
    if (pending.set !== null && pending.set.size > 0) {
      const set = dict<JsonValue>();
      for (const [field, value] of pending.set) set[field] = codec.encode(value, { sessionId: id, field });
      changes.set = set;
    }
    if (pending.delete !== null && pending.delete.size > 0) changes.delete = [...pending.delete];
    if (pending.idleTimeout !== null) {
      changes.idleTimeout = pending.idleTimeout;
      changes.lastSeenAt = now;
      changes.lastDevice = { ...device };
    }
    const increments = pending.increment !== null && pending.increment.size > 0 ? pending.increment : null;
    let result: ApplyResult;
    if (increments === null || codec.additive) {
      if (increments !== null) {
        const increment = dict<number>();
        for (const [field, delta] of increments) increment[field] = delta;
        changes.increment = increment;
      }
      result = await store.apply(id, changes, this.#applyOptions({ now, base: current }));
    } else {
      result = await this.#compareAndSet(current, changes, increments, now);
    }
    if (result.status === 'gone') {
      await this.#end(current.id);
      throw new SessionEndedError();
    }
    if (result.status === 'conflict') throw new UpdateConflictError();
    this.#setRecord(result.record);
  }

  /**
   * With an idempotency key, each change set of the request gets its own (`<key>#<n>`): a retried
   * request makes the same change sets in the same order, and the store applies each once.
   */
  #applyOptions(options: ApplyOptions): ApplyOptions {
    const key = this.#ctx.idempotencyKey;
    if (key === null) return options;
    return { ...options, idempotency: { key: `${key}#${this.#changeSets}`, until: options.now + this.#ctx.options.idempotencyWindow * 1000 } };
  }

  /** Increments when values are opaque: read, add, write if the version has not moved; retry on conflict. */
  async #compareAndSet(current: SessionRecord, changes: ChangeSet, increments: Map<string, number>, now: number): Promise<ApplyResult> {
    const { codec, store } = this.#ctx.options;
    let record = current;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const set = Object.assign(dict<JsonValue>(), changes.set);
      for (const [field, delta] of increments) {
        const stored = record.data[field];
        // The first attempt works on the record this handle already decoded.
        const value =
          stored === undefined ? 0 : record === current ? integerOrZero(this.#base.get(field)) : integerOrZero(codec.decode(stored, { sessionId: record.id, field }));
        set[field] = codec.encode(value + delta, { sessionId: record.id, field });
      }
      const result = await store.apply(record.id, { ...changes, set }, this.#applyOptions({ now, expectedVersion: record.version, base: record }));
      if (result.status !== 'conflict') return result;
      record = result.record;
      if (attempt > 2) await sleep(Math.random() * Math.min(50, 2 ** (attempt / 4)));
    }
    return { status: 'conflict', record };
  }

  async #replace(kind: 'login' | 'rotate', subject: string | null, login: LoginOptions): Promise<void> {
    await this.#flush();
    const { options, device, events } = this.#ctx;
    const { store, clock, codec } = options;
    let current = this.#record;
    if (kind === 'rotate' && current === null) return;
    let base = this.#base;
    const newSubject = kind === 'login' ? (subject as string) : (current?.subject ?? null);
    const partition = newSubject !== null && hasSubjectPartitions(store) ? await store.subjectPartition(newSubject) : null;
    for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt++) {
      const now = clock.now();
      const issued = issueToken(partition);
      const idleTimeout = login.idleTimeout ?? current?.idleTimeout ?? options.idleTimeout;
      const absoluteExpiresAt = kind === 'login' || current === null ? now + options.absoluteTimeout * 1000 : current.absoluteExpiresAt;
      const record = newRecord({
        id: issued.id,
        secretHash: issued.secretHash,
        now,
        idleTimeout,
        absoluteExpiresAt,
        device,
        subject: newSubject,
        displayName: kind === 'login' ? (login.displayName ?? null) : (current?.displayName ?? null),
        createdAt: current?.createdAt ?? now,
        authenticatedAt: kind === 'login' ? now : (current?.authenticatedAt ?? null),
        ...(current === null ? {} : { createdDevice: current.createdDevice }),
        data: encodeData(base, issued.id, codec),
      });
      const limited = newSubject !== null && Number.isFinite(options.maxSessionsPerSubject);
      let result: CreateResult;
      try {
        result = await store.create(record, {
          now,
          ...(current !== null ? { replaces: { id: current.id, version: current.version, supersededUntil: now + options.renewalGracePeriod * 1000 } } : {}),
          ...(limited && options.onLimit === 'reject' ? { limit: { max: options.maxSessionsPerSubject } } : {}),
        });
      } catch (error) {
        if (error instanceof StoreUnavailableError) this.#undoUnknownCreate(record, current);
        throw error;
      }
      if (result.status === 'limit') throw new SessionLimitError(options.maxSessionsPerSubject);
      if (result.status === 'gone') {
        // Another request changed or ended the session since we read it: read it again.
        const previous: SessionRecord | null = current;
        current = previous === null ? null : await store.load(previous.id, { now, secretHash: previous.secretHash });
        if (current === null) {
          if (kind === 'rotate') {
            await this.#end((previous as SessionRecord).id);
            throw new SessionEndedError();
          }
          base = new Map();
        } else base = decodeData(current, codec);
        continue;
      }
      // The login has succeeded; only now may it end the subject's oldest sessions.
      const evicted = limited && options.onLimit === 'evict-oldest' ? [...result.evicted, ...(await this.#trim(record))] : result.evicted;
      for (const session of evicted) events.emit({ type: 'revoked', at: now, session, reason: 'evicted' });
      const previousId = current?.id ?? null;
      this.#adopt(record, issued.token, base);
      const info = toSessionInfo(record);
      if (kind === 'login') events.emit({ type: 'loggedIn', at: now, session: info, previousId });
      else events.emit({ type: 'rotated', at: now, session: info, previousId: previousId as string });
      return;
    }
    throw new UpdateConflictError();
  }

  /**
   * Ends the subject's oldest sessions beyond `maxSessionsPerSubject`, keeping `record`. Best
   * effort: when the store fails here the login stands, and the limit is restored at the next one.
   */
  async #trim(record: SessionRecord): Promise<RemovedSession[]> {
    const { store, clock, maxSessionsPerSubject } = this.#ctx.options;
    const removed: RemovedSession[] = [];
    try {
      for (;;) {
        const batch = await store.trimSubject(record.subject as string, { now: clock.now(), max: maxSessionsPerSubject, keep: record.id, batch: TRIM_BATCH });
        removed.push(...batch);
        if (batch.length < TRIM_BATCH) return removed;
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) return removed;
      throw error;
    }
  }

  /**
   * A create that the store did not confirm (it timed out) may still run. Its session's token
   * reaches nobody, so it is removed as soon as the store answers; and if it did run, the session
   * it replaced comes back, so that the user stays logged in with the token they still hold.
   */
  #undoUnknownCreate(record: SessionRecord, replaced: SessionRecord | null): void {
    const { store, clock } = this.#ctx.options;
    // A delete that timed out may still have run (right behind the create, on one connection), so
    // a later attempt that finds nothing to delete cannot tell whether the create ran; the
    // replaced session's tombstone can.
    let deleteMayHaveRun = false;
    this.#ctx.compensate(async () => {
      const removed = await store.delete(record.id).catch((error: unknown) => {
        if (error instanceof StoreUnavailableError) deleteMayHaveRun = true;
        throw error;
      });
      if (replaced === null) return;
      const now = clock.now();
      const ran = removed !== null || (deleteMayHaveRun && (await store.isSuperseded(replaced.id, { now, secretHash: replaced.secretHash })));
      if (!ran) return;
      await store.create(replaced, { now }).catch((error: unknown) => {
        // Still there (the create never ran) or replaced again meanwhile: nothing to restore.
        if (error instanceof StoreUnavailableError) throw error;
      });
    }, Math.max(record.expiresAt, replaced?.expiresAt ?? 0));
  }

  async #logout(): Promise<void> {
    this.#pending = null;
    const current = this.#record;
    const hadCookie = this.#token !== null;
    this.#record = null;
    this.#token = null;
    this.#base = new Map();
    this.#view = null;
    if (hadCookie) this.#ctx.writeCookie(null, 0);
    if (current === null) return;
    const { store, clock } = this.#ctx.options;
    const removed = await store.delete(current.id);
    if (removed !== null) this.#ctx.events.emit({ type: 'revoked', at: clock.now(), session: removed, reason: 'logout' });
  }

  #adopt(record: SessionRecord, token: string, data: Map<string, JsonValue>): void {
    this.#superseded = false;
    this.#record = record;
    this.#token = token;
    this.#issuedToken = token;
    this.#base = data;
    this.#view = null;
    this.#ctx.writeCookie(token, record.absoluteExpiresAt);
  }

  #setRecord(record: SessionRecord): void {
    const previous = this.#record;
    this.#base = decodeData(record, this.#ctx.options.codec, previous === null ? undefined : { record: previous, data: this.#base });
    this.#record = record;
    this.#view = null;
  }

  /**
   * The session ended elsewhere: forget it, and clear the cookie unless a newer token replaced
   * this one (a login or rotation in another request), whose cookie the browser must keep. When
   * the store cannot say, the cookie is kept: a stale one is cleared by the next request anyway.
   */
  async #end(id: string): Promise<void> {
    this.#ended = true;
    this.#record = null;
    this.#base = new Map();
    this.#view = null;
    const token = this.#token;
    this.#token = null;
    const secret = token === null ? null : parseToken(token)?.secret;
    if (secret == null) return;
    const superseded = await this.#ctx.isSuperseded(id, hashSecret(secret)).catch(() => true);
    if (!superseded) this.#ctx.writeCookie(null, 0);
  }
}
