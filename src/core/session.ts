import { PendingChanges, decodeData, encodeData, storeChanges } from './changes.js';
import type { SessionContext } from './context.js';
import { BadRequestError, NoSessionError, SessionEndedError, StoreUnavailableError, UpdateConflictError } from './errors.js';
import { toSessionInfo, type SessionInfo } from './events.js';
import { assertTimeout } from './options.js';
import { recordEvictions, noticeOption } from './notices.js';
import { newRecord } from './record.js';
import { integerOrZero } from './record-ops.js';
import { checkLogin, replaceForLogin, replaceForRotation, type LoginOptions } from './replace.js';
import type { SessionListPage } from './requests.js';
import type { CounterKey, DefaultSessionData, SessionKey } from './session-data.js';
import type { CreateResult, JsonValue, SessionRecord } from './store.js';
import { hashSecret, issueToken, parseToken } from './token.js';
import { assertFits, assertKey, dict, toJson, type CheckedFields } from './values.js';

export type { LoginOptions } from './replace.js';

const noop = (): void => {};
const SUPERSEDED_MESSAGE =
  'this request carried a session token that a newer one replaced (a login, rotation or renewal in another request)';

/**
 * One request's view of its session. Reads are synchronous and see this request's own writes.
 * Writes made in the same tick are coalesced into one change set and sent to the store at once;
 * the returned promise settles when the store has them. A request that changes nothing writes
 * nothing.
 */
export class Session<T extends object = DefaultSessionData> {
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
  #servedFromCache = false;
  /** Change sets sent so far, which numbers each one's idempotency key. */
  #changeSets = 0;
  /** Changes not yet sent to the store; null until the first. */
  #pending: PendingChanges | null = null;
  /** Changes on their way to the store: still part of the view until the store answers. */
  #sending: PendingChanges | null = null;
  #queuedFlush: Promise<void> | null = null;
  /** The last queued store operation; null until the first (read-only requests never queue one). */
  #queue: Promise<unknown> | null = null;

  /** @internal Made by `SessionManager.load`. */
  constructor(
    ctx: SessionContext,
    record: SessionRecord | null,
    token: string | null,
    data: Map<string, JsonValue>,
    issuedToken: string | null = null,
  ) {
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
      const sent = this.#sending?.over(this.#base) ?? this.#base;
      this.#view = this.#pending?.over(sent) ?? sent;
    }
    return this.#view;
  }

  /** The pending change set, for a change: the cached view no longer holds. */
  #writablePending(): PendingChanges {
    this.#view = null;
    return (this.#pending ??= new PendingChanges());
  }

  /** Public id, or null while nothing is stored. */
  get id(): string | null {
    return this.#record?.id ?? null;
  }
  /** The user id given to `login()`; null while anonymous or while nothing is stored. */
  get subject(): string | null {
    return this.#record?.subject ?? null;
  }
  /** The name given to `login()`; null when none was given. */
  get displayName(): string | null {
    return this.#record?.displayName ?? null;
  }
  /** True once `login()` succeeded (the session has a subject). */
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
  /** True when this request's session came from the in-process cache (`SessionManagerOptions.cache`), not the store. */
  get servedFromCache(): boolean {
    return this.#servedFromCache;
  }
  /** @internal Set by `SessionManager.load`. */
  markServedFromCache(): void {
    this.#servedFromCache = true;
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

  /** The value of a field, this request's writes included; undefined when absent. */
  get<K extends SessionKey<T>>(key: K): T[K] | undefined {
    return this.#data().get(key) as T[K] | undefined;
  }
  /** Whether the field exists, this request's writes included. */
  has(key: SessionKey<T>): boolean {
    return this.#data().has(key);
  }
  /** A copy of the data, including this request's writes. */
  data(): string extends keyof T ? T : Partial<T> {
    const copy = dict<JsonValue>();
    for (const [key, value] of this.#data()) copy[key] = structuredClone(value);
    return copy as string extends keyof T ? T : Partial<T>;
  }

  /**
   * Sets `key` to `value`, which must be JSON: what is read back is what was set; resolves once the
   * store has it. The first write of an anonymous visitor stores the session and sets the cookie.
   * Anything JSON would drop or change (a function, `undefined`, a `BigInt`, a `Date`, a `Map` or
   * `Set`, a class instance, `NaN` or `Infinity`, a cycle) rejects with `InvalidValueError` naming
   * the key and where in the value the problem is; a key it cannot store rejects with
   * `BadRequestError`, a value past the size caps with `SessionTooLargeError`, and a session that
   * ended meanwhile with `SessionEndedError`. Nothing is written then. The value is copied: changing it afterwards changes nothing stored.
   */
  set<K extends SessionKey<T>>(key: K, value: Exclude<T[K], undefined>): Promise<void> {
    let json: JsonValue;
    try {
      assertKey(key);
      const converted = toJson(key, value as JsonValue);
      this.#assertFits(key, converted.bytes);
      json = converted.json;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(() => this.#writablePending().set(key, json), noop);
  }

  /** Removes a field; resolves once the store has the change. */
  delete(key: SessionKey<T>): Promise<void> {
    try {
      assertKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(() => this.#writablePending().delete(key), noop);
  }

  /**
   * Adds `by` to an integer field (absent or non-integer counts as 0), without losing concurrent
   * increments from other requests. Resolves to the value right after this increment.
   */
  increment(key: CounterKey<T>, by = 1): Promise<number> {
    try {
      assertKey(key);
      if (!Number.isSafeInteger(by)) throw new BadRequestError('increments must be safe integers');
      // A counter is at most 17 bytes of JSON; only a new field can take the session past its caps.
      if (!this.#data().has(key)) this.#assertFits(key, 17);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#mutate(
      () => this.#writablePending().increment(key, by),
      // The stored value once this change is saved, without later changes still pending.
      () => integerOrZero(this.#base.get(key)),
    );
  }

  /** Refuses a write that would take the session past its size caps, as this request sees it (see `assertFits`). */
  #assertFits(key: string, bytes: number): void {
    assertFits(this.#data(), key, bytes, this.#ctx.options);
  }

  /** Changes this session's idle timeout (seconds) and restarts its idle clock. */
  setIdleTimeout(seconds: number): Promise<void> {
    assertTimeout('idleTimeout', seconds);
    this.#ctx.warnIdleTimeout(seconds, 'setIdleTimeout()');
    return this.#mutate(() => this.#writablePending().setIdleTimeout(seconds), noop);
  }

  /** Waits until every change made so far is stored. */
  save(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#flush();
    });
  }

  /**
   * Authenticates the session as `subject`: a new token replaces the old one at once (which dies
   * immediately: the session-fixation defence), and the absolute lifetime restarts. The data is
   * kept when the session was anonymous or already `subject`'s, and dropped when it was another
   * subject's (see `keepData`); `options.data` is set in the same store call. Throws
   * `SessionLimitError` when the subject is at its limit and `onLimit` is `'reject'`.
   */
  login(subject: string, options: LoginOptions<T> = {}): Promise<void> {
    let given: CheckedFields;
    try {
      given = checkLogin(this.#ctx, subject, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#enqueue(async () => {
      await this.#flush();
      const replaced = await replaceForLogin(this.#ctx, this.#record, this.#base, subject, options, given);
      this.#adopt(replaced.record, replaced.token, replaced.data);
      this.#ctx.events.emit({
        type: 'loggedIn',
        at: replaced.at,
        session: toSessionInfo(replaced.record),
        previousId: replaced.previousId,
      });
    });
  }

  /** Issues a new token for the same session (after a privilege change); the old token dies at once. */
  rotate(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#flush();
      const current = this.#record;
      if (current === null) return;
      const replaced = await replaceForRotation(this.#ctx, current, this.#base);
      if (replaced === null) {
        await this.#end(current.id);
        throw new SessionEndedError();
      }
      this.#adopt(replaced.record, replaced.token, replaced.data);
      this.#ctx.events.emit({ type: 'rotated', at: replaced.at, session: toSessionInfo(replaced.record), previousId: current.id });
    });
  }

  /** Ends the session in the store and clears the cookie. Unsaved changes are dropped. */
  logout(): Promise<void> {
    return this.#enqueue(() => this.#logout());
  }

  /** A page of the subject's live sessions, oldest first, this one flagged `current`. */
  async listSessions(options: { cursor?: string | null; limit?: number } = {}): Promise<SessionListPage> {
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
    if (subject != null) return subject;
    // Ended or replaced while this request ran, as its writes say; otherwise never logged in (or logged out here).
    throw this.#ended || this.#superseded ? new SessionEndedError() : new NoSessionError('the session is not logged in');
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
    if (pending === null || pending.isEmpty) return;
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

  async #create(pending: PendingChanges): Promise<void> {
    const { options, device } = this.#ctx;
    const now = options.clock.now();
    const issued = issueToken(null);
    const data = pending.over(this.#base);
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
    recordEvictions(this.#ctx.options, result.evicted, now);
    for (const evicted of result.evicted) this.#ctx.events.emit({ type: 'revoked', at: now, session: evicted, reason: 'evicted' });
    this.#ctx.events.emit({ type: 'created', at: now, session: toSessionInfo(record) });
  }

  async #apply(current: SessionRecord, pending: PendingChanges): Promise<void> {
    this.#changeSets++;
    const { options, device } = this.#ctx;
    const now = options.clock.now();
    const result = await storeChanges(options, current, this.#base, pending, { now, device, idempotency: this.#idempotency(now) });
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
  #idempotency(now: number): { key: string; until: number } | null {
    const key = this.#ctx.idempotencyKey;
    if (key === null) return null;
    return { key: `${key}#${this.#changeSets}`, until: now + this.#ctx.options.idempotencyWindow * 1000 };
  }

  async #logout(): Promise<void> {
    this.#pending = null;
    const current = this.#record;
    const { store, clock } = this.#ctx.options;
    // The store first: when it fails (503) the cookie stays, so the browser can log out again.
    const removed =
      current === null ? null : await store.delete(current.id, noticeOption(this.#ctx.options.notifier, 'logout', clock.now()));
    const hadCookie = this.#token !== null;
    this.#record = null;
    this.#token = null;
    this.#base = new Map();
    this.#view = null;
    if (hadCookie) this.#ctx.writeCookie(null, 0);
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
