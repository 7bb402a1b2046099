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
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionRow,
  type SessionStore,
} from '../../store-kit/index.js';
import { Checkpointer } from './checkpoints.js';
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from './driver.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LOCK_POLL_MS, LockWait, isBusy } from './lock-wait.js';
import { cannotOpen, resolveSqliteOptions, type SqliteStoreOptions } from './options.js';
import { ADDED_COLUMNS, queryDialect, quoteTableName, schemaSql, statementsSql, type StatementName } from './schema.js';

export type { SqliteDatabase, SqliteStatement, SqliteRunResult, SqliteTransaction } from './driver.js';
export type { SqliteStoreOptions } from './options.js';

/**
 * Superseded tokens past their time that each replace forgets: more than the one it adds, so that
 * logins alone keep the table at what their `supersededUntil` windows hold, without any sweep.
 */
const FORGET_PER_REPLACE = 2;
/** Most expired sessions one transaction of a sweep removes; the event loop turns between them. */
const SWEEP_SLICE_ROWS = 100;
/** About the longest one transaction of a sweep holds the event loop (it stops after the row that passes it). */
const SWEEP_SLICE_MS = 10;

/** Driver error codes that mean the database cannot serve now, rather than a bug or bad input. */
const OUTAGE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM|READONLY|CORRUPT|NOTADB|NOLFS|AUTH|PERM)/;

function errorCode(error: unknown): string | null {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}

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
  readonly capabilities = defineCapabilities({ index: true });
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
        this.#db
          .transaction(() => {
            this.#db.exec(schemaSql(table));
            // Tables made by an earlier version lack the renewal columns: add them in place.
            const present = new Set(
              (this.#db.prepare(`PRAGMA table_info(${quoteTableName(table)})`).all() as Array<{ name: string }>).map((c) => c.name),
            );
            for (const [column, type] of ADDED_COLUMNS) {
              if (!present.has(column)) this.#db.exec(`ALTER TABLE ${quoteTableName(table)} ADD COLUMN ${column} ${type}`);
            }
          })
          .immediate();
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

  async delete(id: string): Promise<RemovedSession | null> {
    return this.#run(() => this.#db.transaction(() => this.#remove(id)).immediate());
  }

  async trimSubject(subject: string, options: { now: number; max: number; keep: string; batch: number }): Promise<RemovedSession[]> {
    const { now, max, keep } = options;
    const batch = Math.floor(options.batch);
    if (!(batch > 0)) return [];
    return this.#run(() =>
      this.#db
        .transaction(() => {
          // Counting stops at max + batch: past that a call removes a full batch anyway.
          const excess = Math.min(this.#liveCount(subject, now, null, max + batch) - max, batch);
          return excess > 0 ? this.#removeOldest(subject, now, keep, excess) : [];
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

  /**
   * Removes up to `limit` expired sessions in slices of at most `SWEEP_SLICE_ROWS` rows and about
   * `SWEEP_SLICE_MS`, each its own transaction, letting the event loop turn between them: better-
   * sqlite3 holds the loop for as long as a call runs, and deleting a row of random id costs tens
   * of microseconds on a large table, so a batch of hundreds in one go would hold it for longer
   * than a request should wait.
   */
  async deleteExpired(now: number, limit: number): Promise<RemovedSession[]> {
    const batch = Math.floor(limit);
    // SQLite reads a negative LIMIT as no limit at all.
    if (!(batch > 0)) return [];
    const removed: RemovedSession[] = [];
    for (;;) {
      const wanted = Math.min(batch - removed.length, SWEEP_SLICE_ROWS);
      const sweep = this.#run(() =>
        this.#db
          .transaction(() => {
            const started = performance.now();
            this.#statement('forgetSuperseded').run(now, null, wanted);
            this.#statement('forgetKeys').run(now, wanted);
            const expired = this.#statement('expired').all(now, wanted) as RemovedSession[];
            const done: RemovedSession[] = [];
            for (const row of expired) {
              this.#remove(row.id);
              done.push(removedSession(row));
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

  async deleteBySubject(subject: string, options: { now: number; except?: string; limit: number }): Promise<RemovedSession[]> {
    const limit = pageSize(options.limit);
    if (limit === 0) return [];
    return this.#run(() => this.#db.transaction(() => this.#removeOldest(subject, options.now, options.except ?? null, limit)).immediate());
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
    if (error instanceof StoreUnavailableError) return error;
    const code = errorCode(error);
    if (isBusy(error))
      return new StoreUnavailableError(`the SQLite session store is locked by another connection (waited ${this.#lockDeadline} ms)`, {
        cause: error,
      });
    if ((code !== null && OUTAGE.test(code)) || !this.#db.open) {
      return new StoreUnavailableError(`the SQLite session store is unavailable (${code ?? 'database closed'})`, { cause: error });
    }
    return error;
  }
}
