/**
 * The statements over many sessions (a subject's, a query's, the expired ones), as pure functions
 * returning the text and values of one statement each. Every one walks an index for about a page.
 */
import {
  SESSION_COLUMN_LIST,
  querySql,
  type CreationKey,
  type NoticeRequest,
  type SessionQuery,
  type SqlQueryDialect,
} from '../../store-kit/index.js';
import { Params, originGuard, type SqlContext, type Statement } from './params.js';
import { endedNoticesSql } from './sql-outbox.js';

/**
 * The tail of a statement (its CTEs from `victims` on) removing the oldest (`created_at`, then
 * id) live sessions of subject $1 at now $2 that match `condition`, at most `limit` of them,
 * with their idempotency keys, publishing each on the channel parameter, and recording each
 * one's `session.ended` notice when `notice` gives the placeholders of its reason and time;
 * oldest first. Walks the (subject, created_at, id) index for no more than `limit` entries (plus
 * expired ones).
 */
function removeOldestSql(
  sql: SqlContext,
  parts: { condition: string; limit: string; channel: string; origin: string; notice: { reason: string; at: string } | null },
): string {
  const { condition, limit, channel, origin, notice } = parts;
  // The notices are due at once: at the call's `now` ($2).
  const noticed =
    notice === null ? '' : `,\n            ${endedNoticesSql(sql, { at: notice.at, dueAt: '$2::bigint', reason: notice.reason })}`;
  return `victims AS (
              SELECT id FROM ${sql.sessions} WHERE subject = $1 AND expires_at > $2 AND ${condition}
              ORDER BY created_at, id LIMIT ${limit} FOR UPDATE),
            gone AS (DELETE FROM ${sql.sessions} WHERE id = ANY(ARRAY(SELECT id FROM victims)) AND ${originGuard(origin)} RETURNING id, subject, created_at),
            keys AS (DELETE FROM ${sql.applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone)))${noticed}
            SELECT id, subject, pg_notify(${channel}, json_build_object('type', 'revoked', 'id', id, 'subject', subject)::text) FROM gone
            ORDER BY created_at, id`;
}

/** The subject's live sessions other than `except`, counted up to `cap` only; one row, `n`. */
export function liveCountStatement(
  sql: SqlContext,
  subject: string,
  options: { now: number; except: string | null; cap: number },
): Statement {
  return {
    text: `SELECT count(*)::int AS n FROM (
             SELECT 1 FROM ${sql.sessions} WHERE subject = $1 AND expires_at > $2 AND id IS DISTINCT FROM $3::text LIMIT $4) AS counted`,
    values: [subject, options.now, options.except, options.cap],
  };
}

/** The placeholders of a notice request's reason and time, after `count` values, or null without one. */
function noticeParams(notice: NoticeRequest | undefined, count: number): { reason: string; at: string } | null {
  return notice === undefined ? null : { reason: `$${count + 1}::text`, at: `$${count + 2}::bigint` };
}

/** The values of a notice request, to append. */
function noticeValues(notice: NoticeRequest | undefined): unknown[] {
  return notice === undefined ? [] : [notice.reason, notice.at];
}

/**
 * Ends the subject's oldest live sessions beyond `max`, never `keep`, at most `batch`; counted and
 * removed in one statement, which records their `session.ended` notices with `notice`.
 */
export function trimStatement(
  sql: SqlContext,
  subject: string,
  options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
): Statement {
  const removal = removeOldestSql(sql, {
    condition: 'id <> $5',
    limit: 'greatest(0, least((SELECT n FROM live) - $3::int, $4::int))',
    channel: '$6',
    origin: '$7',
    notice: noticeParams(options.notice, 7),
  });
  return {
    text: `WITH live AS (SELECT count(*)::int AS n FROM (
             SELECT 1 FROM ${sql.sessions} WHERE subject = $1 AND expires_at > $2 LIMIT $3::int + $4::int) AS counted),
           ${removal}`,
    values: [subject, options.now, options.max, options.batch, options.keep, sql.channel, sql.origin, ...noticeValues(options.notice)],
  };
}

/** Removes up to `limit` of the subject's live sessions, oldest first, never `except`; with `notice`, records their notices. */
export function deleteBySubjectStatement(
  sql: SqlContext,
  subject: string,
  options: { now: number; except: string | null; limit: number; notice?: NoticeRequest },
): Statement {
  const removal = removeOldestSql(sql, {
    condition: 'id IS DISTINCT FROM $3',
    limit: '$4',
    channel: '$5',
    origin: '$6',
    notice: noticeParams(options.notice, 6),
  });
  return {
    text: `WITH ${removal}`,
    values: [subject, options.now, options.except, options.limit, sql.channel, sql.origin, ...noticeValues(options.notice)],
  };
}

/**
 * Keyset paging on (subject, created_at, id): the index is walked from the cursor, in order, for
 * `rows` rows however many the subject has.
 */
export function listStatement(
  sql: SqlContext,
  subject: string,
  options: { now: number; after: CreationKey | null; rows: number },
): Statement {
  const { now, after, rows } = options;
  if (after === null) {
    return {
      text: `SELECT ${SESSION_COLUMN_LIST} FROM ${sql.sessions} WHERE subject = $1 AND expires_at > $2 ORDER BY created_at, id LIMIT $3`,
      values: [subject, now, rows],
    };
  }
  return {
    text: `SELECT ${SESSION_COLUMN_LIST} FROM ${sql.sessions} WHERE subject = $1 AND (created_at, id) > ($2::bigint, $3::text) AND expires_at > $4
           ORDER BY created_at, id LIMIT $5`,
    values: [subject, after.createdAt, after.id, now, rows],
  };
}

/** `LIKE` pattern for "starts with", with the pattern characters of the prefix taken literally. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** `querySql` for PostgreSQL: `$n` placeholders, cast; a prefix as `LIKE`, which the `text_pattern_ops` index serves. */
export function queryStatement(sql: SqlContext, query: SessionQuery, rows: number): Statement {
  const p = new Params();
  const dialect: SqlQueryDialect = {
    table: sql.sessions,
    param: (value, type) => p.add(value, type),
    // Every name starts with '', and so does a missing one, as in the other stores: no condition.
    startsWith: (prefix) => (prefix === '' ? null : `display_name LIKE ${p.add(likePrefix(prefix), 'text')}`),
  };
  // Unprepared: which index serves it depends on the prefix (see `Statement.unprepared`).
  return { text: querySql(query, rows, dialect), values: p.values, unprepared: true };
}

/** Live sessions, all or the subject's; one row, `n`. */
export function countStatement(sql: SqlContext, filter: { now: number; subject?: string }): Statement {
  return filter.subject === undefined
    ? { text: `SELECT count(*) AS n FROM ${sql.sessions} WHERE expires_at > $1`, values: [filter.now] }
    : { text: `SELECT count(*) AS n FROM ${sql.sessions} WHERE subject = $1 AND expires_at > $2`, values: [filter.subject, filter.now] };
}

/**
 * A sweep batch. SKIP LOCKED: concurrent sweepers take disjoint batches and never wait on each
 * other. The batch is collected first (an init plan), so the delete touches only its ids whatever
 * the backlog; FOR UPDATE re-checks the expiry of a row changed since the statement began. The
 * same statement forgets a batch of superseded tokens past their time, which it does not report,
 * idempotency keys past their time, and those of the sessions removed, and a batch of counter
 * windows that are over (`countInWindow`). Its rows are the sessions removed. With `notice`, it
 * records each one's `session.ended` notice (reason `expired`, at its `expires_at`), due at `now`.
 */
export function deleteExpiredStatement(sql: SqlContext, now: number, limit: number, notice = false): Statement {
  const noticed = notice
    ? `,
           ${endedNoticesSql(sql, { at: 'expires_at', dueAt: '$1::bigint', reason: "'expired'" })}`
    : '';
  return {
    text: `WITH forgotten AS (
             DELETE FROM ${sql.superseded}
             WHERE id = ANY(ARRAY(SELECT id FROM ${sql.superseded} WHERE superseded_until <= $1 ORDER BY superseded_until LIMIT $2 FOR UPDATE SKIP LOCKED))),
           outdated AS (
             DELETE FROM ${sql.applied}
             WHERE (session_id, key) IN (SELECT session_id, key FROM ${sql.applied} WHERE until <= $1 ORDER BY until LIMIT $2 FOR UPDATE SKIP LOCKED)),
           gone AS (
             DELETE FROM ${sql.sessions}
             WHERE id = ANY(ARRAY(SELECT id FROM ${sql.sessions} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
               AND ${originGuard('$3')}
             RETURNING id, subject${notice ? ', expires_at' : ''}),
           keys AS (DELETE FROM ${sql.applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone))),
           windows AS (
             DELETE FROM ${sql.counters}
             WHERE (key, window_ms, window_start) IN (
               SELECT key, window_ms, window_start FROM ${sql.counters} WHERE until <= $1 ORDER BY until LIMIT $2 FOR UPDATE SKIP LOCKED))${noticed}
         SELECT id, subject FROM gone`,
    values: [now, limit, sql.origin],
  };
}
