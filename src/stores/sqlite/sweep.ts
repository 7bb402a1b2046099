import { setImmediate as nextTurn } from 'node:timers/promises';
import { endedNotices, removedSession, type RemovedSession } from '../../store-kit/index.js';
import type { OutboxAccess, SqliteOutbox } from './outbox.js';

/** Most expired sessions one transaction of a sweep removes; the event loop turns between them. */
const SWEEP_SLICE_ROWS = 100;
/** About the longest one transaction of a sweep holds the event loop (it stops after the row that passes it). */
const SWEEP_SLICE_MS = 10;

/** What the sweep borrows from its store, beyond the outbox's share. */
export interface SweepAccess extends OutboxAccess {
  /** Removes a session with its idempotency keys; inside a transaction. */
  remove(id: string): unknown;
  readonly outbox: SqliteOutbox;
}

/**
 * Removes up to `limit` expired sessions in slices of at most `SWEEP_SLICE_ROWS` rows and about
 * `SWEEP_SLICE_MS`, each its own transaction, letting the event loop turn between them: better-
 * sqlite3 holds the loop for as long as a call runs, and deleting a row of random id costs tens
 * of microseconds on a large table, so a batch of hundreds in one go would hold it for longer
 * than a request should wait. With `notice`, each session's `session.ended` notice is recorded
 * in the transaction that removes it.
 */
export async function sweepExpired(access: SweepAccess, now: number, limit: number, notice: boolean): Promise<RemovedSession[]> {
  const batch = Math.floor(limit);
  // SQLite reads a negative LIMIT as no limit at all.
  if (!(batch > 0)) return [];
  const removed: RemovedSession[] = [];
  for (;;) {
    const wanted = Math.min(batch - removed.length, SWEEP_SLICE_ROWS);
    const sweep = access.run(() =>
      access
        .transaction(() => {
          const started = performance.now();
          access.statement('forgetSuperseded').run(now, null, wanted);
          access.statement('forgetKeys').run(now, wanted);
          const expired = access.statement('expired').all(now, wanted) as Array<RemovedSession & { expires_at: number }>;
          const done: RemovedSession[] = [];
          for (const row of expired) {
            access.remove(row.id);
            done.push(removedSession(row));
            if (notice) access.outbox.record(endedNotices([row], { reason: 'expired', at: Number(row.expires_at) }), now);
            if (performance.now() - started >= SWEEP_SLICE_MS) break;
          }
          return { done, selected: expired.length };
        })
        .immediate(),
    );
    // What earlier slices removed is reported, whatever befalls a later one (the next sweep goes on).
    const slice = removed.length === 0 ? await sweep : await sweep.catch(() => null);
    if (slice === null) return removed;
    removed.push(...slice.done);
    if (removed.length >= batch) return removed;
    // Fewer expired than asked for, and all of them removed: there are no more.
    if (slice.selected < wanted && slice.done.length === slice.selected) return removed;
    await nextTurn();
  }
}
