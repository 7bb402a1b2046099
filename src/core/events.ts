import type { NoticeType } from './outbox.js';
import type { DeviceInfo, RemovedSession, SessionRecord } from './store.js';

/** A session as shown to its user or an admin: no secret, no hash, no app data. */
export interface SessionInfo {
  /** Public id: safe to show and to revoke by, useless as a credential. */
  id: string;
  /** The user id given to `login()`; null while anonymous. */
  subject: string | null;
  /** The name given to `login()`; null when none was given. */
  displayName: string | null;
  /** When the session was first stored, in ms since the epoch; a login keeps it. */
  createdAt: number;
  /** The last request that touched it (written at most once per touch interval). */
  lastSeenAt: number;
  /** When it ends unless used again: the earlier of the idle deadline and `absoluteExpiresAt`. */
  expiresAt: number;
  /** When it ends whatever its activity; set at creation and at each login. */
  absoluteExpiresAt: number;
  /** Idle timeout in seconds. */
  idleTimeout: number;
  /** When the user last logged in; null while anonymous. */
  authenticatedAt: number | null;
  /** Where the session was first stored from. */
  createdDevice: DeviceInfo;
  /** Where it was last used from. */
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

/**
 * What `SessionManager.on` and `subscribe` deliver. Events carry public ids and subjects, never a
 * token; `at` is when it happened, in ms since the epoch on the manager's clock.
 */
export type SessionEvent =
  | {
      /** An anonymous session was stored (its first write). */
      type: 'created';
      /** When, in ms since the epoch. */
      at: number;
      /** The new session. */
      session: SessionInfo;
    }
  | {
      /** `login()` succeeded. */
      type: 'loggedIn';
      /** When, in ms since the epoch. */
      at: number;
      /** The logged-in session, under its new id. */
      session: SessionInfo;
      /** The session it replaced; null when there was none stored. */
      previousId: string | null;
    }
  | {
      /** `rotate()` or a renewal gave the session a new token. */
      type: 'rotated';
      /** When, in ms since the epoch. */
      at: number;
      /** The session after it. */
      session: SessionInfo;
      /** The id before it (a renewal keeps the id). */
      previousId: string;
    }
  | {
      /** A session was ended before its time. */
      type: 'revoked';
      /** When, in ms since the epoch. */
      at: number;
      /** The session ended. */
      session: RemovedSession;
      /** Who ended it. */
      reason: RevokeReason;
    }
  | {
      /** The sweep removed a session past its idle or absolute expiry. */
      type: 'expired';
      /** When the sweep removed it, in ms since the epoch. */
      at: number;
      /** The session removed. */
      session: RemovedSession;
    }
  | {
      /** A stored session could not be decoded (its encryption key was removed); it was treated as no session and removed. */
      type: 'unreadable';
      /** When, in ms since the epoch. */
      at: number;
      /** The session removed. */
      session: RemovedSession;
    }
  | {
      /** A client address presented more unknown tokens than `bruteForceLimit` allows in a minute (once per address and minute). */
      type: 'bruteForce';
      /** When, in ms since the epoch. */
      at: number;
      /** The client address. */
      ip: string;
      /** Unknown tokens it presented this minute. */
      attempts: number;
    }
  | {
      /**
       * A notice's delivery attempt ended: `delivered` (a 2xx), `retrying` (it will be tried again),
       * `failed` (given up after the last retry), `disabled` (the receiver answered 410 Gone: delivery stops).
       */
      type: 'webhook';
      /** When, in ms since the epoch. */
      at: number;
      /** What became of it. */
      outcome: DeliveryOutcome;
      /** The notice delivered. */
      notice: {
        /** Its id: the delivery's `webhook-id`. */
        id: string;
        /** What it tells. */
        type: NoticeType;
      };
      /** This attempt's number, from 1. */
      attempt: number;
      /** The receiver's HTTP status; null when there was no answer (refused, timed out). */
      status: number | null;
    }
  | {
      /**
       * The outbox reached its cap (the receiver has been down long enough): the oldest notices
       * beyond it were dropped, undelivered.
       */
      type: 'outboxFull';
      /** When, in ms since the epoch. */
      at: number;
      /** Notices dropped. */
      dropped: number;
      /** The cap. */
      max: number;
    };

/** What became of one delivery attempt of a notice (`SessionManagerOptions.webhooks`). */
export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed' | 'disabled';

/** The kinds of {@link SessionEvent}, for `SessionManager.on`. */
export type SessionEventType = SessionEvent['type'];
/** The event of one kind: `EventOf<'revoked'>` has a `reason`. */
export type EventOf<T extends SessionEventType> = Extract<SessionEvent, Record<'type', T>>;
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
