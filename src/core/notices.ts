/**
 * The manager's side of session notices (`SessionManagerOptions.webhooks`): the `notice` option of
 * its ending calls, the notices recorded apart from an ending, and waking the notifier.
 */
import type { SessionEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import { endedNotices, noticeId, type EndReason, type NoticeRequest, type SessionNotice } from './outbox.js';
import type { RemovedSession } from './store.js';

/** The `notice` option of an ending call: none without a notifier. */
export function noticeOption(notifier: ResolvedOptions['notifier'], reason: EndReason, at: number): { notice: NoticeRequest } | undefined {
  return notifier === null ? undefined : { notice: { reason, at } };
}

/**
 * Sessions a bounded store removed to make room for a new one (the memory store's capacity) are
 * recorded after the fact: the memory store loses its outbox with its sessions, so no crash can
 * come between the two.
 */
export function recordEvictions(options: ResolvedOptions, evicted: readonly RemovedSession[], at: number): void {
  if (options.outbox === null || evicted.length === 0) return;
  record(options, endedNotices(evicted, { reason: 'evicted', at }));
}

function record(options: ResolvedOptions, notices: Omit<SessionNotice, 'attempts'>[]): void {
  const { outbox, notifier } = options;
  if (outbox === null || notifier === null) return;
  outbox.addNotices(notices).then(() => notifier.wake(), options.onListenerError);
}

/**
 * Starts the notifier on the manager's outbox, and wakes it after each ending, so that a notice
 * goes out at once rather than at the next poll; records `session.created` and
 * `session.logged_in` notices when asked (after the fact: they end nothing, so there is no
 * atomic step to share).
 */
export function startNotifier(options: ResolvedOptions, events: SessionEvents): void {
  const { notifier, outbox, clock } = options;
  if (notifier === null || outbox === null) return;
  notifier.start({ outbox, clock, emit: (event) => events.emit(event) });
  events.subscribe((event) => {
    if (event.type === 'revoked' || event.type === 'expired') notifier.wake();
    else if (event.type === 'created' && notifier.notices.created) {
      const { id, subject } = event.session;
      record(options, [
        { id: noticeId('session.created', id), type: 'session.created', sessionId: id, subject, reason: null, at: event.at },
      ]);
    } else if (event.type === 'loggedIn' && notifier.notices.loggedIn) {
      const { id, subject } = event.session;
      record(options, [
        { id: noticeId('session.logged_in', id), type: 'session.logged_in', sessionId: id, subject, reason: null, at: event.at },
      ]);
    }
  });
}
