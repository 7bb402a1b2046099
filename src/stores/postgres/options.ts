/** The store's options, documented for callers and checked at construction. */
import { InvalidOptionError } from '../../store-kit/index.js';
import type { PgPool } from './driver.js';
import { resolveNames, type ResolvedNames } from './migrations.js';

/** The options of `new PostgresStore(options)`: `connectionString` or `pool`, and the rest with defaults. */
export interface PostgresStoreOptions {
  /**
   * Where to connect; the store opens (and `close()` ends) its own pool, with the package `pg`.
   * Give this or `pool`.
   * @default none: give either `connectionString` or `pool`
   * @example 'postgres://tessera@127.0.0.1:5432/app'
   */
  connectionString?: string;
  /**
   * An existing `pg.Pool` to use instead. `close()` leaves it open, and its own settings decide
   * its connect timeout and server-side `statement_timeout` (the client-side limit of
   * `statementTimeout` still applies). Give it an `'error'` listener, as `pg` requires.
   * @default none: give either `connectionString` or `pool`
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
   * The `LISTEN/NOTIFY` channel that revocations and rotations are published on (`watch`).
   * Invalidations for caches use the table's own channel instead (`subscribeInvalidations`).
   * @default 'tessera_sessions'
   */
  channel?: string;
}

export interface ResolvedPostgresOptions {
  names: ResolvedNames;
  channel: string;
  migrate: boolean;
  /** Null when a pool was given. */
  connectionString: string | null;
  /** Null when the store opens its own. */
  pool: PgPool | null;
  connectionTimeout: number;
  statementTimeout: number;
  poolSize: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new InvalidOptionError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** Options checked, with their defaults. */
export function resolvePostgresOptions(options: PostgresStoreOptions): ResolvedPostgresOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('PostgresStore options are required');
  if ((options.connectionString === undefined) === (options.pool === undefined)) {
    throw new InvalidOptionError('PostgresStore needs exactly one of connectionString or pool');
  }
  if (options.connectionString !== undefined && (typeof options.connectionString !== 'string' || options.connectionString.length === 0)) {
    throw new InvalidOptionError('connectionString must be a non-empty string');
  }
  const names = resolveNames({
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(options.table !== undefined ? { table: options.table } : {}),
  });
  const channel = options.channel ?? 'tessera_sessions';
  if (typeof channel !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(channel)) {
    throw new InvalidOptionError(`channel must be a plain SQL identifier, got ${JSON.stringify(channel)}`);
  }
  return {
    names,
    channel,
    migrate: options.migrate ?? true,
    connectionString: options.connectionString ?? null,
    pool: options.pool ?? null,
    connectionTimeout: positiveInteger('connectionTimeout', options.connectionTimeout ?? 2000),
    statementTimeout: positiveInteger('statementTimeout', options.statementTimeout ?? 2000),
    poolSize: positiveInteger('poolSize', options.poolSize ?? 10),
  };
}
