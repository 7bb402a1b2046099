import { readBearer, readCookies, serializeCookie } from './cookie.js';
import { InvalidOptionError, TesseraError, TooManyRequestsError } from './errors.js';
import { SessionEvents, toSessionInfo, type EventOf, type RevokeReason, type SessionEvent, type SessionEventType, type SessionInfo } from './events.js';
import { cookieMaxAge, isLive } from './expiry.js';
import { resolveOptions, type ResolvedOptions, type SessionManagerOptions } from './options.js';
import { Session, decodeData, type SessionContext } from './session.js';
import { hashesEqual, secretAccepted } from './record-ops.js';
import { hasSessionIndex, type DeviceInfo, type JsonValue, type SessionIndex, type SessionPage, type SessionRecord } from './store.js';
import { randomBytes } from 'node:crypto';
import { SECRET_BYTES, hashSecret, parseToken, type ParsedToken } from './token.js';

/** What the core needs to know about an incoming request; adapters fill it in. */
export interface SessionRequest {
  /** The raw `Cookie` header. */
  cookie?: string | null | undefined;
  /** The raw `Authorization` header (read only when `bearer` is on). */
  authorization?: string | null | undefined;
  /** Whether the request reached the app over HTTPS. */
  secure: boolean;
  ip?: string | null | undefined;
  userAgent?: string | null | undefined;
  /** Receives the `Set-Cookie` value whenever the session cookie must be set or cleared. */
  setCookie?: ((value: string) => void) | undefined;
}

export interface SessionQueryOptions {
  subject?: string;
  displayNamePrefix?: string;
  id?: string;
  cursor?: string | null;
  /** @default 50 */
  limit?: number;
}

const MAX_USER_AGENT = 512;
const MAX_IP = 64;

function clip(value: string | null | undefined, max: number): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  return value.length > max ? value.slice(0, max) : value;
}

/**
 * The entry point: loads the session of a request, and manages sessions by subject or id.
 *
 * @example
 * const sessions = new SessionManager({ store: new SqliteStore({ path: './sessions.db' }) });
 * const session = await sessions.load({ cookie: req.headers.cookie, secure: false, setCookie });
 */
export class SessionManager {
  readonly options: ResolvedOptions;
  readonly #events: SessionEvents;
  #sweeper: NodeJS.Timeout | null = null;
  #sweeping: Promise<number> | null = null;
  #closed = false;
  /** Unknown-token counts per client address in the current minute. */
  readonly #failures = new Map<string, number>();
  #failureWindow = 0;

  constructor(options: SessionManagerOptions) {
    this.options = resolveOptions(options);
    this.#events = new SessionEvents(this.options.onListenerError);
    this.#scheduleSweep();
  }

  /** Sweeps at the cleanup interval, jittered by ±20% so many instances do not sweep in step. */
  #scheduleSweep(): void {
    const interval = this.options.cleanupInterval;
    if (interval === false || this.#closed) return;
    const delay = interval * 1000 * (0.8 + Math.random() * 0.4);
    this.#sweeper = setTimeout(() => {
      this.sweep()
        .catch(() => {
          // A store outage is retried at the next interval; requests report it themselves.
        })
        .finally(() => this.#scheduleSweep());
    }, delay);
    this.#sweeper.unref();
  }

  /** Subscribes to one kind of event; returns the function that unsubscribes. */
  on<T extends SessionEventType>(type: T, listener: (event: EventOf<T>) => void | Promise<void>): () => void {
    return this.#events.on(type, listener);
  }

  /** Subscribes to every event. */
  subscribe(listener: (event: SessionEvent) => void | Promise<void>): () => void {
    return this.#events.subscribe(listener);
  }

  /** The cookie name for a request: `__Host-` is prefixed whenever the cookie is Secure. */
  cookieName(secure: boolean): string {
    return this.#isSecure(secure) ? `__Host-${this.options.cookie.name}` : this.options.cookie.name;
  }

  /**
   * The session of a request: the stored one named by its token, or a new empty one that is
   * stored on its first write. A malformed token is refused without a store round trip; an
   * unknown, expired or revoked one yields an empty session and a cleared cookie, alike.
   * Throws `StoreUnavailableError` when the store is down, never "no session".
   */
  async load(request: SessionRequest): Promise<Session> {
    const { store, clock, codec, bearer } = this.options;
    const secure = this.#isSecure(request.secure);
    const name = this.cookieName(request.secure);
    let presented: string | null = null;
    let viaBearer = false;
    if (bearer) {
      presented = readBearer(request.authorization);
      viaBearer = presented !== null;
    }
    let parsed: ParsedToken | null = null;
    if (viaBearer) parsed = parseToken(presented as string);
    else {
      // A planted duplicate may come first: take the first value that is a well-formed token.
      const values = readCookies(request.cookie, name);
      for (const value of values) {
        parsed = parseToken(value);
        if (parsed !== null) {
          presented = value;
          break;
        }
      }
      presented ??= values[0] ?? null;
    }
    const device: DeviceInfo = { ip: clip(request.ip, MAX_IP), userAgent: clip(request.userAgent, MAX_USER_AGENT) };
    const setCookie = viaBearer ? undefined : request.setCookie;
    const context = this.#context(device, name, secure, setCookie);
    if (presented === null || parsed === null) return emptySession(context, presented !== null);
    const now = clock.now();
    // Hashed once: the stored form goes to the store and is compared here again in constant time.
    const secretHash = hashSecret(parsed.secret);
    const record = await store.load(parsed.id, {
      now,
      secretHash,
      touch: this.options.touch,
      device,
    });
    if (record === null || !secretAccepted(record, secretHash, now) || !isLive(record, now)) {
      return this.#unopened(context, parsed.id, secretHash, device.ip, now);
    }
    let data: Map<string, JsonValue>;
    try {
      data = decodeData(record, codec);
    } catch {
      this.#events.emit({ type: 'unreadable', at: now, session: { id: record.id, subject: record.subject } });
      return emptySession(context, true);
    }
    // Checked before any await: awaiting a renewal that is not due costs every request a microtask turn.
    const renewed = this.#renewalDue(record, secretHash, now) ? await this.#renew(record, now) : null;
    if (renewed !== null) {
      context.writeCookie(renewed.token, renewed.record.absoluteExpiresAt);
      this.#events.emit({ type: 'rotated', at: now, session: toSessionInfo(renewed.record), previousId: record.id });
      return new Session(context, renewed.record, renewed.token, data, renewed.token);
    }
    // The cookie is left as it is: its Max-Age is the absolute expiry, which no touch moves, and a
    // request that re-sent its token could undo a renewal that another request made meanwhile.
    return new Session(context, record, presented, data);
  }

  /**
   * A well-formed token that opens nothing. Superseded by a newer token of the same browser (a
   * login, rotation or renewal in a request running alongside): the cookie is left alone and the
   * request has no session it could write to, since any cookie it set would replace the newer one.
   * Otherwise (unknown, expired, revoked): the stale cookie is cleared and the address counted.
   */
  async #unopened(context: RequestContext, id: string, secretHash: string, ip: string | null, now: number): Promise<Session> {
    if (await this.options.store.isSuperseded(id, { now, secretHash })) return Session.superseded(context);
    const blocked = this.#countFailure(ip, now);
    if (blocked !== null) {
      throw new TooManyRequestsError(blocked, 'too many unknown session tokens from this address', { setCookie: context.clearingCookie() });
    }
    return emptySession(context, true);
  }

  /** A session by public id, for admin tools; null when it does not exist or has expired. */
  async get(id: string): Promise<SessionInfo | null> {
    const record = await this.options.store.load(id, { now: this.options.clock.now() });
    return record === null ? null : toSessionInfo(record);
  }

  /** The subject's live sessions, oldest first, with the one named `currentId` flagged. */
  async list(subject: string, currentId: string | null = null): Promise<Array<SessionInfo & { current: boolean }>> {
    const records = await this.#index().listBySubject(subject, this.options.clock.now());
    return records.map((record) => ({ ...toSessionInfo(record), current: record.id === currentId }));
  }

  /** Ends one session by public id. */
  async revoke(id: string, reason: RevokeReason = 'admin'): Promise<boolean> {
    const removed = await this.options.store.delete(id);
    if (removed === null) return false;
    this.#events.emit({ type: 'revoked', at: this.options.clock.now(), session: removed, reason });
    return true;
  }

  /** Ends every session of a subject, or every one but `except`; returns how many ended. */
  async revokeAll(subject: string, options: { except?: string | null; reason?: RevokeReason } = {}): Promise<number> {
    const now = this.options.clock.now();
    const removed = await this.#index().deleteBySubject(subject, {
      now,
      ...(options.except != null ? { except: options.except } : {}),
    });
    for (const session of removed) this.#events.emit({ type: 'revoked', at: now, session, reason: options.reason ?? 'admin' });
    return removed.length;
  }

  /**
   * Ends every live session of every user (after a key compromise, say), a page at a time, each
   * with a `revoked` event; returns how many ended. Sessions created meanwhile may survive it.
   */
  async revokeEverything(options: { reason?: RevokeReason; pageSize?: number } = {}): Promise<number> {
    const index = this.#index();
    const limit = options.pageSize ?? 500;
    let cursor: string | null = null;
    let total = 0;
    do {
      const page: SessionPage = await index.query({ now: this.options.clock.now(), cursor, limit });
      for (const record of page.sessions) if (await this.revoke(record.id, options.reason ?? 'admin')) total++;
      cursor = page.nextCursor;
    } while (cursor !== null);
    return total;
  }

  /** Live sessions, overall or of one subject. */
  async count(filter: { subject?: string } = {}): Promise<number> {
    return this.#index().count({ now: this.options.clock.now(), ...filter });
  }

  /** Live sessions matching every given filter, ordered by id, a page at a time. */
  async query(options: SessionQueryOptions = {}): Promise<{ sessions: SessionInfo[]; nextCursor: string | null }> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TesseraError('BAD_REQUEST', 400, 'limit must be 1 to 1000');
    const page = await this.#index().query({ ...options, limit, now: this.options.clock.now() });
    return { sessions: page.sessions.map(toSessionInfo), nextCursor: page.nextCursor };
  }

  /** Removes expired sessions in batches and sends their `expired` events; returns how many. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = null;
    });
    return this.#sweeping;
  }

  /** Stops the cleanup timer. The store is the caller's to close. */
  close(): void {
    this.#closed = true;
    if (this.#sweeper !== null) clearTimeout(this.#sweeper);
    this.#sweeper = null;
  }

  async #sweep(): Promise<number> {
    const { store, clock, cleanupBatchSize } = this.options;
    let total = 0;
    for (;;) {
      const now = clock.now();
      const removed = await store.deleteExpired(now, cleanupBatchSize);
      for (const session of removed) this.#events.emit({ type: 'expired', at: now, session });
      total += removed.length;
      if (removed.length < cleanupBatchSize) return total;
    }
  }

  /**
   * Renews the token in place; called once `#renewalDue` says `renewalInterval` has passed since
   * it was issued. Only one of several concurrent requests wins (compare-and-set on the version);
   * the others carry on with the token they have, which the grace period keeps valid, and set no
   * cookie, so that none of them can put the old token back over the new one.
   */
  async #renew(record: SessionRecord, now: number): Promise<{ record: SessionRecord; token: string } | null> {
    const { renewalGracePeriod, store } = this.options;
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    const result = await store.apply(
      record.id,
      {
        renewSecret: {
          secretHash: hashSecret(secret),
          renewedAt: now,
          previousSecretHash: record.secretHash,
          previousSecretExpiresAt: now + renewalGracePeriod * 1000,
        },
      },
      { now, expectedVersion: record.version, base: record },
    );
    return result.status === 'applied' ? { record: result.record, token: `${record.id}.${secret}` } : null;
  }

  /** Due once `renewalInterval` has passed, and only for the current token: the previous one is already replaced. */
  #renewalDue(record: SessionRecord, secretHash: string, now: number): boolean {
    const { renewalInterval } = this.options;
    return renewalInterval !== false && now - record.renewedAt >= renewalInterval * 1000 && hashesEqual(secretHash, record.secretHash);
  }

  /**
   * Counts an unknown token from `ip`. The first time an address passes the limit in a minute sends
   * a `bruteForce` event. Returns the seconds until the window ends when the request is to be
   * refused (`bruteForceAction: 'block'`), otherwise null.
   */
  #countFailure(ip: string | null, now: number): number | null {
    const limit = this.options.bruteForceLimit;
    if (limit === false || ip === null) return null;
    const window = Math.floor(now / 60_000);
    if (window !== this.#failureWindow || this.#failures.size > 100_000) {
      this.#failures.clear();
      this.#failureWindow = window;
    }
    const attempts = (this.#failures.get(ip) ?? 0) + 1;
    this.#failures.set(ip, attempts);
    if (attempts <= limit) return null;
    if (attempts === limit + 1) this.#events.emit({ type: 'bruteForce', at: now, ip, attempts });
    return this.options.bruteForceAction === 'block' ? Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000)) : null;
  }

  #isSecure(requestSecure: boolean): boolean {
    const setting = this.options.cookie.secure;
    return setting === 'auto' ? requestSecure : setting;
  }

  #index(): SessionIndex {
    const { store } = this.options;
    if (!hasSessionIndex(store)) throw new InvalidOptionError('this store does not implement SessionIndex (listing, counting, bulk revocation)');
    return store;
  }

  #context(device: DeviceInfo, name: string, secure: boolean, setCookie: ((value: string) => void) | undefined): RequestContext {
    return new RequestContext(this, this.#events, device, name, secure, setCookie);
  }
}

/** A new, unstored session; a stale token that was presented has its cookie cleared. */
function emptySession(context: SessionContext, presented: boolean): Session {
  if (presented) context.writeCookie(null, 0);
  return new Session(context, null, null, new Map());
}

/** What a request's Session needs from its manager: one object per request, no closures. */
class RequestContext implements SessionContext {
  readonly options: ResolvedOptions;
  constructor(
    readonly manager: SessionManager,
    readonly events: SessionEvents,
    readonly device: DeviceInfo,
    readonly cookieName: string,
    readonly secure: boolean,
    readonly setCookie: ((value: string) => void) | undefined,
  ) {
    this.options = manager.options;
  }

  writeCookie(token: string | null, absoluteExpiresAt: number): void {
    if (this.setCookie === undefined) return;
    this.setCookie(token === null ? this.#serialize('', 0) : this.#serialize(token, cookieMaxAge(absoluteExpiresAt, this.options.clock.now())));
  }

  /** The `Set-Cookie` value that clears the session cookie, or null for a bearer request. */
  clearingCookie(): string | null {
    return this.setCookie === undefined ? null : this.#serialize('', 0);
  }

  #serialize(value: string, maxAge: number): string {
    return serializeCookie(this.cookieName, value, { secure: this.secure, sameSite: this.options.cookie.sameSite, httpOnly: true, path: '/', maxAge });
  }

  isSuperseded(id: string, secretHash: string): Promise<boolean> {
    return this.options.store.isSuperseded(id, { now: this.options.clock.now(), secretHash });
  }

  listSessions(subject: string, currentId: string | null): Promise<Array<SessionInfo & { current: boolean }>> {
    return this.manager.list(subject, currentId);
  }

  async revokeOwn(subject: string, id: string): Promise<boolean> {
    const record = await this.options.store.load(id, { now: this.options.clock.now() });
    if (record === null || record.subject !== subject) return false;
    return this.manager.revoke(id, 'user');
  }

  revokeSubject(subject: string, except: string | null): Promise<number> {
    return this.manager.revokeAll(subject, { except, reason: 'user' });
  }
}
