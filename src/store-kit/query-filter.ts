/**
 * What a `SessionQuery` matches, written once: as a predicate for stores that filter records in
 * JavaScript, and as the `WHERE` of a SQL store's statement. The two list the same filters in the
 * same order, so a change to one shows beside the other.
 */
import type { SessionQuery, SessionRecord } from '../core/store.js';
import { SESSION_COLUMN_LIST, type SqlType } from './sql-columns.js';

/** Whether `record` belongs in the answer to `query` (before paging: `limit` is not looked at). */
export function matchesQuery(record: SessionRecord, query: SessionQuery): boolean {
  return (
    query.now < record.expiresAt &&
    (query.subject === undefined || record.subject === query.subject) &&
    (query.displayNamePrefix === undefined || (record.displayName ?? '').startsWith(query.displayNamePrefix)) &&
    (query.id === undefined || record.id === query.id) &&
    (query.cursor == null || record.id > query.cursor)
  );
}

/** How a SQL store writes what differs between databases. */
export interface SqlQueryDialect {
  /** The sessions table as the statement names it: quoted, and qualified where the store is. */
  table: string;
  /** The placeholder for `value`, which the dialect records in order; `type` is for dialects that cast. */
  param(value: unknown, type: SqlType): string;
  /**
   * The condition on `display_name` for names starting with `prefix`, its values given through
   * `param`; null for none. Pattern characters in `prefix` must match only themselves.
   */
  startsWith(prefix: string): string | null;
}

/**
 * The live sessions matching `query`, in id order, at most `rows` of them (pass `lookahead(limit)`
 * to page): `matchesQuery` in SQL. The store's columns are `SESSION_COLUMNS`.
 */
export function querySql(query: SessionQuery, rows: number, dialect: SqlQueryDialect): string {
  const { param } = dialect;
  const where = [`expires_at > ${param(query.now, 'bigint')}`];
  if (query.subject !== undefined) where.push(`subject = ${param(query.subject, 'text')}`);
  const prefix = query.displayNamePrefix === undefined ? null : dialect.startsWith(query.displayNamePrefix);
  if (prefix !== null) where.push(prefix);
  if (query.id !== undefined) where.push(`id = ${param(query.id, 'text')}`);
  if (query.cursor != null) where.push(`id > ${param(query.cursor, 'text')}`);
  return `SELECT ${SESSION_COLUMN_LIST} FROM ${dialect.table} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${param(rows, 'integer')}`;
}
