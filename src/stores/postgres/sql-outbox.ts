/**
 * The outbox's statements (session notices waiting for delivery), as pure functions returning
 * the text and values of one statement each; and the part the ending statements add to record a
 * `session.ended` notice per session they remove, in the same statement.
 */
import type { EndReason, NoticeType, SessionNotice } from '../../store-kit/index.js';
import type { SqlContext, Statement } from './params.js';

/** The notice's columns, fixed-width first as in the table. */
const NOTICE_COLUMNS = 'at, due_at, attempts, id, type, session_id, subject, reason';
/** What a claim returns, in `SessionNotice`'s order. */
const NOTICE_FIELDS = 'id, type, session_id, subject, reason, at, attempts';

/**
 * A CTE (`noticed`) inserting the `session.ended` notice of every row of the CTE `gone` (its
 * `id` and `subject`), with the SQL expressions `at`, `dueAt` and `reason`; a notice already
 * held is left as it is. A data-modifying CTE runs whether or not the statement reads it, in the
 * statement's one snapshot and transaction: the notices commit with the removal, or neither does.
 */
export function endedNoticesSql(sql: SqlContext, values: { at: string; dueAt: string; reason: string }): string {
  return `noticed AS (
             INSERT INTO ${sql.notices} (${NOTICE_COLUMNS})
             SELECT ${values.at}, ${values.dueAt}, 0, 'session.ended:' || id, 'session.ended', id, subject, ${values.reason} FROM gone
             ON CONFLICT (id) DO NOTHING)`;
}

/** Notices recorded outside an ending call, due at once (at their `at`); ids already held are ignored. */
export function addNoticesStatement(sql: SqlContext, notices: readonly Omit<SessionNotice, 'attempts'>[]): Statement {
  return {
    text: `INSERT INTO ${sql.notices} (${NOTICE_COLUMNS})
           SELECT at, at, 0, id, type, session_id, subject, reason
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(at, id, type, session_id, subject, reason)
           ON CONFLICT (id) DO NOTHING`,
    values: [
      notices.map((n) => n.at),
      notices.map((n) => n.id),
      notices.map((n) => n.type),
      notices.map((n) => n.sessionId),
      notices.map((n) => n.subject),
      notices.map((n) => n.reason),
    ],
  };
}

/**
 * Claims up to `limit` notices due at `now`, earliest due first, in one statement: the batch is
 * locked `SKIP LOCKED` (a concurrent claimer takes other rows and never waits), then moved to
 * `leaseUntil` with one more attempt. A row another claimer committed meanwhile is re-checked
 * under its lock, is no longer due, and is left out. Ordered by `due_at` alone, so the index walk
 * stops after `limit` rows: a sweep's notices share one due time, and a tie-break on id sorted
 * the whole group (about 20 times slower for 5,000 ties). The rows come back in claim order.
 */
export function claimNoticesStatement(sql: SqlContext, options: { now: number; limit: number; leaseUntil: number }): Statement {
  return {
    text: `WITH due AS (
             SELECT id, due_at FROM ${sql.notices} WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED),
           claimed AS (
             UPDATE ${sql.notices} AS n SET due_at = $3, attempts = n.attempts + 1 FROM due WHERE n.id = due.id
             RETURNING n.id, n.type, n.session_id, n.subject, n.reason, n.at, n.attempts, due.due_at AS was_due)
           SELECT ${NOTICE_FIELDS} FROM claimed ORDER BY was_due, id`,
    values: [options.now, options.limit, options.leaseUntil],
  };
}

/** Removes the notices with these ids. */
export function removeNoticesStatement(sql: SqlContext, ids: readonly string[]): Statement {
  return { text: `DELETE FROM ${sql.notices} WHERE id = ANY($1::text[])`, values: [ids] };
}

/** Makes a notice due again at `dueAt`. */
export function deferNoticeStatement(sql: SqlContext, id: string, dueAt: number): Statement {
  return { text: `UPDATE ${sql.notices} SET due_at = $2 WHERE id = $1`, values: [id, dueAt] };
}

/** Notices held, claimed ones included; one row, `n`. The cap (`trimNotices`) keeps the walk short. */
export function countNoticesStatement(sql: SqlContext): Statement {
  return { text: `SELECT count(*)::int AS n FROM ${sql.notices}`, values: [] };
}

/**
 * Removes the notices beyond the `max` most recent (by `at`; which of equal ones is kept is left
 * open); one row, `n`, how many. Walks the `at` index backwards past the `max` kept. Not `SKIP LOCKED`: a notice being claimed is waited
 * for and removed too, or the table would stay over the cap by the batches in flight.
 */
export function trimNoticesStatement(sql: SqlContext, max: number): Statement {
  return {
    text: `WITH trimmed AS (
             DELETE FROM ${sql.notices} WHERE id = ANY(ARRAY(SELECT id FROM ${sql.notices} ORDER BY at DESC OFFSET $1))
             RETURNING 1)
           SELECT count(*)::int AS n FROM trimmed`,
    values: [max],
  };
}

/** A notice row as `pg` returns it: bigint columns as strings. */
export interface NoticeRow {
  id: string;
  type: string;
  session_id: string;
  subject: string | null;
  reason: string | null;
  at: string | number;
  attempts: number;
}

export function noticeFromRow(row: NoticeRow): SessionNotice {
  return {
    id: row.id,
    type: row.type as NoticeType,
    sessionId: row.session_id,
    subject: row.subject,
    reason: row.reason as EndReason | null,
    at: Number(row.at),
    attempts: row.attempts,
  };
}
