import type { SessionEvents, SessionInfo } from './events.js';
import type { ResolvedOptions } from './options.js';
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
  listSessions(subject: string, options: { cursor?: string | null; limit?: number; currentId: string | null }): Promise<{ sessions: Array<SessionInfo & { current: boolean }>; nextCursor: string | null }>;
  /** Throws `TooManyRequestsError` when this client address has created too many anonymous sessions this minute. */
  countAnonymous(): void;
  /** Runs `undo` now and, while the store is unavailable, again until `until`. */
  compensate(undo: () => Promise<void>, until: number): void;
  revokeOwn(subject: string, id: string): Promise<boolean>;
  revokeSubject(subject: string, except: string | null): Promise<number>;
}
