import type { RemovedSession } from '../core/store.js';

/**
 * What a store reports of a session it removed: its id and subject, nothing more. Rows and
 * records carry other fields (a whole record, `created_at`, a `pg_notify` result) that must not
 * reach the core's events.
 */
export function removedSession(removed: { id: string; subject: string | null }): RemovedSession {
  return { id: removed.id, subject: removed.subject };
}

/** {@link removedSession} for each of several. */
export function removedSessions(removed: ReadonlyArray<{ id: string; subject: string | null }>): RemovedSession[] {
  return removed.map(removedSession);
}
