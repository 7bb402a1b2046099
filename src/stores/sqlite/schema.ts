/**
 * The table, its indexes and every statement the SQLite store runs, written once. Its columns are
 * the SQL stores' shared map (`SESSION_COLUMNS` in the store kit).
 */
import { InvalidOptionError, SESSION_COLUMNS, SESSION_COLUMN_LIST as COLUMNS, type SqlQueryDialect } from '../../store-kit/index.js';
import type { SqliteDatabase } from './driver.js';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The name checked and quoted; it is spliced into SQL, so only plain identifiers pass. */
export function quoteTableName(name: unknown): string {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    throw new InvalidOptionError(`table must be a plain SQL identifier (letters, digits, _; at most 63), got ${JSON.stringify(name)}`);
  }
  return `"${name}"`;
}

export function indexNames(table: string): {
  subject: string;
  created: string;
  expires: string;
  displayName: string;
  supersededUntil: string;
  appliedUntil: string;
  noticesDue: string;
  noticesAt: string;
} {
  return {
    subject: `${table}_subject_expires`,
    created: `${table}_subject_created`,
    expires: `${table}_expires`,
    displayName: `${table}_display_name`,
    supersededUntil: `${table}_superseded_until`,
    appliedUntil: `${table}_applied_until`,
    noticesDue: `${table}_notices_due`,
    noticesAt: `${table}_notices_at`,
  };
}

/**
 * The table of superseded tokens beside the sessions table. SQLite has no length limit on names,
 * so a `table` of up to 63 characters gives one of up to 74.
 */
export function supersededTableName(table: string): string {
  return `${table}_superseded`;
}

/** The table of idempotency keys of applied change sets, beside the sessions table. */
export function appliedTableName(table: string): string {
  return `${table}_applied`;
}

/** The session-notice outbox (`SessionOutbox`), beside the sessions table. */
export function noticesTableName(table: string): string {
  return `${table}_notices`;
}

/**
 * Idempotent DDL. `data` is JSON text; the two devices are four columns; times are ms since the epoch.
 * The second table holds sessions a login or rotation replaced, with the secret hashes that
 * opened them, until `superseded_until` (see `SessionStore.isSuperseded`); the third the
 * idempotency keys of applied change sets, until `until` (see `ApplyOptions.idempotency`); the
 * fourth the outbox's notices, each due at `due_at` (recorded, deferred, or the end of its lease).
 * Everything is `IF NOT EXISTS`: a file made by an earlier version gains what it lacks.
 */
export function schemaSql(table: string): string {
  const t = quoteTableName(table);
  const s = `"${supersededTableName(table)}"`;
  const a = `"${appliedTableName(table)}"`;
  const n = `"${noticesTableName(table)}"`;
  const index = indexNames(table);
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  id TEXT NOT NULL PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  subject TEXT,
  display_name TEXT,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  idle_timeout INTEGER NOT NULL,
  absolute_expires_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  authenticated_at INTEGER,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  created_ip TEXT,
  created_user_agent TEXT,
  last_ip TEXT,
  last_user_agent TEXT,
  renewed_at INTEGER,
  previous_secret_hash TEXT,
  previous_secret_expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${index.subject}" ON ${t} (subject, expires_at);
-- A subject's sessions in listing order: a page, a trim or a bounded revocation walks only its
-- own entries. created_at never changes, so touches leave this index alone.
CREATE INDEX IF NOT EXISTS "${index.created}" ON ${t} (subject, created_at, id) WHERE subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS "${index.expires}" ON ${t} (expires_at);
CREATE INDEX IF NOT EXISTS "${index.displayName}" ON ${t} (display_name);
CREATE TABLE IF NOT EXISTS ${s} (
  id TEXT NOT NULL PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  previous_secret_hash TEXT,
  superseded_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${index.supersededUntil}" ON ${s} (superseded_until);
CREATE TABLE IF NOT EXISTS ${a} (
  session_id TEXT NOT NULL,
  key TEXT NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY (session_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${index.appliedUntil}" ON ${a} (until);
CREATE TABLE IF NOT EXISTS ${n} (
  id TEXT NOT NULL PRIMARY KEY,
  type TEXT NOT NULL,
  session_id TEXT NOT NULL,
  subject TEXT,
  reason TEXT,
  at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  due_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${index.noticesDue}" ON ${n} (due_at);
CREATE INDEX IF NOT EXISTS "${index.noticesAt}" ON ${n} (at);
`;
}

/** Columns added after the first schema, with their types: added in place to older tables. */
export const ADDED_COLUMNS: ReadonlyArray<[string, string]> = [
  ['renewed_at', 'INTEGER'],
  ['previous_secret_hash', 'TEXT'],
  ['previous_secret_expires_at', 'INTEGER'],
];

/** Every fixed statement, by purpose. Parameters are positional, in the order the comments give. */
export function statementsSql(table: string) {
  const t = quoteTableName(table);
  const s = `"${supersededTableName(table)}"`;
  const a = `"${appliedTableName(table)}"`;
  const n = `"${noticesTableName(table)}"`;
  // `+expires_at` keeps the planner off the (subject, expires_at) index where the order is
  // (created_at, id): walking the subject's entries in that order stops after a page, sorting
  // them first would read them all.
  const oldestLive = `FROM ${t} WHERE subject = ? AND +expires_at > ?`;
  return {
    /** `rowValues(record)`: every column, in `SESSION_COLUMNS` order. */
    insert: `INSERT INTO ${t} (${COLUMNS}) VALUES (${SESSION_COLUMNS.map(() => '?').join(', ')})`,
    /** id */
    byId: `SELECT ${COLUMNS} FROM ${t} WHERE id = ?`,
    /** lastSeenAt, expiresAt, lastIp, lastUserAgent; id, version, previous lastSeenAt: unchanged since it was read. */
    touch: `UPDATE ${t} SET last_seen_at = ?, expires_at = ?, last_ip = ?, last_user_agent = ? WHERE id = ? AND version = ? AND last_seen_at = ?`,
    /** data, lastSeenAt, idleTimeout, expiresAt, lastIp, lastUserAgent, displayName, version, secretHash, renewedAt, previousSecretHash, previousSecretExpiresAt; id */
    update:
      `UPDATE ${t} SET data = ?, last_seen_at = ?, idle_timeout = ?, expires_at = ?, last_ip = ?, last_user_agent = ?, ` +
      `display_name = ?, version = ?, secret_hash = ?, renewed_at = ?, previous_secret_hash = ?, previous_secret_expires_at = ? WHERE id = ?`,
    /** id */
    deleteById: `DELETE FROM ${t} WHERE id = ? RETURNING id, subject`,
    /**
     * subject, now, except (null for none), cap: the subject's live sessions, counted up to `cap`
     * only, so that checking a limit never walks past it.
     */
    liveCount: `SELECT count(*) AS n FROM (SELECT 1 FROM ${t} WHERE subject = ? AND expires_at > ? AND id IS NOT ? LIMIT ?)`,
    /** subject, now, limit: the first page. */
    listFirst: `SELECT ${COLUMNS} ${oldestLive} ORDER BY created_at, id LIMIT ?`,
    /** subject, createdAt, id (of the previous page's last session), now, limit: the next page. */
    listAfter: `SELECT ${COLUMNS} FROM ${t} WHERE subject = ? AND (created_at, id) > (?, ?) AND +expires_at > ? ORDER BY created_at, id LIMIT ?`,
    /** subject, now, except (null for none), limit: the oldest live sessions, for a trim or a bounded revocation. */
    oldestLive: `SELECT id, subject ${oldestLive} AND id IS NOT ? ORDER BY created_at, id LIMIT ?`,
    /** sessionId, key */
    appliedKey: `SELECT until FROM ${a} WHERE session_id = ? AND key = ?`,
    /** sessionId, key, until */
    rememberKey: `INSERT INTO ${a} (session_id, key, until) VALUES (?, ?, ?) ON CONFLICT (session_id, key) DO UPDATE SET until = excluded.until`,
    /** sessionId: the keys of a session removed. */
    forgetKeysOf: `DELETE FROM ${a} WHERE session_id = ?`,
    /** now, limit: keys past their time, oldest first. */
    forgetKeys: `DELETE FROM ${a} WHERE (session_id, key) IN (SELECT session_id, key FROM ${a} WHERE until <= ? ORDER BY until LIMIT ?)`,
    /** now, limit: the longest-expired first. */
    expired: `SELECT id, subject, expires_at FROM ${t} WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
    /** now */
    countAll: `SELECT count(*) AS n FROM ${t} WHERE expires_at > ?`,
    /** subject, now */
    countBySubject: `SELECT count(*) AS n FROM ${t} WHERE subject = ? AND expires_at > ?`,
    /** id, secretHash, previousSecretHash (null when its grace period is over), supersededUntil */
    supersede:
      `INSERT INTO ${s} (id, secret_hash, previous_secret_hash, superseded_until) VALUES (?, ?, ?, ?) ` +
      'ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, previous_secret_hash = excluded.previous_secret_hash, superseded_until = excluded.superseded_until',
    /**
     * id, now, id, now: the hashes a replace remembered while they last, then the hash a renewal
     * replaced on the live session; the caller compares them.
     */
    supersededHashes:
      `SELECT secret_hash AS hash, previous_secret_hash AS previous FROM ${s} WHERE id = ? AND superseded_until > ? ` +
      `UNION ALL SELECT previous_secret_hash, NULL FROM ${t} WHERE id = ? AND expires_at > ? AND previous_secret_hash IS NOT NULL`,
    /** now, except (null for none), limit: forgets superseded tokens past their time, oldest first. */
    forgetSuperseded: `DELETE FROM ${s} WHERE id IN (SELECT id FROM ${s} WHERE superseded_until <= ? AND id IS NOT ? ORDER BY superseded_until LIMIT ?)`,
    /** id, type, sessionId, subject, reason, at, dueAt: a notice whose id is held is left as it is. */
    addNotice:
      `INSERT INTO ${n} (id, type, session_id, subject, reason, at, attempts, due_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?) ` +
      'ON CONFLICT (id) DO NOTHING',
    /** now, limit: the notices due, the earliest first. */
    dueNotices: `SELECT id, type, session_id, subject, reason, at, attempts FROM ${n} WHERE due_at <= ? ORDER BY due_at, id LIMIT ?`,
    /** leaseUntil, id: a notice claimed. */
    leaseNotice: `UPDATE ${n} SET due_at = ?, attempts = attempts + 1 WHERE id = ?`,
    /** dueAt, id */
    deferNotice: `UPDATE ${n} SET due_at = ? WHERE id = ?`,
    /** ids as a JSON array */
    removeNotices: `DELETE FROM ${n} WHERE id IN (SELECT value FROM json_each(?))`,
    /** (none) */
    countNotices: `SELECT count(*) AS n FROM ${n}`,
    /** limit, max: up to `limit` notices beyond the `max` most recent (by at, then id). */
    trimNotices: `DELETE FROM ${n} WHERE id IN (SELECT id FROM ${n} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?)`,
  };
}

/**
 * Brings a file made by any earlier version up to this one, in the caller's transaction: the
 * tables and indexes it lacks (the outbox's among them) are created, and the renewal columns,
 * which the sessions table lacked at first, are added in place.
 */
export function migrateSchema(db: SqliteDatabase, table: string): void {
  db.exec(schemaSql(table));
  const present = new Set((db.prepare(`PRAGMA table_info(${quoteTableName(table)})`).all() as Array<{ name: string }>).map((c) => c.name));
  for (const [column, type] of ADDED_COLUMNS) {
    if (!present.has(column)) db.exec(`ALTER TABLE ${quoteTableName(table)} ADD COLUMN ${column} ${type}`);
  }
}

export type StatementName = keyof ReturnType<typeof statementsSql>;

/**
 * How `querySql` is written for SQLite: `?` placeholders, their values pushed onto `values` in
 * order, and a display-name prefix as a range, which the index on `display_name` serves.
 */
export function queryDialect(table: string, values: unknown[]): SqlQueryDialect {
  const param = (value: unknown): string => {
    values.push(value);
    return '?';
  };
  return {
    table: quoteTableName(table),
    param,
    startsWith(prefix) {
      // Every name starts with '', and so does a missing one: no condition at all.
      if (prefix === '') return null;
      const upper = prefixUpperBound(prefix);
      return upper === null ? `display_name >= ${param(prefix)}` : `display_name >= ${param(prefix)} AND display_name < ${param(upper)}`;
    },
  };
}

/**
 * The least string above every string that starts with `prefix`, or null when there is none.
 * SQLite compares text byte by byte in UTF-8, which is code-point order, so the bound is the
 * prefix with its last code point raised by one; no pattern syntax is involved, so `%` and `_`
 * match only themselves.
 */
export function prefixUpperBound(prefix: string): string | null {
  const points = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = points.pop() as number;
    if (last < 0x10ffff) {
      // Surrogates are not characters; the next one after U+D7FF is U+E000.
      points.push(last === 0xd7ff ? 0xe000 : last + 1);
      return String.fromCodePoint(...points);
    }
  }
  return null;
}
