/**
 * The store's connections: the pool (opened and migrated on first use, or given), one statement
 * or one transaction at a time on a connection of its own, and the care for statements the
 * client gave up on (see `AbandonedStatements`). Every driver error leaves here translated.
 */
import { createHash } from 'node:crypto';
import { StoreUnavailableError, loadDriver } from '../../store-kit/index.js';
import { AbandonedStatements, mayStillRun } from './abandoned.js';
import { isUnavailable, translateError, type PgPool, type PgPoolClient, type PgQueryResult } from './driver.js';
import { migrate } from './migrations.js';
import type { ResolvedPostgresOptions } from './options.js';
import type { Statement } from './params.js';

/** The client gives up this long after the server's `statement_timeout` would have fired. */
const CLIENT_TIMEOUT_MARGIN = 1000;

/** Runs one statement of a transaction. */
export type TransactionQuery = (statement: Statement) => Promise<PgQueryResult>;

/** The part of the `pg` module the store calls: a pool of its own, when given a connection string. */
interface PgDriver {
  Pool: new (config: {
    connectionString: string | undefined;
    connectionTimeoutMillis: number;
    statement_timeout: number;
    max: number;
    allowExitOnIdle: boolean;
  }) => PgPool & { on(event: 'error', listener: (error: Error) => void): unknown };
}

export class StorePool {
  readonly #options: ResolvedPostgresOptions;
  /** Null when a pool was given. */
  readonly #driver: PgDriver | null;
  readonly #ownsPool: boolean;
  /** The client-side limit of every statement. */
  readonly queryTimeout: number;
  #pool: PgPool | null;
  #ready: PgPool | null = null;
  #starting: Promise<PgPool> | null = null;
  #closed = false;
  readonly #abandoned = new AbandonedStatements();

  constructor(options: ResolvedPostgresOptions) {
    this.#options = options;
    this.#pool = options.pool;
    this.#ownsPool = options.pool === null;
    this.#driver = options.pool === null ? loadDriver<PgDriver>('pg', 'PostgresStore') : null;
    this.queryTimeout = options.statementTimeout + CLIENT_TIMEOUT_MARGIN;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * One statement on a pooled connection. `write`: first wait until statements the client gave up
   * on have ended on the server, so that this one comes after them.
   */
  async query(statement: Statement, options: { write?: boolean } = {}): Promise<PgQueryResult> {
    if (options.write === true) await this.#settleAbandoned();
    return this.#onClient((run) => run(statement));
  }

  /**
   * `body` in a transaction of its own, committed unless it asks for a rollback. A client that
   * gives up on a statement sends no ROLLBACK (it would wait behind that statement): the
   * connection is dropped instead, which rolls back on the server, and its backend is ended
   * before the next write like any other abandoned one.
   */
  async transaction<T>(body: (query: TransactionQuery) => Promise<{ rollback: boolean; result: T }>): Promise<T> {
    await this.#settleAbandoned();
    return this.#onClient(async (run, broken) => {
      await run({ text: 'BEGIN' });
      let outcome: { rollback: boolean; result: T };
      try {
        outcome = await body(run);
      } catch (error) {
        if (mayStillRun(error)) throw error;
        // A failed rollback leaves the connection in an unknown state: it is not given back.
        await run({ text: 'ROLLBACK' }).catch((rollbackError: unknown) =>
          broken(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
        );
        throw error;
      }
      await run({ text: outcome.rollback ? 'ROLLBACK' : 'COMMIT' });
      return outcome.result;
    });
  }

  /** A connection of its own from the pool, for the caller to release; an outage becomes `StoreUnavailableError`. */
  async connect(): Promise<PgPoolClient> {
    const pool = await this.#getPool();
    try {
      return await pool.connect();
    } catch (error) {
      throw translateError(error);
    }
  }

  /** Refuses new work at once; ends the pool the store opened once `before` is done (a pool it was given stays open). */
  async close(before: () => Promise<void>): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await before();
    const pool = this.#pool;
    this.#pool = null;
    this.#ready = null;
    if (this.#ownsPool && pool !== null) {
      if (this.#starting !== null) await this.#starting.catch(() => {});
      await pool.end();
    }
  }

  /**
   * `work` on a connection of its own, given a function that runs statements on it (named, so
   * each connection parses and plans a statement shape once) and one that marks it broken. A
   * broken or abandoned connection is destroyed, not given back.
   */
  async #onClient<T>(
    work: (
      run: (statement: { text: string; values?: unknown[]; unprepared?: true }) => Promise<PgQueryResult>,
      broken: (error: Error) => void,
    ) => Promise<T>,
  ): Promise<T> {
    const client = await this.connect();
    let failure: Error | undefined;
    const broken = (error: Error) => {
      failure ??= error;
    };
    client.on('error', broken);
    const run = ({ unprepared, ...statement }: { text: string; values?: unknown[]; unprepared?: true }) =>
      client.query({
        ...statement,
        ...(statement.values !== undefined && unprepared !== true ? { name: statementName(statement.text) } : {}),
        query_timeout: this.queryTimeout,
      });
    try {
      return await work(run, broken);
    } catch (error) {
      if (mayStillRun(error)) this.#abandoned.add(client);
      if (isUnavailable(error)) broken(error as Error);
      throw translateError(error);
    } finally {
      client.removeListener('error', broken);
      client.release(failure ?? false);
    }
  }

  async #settleAbandoned(): Promise<void> {
    if (!this.#abandoned.pending) return;
    await this.#abandoned.settle(await this.#getPool(), this.#options.statementTimeout, this.queryTimeout);
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
      // Only a store that was given its pool has no driver, and it lacks that pool once closed.
      if (this.#driver === null) throw new StoreUnavailableError('the PostgreSQL session store is closed');
      const pool = new this.#driver.Pool({
        connectionString: this.#options.connectionString ?? undefined,
        connectionTimeoutMillis: this.#options.connectionTimeout,
        statement_timeout: this.#options.statementTimeout,
        max: this.#options.poolSize,
        // Idle connections do not keep the process alive.
        allowExitOnIdle: true,
      });
      // An idle connection that dies is dropped by the pool; the next request reports the outage.
      pool.on('error', () => {});
      this.#pool = pool;
    }
    const pool = this.#pool;
    if (this.#options.migrate) await migrate(pool, this.#options.names);
    return pool;
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
