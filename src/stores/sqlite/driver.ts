/**
 * The slice of better-sqlite3 the store calls, typed structurally so that the driver stays an
 * optional peer dependency: a `Database` from better-sqlite3 (11 or later) fits it as it is.
 */

export interface SqliteRunResult {
  changes: number;
}

export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Whether integers come back as `bigint`; the store turns it off on its own statements. */
  safeIntegers(toggle?: boolean): unknown;
}

export interface SqliteTransaction<T> {
  /** Runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read. */
  immediate(): T;
}

export interface SqliteDatabase {
  readonly open: boolean;
  prepare(source: string): SqliteStatement;
  transaction<T>(fn: () => T): SqliteTransaction<T>;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}
