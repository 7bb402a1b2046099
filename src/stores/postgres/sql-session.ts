/**
 * The statements that act on one session, as pure functions: each returns the text and values
 * of one statement (the request path is one statement per operation), and none needs a database.
 */
import {
  SESSION_COLUMNS,
  SESSION_COLUMN_LIST,
  rowValues,
  type ChangeSet,
  type CreateOptions,
  type LoadOptions,
  type NoticeRequest,
  type SessionRecord,
} from '../../store-kit/index.js';
import { Params, originGuard, type SqlContext, type Statement } from './params.js';
import { endedNoticesSql } from './sql-outbox.js';

/** Largest integer a counter is read as; larger or fractional values count as 0, as in `applyChangeSet`. */
const MAX_SAFE = '9007199254740991';
/**
 * Superseded tokens past their time that each replace forgets: more than the one it adds, so that
 * logins alone keep the table at what their `supersededUntil` windows hold, without any sweep.
 */
export const FORGET_PER_REPLACE = 2;

export function insertStatement(sql: SqlContext, record: SessionRecord): Statement {
  const placeholders = SESSION_COLUMNS.map((column, i) => (column.type === 'json' ? `$${i + 1}::jsonb` : `$${i + 1}`));
  return { text: `INSERT INTO ${sql.sessions} (${SESSION_COLUMN_LIST}) VALUES (${placeholders.join(', ')})`, values: rowValues(record) };
}

/** Serializes the statements that count a subject's sessions and act on the count (limited logins, trims), until commit. */
export function subjectLockStatement(sql: SqlContext, subject: string): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', values: [sql.sessions, subject] };
}

/**
 * A create that replaces a session or is limited, in one statement: its row says how many
 * sessions it `replaced` (0: the replaced one was gone or had moved on) and `created` (0: the
 * subject was at its limit), and how many replacements it `notified`.
 */
export function createStatement(sql: SqlContext, record: SessionRecord, options: CreateOptions): Statement {
  const { now, replaces, limit } = options;
  const p = new Params();
  const at = p.add(now, 'bigint');
  const ctes: string[] = [];
  const conditions: string[] = [];
  let replacedId = 'NULL::text';
  if (replaces !== undefined) {
    replacedId = p.add(replaces.id, 'text');
    const channel = p.add(sql.channel, 'text');
    // The removal, the memory of the secrets that opened the session a moment ago (the previous
    // one only in its grace period), its idempotency keys, and a few forgotten tokens past their time.
    ctes.push(
      `gone AS (
         DELETE FROM ${sql.sessions} WHERE id = ${replacedId} AND version = ${p.add(replaces.version, 'integer')} AND expires_at > ${at}
           AND ${originGuard(p.add(sql.origin, 'text'))}
         RETURNING id, subject, secret_hash, previous_secret_hash, previous_secret_expires_at)`,
      `remembered AS (
         INSERT INTO ${sql.superseded} (superseded_until, id, secret_hash, previous_secret_hash)
         SELECT ${p.add(replaces.supersededUntil, 'bigint')}, id, secret_hash, CASE WHEN ${at} < previous_secret_expires_at THEN previous_secret_hash END FROM gone
         ON CONFLICT (id) DO UPDATE SET superseded_until = excluded.superseded_until, secret_hash = excluded.secret_hash,
           previous_secret_hash = excluded.previous_secret_hash)`,
      `forgotten AS (
         DELETE FROM ${sql.superseded} WHERE id = ANY(ARRAY(
           SELECT id FROM ${sql.superseded} WHERE superseded_until <= ${at} AND id <> ${replacedId}
           ORDER BY superseded_until LIMIT ${FORGET_PER_REPLACE} FOR UPDATE SKIP LOCKED)))`,
      `keys AS (DELETE FROM ${sql.applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone)))`,
      `notified AS (SELECT pg_notify(${channel}, json_build_object('type', 'replaced', 'id', id, 'subject', subject)::text) FROM gone)`,
    );
    conditions.push('EXISTS (SELECT 1 FROM gone)');
  }
  if (limit !== undefined && record.subject !== null) {
    const max = p.add(limit.max, 'integer');
    // Counted up to the limit only: a subject with thousands of sessions costs no more.
    ctes.push(
      `live AS (SELECT count(*)::int AS n FROM (
         SELECT 1 FROM ${sql.sessions} WHERE subject = ${p.add(record.subject, 'text')} AND expires_at > ${at} AND id IS DISTINCT FROM ${replacedId} LIMIT ${max}) AS counted)`,
    );
    conditions.push(`(SELECT n FROM live) < ${max}`);
  }
  // Parameters typed: an INSERT ... SELECT has no VALUES to infer them from.
  const row = rowValues(record);
  const values = SESSION_COLUMNS.map((column, i) => p.add(row[i], column.type));
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  ctes.push(`created AS (INSERT INTO ${sql.sessions} (${SESSION_COLUMN_LIST}) SELECT ${values.join(', ')}${where} RETURNING id)`);
  return {
    text: `WITH ${ctes.join(',\n')}
           SELECT ${replaces !== undefined ? '(SELECT count(*) FROM gone)::int' : '1'} AS replaced,
                  ${replaces !== undefined ? '(SELECT count(*) FROM notified)::int' : '0'} AS notified,
                  (SELECT count(*) FROM created)::int AS created`,
    values: p.values,
  };
}

/** The live session whose secret matches, touched in the same statement when a touch is due. */
export function loadStatement(sql: SqlContext, id: string, options: LoadOptions): Statement {
  const p = new Params();
  const idParam = p.add(id, 'text');
  const now = p.add(options.now, 'bigint');
  const secret = p.add(options.secretHash ?? null, 'text');
  // The current secret, or the one a renewal replaced while its grace period lasts (as `secretAccepted`).
  const match = `id = ${idParam} AND expires_at > ${now}
      AND (${secret} IS NULL OR secret_hash = ${secret} OR (previous_secret_hash = ${secret} AND ${now} < previous_secret_expires_at))`;
  if (options.touch === undefined) return { text: `SELECT * FROM ${sql.sessions} WHERE ${match}`, values: p.values };
  const device = options.device;
  const hasDevice = p.add(device !== undefined, 'boolean');
  const ip = p.add(device?.ip ?? null, 'text');
  const userAgent = p.add(device?.userAgent ?? null, 'text');
  const maxInterval = p.add(options.touch.maxIntervalMs, 'float8');
  const fraction = p.add(options.touch.idleFraction, 'float8');
  // The same rule as `isTouchDue`; a read inside the window matches no row to update and writes nothing.
  const text = `WITH hit AS (SELECT * FROM ${sql.sessions} WHERE ${match}),
        touched AS (
          UPDATE ${sql.sessions} SET
            last_seen_at = ${now},
            expires_at = least(${now} + idle_timeout::bigint * 1000, absolute_expires_at),
            last_ip = CASE WHEN ${hasDevice} THEN ${ip} ELSE last_ip END,
            last_user_agent = CASE WHEN ${hasDevice} THEN ${userAgent} ELSE last_user_agent END
          WHERE ${match} AND ${originGuard(p.add(sql.origin, 'text'))}
            AND ${now} - last_seen_at >= least(${maxInterval}, floor(idle_timeout::float8 * 1000 * ${fraction}))
          RETURNING *)
        SELECT * FROM touched
        UNION ALL
        SELECT * FROM hit WHERE NOT EXISTS (SELECT 1 FROM touched)`;
  return { text, values: p.values };
}

/** The new `data`: deletes, then sets, then increments, each step seeing the one before it. */
function dataAfter(changes: ChangeSet, p: Params): string {
  let data = 'data';
  if (changes.delete !== undefined && changes.delete.length > 0) data = `(${data} - ${p.add(changes.delete, 'text[]')})`;
  if (changes.set !== undefined && Object.keys(changes.set).length > 0) data = `(${data} || ${p.add(JSON.stringify(changes.set), 'json')})`;
  if (changes.increment !== undefined && Object.keys(changes.increment).length > 0) {
    const current = `(${data} -> inc.key)`;
    const counter = `CASE WHEN jsonb_typeof(${current}) = 'number' THEN
          CASE WHEN ${current}::numeric = trunc(${current}::numeric) AND abs(${current}::numeric) <= ${MAX_SAFE} THEN ${current}::numeric ELSE 0 END
        ELSE 0 END`;
    const increments = p.add(JSON.stringify(changes.increment), 'json');
    data = `(${data} || coalesce((SELECT jsonb_object_agg(inc.key, to_jsonb(${counter} + inc.value::numeric)) FROM jsonb_each(${increments}) AS inc), '{}'::jsonb))`;
  }
  return data;
}

/** The UPDATE of a change set, for the rows `where` picks, returning `returning`. */
function updateSql(sql: SqlContext, changes: ChangeSet, p: Params): (where: string, returning?: string) => string {
  const data = dataAfter(changes, p);
  const lastSeenAt = p.add(changes.lastSeenAt ?? null, 'bigint');
  const idleTimeout = p.add(changes.idleTimeout ?? null, 'integer');
  const hasDevice = p.add(changes.lastDevice !== undefined, 'boolean');
  const ip = p.add(changes.lastDevice?.ip ?? null, 'text');
  const userAgent = p.add(changes.lastDevice?.userAgent ?? null, 'text');
  const hasDisplayName = p.add(changes.displayName !== undefined, 'boolean');
  const displayName = p.add(changes.displayName ?? null, 'text');
  const renew = changes.renewSecret;
  const renewal =
    renew === undefined
      ? ''
      : `
        secret_hash = ${p.add(renew.secretHash, 'text')},
        renewed_at = ${p.add(renew.renewedAt, 'bigint')},
        previous_secret_hash = ${p.add(renew.previousSecretHash, 'text')},
        previous_secret_expires_at = ${p.add(renew.previousSecretExpiresAt, 'bigint')},`;
  const seen = `greatest(last_seen_at, coalesce(${lastSeenAt}, last_seen_at))`;
  const guard = originGuard(p.add(sql.origin, 'text'));
  return (where, returning = '*') => `UPDATE ${sql.sessions} SET
        data = ${data},
        last_seen_at = ${seen},
        idle_timeout = coalesce(${idleTimeout}, idle_timeout),
        expires_at = least(${seen} + coalesce(${idleTimeout}, idle_timeout)::bigint * 1000, absolute_expires_at),
        last_ip = CASE WHEN ${hasDevice} THEN ${ip} ELSE last_ip END,
        last_user_agent = CASE WHEN ${hasDevice} THEN ${userAgent} ELSE last_user_agent END,
        display_name = CASE WHEN ${hasDisplayName} THEN ${displayName} ELSE display_name END,${renewal}
        version = version + 1
      WHERE ${where} AND ${guard}
      RETURNING ${returning}`;
}

/** What an apply statement's row says happened; no row: the session is gone. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'conflict';

/**
 * A change set applied in one statement, conditional on the session being live (and at
 * `expectedVersion`, when given). Its row is the session after the change, or as it stands when
 * nothing was applied, with an `outcome` column.
 */
export function applyStatement(
  sql: SqlContext,
  id: string,
  changes: ChangeSet,
  options: { now: number; expectedVersion?: number; idempotency?: { key: string; until: number } },
): Statement {
  const p = new Params();
  const idParam = p.add(id, 'text');
  const now = p.add(options.now, 'bigint');
  const update = updateSql(sql, changes, p);
  const live = `id = ${idParam} AND expires_at > ${now}`;
  const expected = options.expectedVersion !== undefined ? p.add(options.expectedVersion, 'integer') : null;
  if (options.idempotency !== undefined) return applyOnce(sql, p, { idParam, now, live, expected, update }, options.idempotency);
  if (expected === null) return { text: update(live, `'applied' AS outcome, *`), values: p.values };
  // With compare-and-set, the current row comes back in the same statement when the version
  // differs; `current` is only read when nothing was applied. It is the statement's snapshot, so
  // under contention it may already be stale: the caller's retry then conflicts once more.
  // (Locking it FOR SHARE to get the newest version measured slower: 200 contending CAS
  // increments took ~25 s instead of ~15 s.) Not applied though the row was live: a version
  // mismatch, or a concurrent change this statement waited for.
  const text = `WITH applied AS (${update(`${live} AND version = ${expected}`)}), current AS (SELECT * FROM ${sql.sessions} WHERE ${live})
         SELECT 'applied' AS outcome, * FROM applied
         UNION ALL
         SELECT 'conflict' AS outcome, * FROM current WHERE NOT EXISTS (SELECT 1 FROM applied)`;
  return { text, values: p.values };
}

/**
 * A change set with an idempotency key, still one statement. The live row is locked first, so a
 * retry that arrives while the first attempt still runs (its client gave up, the server did not)
 * waits for it; the key is then claimed with an insert that sees committed keys whatever the
 * snapshot, and only a claimed key lets the update through. A key already applied answers the
 * locked, newest row as a duplicate. Nothing is remembered on a conflict or for a missing session.
 */
function applyOnce(
  sql: SqlContext,
  p: Params,
  parts: { idParam: string; now: string; live: string; expected: string | null; update: (where: string) => string },
  idempotency: { key: string; until: number },
): Statement {
  const { idParam, now, live, expected, update } = parts;
  const key = p.add(idempotency.key, 'text');
  const until = p.add(idempotency.until, 'bigint');
  // With compare-and-set, an unclaimed key is a duplicate only if the key is there; else the
  // version differed. (Seen through the snapshot: a key committed while this statement waited
  // shows as a conflict, and the caller's retry then finds it.)
  const duplicate =
    expected === null ? 'true' : `EXISTS (SELECT 1 FROM ${sql.applied} WHERE session_id = ${idParam} AND key = ${key} AND until > ${now})`;
  const text = `WITH target AS (SELECT * FROM ${sql.sessions} WHERE ${live} FOR UPDATE),
      claimed AS (
        INSERT INTO ${sql.applied} (until, session_id, key)
        SELECT ${until}, id, ${key} FROM target${expected !== null ? ` WHERE version = ${expected}` : ''}
        ON CONFLICT (session_id, key) DO UPDATE SET until = excluded.until WHERE ${sql.applied}.until <= ${now}
        RETURNING session_id),
      applied AS (${update(`id = ${idParam} AND id IN (SELECT session_id FROM claimed)`)})
      SELECT 'applied' AS outcome, * FROM applied
      UNION ALL
      SELECT CASE WHEN ${duplicate} THEN 'duplicate' ELSE 'conflict' END, * FROM target WHERE NOT EXISTS (SELECT 1 FROM applied)`;
  return { text, values: p.values };
}

/**
 * Removes a session with its idempotency keys, publishing the revocation; its row is what was
 * removed. With `notice`, its `session.ended` notice too, due at `notice.at`.
 */
export function deleteStatement(sql: SqlContext, id: string, notice?: NoticeRequest): Statement {
  const noticed =
    notice === undefined ? '' : `,\n                ${endedNoticesSql(sql, { at: '$5::bigint', dueAt: '$5::bigint', reason: '$4::text' })}`;
  return {
    text: `WITH gone AS (DELETE FROM ${sql.sessions} WHERE id = $1 AND ${originGuard('$3')} RETURNING id, subject),
                keys AS (DELETE FROM ${sql.applied} WHERE session_id = $1)${noticed}
           SELECT id, subject, pg_notify($2, json_build_object('type', 'revoked', 'id', id, 'subject', subject)::text) FROM gone`,
    values: notice === undefined ? [id, sql.channel, sql.origin] : [id, sql.channel, sql.origin, notice.reason, notice.at],
  };
}

/**
 * Compared in SQL, as `load` compares secrets: the hashes a replace remembered while they last,
 * or the one a renewal replaced on the live session, grace period over or not. One row, `superseded`.
 */
export function isSupersededStatement(sql: SqlContext, id: string, options: { now: number; secretHash: string }): Statement {
  return {
    text: `SELECT EXISTS (SELECT 1 FROM ${sql.superseded}
                          WHERE id = $1 AND superseded_until > $2 AND (secret_hash = $3 OR previous_secret_hash = $3))
               OR EXISTS (SELECT 1 FROM ${sql.sessions} WHERE id = $1 AND expires_at > $2 AND previous_secret_hash = $3) AS superseded`,
    values: [id, options.now, options.secretHash],
  };
}
