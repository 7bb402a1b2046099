/** The store's options, documented for callers and checked at construction. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidOptionError, StoreUnavailableError } from '../../store-kit/index.js';
import type { SqliteDatabase } from './driver.js';
import { quoteTableName } from './schema.js';

/**
 * The options of every SQLite store, with `path` or `database`.
 * @inline
 */
interface SqliteStoreCommonOptions {
  /**
   * The table sessions live in; created with its indexes at construction if missing, with
   * `<table>_superseded` beside it for tokens a login or rotation replaced, and
   * `<table>_applied` for the idempotency keys of applied change sets, and `<table>_notices` for
   * the session-notice outbox.
   * @default 'tessera_sessions'
   */
  table?: string;
  /**
   * The former name of `table`, still read when `table` is not given.
   * @deprecated Use `table`, the name the PostgreSQL store uses too.
   * @default 'tessera_sessions'
   */
  tableName?: string;
  /**
   * Milliseconds a write waits for another connection's lock before failing with
   * `StoreUnavailableError`. The wait leaves the event loop free: each try gives up after a few
   * milliseconds and the next one is scheduled on a timer. A given `database` keeps its own
   * `busy_timeout`, which is how long each try blocks the process: open it with a short one
   * (better-sqlite3's `timeout` option, e.g. `5`), or a lock held elsewhere stalls every request.
   * @default 5000
   */
  busyTimeout?: number;
}

/** The options of `new SqliteStore(options)`: `path` or `database`, and the rest with defaults. */
export type SqliteStoreOptions = SqliteStoreCommonOptions &
  (
    | {
        /**
         * The database file, opened (and created if missing) by the store in WAL mode and closed by
         * `close()`; its directory must exist (`InvalidOptionError` otherwise). `':memory:'` gives a
         * private in-memory database. Needs the package `better-sqlite3`.
         * @default none: give either `path` or `database`
         * @example './sessions.db'
         */
        path: string;
        /** Not with `path`. */
        database?: never;
      }
    | {
        /**
         * An open better-sqlite3 database. The store creates its table in it but leaves the
         * connection's settings (journal mode, busy timeout, checkpoints) alone and never closes
         * it. A store opened with `path` checkpoints the write-ahead log from a worker thread; on a
         * given connection SQLite checkpoints inside a commit now and then, holding the event loop.
         * @default none: give either `path` or `database`
         */
        database: SqliteDatabase;
        /** Not with `database`. */
        path?: never;
      }
  );

/** Options checked, with their defaults. */
export function resolveSqliteOptions(options: SqliteStoreOptions): {
  path: string | null;
  database: SqliteDatabase | null;
  table: string;
  busyTimeout: number;
} {
  const given = (options ?? {}) as { path?: unknown; database?: unknown; table?: unknown; tableName?: unknown; busyTimeout?: unknown };
  if ((given.path === undefined) === (given.database === undefined))
    throw new InvalidOptionError('SqliteStore needs exactly one of path or database');
  if (given.path !== undefined && (typeof given.path !== 'string' || given.path.length === 0))
    throw new InvalidOptionError('path must be a non-empty string');
  if (given.database !== undefined && typeof (given.database as { prepare?: unknown } | null)?.prepare !== 'function') {
    throw new InvalidOptionError('database must be an open better-sqlite3 Database');
  }
  const busyTimeout = given.busyTimeout ?? 5000;
  if (typeof busyTimeout !== 'number' || !Number.isInteger(busyTimeout) || busyTimeout < 0)
    throw new InvalidOptionError('busyTimeout must be a whole number of milliseconds');
  if (given.table !== undefined && given.tableName !== undefined && given.table !== given.tableName) {
    throw new InvalidOptionError('give table, not both table and its deprecated alias tableName');
  }
  const table = (given.table ?? given.tableName ?? 'tessera_sessions') as string;
  quoteTableName(table);
  return {
    path: (given.path as string | undefined) ?? null,
    database: (given.database as SqliteDatabase | undefined) ?? null,
    table,
    busyTimeout,
  };
}

/**
 * Why `path` could not be opened: a directory that does not exist is the app's mistake (SQLite
 * creates the file, never its directory), anything else an outage.
 */
export function cannotOpen(path: string, error: unknown): Error {
  const directory = dirname(resolve(path));
  if (!path.startsWith('file:') && !existsSync(directory)) {
    return new InvalidOptionError(`path ${path}: the directory ${directory} does not exist; create it, or give a path in one that does`);
  }
  return new StoreUnavailableError(`cannot open the SQLite database ${path}: ${(error as Error).message}`, { cause: error });
}
