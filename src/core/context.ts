import type { SessionEvents, SessionInfo } from './events.js';
import { cookieMaxAge } from './expiry.js';
import type { ListOptions, SessionListPage, SessionManager } from './manager.js';
import type { ResolvedOptions } from './options.js';
import { createBlankSessionCookie, createSessionCookie, type SessionCookieOptions } from './session-cookie.js';
import type { DeviceInfo } from './store.js';

/** What a session handle needs from the manager that made it, for the one request it serves. */
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
  listSessions(
    subject: string,
    options: { cursor?: string | null; limit?: number; currentId: string | null },
  ): Promise<{ sessions: Array<SessionInfo & { current: boolean }>; nextCursor: string | null }>;
  /** Throws `TooManyRequestsError` when this client address has created too many anonymous sessions this minute. */
  countAnonymous(): void;
  /** Runs `undo` now and, while the store is unavailable, again until `until`. */
  compensate(undo: () => Promise<void>, until: number): void;
  /** Warns, once per manager, of a session's idle timeout that is likely a mistake (`where`: which setting). */
  warnIdleTimeout(seconds: number, where: string): void;
  revokeOwn(subject: string, id: string): Promise<boolean>;
  revokeSubject(subject: string, except: string | null): Promise<number>;
}

/** What a request's context asks of the manager that made it. */
type Manager = Pick<SessionManager, 'options' | 'list' | 'revoke' | 'revokeAll' | 'countAnonymous' | 'compensate' | 'warnIdleTimeout'>;

/** The manager's side of one request's session: one object per request, no closures. */
export class RequestContext implements SessionContext {
  readonly options: ResolvedOptions;
  constructor(
    readonly manager: Manager,
    readonly events: SessionEvents,
    readonly device: DeviceInfo,
    readonly cookie: SessionCookieOptions,
    readonly setCookie: ((value: string) => void) | undefined,
    readonly idempotencyKey: string | null,
  ) {
    this.options = manager.options;
  }

  countAnonymous(): void {
    this.manager.countAnonymous(this.device.ip);
  }

  compensate(undo: () => Promise<void>, until: number): void {
    this.manager.compensate(undo, until);
  }

  warnIdleTimeout(seconds: number, where: string): void {
    this.manager.warnIdleTimeout(seconds, where);
  }

  writeCookie(token: string | null, absoluteExpiresAt: number): void {
    if (this.setCookie === undefined) return;
    this.setCookie(
      token === null
        ? createBlankSessionCookie(this.cookie)
        : createSessionCookie(this.cookie, token, cookieMaxAge(absoluteExpiresAt, this.options.clock.now())),
    );
  }

  /** The `Set-Cookie` value that clears the session cookie, or null for a bearer request. */
  clearingCookie(): string | null {
    return this.setCookie === undefined ? null : createBlankSessionCookie(this.cookie);
  }

  isSuperseded(id: string, secretHash: string): Promise<boolean> {
    return this.options.store.isSuperseded(id, { now: this.options.clock.now(), secretHash });
  }

  listSessions(subject: string, options: ListOptions): Promise<SessionListPage> {
    return this.manager.list(subject, options);
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
