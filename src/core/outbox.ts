/**
 * The outbox part of the store contract: session notices recorded beside the sessions, for
 * delivery by a worker (`tessera-session/webhooks`).
 */
import type { Clock } from './clock.js';
import type { SessionEvent } from './events.js';
import type { SessionStore } from './store.js';

/**
 * Why a session ended, as a session-end notice says: `logout` (the user logged out), `user` (the
 * user ended it from another session), `admin`, `evicted` (the per-user limit), `expired`.
 */
export type EndReason = 'logout' | 'user' | 'admin' | 'evicted' | 'expired';

/**
 * Asks a store with an outbox (`capabilities.outbox`) to record, for each session the call
 * removes and in the same atomic step, a `session.ended` notice (see {@link SessionNotice}) with
 * this reason. Stores without an outbox ignore it.
 */
export interface NoticeRequest {
  /** Why the sessions ended. */
  reason: EndReason;
  /** When they ended, in ms since the epoch (`deleteExpired` uses each session's `expiresAt` instead). */
  at: number;
}

/** What a notice tells its receivers. */
export type NoticeType = 'session.ended' | 'session.created' | 'session.logged_in';

/** A notice as an outbox holds it, waiting for delivery. Carries public ids only, never a token or session data. */
export interface SessionNotice {
  /**
   * The notice's id, the same at every delivery attempt (the webhook's `webhook-id`):
   * `{type}:{sessionId}`, since a session is created, logged in and ended once each.
   */
  id: string;
  /** What happened. */
  type: NoticeType;
  /** The session's public id. */
  sessionId: string;
  /** Its user; null for an anonymous session. */
  subject: string | null;
  /** Why it ended (`session.ended` only); null otherwise. */
  reason: EndReason | null;
  /** When it happened, in ms since the epoch. */
  at: number;
  /** Delivery attempts so far: each `claimNotices` that returned it added one. */
  attempts: number;
}

/**
 * A durable queue of session notices beside the sessions, a store's `outbox` (declared by
 * `capabilities.outbox`; see {@link OutboxHolder}): the
 * ending calls record `session.ended` notices atomically with the removal (their `notice`
 * option); a delivery worker claims them, delivers them and removes them. Several workers on one
 * store claim disjoint batches; a worker that dies holding a claim loses it when the lease ends,
 * and another delivers the notice again under the same id.
 */
export interface SessionOutbox {
  /** Records notices that end no session (`session.created`, `session.logged_in`); a notice whose id is already held is ignored. */
  addNotices(notices: readonly Omit<SessionNotice, 'attempts'>[]): Promise<void>;
  /**
   * Claims up to `limit` notices due at `now` (recorded, deferred to a time at or before `now`, or
   * whose lease has ended), the earliest due first: each moves its due time to `leaseUntil` and
   * adds one to `attempts`, atomically, so that concurrent claims never return the same notice
   * before `leaseUntil`.
   */
  claimNotices(options: { now: number; limit: number; leaseUntil: number }): Promise<SessionNotice[]>;
  /** Removes notices (delivered, or given up); ids not held are ignored. */
  removeNotices(ids: readonly string[]): Promise<void>;
  /** Makes a claimed notice due again at `dueAt` (a retry later); an id not held is ignored. */
  deferNotice(id: string, dueAt: number): Promise<void>;
  /** How many notices are held, claimed ones included (reads a count, never walks the queue where it can help it). */
  countNotices(): Promise<number>;
  /** Removes the notices beyond the `max` most recent (by `at`); returns how many it removed. */
  trimNotices(max: number): Promise<number>;
}

/** What a store with an outbox offers (declared by `capabilities.outbox`). */
export interface OutboxHolder {
  /** The store's outbox: where its ending calls record notices, and where workers claim them. */
  readonly outbox: SessionOutbox;
}

/** Whether the store has an outbox (declared by `capabilities.outbox`): then `store.outbox` is it. */
export function hasSessionOutbox(store: SessionStore): store is SessionStore & OutboxHolder {
  return store.capabilities.outbox === true;
}

/** A notice's id: `{type}:{sessionId}` (see {@link SessionNotice.id}). */
export function noticeId(type: NoticeType, sessionId: string): string {
  return `${type}:${sessionId}`;
}

/** The `session.ended` notices of sessions one call removed, as an outbox holds them before their first claim. */
export function endedNotices(
  removed: readonly { id: string; subject: string | null }[],
  request: NoticeRequest,
): Omit<SessionNotice, 'attempts'>[] {
  return removed.map(({ id, subject }) => ({
    id: noticeId('session.ended', id),
    type: 'session.ended',
    sessionId: id,
    subject,
    reason: request.reason,
    at: request.at,
  }));
}

/** What a notifier is given when a manager starts it. */
export interface NotifierContext {
  /** The store's outbox. */
  outbox: SessionOutbox;
  /** The manager's clock. */
  clock: Clock;
  /** Sends an event to the manager's listeners (`webhook`, `outboxFull`). */
  emit(event: SessionEvent): void;
}

/**
 * Delivers the notices the manager records (`SessionManagerOptions.webhooks`;
 * `tessera-session/webhooks` gives one). The manager records a `session.ended` notice with every
 * ending (logout, revocation, eviction, expiry), in the store's atomic step, and the others when
 * `notices` asks for them; the notifier delivers them off the request path.
 */
export interface SessionNotifier {
  /** Which notices the manager records besides `session.ended`. */
  readonly notices: {
    /** Record `session.created` when an anonymous session is first stored. */
    readonly created: boolean;
    /** Record `session.logged_in` at each login. */
    readonly loggedIn: boolean;
  };
  /** Called once by the manager's constructor: starts delivery from the outbox. A notifier serves one manager. */
  start(context: NotifierContext): void;
  /** Called after the manager recorded a notice, so that delivery begins at once rather than at the next poll. */
  wake(): void;
  /** Stops delivery; resolves once the deliveries under way have ended. Called by `SessionManager.close()`. */
  close(): Promise<void>;
}
