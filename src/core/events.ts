import type { DeviceInfo, RemovedSession, SessionRecord } from './store.js';

/** A session as shown to its user or an admin: no secret, no hash, no app data. */
export interface SessionInfo {
  id: string;
  subject: string | null;
  displayName: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  absoluteExpiresAt: number;
  /** Idle timeout in seconds. */
  idleTimeout: number;
  authenticatedAt: number | null;
  createdDevice: DeviceInfo;
  lastDevice: DeviceInfo;
}

export function toSessionInfo(record: SessionRecord): SessionInfo {
  return {
    id: record.id,
    subject: record.subject,
    displayName: record.displayName,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    expiresAt: record.expiresAt,
    absoluteExpiresAt: record.absoluteExpiresAt,
    idleTimeout: record.idleTimeout,
    authenticatedAt: record.authenticatedAt,
    createdDevice: { ...record.createdDevice },
    lastDevice: { ...record.lastDevice },
  };
}

/** Why a session was ended before its time. */
export type RevokeReason = 'logout' | 'user' | 'admin' | 'evicted';

export type SessionEvent =
  | { type: 'created'; at: number; session: SessionInfo }
  | { type: 'loggedIn'; at: number; session: SessionInfo; previousId: string | null }
  | { type: 'rotated'; at: number; session: SessionInfo; previousId: string }
  | { type: 'revoked'; at: number; session: RemovedSession; reason: RevokeReason }
  | { type: 'expired'; at: number; session: RemovedSession }
  /** A stored session could not be decoded (for example, its encryption key was removed); it was treated as no session. */
  | { type: 'unreadable'; at: number; session: RemovedSession }
  /** A client address presented more unknown tokens than `bruteForceLimit` allows in a minute. */
  | { type: 'bruteForce'; at: number; ip: string; attempts: number };

export type SessionEventType = SessionEvent['type'];
export type EventOf<T extends SessionEventType> = Extract<SessionEvent, { type: T }>;
type Listener = (event: SessionEvent) => void | Promise<void>;

/**
 * Delivers events to subscribers. A failing listener is reported to `onListenerError` and never
 * affects the request that caused the event.
 */
export class SessionEvents {
  readonly #listeners = new Set<{ type: SessionEventType | '*'; listener: Listener }>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  on<T extends SessionEventType>(type: T, listener: (event: EventOf<T>) => void | Promise<void>): () => void {
    const entry = { type, listener: listener as Listener };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  /** Every event, whatever its type. */
  subscribe(listener: Listener): () => void {
    const entry = { type: '*' as const, listener };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  emit(event: SessionEvent): void {
    for (const { type, listener } of this.#listeners) {
      if (type !== '*' && type !== event.type) continue;
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch(this.#onListenerError);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
