/**
 * The slice of better-sqlite3 the store calls, typed structurally so that the driver stays an
 * optional peer dependency: a `Database` from better-sqlite3 (11 or later) fits it as it is.
 */

/** What running a statement reports. */
export interface SqliteRunResult {
  /** Rows the statement inserted, changed or deleted. */
  changes: number;
}

/** A prepared statement (better-sqlite3's `Statement`). */
export interface SqliteStatement {
  /** Runs it for its effect. */
  run(...params: unknown[]): SqliteRunResult;
  /** The first row, or undefined. */
  get(...params: unknown[]): unknown;
  /** Every row. */
  all(...params: unknown[]): unknown[];
  /** Whether integers come back as `bigint`; the store turns it off on its own statements. */
  safeIntegers(toggle?: boolean): unknown;
}

/** A function wrapped in a transaction (better-sqlite3's `db.transaction(fn)`). */
export interface SqliteTransaction<T> {
  /** Runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read. */
  immediate(): T;
}

/** An open database (better-sqlite3's `Database`), for `new SqliteStore({ database })`. */
export interface SqliteDatabase {
  /** Whether the connection is open. */
  readonly open: boolean;
  /** Compiles a statement. */
  prepare(source: string): SqliteStatement;
  /** Wraps `fn` in a transaction. */
  transaction<T>(fn: () => T): SqliteTransaction<T>;
  /** Runs SQL that returns no rows (the schema). */
  exec(source: string): unknown;
  /** Runs a `PRAGMA`. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Closes the connection; called only on a database the store opened. */
  close(): unknown;
}

/** better-sqlite3's `Database` class, which the store loads only when it opens the file itself. */
export type SqliteDriver = new (path: string, options: { timeout: number }) => SqliteDatabase;
