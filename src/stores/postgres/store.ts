import { createHash } from 'node:crypto';
import { BadRequestError, InvalidOptionError, StoreUnavailableError } from '../../core/errors.js';
import type {
  ApplyOptions,
  ApplyResult,
  ChangeSet,
  CreateOptions,
  CreateResult,
  JsonValue,
  LoadOptions,
  RemovedSession,
  SessionIndex,
  SessionPage,
  SessionQuery,
  SessionRecord,
  SessionStore,
} from '../../core/store.js';
import { AbandonedStatements, mayStillRun } from './abandoned.js';
import { isUnavailable, quoteIdent, translateError, type PgNotification, type PgPool, type PgPoolClient, type PgQueryResult } from './driver.js';
import { migrate, resolveNames, type ResolvedNames } from './migrations.js';

export interface PostgresStoreOptions {
  /**
   * Where to connect; the store opens (and `close()` ends) its own pool. Give this or `pool`.
   * @example 'postgres://tessera@127.0.0.1:5432/app'
   */
  connectionString?: string;
  /**
   * An existing `pg.Pool` to use instead. `close()` leaves it open, and its own settings decide
   * its connect timeout and server-side `statement_timeout` (the client-side limit of
   * `statementTimeout` still applies). Give it an `'error'` listener, as `pg` requires.
   */
  pool?: PgPool;
  /** @default 'public' */
  schema?: string;
  /**
   * The sessions table, at most 48 characters. Superseded tokens live beside it in
   * `<table>_superseded`.
   * @default 'tessera_sessions'
   */
  table?: string;
  /**
   * Milliseconds to wait for a new connection before the request fails with
   * `StoreUnavailableError` (only for the pool the store opens).
   * @default 2000
   */
  connectionTimeout?: number;
  /**
   * Milliseconds a statement may run: the server cancels it (`statement_timeout`, on the pool the
   * store opens) and the client gives up a second later in any case, so a server that stops
   * answering turns into `StoreUnavailableError` instead of a hung request. When the client gives
   * up first (a given pool without a shorter `statement_timeout`, a frozen server, a broken
   * connection) the server may still run the statement: the store then ends that backend
   * (`pg_terminate_backend`) before its next write, so that an undo comes after it.
   * @default 2000
   */
  statementTimeout?: number;
  /**
   * Most connections of the pool the store opens.
   * @default 10
   */
  poolSize?: number;
  /**
   * Apply missing schema migrations on first use. Turn off when a deployment step runs `migrate`.
   * @default true
   */
  migrate?: boolean;
  /**
   * The `LISTEN/NOTIFY` channel that revocations and rotations are published on.
   * @default 'tessera_sessions'
   */
  channel?: string;
}

/** A change other instances may need to react to, for example by dropping a cached session. */
export interface SessionChange {
  /** `revoked`: deleted (logout, admin, eviction); `replaced`: superseded by login or rotation. */
  type: 'revoked' | 'replaced';
  id: string;
  subject: string | null;
}

export type SessionChangeListener = (change: SessionChange) => void;

interface SessionRow {
  id: string;
  secret_hash: string;
  subject: string | null;
  display_name: string | null;
  created_at: string | number;
  last_seen_at: string | number;
  idle_timeout: number;
  absolute_expires_at: string | number;
  expires_at: string | number;
  authenticated_at: string | number | null;
  version: number;
  data: Record<string, JsonValue> | string;
  created_ip: string | null;
  created_user_agent: string | null;
  last_ip: string | null;
  last_user_agent: string | null;
  renewed_at: string | number;
  previous_secret_hash: string | null;
  previous_secret_expires_at: string | number | null;
}

interface ListenConnection {
  client: PgPoolClient;
  /** Detaches this store's handlers from the client. */
  stop(): void;
}

/** The client gives up this long after the server's `statement_timeout` would have fired. */
const CLIENT_TIMEOUT_MARGIN = 1000;
/** Largest integer a counter is read as; larger or fractional values count as 0, as in `applyChangeSet`. */
const MAX_SAFE = '9007199254740991';
const RELISTEN_DELAY = 1000;
/**
 * Superseded tokens past their time that each replace forgets: more than the one it adds, so that
 * logins alone keep the table at what their `supersededUntil` windows hold, without any sweep.
 */
const FORGET_PER_REPLACE = 2;

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    subject: row.subject,
    displayName: row.display_name,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    idleTimeout: Number(row.idle_timeout),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    expiresAt: Number(row.expires_at),
    authenticatedAt: row.authenticated_at === null ? null : Number(row.authenticated_at),
    version: Number(row.version),
    // pg parses jsonb with JSON.parse, so keys like "__proto__" arrive as own, plain data.
    data: typeof row.data === 'string' ? (JSON.parse(row.data) as Record<string, JsonValue>) : row.data,
    createdDevice: { ip: row.created_ip, userAgent: row.created_user_agent },
    lastDevice: { ip: row.last_ip, userAgent: row.last_user_agent },
    renewedAt: Number(row.renewed_at),
    previousSecretHash: row.previous_secret_hash,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at),
  };
}

const INSERT_COLUMNS =
  'id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at, authenticated_at, ' +
  'version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at';
/** The SQL type of each of `INSERT_COLUMNS`. */
const INSERT_TYPES = ['text', 'text', 'text', 'text', 'bigint', 'bigint', 'integer', 'bigint', 'bigint', 'bigint', 'integer', 'jsonb', 'text', 'text', 'text', 'text', 'bigint', 'text', 'bigint'];

/** A record's values, in `INSERT_COLUMNS` order. */
function recordValues(record: SessionRecord): unknown[] {
  return [
    record.id,
    record.secretHash,
    record.subject,
    record.displayName,
    record.createdAt,
    record.lastSeenAt,
    record.idleTimeout,
    record.absoluteExpiresAt,
    record.expiresAt,
    record.authenticatedAt,
    record.version,
    JSON.stringify(record.data),
    record.createdDevice.ip,
    record.createdDevice.userAgent,
    record.lastDevice.ip,
    record.lastDevice.userAgent,
    record.renewedAt,
    record.previousSecretHash,
    record.previousSecretExpiresAt,
  ];
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new InvalidOptionError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** `LIKE` pattern for "starts with", with the pattern characters of the prefix taken literally. */
function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}

/** A listing cursor: `<createdAt>:<id>` of the previous page's last session. */
function parseCursor(cursor: string): { createdAt: number; id: string } {
  const at = cursor.indexOf(':');
  const createdAt = Number(cursor.slice(0, at));
  if (at < 1 || !Number.isSafeInteger(createdAt)) throw new BadRequestError('not a listing cursor');
  return { createdAt, id: cursor.slice(at + 1) };
}

/** Collects SQL parameters and hands out their `$n` placeholders. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type?: string): string {
    this.values.push(value);
    return type === undefined ? `$${this.values.length}` : `$${this.values.length}::${type}`;
  }
}

/**
 * Sessions in PostgreSQL. Every request-path operation is one statement: a load with its due touch,
 * and a change set applied with JSONB operators and server-side counter arithmetic, conditional
 * on the session being live. Logins take a per-subject advisory lock, so a per-user limit holds
 * across instances; cleanup deletes bounded batches with `SKIP LOCKED`, so many instances can
 * sweep at once. Revocations and rotations are published with `NOTIFY` (see `watch`).
 *
 * @example
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL });
 * const sessions = new SessionManager({ store });
 */
export class PostgresStore implements SessionStore, SessionIndex {
  readonly capabilities = Object.freeze({ index: true, nativeExpiry: false });
  readonly #names: ResolvedNames;
  readonly #table: string;
  /** Tokens a login or rotation replaced, for `isSuperseded`. */
  readonly #superseded: string;
  /** Idempotency keys of applied change sets. */
  readonly #applied: string;
  readonly #channel: string;
  readonly #migrate: boolean;
  readonly #ownsPool: boolean;
  readonly #connectionString: string | undefined;
  readonly #connectionTimeout: number;
  readonly #statementTimeout: number;
  readonly #poolSize: number;
  readonly #queryTimeout: number;
  #pool: PgPool | null;
  #ready: PgPool | null = null;
  #starting: Promise<PgPool> | null = null;
  #closed = false;
  readonly #watchers = new Set<{ listener: SessionChangeListener }>();
  #listening: Promise<ListenConnection> | null = null;
  /** The live LISTEN connection, once established. */
  #listener: ListenConnection | null = null;
  #relisten: NodeJS.Timeout | null = null;
  readonly #abandoned = new AbandonedStatements();

  constructor(options: PostgresStoreOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('PostgresStore options are required');
    if ((options.connectionString === undefined) === (options.pool === undefined)) {
      throw new InvalidOptionError('PostgresStore needs exactly one of connectionString or pool');
    }
    if (options.connectionString !== undefined && (typeof options.connectionString !== 'string' || options.connectionString.length === 0)) {
      throw new InvalidOptionError('connectionString must be a non-empty string');
    }
    this.#names = resolveNames({ ...(options.schema !== undefined ? { schema: options.schema } : {}), ...(options.table !== undefined ? { table: options.table } : {}) });
    this.#table = this.#names.qualified;
    this.#superseded = this.#names.superseded;
    this.#applied = this.#names.applied;
    this.#channel = options.channel ?? 'tessera_sessions';
    if (typeof this.#channel !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.#channel)) {
      throw new InvalidOptionError(`channel must be a plain SQL identifier, got ${JSON.stringify(this.#channel)}`);
    }
    this.#migrate = options.migrate ?? true;
    this.#connectionTimeout = positiveInteger('connectionTimeout', options.connectionTimeout ?? 2000);
    this.#statementTimeout = positiveInteger('statementTimeout', options.statementTimeout ?? 2000);
    this.#poolSize = positiveInteger('poolSize', options.poolSize ?? 10);
    this.#queryTimeout = this.#statementTimeout + CLIENT_TIMEOUT_MARGIN;
    this.#connectionString = options.connectionString;
    this.#pool = options.pool ?? null;
    this.#ownsPool = options.pool === undefined;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now, replaces, limit } = options;
    const limitedSubject = limit !== undefined && record.subject !== null ? record.subject : null;
    if (replaces === undefined && limitedSubject === null) {
      await this.#query(this.#insert(record), { write: true });
      return { status: 'created', evicted: [] };
    }
    // A transaction, though its work is one statement: a client that gives up before COMMIT
    // leaves nothing behind (the server rolls back when the connection goes), so a login answered
    // 503 is undone by the server itself unless it was COMMIT that timed out.
    return this.#transaction<CreateResult>(async (query) => {
      if (limitedSubject !== null) {
        // Serializes logins (and trims) of one subject across pools and instances until commit.
        await query(this.#subjectLock(limitedSubject));
      }
      const p = new Params();
      const at = p.add(now, 'bigint');
      const ctes: string[] = [];
      const conditions: string[] = [];
      let replacedId = 'NULL::text';
      if (replaces !== undefined) {
        replacedId = p.add(replaces.id, 'text');
        const channel = p.add(this.#channel, 'text');
        // The removal, the memory of the secrets that opened the session a moment ago (the previous
        // one only in its grace period), its idempotency keys, and a few forgotten tokens past their time.
        ctes.push(
          `gone AS (
             DELETE FROM ${this.#table} WHERE id = ${replacedId} AND version = ${p.add(replaces.version, 'integer')} AND expires_at > ${at}
             RETURNING id, subject, secret_hash, previous_secret_hash, previous_secret_expires_at)`,
          `remembered AS (
             INSERT INTO ${this.#superseded} (superseded_until, id, secret_hash, previous_secret_hash)
             SELECT ${p.add(replaces.supersededUntil, 'bigint')}, id, secret_hash, CASE WHEN ${at} < previous_secret_expires_at THEN previous_secret_hash END FROM gone
             ON CONFLICT (id) DO UPDATE SET superseded_until = excluded.superseded_until, secret_hash = excluded.secret_hash,
               previous_secret_hash = excluded.previous_secret_hash)`,
          `forgotten AS (
             DELETE FROM ${this.#superseded} WHERE id = ANY(ARRAY(
               SELECT id FROM ${this.#superseded} WHERE superseded_until <= ${at} AND id <> ${replacedId}
               ORDER BY superseded_until LIMIT ${FORGET_PER_REPLACE} FOR UPDATE SKIP LOCKED)))`,
          `keys AS (DELETE FROM ${this.#applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone)))`,
          `notified AS (SELECT pg_notify(${channel}, json_build_object('type', 'replaced', 'id', id, 'subject', subject)::text) FROM gone)`,
        );
        conditions.push('EXISTS (SELECT 1 FROM gone)');
      }
      const max = limitedSubject !== null && limit !== undefined ? p.add(limit.max, 'integer') : null;
      if (max !== null) {
        // Counted up to the limit only: a subject with thousands of sessions costs no more.
        ctes.push(
          `live AS (SELECT count(*)::int AS n FROM (
             SELECT 1 FROM ${this.#table} WHERE subject = ${p.add(limitedSubject, 'text')} AND expires_at > ${at} AND id IS DISTINCT FROM ${replacedId} LIMIT ${max}) AS counted)`,
        );
        conditions.push(`(SELECT n FROM live) < ${max}`);
      }
      ctes.push(`created AS (${this.#insertSelect(record, p, conditions)} RETURNING id)`);
      const result = await query({
        text: `WITH ${ctes.join(',\n')}
               SELECT ${replaces !== undefined ? '(SELECT count(*) FROM gone)::int' : '1'} AS replaced,
                      ${replaces !== undefined ? '(SELECT count(*) FROM notified)::int' : '0'} AS notified,
                      (SELECT count(*) FROM created)::int AS created`,
        values: p.values,
      });
      const row = result.rows[0] as { replaced: number; created: number };
      if (row.replaced === 0) return { rollback: true, result: { status: 'gone' } };
      if (row.created === 0) return { rollback: true, result: { status: 'limit' } };
      return { rollback: false, result: { status: 'created', evicted: [] } };
    });
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    const p = new Params();
    const idParam = p.add(id, 'text');
    const now = p.add(options.now, 'bigint');
    const secret = p.add(options.secretHash ?? null, 'text');
    // The current secret, or the one a renewal replaced while its grace period lasts (as `secretAccepted`).
    const match = `id = ${idParam} AND expires_at > ${now}
      AND (${secret} IS NULL OR secret_hash = ${secret} OR (previous_secret_hash = ${secret} AND ${now} < previous_secret_expires_at))`;
    let text: string;
    if (options.touch === undefined) {
      text = `SELECT * FROM ${this.#table} WHERE ${match}`;
    } else {
      const device = options.device;
      const hasDevice = p.add(device !== undefined, 'boolean');
      const ip = p.add(device?.ip ?? null, 'text');
      const userAgent = p.add(device?.userAgent ?? null, 'text');
      const maxInterval = p.add(options.touch.maxIntervalMs, 'float8');
      const fraction = p.add(options.touch.idleFraction, 'float8');
      // The same rule as `isTouchDue`; a read inside the window matches no row to update and writes nothing.
      text = `WITH hit AS (SELECT * FROM ${this.#table} WHERE ${match}),
        touched AS (
          UPDATE ${this.#table} SET
            last_seen_at = ${now},
            expires_at = least(${now} + idle_timeout::bigint * 1000, absolute_expires_at),
            last_ip = CASE WHEN ${hasDevice} THEN ${ip} ELSE last_ip END,
            last_user_agent = CASE WHEN ${hasDevice} THEN ${userAgent} ELSE last_user_agent END
          WHERE ${match}
            AND ${now} - last_seen_at >= least(${maxInterval}, floor(idle_timeout::float8 * 1000 * ${fraction}))
          RETURNING *)
        SELECT * FROM touched
        UNION ALL
        SELECT * FROM hit WHERE NOT EXISTS (SELECT 1 FROM touched)`;
    }
    // Not a write to wait for abandoned statements over: a touch landing late is harmless.
    const result = await this.#query({ text, values: p.values });
    const row = result.rows[0] as SessionRow | undefined;
    return row === undefined ? null : toRecord(row);
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const p = new Params();
    const idParam = p.add(id, 'text');
    const now = p.add(options.now, 'bigint');
    // Deletes, then sets, then increments; each step sees the one before it.
    let data = 'data';
    if (changes.delete !== undefined && changes.delete.length > 0) data = `(${data} - ${p.add(changes.delete, 'text[]')})`;
    if (changes.set !== undefined && Object.keys(changes.set).length > 0) data = `(${data} || ${p.add(JSON.stringify(changes.set), 'jsonb')})`;
    if (changes.increment !== undefined && Object.keys(changes.increment).length > 0) {
      const current = `(${data} -> inc.key)`;
      const counter = `CASE WHEN jsonb_typeof(${current}) = 'number' THEN
          CASE WHEN ${current}::numeric = trunc(${current}::numeric) AND abs(${current}::numeric) <= ${MAX_SAFE} THEN ${current}::numeric ELSE 0 END
        ELSE 0 END`;
      const increments = p.add(JSON.stringify(changes.increment), 'jsonb');
      data = `(${data} || coalesce((SELECT jsonb_object_agg(inc.key, to_jsonb(${counter} + inc.value::numeric)) FROM jsonb_each(${increments}) AS inc), '{}'::jsonb))`;
    }
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
    const live = `id = ${idParam} AND expires_at > ${now}`;
    const cas = options.expectedVersion !== undefined;
    const expected = cas ? p.add(options.expectedVersion, 'integer') : null;
    const update = (where: string) => `UPDATE ${this.#table} SET
        data = ${data},
        last_seen_at = ${seen},
        idle_timeout = coalesce(${idleTimeout}, idle_timeout),
        expires_at = least(${seen} + coalesce(${idleTimeout}, idle_timeout)::bigint * 1000, absolute_expires_at),
        last_ip = CASE WHEN ${hasDevice} THEN ${ip} ELSE last_ip END,
        last_user_agent = CASE WHEN ${hasDevice} THEN ${userAgent} ELSE last_user_agent END,
        display_name = CASE WHEN ${hasDisplayName} THEN ${displayName} ELSE display_name END,${renewal}
        version = version + 1
      WHERE ${where}
      RETURNING *`;
    if (options.idempotency !== undefined) return this.#applyOnce(p, { idParam, now, live, expected, update }, options.idempotency);
    // With compare-and-set, the current row comes back in the same statement when the version
    // differs; `current` is only read when nothing was applied. It is the statement's snapshot, so
    // under contention it may already be stale: the caller's retry then conflicts once more.
    // (Locking it FOR SHARE to get the newest version measured slower: 200 contending CAS
    // increments took ~25 s instead of ~15 s.)
    const text =
      expected !== null
        ? `WITH applied AS (${update(`${live} AND version = ${expected}`)}), current AS (SELECT * FROM ${this.#table} WHERE ${live})
         SELECT true AS applied, * FROM applied
         UNION ALL
         SELECT false AS applied, * FROM current WHERE NOT EXISTS (SELECT 1 FROM applied)`
        : update(live);
    const result = await this.#query({ text, values: p.values }, { write: true });
    const row = result.rows[0] as (SessionRow & { applied?: boolean }) | undefined;
    if (row === undefined) return { status: 'gone' };
    const { applied, ...rest } = row;
    if (!cas || applied === true) return { status: 'applied', record: toRecord(rest) };
    // Not applied though the row was live: a version mismatch, or a concurrent change this statement waited for.
    return { status: 'conflict', record: toRecord(rest) };
  }

  /**
   * A change set with an idempotency key, still one statement. The live row is locked first, so a
   * retry that arrives while the first attempt still runs (its client gave up, the server did not)
   * waits for it; the key is then claimed with an insert that sees committed keys whatever the
   * snapshot, and only a claimed key lets the update through. A key already applied answers the
   * locked, newest row as a duplicate. Nothing is remembered on a conflict or for a missing session.
   */
  async #applyOnce(
    p: Params,
    sql: { idParam: string; now: string; live: string; expected: string | null; update: (where: string) => string },
    idempotency: { key: string; until: number },
  ): Promise<ApplyResult> {
    const { idParam, now, live, expected, update } = sql;
    const key = p.add(idempotency.key, 'text');
    const until = p.add(idempotency.until, 'bigint');
    // With compare-and-set, an unclaimed key is a duplicate only if the key is there; else the
    // version differed. (Seen through the snapshot: a key committed while this statement waited
    // shows as a conflict, and the caller's retry then finds it.)
    const duplicate =
      expected === null ? 'true' : `EXISTS (SELECT 1 FROM ${this.#applied} WHERE session_id = ${idParam} AND key = ${key} AND until > ${now})`;
    const text = `WITH target AS (SELECT * FROM ${this.#table} WHERE ${live} FOR UPDATE),
      claimed AS (
        INSERT INTO ${this.#applied} (until, session_id, key)
        SELECT ${until}, id, ${key} FROM target${expected !== null ? ` WHERE version = ${expected}` : ''}
        ON CONFLICT (session_id, key) DO UPDATE SET until = excluded.until WHERE ${this.#applied}.until <= ${now}
        RETURNING session_id),
      applied AS (${update(`id = ${idParam} AND id IN (SELECT session_id FROM claimed)`)})
      SELECT 'applied' AS outcome, * FROM applied
      UNION ALL
      SELECT CASE WHEN ${duplicate} THEN 'duplicate' ELSE 'conflict' END, * FROM target WHERE NOT EXISTS (SELECT 1 FROM applied)`;
    const result = await this.#query({ text, values: p.values }, { write: true });
    const row = result.rows[0] as (SessionRow & { outcome: 'applied' | 'duplicate' | 'conflict' }) | undefined;
    if (row === undefined) return { status: 'gone' };
    const { outcome, ...rest } = row;
    if (outcome === 'conflict') return { status: 'conflict', record: toRecord(rest) };
    return outcome === 'duplicate' ? { status: 'applied', record: toRecord(rest), duplicate: true } : { status: 'applied', record: toRecord(rest) };
  }

  async delete(id: string): Promise<RemovedSession | null> {
    const result = await this.#query(
      {
        text: `WITH gone AS (DELETE FROM ${this.#table} WHERE id = $1 RETURNING id, subject),
                    keys AS (DELETE FROM ${this.#applied} WHERE session_id = $1)
               SELECT id, subject, pg_notify($2, json_build_object('type', 'revoked', 'id', id, 'subject', subject)::text) FROM gone`,
        values: [id, this.#channel],
      },
      { write: true },
    );
    const row = result.rows[0] as RemovedSession | undefined;
    return row === undefined ? null : { id: row.id, subject: row.subject };
  }

  async trimSubject(subject: string, options: { now: number; max: number; keep: string; batch: number }): Promise<RemovedSession[]> {
    const { now, max, keep, batch } = options;
    if (!(batch >= 1)) return [];
    // Most logins leave the subject at or under its limit: one read, no lock, says so. A login
    // committed after this read has a trim of its own still to come.
    const over = await this.#query({ text: this.#liveCountSql, values: [subject, now, null, max + 1] }, { write: true });
    if ((over.rows[0] as { n: number }).n <= max) return [];
    return this.#transaction<RemovedSession[]>(async (query) => {
      // Two trims of one subject at once, each keeping its own session, would end each other's.
      await query(this.#subjectLock(subject));
      const result = await query({
        text: `WITH live AS (SELECT count(*)::int AS n FROM (
                 SELECT 1 FROM ${this.#table} WHERE subject = $1 AND expires_at > $2 LIMIT $3::int + $4::int) AS counted),
               ${this.#removeOldestSql(`id <> $5`, `greatest(0, least((SELECT n FROM live) - $3::int, $4::int))`, '$6')}`,
        values: [subject, now, max, batch, keep, this.#channel],
      });
      return { rollback: false, result: (result.rows as RemovedSession[]).map((row) => ({ id: row.id, subject: row.subject })) };
    });
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    // Compared in SQL, as `load` compares secrets: the hashes a replace remembered while they
    // last, or the one a renewal replaced on the live session, grace period over or not.
    const result = await this.#query({
      text: `SELECT EXISTS (SELECT 1 FROM ${this.#superseded}
                            WHERE id = $1 AND superseded_until > $2 AND (secret_hash = $3 OR previous_secret_hash = $3))
                 OR EXISTS (SELECT 1 FROM ${this.#table} WHERE id = $1 AND expires_at > $2 AND previous_secret_hash = $3) AS superseded`,
      values: [id, options.now, options.secretHash],
    });
    return (result.rows[0] as { superseded: boolean }).superseded;
  }

  async deleteExpired(now: number, limit: number): Promise<RemovedSession[]> {
    // SKIP LOCKED: concurrent sweepers take disjoint batches and never wait on each other. The
    // batch is collected first (an init plan), so the delete touches only its ids whatever the
    // backlog; FOR UPDATE re-checks the expiry of a row changed since the statement began. The
    // same statement forgets a batch of superseded tokens past their time, which it does not report.
    // Idempotency keys past their time go the same way, and those of the sessions removed.
    const result = await this.#query(
      {
        text: `WITH forgotten AS (
                 DELETE FROM ${this.#superseded}
                 WHERE id = ANY(ARRAY(SELECT id FROM ${this.#superseded} WHERE superseded_until <= $1 ORDER BY superseded_until LIMIT $2 FOR UPDATE SKIP LOCKED))),
               outdated AS (
                 DELETE FROM ${this.#applied}
                 WHERE (session_id, key) IN (SELECT session_id, key FROM ${this.#applied} WHERE until <= $1 ORDER BY until LIMIT $2 FOR UPDATE SKIP LOCKED)),
               gone AS (
                 DELETE FROM ${this.#table}
                 WHERE id = ANY(ARRAY(SELECT id FROM ${this.#table} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
                 RETURNING id, subject),
               keys AS (DELETE FROM ${this.#applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone)))
             SELECT id, subject FROM gone`,
        values: [now, limit],
      },
      { write: true },
    );
    return (result.rows as RemovedSession[]).map((row) => ({ id: row.id, subject: row.subject }));
  }

  async listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const limit = Math.floor(options.limit);
    if (!(limit > 0)) return { sessions: [], nextCursor: null };
    const after = options.cursor == null ? null : parseCursor(options.cursor);
    // Keyset paging on (subject, created_at, id): the index is walked from the cursor, in order,
    // for one page (one row more tells whether another follows), however many the subject has.
    const result = await this.#query(
      after === null
        ? { text: `SELECT * FROM ${this.#table} WHERE subject = $1 AND expires_at > $2 ORDER BY created_at, id LIMIT $3`, values: [subject, options.now, limit + 1] }
        : {
            text: `SELECT * FROM ${this.#table} WHERE subject = $1 AND (created_at, id) > ($2::bigint, $3::text) AND expires_at > $4
                   ORDER BY created_at, id LIMIT $5`,
            values: [subject, after.createdAt, after.id, options.now, limit + 1],
          },
    );
    const rows = result.rows as SessionRow[];
    const sessions = rows.slice(0, limit).map(toRecord);
    const last = sessions[sessions.length - 1];
    return { sessions, nextCursor: rows.length > limit && last ? `${last.createdAt}:${last.id}` : null };
  }

  async deleteBySubject(subject: string, options: { now: number; except?: string; limit: number }): Promise<RemovedSession[]> {
    const result = await this.#query(
      {
        text: `WITH ${this.#removeOldestSql('id IS DISTINCT FROM $3', '$4', '$5')}`,
        values: [subject, options.now, options.except ?? null, options.limit, this.#channel],
      },
      { write: true },
    );
    return (result.rows as RemovedSession[]).map((row) => ({ id: row.id, subject: row.subject }));
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const p = new Params();
    const where = [`expires_at > ${p.add(query.now, 'bigint')}`];
    if (query.subject !== undefined) where.push(`subject = ${p.add(query.subject, 'text')}`);
    if (query.displayNamePrefix !== undefined) where.push(`display_name LIKE ${p.add(likePrefix(query.displayNamePrefix), 'text')}`);
    if (query.id !== undefined) where.push(`id = ${p.add(query.id, 'text')}`);
    if (query.cursor != null) where.push(`id > ${p.add(query.cursor, 'text')}`);
    const limit = p.add(query.limit + 1, 'integer');
    const result = await this.#query({
      text: `SELECT * FROM ${this.#table} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${limit}`,
      values: p.values,
    });
    const rows = result.rows as SessionRow[];
    const page = rows.slice(0, query.limit).map(toRecord);
    const last = page[page.length - 1];
    return { sessions: page, nextCursor: rows.length > query.limit && last ? last.id : null };
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    const result = await this.#query(
      filter.subject === undefined
        ? { text: `SELECT count(*) AS n FROM ${this.#table} WHERE expires_at > $1`, values: [filter.now] }
        : { text: `SELECT count(*) AS n FROM ${this.#table} WHERE subject = $1 AND expires_at > $2`, values: [filter.subject, filter.now] },
    );
    return Number((result.rows[0] as { n: string | number }).n);
  }

  /**
   * Calls `listener` for every revocation and rotation published by any instance on this
   * database (this one included), over one `LISTEN` connection per store, held out of the pool
   * while anyone watches. Expirations are not published: they follow from `expiresAt`. If that
   * connection drops it is re-established by itself; changes published meanwhile are missed, so
   * a cache built on this should expire entries by time as well. Resolves once listening;
   * returns the function that unsubscribes.
   */
  async watch(listener: SessionChangeListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL session store is closed');
    const entry = { listener };
    this.#watchers.add(entry);
    try {
      await this.#listen();
    } catch (error) {
      this.#watchers.delete(entry);
      if (this.#watchers.size === 0) await this.#unlisten();
      throw translateError(error);
    }
    return async () => {
      this.#watchers.delete(entry);
      if (this.#watchers.size === 0) await this.#unlisten();
    };
  }

  /** Ends the pool the store opened and its `LISTEN` connection; a pool it was given stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    await this.#unlisten();
    const pool = this.#pool;
    this.#pool = null;
    this.#ready = null;
    if (this.#ownsPool && pool !== null) {
      if (this.#starting !== null) await this.#starting.catch(() => {});
      await pool.end();
    }
  }

  #insert(record: SessionRecord): { text: string; values: unknown[] } {
    return {
      text: `INSERT INTO ${this.#table} (${INSERT_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15, $16, $17, $18, $19)`,
      values: recordValues(record),
    };
  }

  /** An insert of `record` that happens only when every one of `conditions` holds (parameters typed: no VALUES to infer them from). */
  #insertSelect(record: SessionRecord, p: Params, conditions: string[]): string {
    const values = recordValues(record).map((value, i) => p.add(value, INSERT_TYPES[i]));
    return `INSERT INTO ${this.#table} (${INSERT_COLUMNS}) SELECT ${values.join(', ')}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`;
  }

  /** subject ($1), now ($2), except ($3, or null), cap ($4): the subject's live sessions other than `except`, counted up to `cap` only. */
  get #liveCountSql(): string {
    return `SELECT count(*)::int AS n FROM (
              SELECT 1 FROM ${this.#table} WHERE subject = $1 AND expires_at > $2 AND id IS DISTINCT FROM $3::text LIMIT $4) AS counted`;
  }

  /**
   * The tail of a statement (its CTEs from `victims` on) removing the oldest (`created_at`, then
   * id) live sessions of subject $1 at now $2 that match `condition`, at most `limit` of them,
   * with their idempotency keys, publishing each on the channel parameter; oldest first. Walks
   * the (subject, created_at, id) index for no more than `limit` entries (plus expired ones).
   */
  #removeOldestSql(condition: string, limit: string, channel: string): string {
    return `victims AS (
              SELECT id FROM ${this.#table} WHERE subject = $1 AND expires_at > $2 AND ${condition}
              ORDER BY created_at, id LIMIT ${limit} FOR UPDATE),
            gone AS (DELETE FROM ${this.#table} WHERE id = ANY(ARRAY(SELECT id FROM victims)) RETURNING id, subject, created_at),
            keys AS (DELETE FROM ${this.#applied} WHERE session_id = ANY(ARRAY(SELECT id FROM gone)))
            SELECT id, subject, pg_notify(${channel}, json_build_object('type', 'revoked', 'id', id, 'subject', subject)::text) FROM gone
            ORDER BY created_at, id`;
  }

  /** Serializes the statements that count a subject's sessions and act on the count (limited logins, trims), until commit. */
  #subjectLock(subject: string): { text: string; values: unknown[] } {
    return { text: 'SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', values: [this.#table, subject] };
  }

  /** The pool, opened and migrated on first use; a failed start is retried by the next call. */
  async #getPool(): Promise<PgPool> {
    if (this.#ready !== null) return this.#ready;
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL session store is closed');
    this.#starting ??= this.#start().then(
      (pool) => {
        this.#ready = pool;
        return pool;
      },
      (error: unknown) => {
        this.#starting = null;
        throw translateError(error);
      },
    );
    return this.#starting;
  }

  async #start(): Promise<PgPool> {
    if (this.#pool === null) {
      const pg = await import('pg').then(
        (module) => module.default,
        () => {
          throw new InvalidOptionError('PostgresStore needs the optional peer dependency "pg" (npm install pg)');
        },
      );
      const pool = new pg.Pool({
        connectionString: this.#connectionString,
        connectionTimeoutMillis: this.#connectionTimeout,
        statement_timeout: this.#statementTimeout,
        max: this.#poolSize,
        // Idle connections do not keep the process alive.
        allowExitOnIdle: true,
      });
      // An idle connection that dies is dropped by the pool; the next request reports the outage.
      pool.on('error', () => {});
      this.#pool = pool;
    }
    const pool = this.#pool;
    if (this.#migrate) await migrate(pool, this.#names);
    return pool;
  }

  /**
   * One statement on a pooled connection. `write`: first wait until statements the client gave up
   * on have ended on the server (see `AbandonedStatements`), so that this one comes after them.
   */
  async #query(config: { text: string; values: unknown[] }, options: { write?: boolean } = {}): Promise<PgQueryResult> {
    if (options.write === true) await this.#settleAbandoned();
    const client = await this.#connect();
    let failure: Error | undefined;
    const onError = (error: Error) => {
      failure ??= error;
    };
    client.on('error', onError);
    try {
      // Named, so each connection parses and plans a statement shape once, not on every request.
      return await client.query({ ...config, name: statementName(config.text), query_timeout: this.#queryTimeout });
    } catch (error) {
      if (mayStillRun(error)) this.#abandoned.add(client);
      if (isUnavailable(error)) failure ??= error as Error;
      throw translateError(error);
    } finally {
      client.removeListener('error', onError);
      // A broken or abandoned connection is destroyed, not given back.
      client.release(failure ?? false);
    }
  }

  async #settleAbandoned(): Promise<void> {
    if (!this.#abandoned.pending) return;
    await this.#abandoned.settle(await this.#getPool(), this.#statementTimeout, this.#queryTimeout);
  }

  /** A connection of its own from the pool; an outage becomes `StoreUnavailableError`. */
  async #connect(): Promise<PgPoolClient> {
    const pool = await this.#getPool();
    try {
      return await pool.connect();
    } catch (error) {
      throw translateError(error);
    }
  }

  /**
   * `body` in a transaction of its own, committed unless it asks for a rollback. A client that
   * gives up on a statement sends no ROLLBACK (it would wait behind that statement): the
   * connection is dropped instead, which rolls back on the server, and its backend is ended
   * before the next write like any other abandoned one.
   */
  async #transaction<T>(
    body: (query: (config: { text: string; values: unknown[] }) => Promise<PgQueryResult>) => Promise<{ rollback: boolean; result: T }>,
  ): Promise<T> {
    await this.#settleAbandoned();
    const client = await this.#connect();
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    const query = (config: { text: string; values?: unknown[] }) =>
      client.query({ ...config, ...(config.values !== undefined ? { name: statementName(config.text) } : {}), query_timeout: this.#queryTimeout });
    try {
      await query({ text: 'BEGIN' });
      let outcome: { rollback: boolean; result: T };
      try {
        outcome = await body(query as (config: { text: string; values: unknown[] }) => Promise<PgQueryResult>);
      } catch (error) {
        if (mayStillRun(error)) throw error;
        // A failed rollback leaves the connection in an unknown state: it is not given back.
        await query({ text: 'ROLLBACK' }).catch((rollbackError: unknown) => {
          broken ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      }
      await query({ text: outcome.rollback ? 'ROLLBACK' : 'COMMIT' });
      return outcome.result;
    } catch (error) {
      if (mayStillRun(error)) this.#abandoned.add(client);
      if (isUnavailable(error)) broken ??= error as Error;
      throw translateError(error);
    } finally {
      client.removeListener('error', onError);
      client.release(broken ?? false);
    }
  }

  async #listen(): Promise<void> {
    if (this.#listening === null) {
      const listening = this.#connectListener();
      this.#listening = listening;
      listening.catch(() => {
        if (this.#listening === listening) this.#listening = null;
      });
    }
    await this.#listening;
  }

  async #connectListener(): Promise<ListenConnection> {
    const client = await this.#connect();
    const onNotification = (message: PgNotification) => {
      if (message.channel !== this.#channel || message.payload === undefined) return;
      let change: SessionChange;
      try {
        change = JSON.parse(message.payload) as SessionChange;
      } catch {
        return;
      }
      for (const { listener } of [...this.#watchers]) {
        try {
          listener(change);
        } catch {
          // One failing listener must not starve the others.
        }
      }
    };
    const connection: ListenConnection = {
      client,
      stop: () => {
        client.removeListener('notification', onNotification);
        client.removeListener('error', onError);
      },
    };
    const onError = (error: Error) => {
      connection.stop();
      client.on('error', () => {});
      client.release(error);
      if (this.#listener === connection) {
        this.#listener = null;
        this.#listening = null;
        this.#scheduleRelisten();
      }
    };
    client.on('notification', onNotification);
    client.on('error', onError);
    try {
      await client.query({ text: `LISTEN ${quoteIdent(this.#channel)}`, query_timeout: this.#queryTimeout });
    } catch (error) {
      connection.stop();
      client.release(error instanceof Error ? error : true);
      throw translateError(error);
    }
    this.#listener = connection;
    return connection;
  }

  #scheduleRelisten(): void {
    if (this.#closed || this.#watchers.size === 0 || this.#relisten !== null) return;
    this.#relisten = setTimeout(() => {
      this.#relisten = null;
      if (this.#closed || this.#watchers.size === 0) return;
      this.#listen().catch(() => this.#scheduleRelisten());
    }, RELISTEN_DELAY);
    this.#relisten.unref();
  }

  async #unlisten(): Promise<void> {
    if (this.#relisten !== null) clearTimeout(this.#relisten);
    this.#relisten = null;
    const listening = this.#listening;
    this.#listening = null;
    if (listening === null) return;
    const connection = await listening.catch(() => null);
    if (connection === null || this.#listener !== connection) return;
    this.#listener = null;
    connection.stop();
    // Destroyed rather than returned, so no pooled connection keeps listening.
    connection.client.release(true);
  }
}

const statementNames = new Map<string, string>();

/** A stable name per statement text (texts differ only by which parts a change set uses: a few dozen). */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `tessera_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (statementNames.size < 10_000) statementNames.set(text, name);
  }
  return name;
}
