/**
 * The slice of `pg` this store calls, typed structurally so that `pg` stays an optional peer
 * dependency, and the one place that decides which driver errors mean "the store is unavailable".
 */
import { BadRequestError, StoreUnavailableError, describeNetworkError } from '../../store-kit/index.js';

/** A statement and its parameters (`pg.QueryConfig`). */
export interface PgQueryConfig {
  /** The SQL, with `$1`… placeholders. */
  text: string;
  /** The parameters. */
  values?: unknown[];
  /** Client-side limit in ms, a backstop for a server that stops answering. */
  query_timeout?: number;
  /** A prepared-statement name: the connection parses and plans this text once. */
  name?: string;
}

/** What a statement returned (`pg.QueryResult`). */
export interface PgQueryResult {
  /** The rows, as objects by column name. */
  // biome-ignore lint/suspicious/noExplicitAny: as pg types it; each statement's caller casts its rows to its own row type
  rows: any[];
  /** Rows the statement returned or changed; null for statements that report none. */
  rowCount: number | null;
}

/** A `NOTIFY` as a listening client receives it (`pg.Notification`). */
export interface PgNotification {
  /** The channel it was sent on. */
  channel: string;
  /** What was sent. */
  payload?: string | undefined;
}

/** A client checked out of a pool (`pg.PoolClient`). */
export interface PgPoolClient {
  /** Runs a statement on this connection. */
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Passing an error (or `true`) destroys the connection instead of returning it to the pool. */
  release(destroy?: Error | boolean): void;
  /** Listens for the connection's errors. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Listens for notifications on the channels this connection `LISTEN`s to. */
  on(event: 'notification', listener: (message: PgNotification) => void): unknown;
  /** Stops listening for the connection's errors. */
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  /** Stops listening for notifications. */
  removeListener(event: 'notification', listener: (message: PgNotification) => void): unknown;
}

/** The part of `pg.Pool` the store uses. */
export interface PgPool {
  /** Runs a statement on any free connection. */
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Checks a connection out, for a transaction or a `LISTEN`. */
  connect(): Promise<PgPoolClient>;
  /** Closes every connection; called only on a pool the store opened. */
  end(): Promise<void>;
}

/** Node socket errors that mean the server cannot be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** SQLSTATEs of a server that is going away, overloaded, or cancelled a statement that ran too long. */
const UNAVAILABLE_STATES = new Set([
  '57014', // query_canceled: statement_timeout
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '57P05', // idle_session_timeout
  '55P03', // lock_not_available: lock_timeout
  '40P01', // deadlock_detected
  '25006', // read_only_sql_transaction: connected to a standby after a failover
  '3D000', // invalid_catalog_name: the database named in the connection string does not exist
]);

/** Messages pg uses for its own timeouts and dead connections (they carry no code). */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'not queryable',
  'Connection closed',
  'the database system is',
];

/**
 * Whether a `pg` error means the server cannot serve now (unreachable, shutting down, overloaded,
 * a statement timed out) rather than a fault in the statement: the store answers those with
 * `StoreUnavailableError`.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code)) return true;
    // Class 08: connection exception; class 28: the server refused the role or its password;
    // class 53: insufficient resources (too many connections, out of memory).
    if (code.startsWith('08') || code.startsWith('28') || code.startsWith('53')) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.some((text) => error.message.includes(text));
}

/** Unavailability becomes `StoreUnavailableError`; anything else (a bug, a constraint) stays as it is, bar refused data. */
export function translateError(error: unknown): unknown {
  // jsonb cannot hold U+0000 (text values with it fail the same way): the client's data, not an outage.
  if (error instanceof Error && (error as { code?: unknown }).code === '22P05') {
    return new BadRequestError('session values cannot contain the character U+0000 in the PostgreSQL store');
  }
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  return new StoreUnavailableError(`the PostgreSQL session store is unavailable: ${describe(error as Error)}`, { cause: error });
}

/** Why, in an operator's words: the network's cause, or the server's message with its SQLSTATE. */
function describe(error: Error): string {
  const network = describeNetworkError(error);
  if (network !== null) return network;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error.message;
  // pg's messages say which role or database; the password is never in them.
  if (code.startsWith('28')) return `authentication failed: ${error.message} (${code}): check the user and password`;
  if (code === '3D000') return `${error.message} (3D000): check the database name, or create it`;
  return `${error.message} (${code})`;
}

/** Quotes an SQL identifier. Names are validated at construction too; this keeps quoting in one place. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
