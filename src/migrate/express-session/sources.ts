/**
 * Where express-session's stores keep a session, read the way connect-redis (`sess:` + id, JSON,
 * with a TTL) and connect-pg-simple (the `session` table: sid, sess json, expire) write it. Each
 * claim reads and, when asked, removes the record in one atomic step, so that of several processes
 * claiming one session only one gets it. The drivers are typed by the slice called.
 */
import { InvalidOptionError, StoreUnavailableError } from '../../core/errors.js';

/** A legacy session as its store held it. */
export interface LegacyRecord {
  /** The stored JSON text. */
  readonly text: string;
  /** When the store would have dropped it, in ms from now; null when it has no expiry there. */
  readonly remainingMs: number | null;
}

/** A store express-session wrote to, as the migration reads it. */
export interface LegacySessionSource {
  /** The record of session `id` (null when there is none), removed in the same atomic step when `remove`. */
  claim(id: string, remove: boolean): Promise<LegacyRecord | null>;
  /** Puts back a record claimed and removed, unless the id was written again meanwhile. */
  restore(id: string, record: LegacyRecord): Promise<void>;
}

/** The slice of a node-redis v5 client (`createClient()`) that the Redis source calls. */
export interface LegacyRedisClient {
  /** Sends one command and resolves to its reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/** The options of `connectRedisSource`. */
export interface ConnectRedisSourceOptions {
  /** A connected node-redis v5 client, on the database connect-redis used; the app's to connect and close. */
  client: LegacyRedisClient;
  /**
   * connect-redis's `prefix` option.
   * @default 'sess:'
   */
  prefix?: string;
}

/** Reads the value and its remaining time, and deletes it when ARGV[1] is '1', as one step. */
const CLAIM_SCRIPT = `local value = redis.call('GET', KEYS[1])
if not value then return false end
local ttl = redis.call('PTTL', KEYS[1])
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
return {value, ttl}`;

function unavailable(error: unknown): StoreUnavailableError {
  return new StoreUnavailableError('the legacy session store is unavailable', { cause: error });
}

/** Sessions that connect-redis wrote: key `prefix` + id, the session as JSON, a TTL. */
export function connectRedisSource(options: ConnectRedisSourceOptions): LegacySessionSource {
  const { client, prefix = 'sess:' } = options;
  if (typeof client?.sendCommand !== 'function') throw new InvalidOptionError('connectRedisSource needs a node-redis v5 client');
  if (typeof prefix !== 'string') throw new InvalidOptionError('connectRedisSource: prefix must be a string');
  return {
    async claim(id, remove) {
      let reply: unknown;
      try {
        reply = await client.sendCommand(['EVAL', CLAIM_SCRIPT, '1', prefix + id, remove ? '1' : '0']);
      } catch (error) {
        throw unavailable(error);
      }
      if (!Array.isArray(reply)) return null;
      const [text, ttl] = reply as [unknown, unknown];
      if (typeof text !== 'string') return null;
      return { text, remainingMs: typeof ttl === 'number' && ttl >= 0 ? ttl : null };
    },
    async restore(id, record) {
      const expiry = record.remainingMs === null ? [] : ['PX', String(Math.max(1, record.remainingMs))];
      try {
        await client.sendCommand(['SET', prefix + id, record.text, ...expiry, 'NX']);
      } catch (error) {
        throw unavailable(error);
      }
    },
  };
}

/** The slice of a `pg` Pool (or Client) that the PostgreSQL source calls. */
export interface LegacyPgPool {
  /** Runs one parameterised statement. */
  query(text: string, values: unknown[]): Promise<LegacyPgResult>;
}

/** What `LegacyPgPool.query` answers, of which the source reads the rows. */
export interface LegacyPgResult {
  /** The rows, each by column name. */
  rows: Array<Record<string, unknown>>;
}

/** The options of `connectPgSimpleSource`. */
export interface ConnectPgSimpleSourceOptions {
  /** A `pg` Pool on the database connect-pg-simple used; the app's to end. */
  pool: LegacyPgPool;
  /**
   * connect-pg-simple's `tableName`.
   * @default 'session'
   */
  table?: string;
  /**
   * connect-pg-simple's `schemaName`; none uses the search path.
   * @default undefined
   */
  schema?: string;
}

/** An identifier quoted for SQL, as connect-pg-simple quotes its own. */
function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Sessions that connect-pg-simple wrote: the table's `sid`, `sess` (json) and `expire` (timestamp) columns. */
export function connectPgSimpleSource(options: ConnectPgSimpleSourceOptions): LegacySessionSource {
  const { pool, table = 'session', schema } = options;
  if (typeof pool?.query !== 'function') throw new InvalidOptionError('connectPgSimpleSource needs a pg Pool');
  for (const [name, value] of [
    ['table', table],
    ['schema', schema],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || !/^[^\0]{1,63}$/.test(value)))
      throw new InvalidOptionError(`connectPgSimpleSource: ${name} must be 1 to 63 characters`);
  }
  const name = schema === undefined ? quoted(table) : `${quoted(schema)}.${quoted(table)}`;
  // `expire` is a timestamp without time zone that connect-pg-simple wrote from to_timestamp() in
  // the session's time zone: read back through the same conversion, it is the instant it meant.
  const remaining = `(extract(epoch from expire::timestamptz - clock_timestamp()) * 1000)::float8 AS remaining_ms`;
  const take = `DELETE FROM ${name} WHERE sid = $1 RETURNING sess::text AS text, ${remaining}`;
  const read = `SELECT sess::text AS text, ${remaining} FROM ${name} WHERE sid = $1`;
  const put = `INSERT INTO ${name} (sid, sess, expire) VALUES ($1, $2::json, clock_timestamp() + $3 * interval '1 millisecond') ON CONFLICT (sid) DO NOTHING`;
  return {
    async claim(id, remove) {
      let rows: Array<Record<string, unknown>>;
      try {
        ({ rows } = await pool.query(remove ? take : read, [id]));
      } catch (error) {
        // A missing table is a setting to fix, not an outage to wait out.
        if ((error as { code?: unknown })?.code === '42P01') throw new InvalidOptionError(`connectPgSimpleSource: no table ${name}`);
        throw unavailable(error);
      }
      const row = rows[0];
      if (row === undefined || typeof row.text !== 'string') return null;
      const remainingMs = Number(row.remaining_ms);
      return { text: row.text, remainingMs: Number.isFinite(remainingMs) ? remainingMs : null };
    },
    async restore(id, record) {
      try {
        await pool.query(put, [id, record.text, record.remainingMs ?? 0]);
      } catch (error) {
        throw unavailable(error);
      }
    },
  };
}
