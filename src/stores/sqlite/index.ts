/**
 * Sessions in a SQLite database through better-sqlite3 (an optional peer dependency, loaded when
 * the store opens a file): one machine, sessions that survive restarts.
 *
 * @module tessera-session/stores/sqlite
 */
import {
  StoreUnavailableError,
  applyChangeSet,
  defineCapabilities,
  endedNotices,
  hashesEqual,
  loadDriver,
  listingPage,
  lookahead,
  pageSize,
  parseListingCursor,
  queryPage,
  querySql,
  recordFromRow,
  removedSession,
  removedSessions,
  rowValues,
  secretAccepted,
  touched,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type LoadOptions,
  type NoticeRequest,
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionOutbox,
  type SessionQuery,
  type SessionRecord,
  type SessionRow,
  type SessionStore,
} from '../../store-kit/index.js';
import { Checkpointer } from './checkpoints.js';
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from './driver.js';
import { LOCK_POLL_MS, LockWait } from './lock-wait.js';
import { errorCode, translateError } from './errors.js';
import { type OutboxAccess, SqliteOutbox } from './outbox.js';
import { sweepExpired } from './sweep.js';
import { cannotOpen, resolveSqliteOptions, type SqliteStoreOptions } from './options.js';
import { migrateSchema, queryDialect, statementsSql, type StatementName } from './schema.js';

export type { SqliteDatabase, SqliteStatement, SqliteRunResult, SqliteTransaction } from './driver.js';
export type { SqliteStoreOptions } from './options.js';

/**
 * Superseded tokens past their time that each replace forgets: more than the one it adds, so that
 * logins alone keep the table at what their `supersededUntil` windows hold, without any sweep.
 */
const FORGET_PER_REPLACE = 2;

/**
 * Sessions in a SQLite file through better-sqlite3: durable, shared by every process on one
 * host. Changes of several rows run in `BEGIN IMMEDIATE` transactions, so the per-subject limit
 * holds even when processes log the same user in at once. A lock held by another connection is
 * waited for on a timer, never inside a call (see `busyTimeout`).
 *
 * @example
 * const sessions = new SessionManager({ store: new SqliteStore({ path: './sessions.db' }) });
 */
export class SqliteStore implements SessionStore, SessionIndex {
  readonly capabilities = defineCapabilities({ index: true, outbox: true });
  readonly name = 'sqlite';
  readonly #db: SqliteDatabase;
  readonly #owned: boolean;
  readonly #table: string;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #sql: Readonly<Record<StatementName, string>>;
  /** How long a write waits for another connection's lock (the `busyTimeout` option). */
  readonly #lockDeadline: number;
  readonly #locks: LockWait;
  /** WAL checkpoints in a worker thread, for a database the store opened. */
  #checkpoints: Checkpointer | null = null;
  #closed = false;
  /** What the outbox and the sweep borrow. */
  readonly #access: OutboxAccess = {
    transaction: (fn) => this.#db.transaction(fn),
    statement: (name) => this.#statement(name),
    run: (work, write) => this.#run(work, write),
  };
  /** The notices beside the sessions, recorded in the ending calls' own transactions. */
  readonly #outbox = new SqliteOutbox(this.#access);

  constructor(options: SqliteStoreOptions) {
    const { path, database, table, busyTimeout } = resolveSqliteOptions(options);
    this.#lockDeadline = busyTimeout;
    this.#locks = new LockWait(busyTimeout);
    this.#table = table;
    this.#sql = Object.freeze(statementsSql(table));
    this.#owned = path !== null;
    if (path !== null) {
      const Database = loadDriver<SqliteDriver>('better-sqlite3', 'SqliteStore');
      try {
        this.#db = new Database(path, { timeout: busyTimeout });
      } catch (error) {
        throw cannotOpen(path, error);
      }
    } else {
      this.#db = database as SqliteDatabase;
    }
    try {
      this.#guard(() => {
        if (this.#owned) {
          // At start-up, before any request is served, the schema may wait for a lock the usual way.
          this.#db.pragma(`busy_timeout = ${busyTimeout}`);
          // Readers never wait for the writer, and a commit is one append to the log.
          this.#db.pragma('journal_mode = WAL');
        }
        this.#db.transaction(() => migrateSchema(this.#db, table)).immediate();
        // From now on a try blocks for a lock a few milliseconds at most; the rest is waited on a timer.
        if (this.#owned) this.#db.pragma(`busy_timeout = ${LOCK_POLL_MS}`);
        if (path !== null && this.#db.pragma('journal_mode', { simple: true }) === 'wal')
          this.#checkpoints = new Checkpointer(path, this.#db);
      });
    } catch (error) {
      if (this.#owned && this.#db.open) this.#db.close();
      throw error;
    }
  }

  /** Where the ending calls record session notices, for a delivery worker (`capabilities.outbox`). */
  get outbox(): SessionOutbox {
    return this.#outbox;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now, replaces, limit } = options;
    return this.#run(() =>
      this.#db
        .transaction((): CreateResult => {
          const replaced = replaces ? this.#live(replaces.id, now) : null;
          if (replaces && (replaced === null || replaced.version !== replaces.version)) return { status: 'gone' };
          // Counted up to the limit only: a subject with thousands of sessions costs no more.
          if (limit && record.subject !== null && this.#liveCount(record.subject, now, replaces?.id ?? null, limit.max) >= limit.max)
            return { status: 'limit' };
          if (replaces && replaced !== null) {
            // The secrets that opened it a moment ago, so that a request still carrying one is told
            // apart from a stale cookie (`isSuperseded`); the previous one only in its grace period.
            const previous =
              replaced.previousSecretHash !== null && now < (replaced.previousSecretExpiresAt ?? 0) ? replaced.previousSecretHash : null;
            this.#remove(replaces.id);
            this.#statement('supersede').run(replaces.id, replaced.secretHash, previous, replaces.supersededUntil);
            this.#statement('forgetSuperseded').run(now, replaces.id, FORGET_PER_REPLACE);
          }
          try {
            this.#statement('insert').run(...rowValues(record));
          } catch (error) {
            // Not an outage: the caller (the core's compensation) needs to tell the two apart.
            if (errorCode(error)?.startsWith('SQLITE_CONSTRAINT')) throw new Error('duplicate session id', { cause: error });
            throw error;
          }
          return { status: 'created', evicted: [] };
        })
        .immediate(),
    );
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    const { now, secretHash } = options;
    // Tried at once, as a read; only a due touch needs the write lock, and then the whole load
    // waits in line and is tried again.
    return this.#run(() => {
      const record = this.#live(id, now);
      if (record === null) return null;
      if (secretHash !== undefined && !secretAccepted(record, secretHash, now)) return null;
      const next = touched(record, now, options.touch, options.device);
      if (next === record) return record;
      // One statement, conditional on the row being as it was read: a concurrent change wins
      // and the touch is dropped, so nothing is revived and lastSeenAt never moves back.
      const { changes } = this.#statement('touch').run(
        next.lastSeenAt,
        next.expiresAt,
        next.lastDevice.ip,
        next.lastDevice.userAgent,
        id,
        record.version,
        record.lastSeenAt,
      );
      if (changes === 1) return next;
      const current = this.#live(id, now);
      return current !== null && (secretHash === undefined || secretAccepted(current, secretHash, now)) ? current : null;
    }, false);
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const { now, expectedVersion, idempotency } = options;
    return this.#run(() =>
      this.#db
        .transaction((): ApplyResult => {
          const record = this.#live(id, now);
          if (record === null) return { status: 'gone' };
          if (idempotency !== undefined) {
            const seen = this.#statement('appliedKey').get(id, idempotency.key) as { until: number } | undefined;
            if (seen !== undefined && now < seen.until) return { status: 'applied', record, duplicate: true };
          }
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
          // Remembered only with a change that was made, in the same transaction.
          if (idempotency !== undefined) this.#statement('rememberKey').run(id, idempotency.key, idempotency.until);
          // The data as a reader will see it: an ordinary object, every key an own property.
          return { status: 'applied', record: { ...next, data: JSON.parse(data) as SessionRecord['data'] } };
        })
        .immediate(),
    );
  }

  async delete(id: string, options: { notice?: NoticeRequest } = {}): Promise<RemovedSession | null> {
    return this.#run(() =>
      this.#db
        .transaction(() => {
          const removed = this.#remove(id);
          if (removed !== null) this.#ended([removed], options.notice);
          return removed;
        })
        .immediate(),
    );
  }

  async trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const { now, max, keep } = options;
    const batch = Math.floor(options.batch);
    if (!(batch > 0)) return [];
    return this.#run(() =>
      this.#db
        .transaction(() => {
          // Counting stops at max + batch: past that a call removes a full batch anyway.
          const excess = Math.min(this.#liveCount(subject, now, null, max + batch) - max, batch);
          return excess > 0 ? this.#ended(this.#removeOldest(subject, now, keep, excess), options.notice) : [];
        })
        .immediate(),
    );
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    const { now, secretHash } = options;
    return this.#run(() => {
      const rows = this.#statement('supersededHashes').all(id, now, id, now) as Array<{ hash: string; previous: string | null }>;
      return rows.some((row) => hashesEqual(row.hash, secretHash) || (row.previous !== null && hashesEqual(row.previous, secretHash)));
    }, false);
  }

  async deleteExpired(now: number, limit: number, options: { notice?: boolean } = {}): Promise<RemovedSession[]> {
    return sweepExpired({ ...this.#access, remove: (id) => this.#remove(id), outbox: this.#outbox }, now, limit, options.notice === true);
  }

  /** Resolves while the database answers: the constructor opened it and made the tables already. */
  async ready(): Promise<void> {
    await this.#run(() => this.#prepared('SELECT 1', () => 'SELECT 1').get(), false);
  }

  /** Closes the database if the store opened it; a given `database` is left open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    await this.#checkpoints?.stop();
    if (this.#owned && this.#db.open) this.#db.close();
  }

  async listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const limit = pageSize(options.limit);
    if (limit === 0) return { sessions: [], nextCursor: null };
    const after = options.cursor == null ? null : parseListingCursor(options.cursor);
    return this.#run(() => {
      const rows = (
        after === null
          ? this.#statement('listFirst').all(subject, options.now, lookahead(limit))
          : this.#statement('listAfter').all(subject, after.createdAt, after.id, options.now, lookahead(limit))
      ) as SessionRow[];
      return listingPage(rows.map(recordFromRow), limit);
    }, false);
  }

  async deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const limit = pageSize(options.limit);
    if (limit === 0) return [];
    return this.#run(() =>
      this.#db
        .transaction(() => this.#ended(this.#removeOldest(subject, options.now, options.except ?? null, limit), options.notice))
        .immediate(),
    );
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const limit = pageSize(query.limit);
    if (limit === 0) return { sessions: [], nextCursor: null };
    const params: unknown[] = [];
    // Each combination of filters is one statement text, prepared once and cached by that text.
    const sql = querySql(query, lookahead(limit), queryDialect(this.#table, params));
    return this.#run(() => {
      const rows = this.#prepared(sql, () => sql).all(...params) as SessionRow[];
      return queryPage(rows.map(recordFromRow), limit);
    }, false);
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    return this.#run(() => {
      const row = (
        filter.subject !== undefined
          ? this.#statement('countBySubject').get(filter.subject, filter.now)
          : this.#statement('countAll').get(filter.now)
      ) as { n: number };
      return row.n;
    }, false);
  }

  #live(id: string, now: number): SessionRecord | null {
    const row = this.#statement('byId').get(id) as SessionRow | undefined;
    return row !== undefined && now < Number(row.expires_at) ? recordFromRow(row) : null;
  }

  /** The subject's live sessions other than `except`, counted up to `cap`. */
  #liveCount(subject: string, now: number, except: string | null, cap: number): number {
    return (this.#statement('liveCount').get(subject, now, except, cap) as { n: number }).n;
  }

  /** Removes a session with its idempotency keys; inside a transaction. */
  #remove(id: string): RemovedSession | null {
    const removed = this.#statement('deleteById').get(id) as RemovedSession | undefined;
    if (removed === undefined) return null;
    this.#statement('forgetKeysOf').run(id);
    return removedSession(removed);
  }

  /** Records the `session.ended` notices of what a call removed, when it asks; inside its transaction. */
  #ended(removed: RemovedSession[], notice: NoticeRequest | undefined): RemovedSession[] {
    if (notice !== undefined) this.#outbox.record(endedNotices(removed, notice));
    return removed;
  }

  /** Removes up to `limit` of the subject's oldest live sessions, never `except`; inside a transaction. */
  #removeOldest(subject: string, now: number, except: string | null, limit: number): RemovedSession[] {
    const victims = this.#statement('oldestLive').all(subject, now, except, limit) as RemovedSession[];
    for (const victim of victims) this.#remove(victim.id);
    return removedSessions(victims);
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

  /**
   * Runs driver work, waiting in line on a timer while another connection holds a lock it needs
   * (see `LockWait`; `write: false` for work that needs no write lock in WAL mode, which then never
   * queues behind writes); an unusable database is `StoreUnavailableError`, never "no session".
   */
  async #run<T>(work: () => T, write = true): Promise<T> {
    try {
      return await this.#locks.run(
        () => {
          if (this.#closed) throw new StoreUnavailableError('the SQLite session store is closed');
          return work();
        },
        { write },
      );
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** `#run` for the synchronous start-up work. */
  #guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.#translate(error);
    }
  }

  #translate(error: unknown): unknown {
    return translateError(error, this.#db.open, this.#lockDeadline);
  }
}
