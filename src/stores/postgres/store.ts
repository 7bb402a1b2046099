import { randomBytes } from 'node:crypto';
import {
  defineCapabilities,
  listingPage,
  lookahead,
  pageSize,
  parseListingCursor,
  queryPage,
  recordFromRow,
  removedSession,
  removedSessions,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type InvalidationListener,
  type InvalidationSource,
  type InvalidationSubscription,
  type LoadOptions,
  type NoticeRequest,
  type RemovedSession,
  type SessionIndex,
  type SessionOutbox,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionRow,
  type SessionStore,
  type SharedCounters,
} from '../../store-kit/index.js';
import { countInWindowStatement } from './counters.js';
import { subscribeInvalidations } from './invalidation.js';
import type { ResolvedNames } from './migrations.js';
import { ChangeFeed, type SessionChangeListener } from './notifications.js';
import { resolvePostgresOptions, type PostgresStoreOptions } from './options.js';
import { sqlContext, type SqlContext } from './params.js';
import { StorePool } from './pool.js';
import { PostgresOutbox } from './outbox.js';
import {
  applyStatement,
  createStatement,
  deleteStatement,
  insertStatement,
  isSupersededStatement,
  loadStatement,
  subjectLockStatement,
  type ApplyOutcome,
} from './sql-session.js';
import {
  countStatement,
  deleteBySubjectStatement,
  deleteExpiredStatement,
  listStatement,
  liveCountStatement,
  queryStatement,
  trimStatement,
} from './sql-subject.js';

/**
 * Sessions in PostgreSQL. Every request-path operation is one statement: a load with its due touch,
 * and a change set applied with JSONB operators and server-side counter arithmetic, conditional
 * on the session being live. Logins take a per-subject advisory lock, so a per-user limit holds
 * across instances; cleanup deletes bounded batches with `SKIP LOCKED`, so many instances can
 * sweep at once. Revocations and rotations are published with `NOTIFY` (see `watch`); so is every
 * change to a session row, by a trigger, for the caches of other instances
 * (`subscribeInvalidations`). Counts in time windows are shared by every instance (`countInWindow`).
 * Session notices wait in an outbox table (`SessionOutbox`): an ending call that asks for them
 * records them in the statement that removes the sessions, and delivery workers on any instance
 * claim disjoint batches with `SKIP LOCKED`.
 *
 * The statements are built by the pure functions of sql-session.ts, sql-subject.ts, sql-outbox.ts
 * and counters.ts, run by `StorePool`; `ChangeFeed` listens.
 *
 * @example
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL });
 * const sessions = new SessionManager({ store });
 */
export class PostgresStore implements SessionStore, SessionIndex, InvalidationSource, SharedCounters {
  readonly capabilities = defineCapabilities({ index: true, invalidation: 'everywhere', sharedCounters: true, outbox: true });
  /** The store's name in metrics and traces. */
  readonly name = 'postgres';
  readonly #sql: SqlContext;
  readonly #names: ResolvedNames;
  readonly #pool: StorePool;
  /** Where the ending calls record session notices, for a delivery worker (`capabilities.outbox`). */
  readonly outbox: SessionOutbox;
  readonly #feed: ChangeFeed;

  constructor(options: PostgresStoreOptions) {
    const resolved = resolvePostgresOptions(options);
    this.#names = resolved.names;
    // Marks this object's writes (`tessera.origin`), so that its own subscribers can leave them out.
    this.#sql = sqlContext(resolved.names, resolved.channel, randomBytes(12).toString('base64url'));
    this.#pool = new StorePool(resolved);
    this.outbox = new PostgresOutbox(this.#pool, this.#sql);
    this.#feed = new ChangeFeed(this.#pool, resolved.channel, [resolved.names.invalidationChannel]);
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { replaces, limit } = options;
    const limitedSubject = limit !== undefined && record.subject !== null ? record.subject : null;
    if (replaces === undefined && limitedSubject === null) {
      await this.#pool.query(insertStatement(this.#sql, record), { write: true });
      return { status: 'created', evicted: [] };
    }
    // A transaction, though its work is one statement: a client that gives up before COMMIT
    // leaves nothing behind (the server rolls back when the connection goes), so a login answered
    // 503 is undone by the server itself unless it was COMMIT that timed out.
    return this.#pool.transaction<CreateResult>(async (query) => {
      // Serializes logins (and trims) of one subject across pools and instances until commit.
      if (limitedSubject !== null) await query(subjectLockStatement(this.#sql, limitedSubject));
      const result = await query(createStatement(this.#sql, record, options));
      const row = result.rows[0] as { replaced: number; created: number };
      if (row.replaced === 0) return { rollback: true, result: { status: 'gone' } };
      if (row.created === 0) return { rollback: true, result: { status: 'limit' } };
      return { rollback: false, result: { status: 'created', evicted: [] } };
    });
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    // Not a write to wait for abandoned statements over: a touch landing late is harmless.
    const result = await this.#pool.query(loadStatement(this.#sql, id, options));
    const row = result.rows[0] as SessionRow | undefined;
    return row === undefined ? null : recordFromRow(row);
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const result = await this.#pool.query(applyStatement(this.#sql, id, changes, options), { write: true });
    const row = result.rows[0] as (SessionRow & { outcome: ApplyOutcome }) | undefined;
    if (row === undefined) return { status: 'gone' };
    const record = recordFromRow(row);
    if (row.outcome === 'conflict') return { status: 'conflict', record };
    return row.outcome === 'duplicate' ? { status: 'applied', record, duplicate: true } : { status: 'applied', record };
  }

  async delete(id: string, options: { notice?: NoticeRequest } = {}): Promise<RemovedSession | null> {
    const result = await this.#pool.query(deleteStatement(this.#sql, id, options.notice), { write: true });
    const row = result.rows[0] as RemovedSession | undefined;
    return row === undefined ? null : removedSession(row);
  }

  async trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const { now, max, batch } = options;
    if (!(batch >= 1)) return [];
    // Most logins leave the subject at or under its limit: one read, no lock, says so. A login
    // committed after this read has a trim of its own still to come.
    const over = await this.#pool.query(liveCountStatement(this.#sql, subject, { now, except: null, cap: max + 1 }), { write: true });
    if ((over.rows[0] as { n: number }).n <= max) return [];
    return this.#pool.transaction<RemovedSession[]>(async (query) => {
      // Two trims of one subject at once, each keeping its own session, would end each other's.
      await query(subjectLockStatement(this.#sql, subject));
      const result = await query(trimStatement(this.#sql, subject, options));
      return { rollback: false, result: removedSessions(result.rows as RemovedSession[]) };
    });
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    const result = await this.#pool.query(isSupersededStatement(this.#sql, id, options));
    return (result.rows[0] as { superseded: boolean }).superseded;
  }

  async deleteExpired(now: number, limit: number, options: { notice?: boolean } = {}): Promise<RemovedSession[]> {
    const result = await this.#pool.query(deleteExpiredStatement(this.#sql, now, limit, options.notice === true), { write: true });
    return removedSessions(result.rows as RemovedSession[]);
  }

  async listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const limit = pageSize(options.limit);
    if (limit === 0) return { sessions: [], nextCursor: null };
    const after = options.cursor == null ? null : parseListingCursor(options.cursor);
    const result = await this.#pool.query(listStatement(this.#sql, subject, { now: options.now, after, rows: lookahead(limit) }));
    return listingPage((result.rows as SessionRow[]).map(recordFromRow), limit);
  }

  async deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const statement = deleteBySubjectStatement(this.#sql, subject, {
      now: options.now,
      except: options.except ?? null,
      limit: options.limit,
      ...(options.notice !== undefined ? { notice: options.notice } : {}),
    });
    const result = await this.#pool.query(statement, { write: true });
    return removedSessions(result.rows as RemovedSession[]);
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const result = await this.#pool.query(queryStatement(this.#sql, query, lookahead(query.limit)));
    return queryPage((result.rows as SessionRow[]).map(recordFromRow), query.limit);
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    const result = await this.#pool.query(countStatement(this.#sql, filter));
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
    return this.#feed.watch(listener);
  }

  /**
   * Tells `listener` the id of every session row updated or deleted (a change set, a counter, a
   * touch, a renewal, a logout, a revocation, an eviction, the cleanup, a login or rotation
   * replacing it, or a statement run by hand), by any instance or client, except through this
   * store object; a `TRUNCATE` calls `invalidateAll`. Published by the trigger of schema version 4
   * on the table's own channel, and received on the store's `LISTEN` connection (the one `watch`
   * uses). `probe` runs one query on that connection, whose answer comes after every notification
   * committed before it, and checks that the triggers are in place and enabled; it rejects while
   * not listening. When the connection drops, `listener.down()` is called at once and it listens
   * again by itself.
   */
  subscribeInvalidations(listener: InvalidationListener): InvalidationSubscription {
    return subscribeInvalidations(this.#feed, this.#names, this.#sql.origin, listener);
  }

  /**
   * Adds one to `key`'s count in its window and returns it, in one statement (an upsert) that
   * every instance on the database shares; windows that are over are forgotten by later counts
   * and by the cleanup sweep (`deleteExpired`).
   */
  async countInWindow(key: string, options: { now: number; windowMs: number }): Promise<number> {
    const result = await this.#pool.query(countInWindowStatement(this.#sql, key, options));
    return (result.rows[0] as { count: number }).count;
  }

  /**
   * Resolves once a connection answers and the schema is up to date (migrated here when `migrate`
   * is on); rejects with why not, a connection waited for at most `connectionTimeout` and each
   * statement at most `statementTimeout`: a refused connection, an unknown host, a role, password
   * or database the server refuses (`StoreUnavailableError`, the driver's error as its `cause`).
   */
  async ready(): Promise<void> {
    await this.#pool.query({ text: 'SELECT 1', values: [] });
  }

  /**
   * Ends the pool the store opened and its `LISTEN` connection (watchers and invalidation
   * subscribers hear nothing more); a pool it was given stays open.
   */
  async close(): Promise<void> {
    await this.#pool.close(() => this.#feed.close());
  }
}
