import Database from 'better-sqlite3';
import {
  InvalidOptionError,
  StoreUnavailableError,
  applyChangeSet,
  hashesEqual,
  secretAccepted,
  sessionsToEvict,
  touched,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type LoadOptions,
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionStore,
} from '../../core/index.js';
import type { SqliteDatabase, SqliteStatement } from './driver.js';
import {
  ADDED_COLUMNS,
  prefixUpperBound,
  queryKey,
  querySql,
  quoteTableName,
  recordFromRow,
  rowValues,
  schemaSql,
  statementsSql,
  type QueryShape,
  type SessionRow,
  type StatementName,
} from './schema.js';

export type { SqliteDatabase, SqliteStatement, SqliteRunResult, SqliteTransaction } from './driver.js';

interface SqliteStoreCommonOptions {
  /**
   * The table sessions live in; created with its indexes at construction if missing, with
   * `<tableName>_superseded` beside it for tokens a login or rotation replaced.
   * @default 'tessera_sessions'
   */
  tableName?: string;
  /**
   * Milliseconds to wait for another connection's write lock before failing with
   * `StoreUnavailableError`. Set on databases the store opens; a given `database` keeps its own.
   * @default 5000
   */
  busyTimeout?: number;
}

export type SqliteStoreOptions = SqliteStoreCommonOptions &
  (
    | {
        /**
         * The database file, opened (and created if missing) by the store in WAL mode and closed by
         * `close()`. `':memory:'` gives a private in-memory database.
         * @default none: give either `path` or `database`
         * @example './sessions.db'
         */
        path: string;
        database?: never;
      }
    | {
        /**
         * An open better-sqlite3 database. The store creates its table in it but leaves the
         * connection's settings (journal mode, busy timeout) alone and never closes it.
         * @default none: give either `path` or `database`
         */
        database: SqliteDatabase;
        path?: never;
      }
  );

/**
 * Superseded tokens past their time that each replace forgets: more than the one it adds, so that
 * logins alone keep the table at what their `supersededUntil` windows hold, without any sweep.
 */
const FORGET_PER_REPLACE = 2;

/** Driver error codes that mean the database cannot serve now, rather than a bug or bad input. */
const OUTAGE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|READONLY|CORRUPT|NOTADB|NOLFS|AUTH|PERM)/;

function errorCode(error: unknown): string | null {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}

/**
 * Sessions in a SQLite file through better-sqlite3: durable, shared by every process on one
 * host. Changes of several rows run in `BEGIN IMMEDIATE` transactions, so the per-subject limit
 * holds even when processes log the same user in at once.
 *
 * @example
 * const sessions = new SessionManager({ store: new SqliteStore({ path: './sessions.db' }) });
 */
export class SqliteStore implements SessionStore, SessionIndex {
  readonly capabilities = Object.freeze({ index: true, nativeExpiry: false });
  readonly #db: SqliteDatabase;
  readonly #owned: boolean;
  readonly #table: string;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #sql: Readonly<Record<StatementName, string>>;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    const given = (options ?? {}) as { path?: unknown; database?: unknown; tableName?: unknown; busyTimeout?: unknown };
    if ((given.path === undefined) === (given.database === undefined)) throw new InvalidOptionError('SqliteStore needs exactly one of path or database');
    if (given.path !== undefined && (typeof given.path !== 'string' || given.path.length === 0)) throw new InvalidOptionError('path must be a non-empty string');
    if (given.database !== undefined && typeof (given.database as { prepare?: unknown } | null)?.prepare !== 'function') {
      throw new InvalidOptionError('database must be an open better-sqlite3 Database');
    }
    const busyTimeout = given.busyTimeout ?? 5000;
    if (typeof busyTimeout !== 'number' || !Number.isInteger(busyTimeout) || busyTimeout < 0) throw new InvalidOptionError('busyTimeout must be a whole number of milliseconds');
    const table = (given.tableName ?? 'tessera_sessions') as string;
    quoteTableName(table);
    this.#table = table;
    this.#sql = Object.freeze(statementsSql(table));
    this.#owned = given.path !== undefined;
    if (this.#owned) {
      try {
        this.#db = new Database(given.path as string, { timeout: busyTimeout }) as SqliteDatabase;
      } catch (error) {
        throw new StoreUnavailableError(`cannot open the SQLite database: ${(error as Error).message}`, { cause: error });
      }
    } else {
      this.#db = given.database as SqliteDatabase;
    }
    try {
      this.#guard(() => {
        if (this.#owned) {
          this.#db.pragma(`busy_timeout = ${busyTimeout}`);
          // Readers never wait for the writer, and a commit is one append to the log.
          this.#db.pragma('journal_mode = WAL');
        }
        this.#db
          .transaction(() => {
            this.#db.exec(schemaSql(table));
            // Tables made by an earlier version lack the renewal columns: add them in place.
            const present = new Set((this.#db.prepare(`PRAGMA table_info(${quoteTableName(table)})`).all() as Array<{ name: string }>).map((c) => c.name));
            for (const [column, type] of ADDED_COLUMNS) {
              if (!present.has(column)) this.#db.exec(`ALTER TABLE ${quoteTableName(table)} ADD COLUMN ${column} ${type}`);
            }
          })
          .immediate();
      });
    } catch (error) {
      if (this.#owned && this.#db.open) this.#db.close();
      throw error;
    }
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now, replaces, limit } = options;
    return this.#guard(() =>
      this.#db
        .transaction((): CreateResult => {
          const replaced = replaces ? this.#live(replaces.id, now) : null;
          if (replaces && (replaced === null || replaced.version !== replaces.version)) return { status: 'gone' };
          const evicted: RemovedSession[] = [];
          if (limit && record.subject !== null) {
            const live = (this.#statement('liveIdsOf').all(record.subject, now) as Array<{ id: string; createdAt: number }>).filter((r) => r.id !== replaces?.id);
            const excess = sessionsToEvict(live, limit.max);
            if (excess.length > 0 && limit.onLimit === 'reject') return { status: 'limit' };
            for (const victim of excess) {
              const removed = this.#statement('deleteById').get(victim.id) as RemovedSession | undefined;
              if (removed) evicted.push({ id: removed.id, subject: removed.subject });
            }
          }
          if (replaces && replaced !== null) {
            // The secrets that opened it a moment ago, so that a request still carrying one is told
            // apart from a stale cookie (`isSuperseded`); the previous one only in its grace period.
            const previous = replaced.previousSecretHash !== null && now < (replaced.previousSecretExpiresAt ?? 0) ? replaced.previousSecretHash : null;
            this.#statement('deleteById').run(replaces.id);
            this.#statement('supersede').run(replaces.id, replaced.secretHash, previous, replaces.supersededUntil);
            this.#statement('forgetSuperseded').run(now, replaces.id, FORGET_PER_REPLACE);
          }
          try {
            this.#statement('insert').run(...rowValues(record));
          } catch (error) {
            if (errorCode(error)?.startsWith('SQLITE_CONSTRAINT')) throw new Error('duplicate session id', { cause: error });
            throw error;
          }
          return { status: 'created', evicted };
        })
        .immediate(),
    );
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    const { now, secretHash } = options;
    return this.#guard(() => {
      const record = this.#live(id, now);
      if (record === null) return null;
      if (secretHash !== undefined && !secretAccepted(record, secretHash, now)) return null;
      const next = touched(record, now, options.touch, options.device);
      if (next === record) return record;
      // One statement, conditional on the row being as it was read: a concurrent change wins
      // and the touch is dropped, so nothing is revived and lastSeenAt never moves back.
      const { changes } = this.#statement('touch').run(next.lastSeenAt, next.expiresAt, next.lastDevice.ip, next.lastDevice.userAgent, id, record.version, record.lastSeenAt);
      if (changes === 1) return next;
      const current = this.#live(id, now);
      return current !== null && (secretHash === undefined || secretAccepted(current, secretHash, now)) ? current : null;
    });
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const { now, expectedVersion } = options;
    return this.#guard(() =>
      this.#db
        .transaction((): ApplyResult => {
          const record = this.#live(id, now);
          if (record === null) return { status: 'gone' };
          if (expectedVersion !== undefined && expectedVersion !== record.version) return { status: 'conflict', record };
          const next = applyChangeSet(record, changes);
          const data = JSON.stringify(next.data);
          this.#statement('update').run(
            data,
            next.lastSeenAt,
            next.idleTimeout,
            next.expiresAt,
            next.lastDevice.ip,
            next.lastDevice.userAgent,
            next.displayName,
            next.version,
            next.secretHash,
            next.renewedAt,
            next.previousSecretHash,
            next.previousSecretExpiresAt,
            id,
          );
          // The data as a reader will see it: an ordinary object, every key an own property.
          return { status: 'applied', record: { ...next, data: JSON.parse(data) as SessionRecord['data'] } };
        })
        .immediate(),
    );
  }

  async delete(id: string): Promise<RemovedSession | null> {
    return this.#guard(() => {
      const removed = this.#statement('deleteById').get(id) as RemovedSession | undefined;
      return removed ? { id: removed.id, subject: removed.subject } : null;
    });
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    const { now, secretHash } = options;
    return this.#guard(() => {
      const rows = this.#statement('supersededHashes').all(id, now, id, now) as Array<{ hash: string; previous: string | null }>;
      return rows.some((row) => hashesEqual(row.hash, secretHash) || (row.previous !== null && hashesEqual(row.previous, secretHash)));
    });
  }

  async deleteExpired(now: number, limit: number): Promise<RemovedSession[]> {
    const batch = Math.floor(limit);
    // SQLite reads a negative LIMIT as no limit at all.
    if (!(batch > 0)) return [];
    return this.#guard(() =>
      this.#db
        .transaction(() => {
          this.#statement('forgetSuperseded').run(now, null, batch);
          const expired = this.#statement('expired').all(now, batch) as RemovedSession[];
          const deleteById = this.#statement('deleteById');
          for (const row of expired) deleteById.run(row.id);
          return expired.map((row) => ({ id: row.id, subject: row.subject }));
        })
        .immediate(),
    );
  }

  /** Closes the database if the store opened it; a given `database` is left open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    if (this.#owned && this.#db.open) this.#db.close();
  }

  async listBySubject(subject: string, now: number): Promise<SessionRecord[]> {
    return this.#guard(() => (this.#statement('listBySubject').all(subject, now) as SessionRow[]).map(recordFromRow));
  }

  async deleteBySubject(subject: string, options: { now: number; except?: string }): Promise<RemovedSession[]> {
    return this.#guard(() =>
      this.#db
        .transaction(() =>
          (this.#statement('deleteBySubject').all(subject, options.now, options.except ?? null) as RemovedSession[]).map((row) => ({
            id: row.id,
            subject: row.subject,
          })),
        )
        .immediate(),
    );
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const limit = Math.floor(query.limit);
    if (!(limit > 0)) return { sessions: [], nextCursor: null };
    const prefix = query.displayNamePrefix ?? '';
    const upper = prefix === '' ? null : prefixUpperBound(prefix);
    const shape: QueryShape = {
      subject: query.subject !== undefined,
      prefix: prefix === '' ? 'none' : upper === null ? 'from' : 'range',
      id: query.id !== undefined,
      cursor: query.cursor != null,
    };
    const params: unknown[] = [query.now];
    if (shape.subject) params.push(query.subject);
    if (shape.prefix !== 'none') params.push(prefix);
    if (shape.prefix === 'range') params.push(upper);
    if (shape.id) params.push(query.id);
    if (shape.cursor) params.push(query.cursor);
    // One row more than the page tells whether another page follows.
    params.push(limit + 1);
    return this.#guard(() => {
      const key = `query:${queryKey(shape)}`;
      const rows = this.#prepared(key, () => querySql(this.#table, shape)).all(...params) as SessionRow[];
      const sessions = rows.slice(0, limit).map(recordFromRow);
      const last = sessions[sessions.length - 1];
      return { sessions, nextCursor: rows.length > limit && last ? last.id : null };
    });
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    return this.#guard(() => {
      const row = (filter.subject !== undefined ? this.#statement('countBySubject').get(filter.subject, filter.now) : this.#statement('countAll').get(filter.now)) as { n: number };
      return row.n;
    });
  }

  #live(id: string, now: number): SessionRecord | null {
    const row = this.#statement('byId').get(id) as SessionRow | undefined;
    return row !== undefined && now < row.expires_at ? recordFromRow(row) : null;
  }

  #statement(name: StatementName): SqliteStatement {
    return this.#prepared(name, () => this.#sql[name]);
  }

  #prepared(key: string, sql: () => string): SqliteStatement {
    let statement = this.#statements.get(key);
    if (statement === undefined) {
      statement = this.#db.prepare(sql());
      // Times in ms fit a double; a database given with safe integers on must not turn them into bigints.
      statement.safeIntegers(false);
      this.#statements.set(key, statement);
    }
    return statement;
  }

  /** Runs driver work, reporting an unusable database as `StoreUnavailableError`, never as "no session". */
  #guard<T>(work: () => T): T {
    if (this.#closed) throw new StoreUnavailableError('the SQLite session store is closed');
    try {
      return work();
    } catch (error) {
      const code = errorCode(error);
      if ((code !== null && OUTAGE.test(code)) || !this.#db.open) {
        throw new StoreUnavailableError(`the SQLite session store is unavailable (${code ?? 'database closed'})`, { cause: error });
      }
      throw error;
    }
  }
}
