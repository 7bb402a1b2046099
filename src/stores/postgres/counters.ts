/**
 * Counts in time windows that every instance on the database shares (`SharedCounters`): one row
 * per key and window in `<table>_counters`, added to by one statement.
 */
import { InvalidOptionError } from '../../store-kit/index.js';
import type { SqlContext, Statement } from './params.js';

/**
 * Windows that are over, forgotten by each count: more than the one row a count may add, so that
 * counting alone keeps the table at the windows still running, without a sweep (the cleanup
 * sweep forgets them in batches too).
 */
export const FORGET_PER_COUNT = 2;

/**
 * Adds one to `key`'s count in the window of `windowMs` holding `now` (windows start at multiples
 * of `windowMs` since the epoch) and returns it as `count`; in the same statement forgets up to
 * `FORGET_PER_COUNT` windows that are over, skipping rows another statement holds. The row the
 * count writes is never one it forgets: its window ends after `now`.
 */
export function countInWindowStatement(sql: SqlContext, key: string, options: { now: number; windowMs: number }): Statement {
  const { now, windowMs } = options;
  if (typeof key !== 'string') throw new InvalidOptionError('countInWindow: key must be a string');
  if (!Number.isSafeInteger(windowMs) || windowMs < 1)
    throw new InvalidOptionError(`countInWindow: windowMs must be a positive integer, got ${String(windowMs)}`);
  if (!Number.isFinite(now)) throw new InvalidOptionError(`countInWindow: now must be a finite number, got ${String(now)}`);
  const start = Math.floor(now / windowMs) * windowMs;
  return {
    text: `WITH forgotten AS (
             DELETE FROM ${sql.counters}
             WHERE (key, window_ms, window_start) IN (
               SELECT key, window_ms, window_start FROM ${sql.counters} WHERE until <= $1
               ORDER BY until LIMIT ${FORGET_PER_COUNT} FOR UPDATE SKIP LOCKED))
           INSERT INTO ${sql.counters} AS c (until, window_start, window_ms, count, key)
           VALUES ($2::bigint + $3::bigint, $2, $3, 1, $4)
           ON CONFLICT (key, window_ms, window_start) DO UPDATE SET count = c.count + 1
           RETURNING count`,
    values: [now, start, windowMs, key],
  };
}
