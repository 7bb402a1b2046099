/**
 * The schema as versioned migrations. Each step is SQL for one version; `migrate` applies the
 * missing ones in one transaction under an advisory lock, so instances starting together wait for
 * each other and only the first does the work. `schema.sql` beside this file is the result of all
 * steps with the default names, for reading.
 */
import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../../store-kit/index.js';
import { quoteIdent, translateError, type PgPool, type PgPoolClient } from './driver.js';

/** Where the sessions table lives. */
export interface TableNames {
  /** @default 'public' */
  schema?: string;
  /** @default 'tessera_sessions' */
  table?: string;
}

/** Validated names and their quoted, schema-qualified forms. */
export interface ResolvedNames {
  /** The schema, as given (validated). */
  readonly schema: string;
  /** The sessions table, as given (validated). */
  readonly table: string;
  /** `"schema"."table"` */
  readonly qualified: string;
  /** `<table>_superseded`: tokens a login or rotation replaced, for `isSuperseded`. */
  readonly supersededTable: string;
  /** `"schema"."<table>_superseded"` */
  readonly superseded: string;
  /** `<table>_applied`: idempotency keys of applied change sets (see `ApplyOptions.idempotency`). */
  readonly appliedTable: string;
  /** `"schema"."<table>_applied"` */
  readonly applied: string;
  /** `<table>_counters`: per-key counts in time windows (see `PostgresStore.countInWindow`). */
  readonly countersTable: string;
  /** `"schema"."<table>_counters"` */
  readonly counters: string;
  /** `<table>_notices`: session notices waiting for delivery (the outbox, see `SessionOutbox`). */
  readonly noticesTable: string;
  /** `"schema"."<table>_notices"` */
  readonly notices: string;
  /** `"schema"."<table>_invalidate"`: the trigger function that publishes changed sessions. */
  readonly invalidateFunction: string;
  /**
   * `tessera_` and the MD5 of `schema.table` in hex: the `LISTEN` channel the trigger publishes
   * changed sessions on, one per table whatever the `channel` option (see `invalidationChannel`).
   */
  readonly invalidationChannel: string;
  /** `"schema"."tessera_migrations"` */
  readonly migrations: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Leaves room for the suffixes of derived names inside PostgreSQL's 63-byte identifiers; longer
 * ones would be cut short silently. `_superseded_idx` and `_notices_at_idx` (15) are the longest
 * a step after the first adds; the first step's `_display_name_idx` (17) is cut to 63 for a table
 * name of 47 or 48.
 */
const MAX_TABLE_LENGTH = 48;

export function resolveNames(options: TableNames = {}): ResolvedNames {
  const schema = options.schema ?? 'public';
  const table = options.table ?? 'tessera_sessions';
  if (!IDENTIFIER.test(schema) || schema.length > 63)
    throw new InvalidOptionError(`schema must be a plain SQL identifier, got ${JSON.stringify(schema)}`);
  if (!IDENTIFIER.test(table) || table.length > MAX_TABLE_LENGTH) {
    throw new InvalidOptionError(
      `table must be a plain SQL identifier of at most ${MAX_TABLE_LENGTH} characters, got ${JSON.stringify(table)}`,
    );
  }
  return Object.freeze({
    schema,
    table,
    qualified: `${quoteIdent(schema)}.${quoteIdent(table)}`,
    supersededTable: `${table}_superseded`,
    superseded: `${quoteIdent(schema)}.${quoteIdent(`${table}_superseded`)}`,
    appliedTable: `${table}_applied`,
    applied: `${quoteIdent(schema)}.${quoteIdent(`${table}_applied`)}`,
    countersTable: `${table}_counters`,
    counters: `${quoteIdent(schema)}.${quoteIdent(`${table}_counters`)}`,
    noticesTable: `${table}_notices`,
    notices: `${quoteIdent(schema)}.${quoteIdent(`${table}_notices`)}`,
    invalidateFunction: `${quoteIdent(schema)}.${quoteIdent(`${table}_invalidate`)}`,
    invalidationChannel: invalidationChannel(schema, table),
    migrations: `${quoteIdent(schema)}.${quoteIdent('tessera_migrations')}`,
  });
}

/**
 * The channel the trigger of schema version 4 publishes a table's changed sessions on. It computes
 * the same from `TG_TABLE_SCHEMA` and `TG_TABLE_NAME`, so each table has its own (two apps with
 * tables of one name in two schemas do not hear each other) and `schema.sql` needs no argument.
 */
export function invalidationChannel(schema: string, table: string): string {
  return `tessera_${createHash('md5').update(`${schema}.${table}`).digest('hex')}`;
}

/** Largest `pg_notify` payload the trigger sends: PostgreSQL refuses 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7900;

/**
 * One entry per schema version, in order; never edit a released step, add one. Steps use
 * `IF NOT EXISTS` so that a table created by hand from `schema.sql` is adopted, not an error.
 */
export const migrations: ReadonlyArray<(names: ResolvedNames) => string> = [
  // 1: the sessions table. Fixed-width columns first, so the row has no alignment padding.
  ({ qualified, table }) => `
    CREATE TABLE IF NOT EXISTS ${qualified} (
      created_at          bigint  NOT NULL,
      last_seen_at        bigint  NOT NULL,
      absolute_expires_at bigint  NOT NULL,
      expires_at          bigint  NOT NULL,
      authenticated_at    bigint,
      renewed_at          bigint  NOT NULL,
      previous_secret_expires_at bigint,
      idle_timeout        integer NOT NULL,
      version             integer NOT NULL,
      id                  text COLLATE "C" PRIMARY KEY,
      secret_hash         text    NOT NULL,
      previous_secret_hash text,
      subject             text,
      display_name        text,
      created_ip          text,
      created_user_agent  text,
      last_ip             text,
      last_user_agent     text,
      data                jsonb   NOT NULL DEFAULT '{}'
    );
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${table}_subject_idx`)} ON ${qualified} (subject, expires_at) WHERE subject IS NOT NULL;
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${table}_expires_idx`)} ON ${qualified} (expires_at);
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${table}_display_name_idx`)} ON ${qualified} (display_name text_pattern_ops) WHERE display_name IS NOT NULL;
  `,
  // 2: superseded tokens, the ids a login or rotation replaced with the secret hashes that opened
  // them, until superseded_until (see `SessionStore.isSuperseded`). Sessions are untouched.
  ({ superseded, supersededTable }) => `
    CREATE TABLE IF NOT EXISTS ${superseded} (
      superseded_until     bigint NOT NULL,
      id                   text COLLATE "C" PRIMARY KEY,
      secret_hash          text   NOT NULL,
      previous_secret_hash text
    );
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${supersededTable}_idx`)} ON ${superseded} (superseded_until);
  `,
  // 3: a subject's sessions in listing order, so that a page, a trim or a bounded revocation walks
  // only its own entries (created_at never changes: touches leave this index alone); and the
  // idempotency keys of applied change sets, until `until`. On a large table the index build
  // holds writes for its duration: build it beforehand with CREATE INDEX CONCURRENTLY under this
  // name to avoid that (IF NOT EXISTS then adopts it).
  ({ qualified, table, applied, appliedTable }) => `
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${table}_created_idx`)} ON ${qualified} (subject, created_at, id) WHERE subject IS NOT NULL;
    CREATE TABLE IF NOT EXISTS ${applied} (
      until      bigint NOT NULL,
      session_id text COLLATE "C" NOT NULL,
      key        text COLLATE "C" NOT NULL,
      PRIMARY KEY (session_id, key)
    );
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${appliedTable}_idx`)} ON ${applied} (until);
  `,
  // 4: counts in time windows that every instance shares (`countInWindow`); and a trigger that
  // publishes every session updated or deleted, by tessera or by hand, so that caches in front of
  // other instances drop it (`subscribeInvalidations`). See `invalidationSql`.
  (names) => `
    CREATE TABLE IF NOT EXISTS ${names.counters} (
      until        bigint NOT NULL,
      window_start bigint NOT NULL,
      window_ms    bigint NOT NULL,
      count        integer NOT NULL,
      key          text COLLATE "C" NOT NULL,
      PRIMARY KEY (key, window_ms, window_start)
    );
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${names.countersTable}_idx`)} ON ${names.counters} (until);
    ${invalidationSql(names)}
  `,
  // 5: the outbox, session notices waiting for delivery (`SessionOutbox`): the ending statements
  // insert a row per session they remove; delivery workers claim the earliest due (due_at index)
  // and the cap trims the oldest (at index). Index names stay within 63 bytes at 48-char tables.
  ({ notices, noticesTable }) => `
    CREATE TABLE IF NOT EXISTS ${notices} (
      at         bigint  NOT NULL,
      due_at     bigint  NOT NULL,
      attempts   integer NOT NULL DEFAULT 0,
      id         text COLLATE "C" PRIMARY KEY,
      type       text    NOT NULL,
      session_id text COLLATE "C" NOT NULL,
      subject    text,
      reason     text
    );
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${noticesTable}_idx`)} ON ${notices} (due_at);
    CREATE INDEX IF NOT EXISTS ${quoteIdent(`${noticesTable}_at_idx`)} ON ${notices} (at);
  `,
];

/** The triggers of one table, by the name `probe` checks for. */
export const INVALIDATION_TRIGGERS = ['tessera_invalidate_update', 'tessera_invalidate_delete', 'tessera_invalidate_truncate'] as const;

/**
 * The invalidation trigger function and its three triggers. Statement-level, with the old rows as
 * a transition table: one call per statement however many rows it changes, and the ids go out in
 * as few `pg_notify` payloads as fit under the 8000-byte limit (about 250 ids each). A payload is
 * `{"origin":…,"ids":[…]}`, the origin being the `tessera.origin` setting the store sets for its
 * own statements (null for anyone else's); TRUNCATE, or an id too long for any payload, sends
 * `{"all":true}`. A statement that changes no row sends nothing. Inserts are left out: a new
 * row cannot be in anyone's cache. The update trigger starts disabled: the first cache that
 * subscribes enables it (see `subscribeInvalidations`), since NOTIFY serialises commits and a
 * deployment without a cache should not pay for it on every save and touch. Deletes published
 * before this version already.
 */
export function invalidationSql({ qualified, invalidateFunction }: ResolvedNames): string {
  const [onUpdate, onDelete, onTruncate] = INVALIDATION_TRIGGERS;
  return `
    CREATE OR REPLACE FUNCTION ${invalidateFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      channel text := 'tessera_' || md5(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
      head text;
      batch text := '';
      item text;
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify(channel, '{"all":true}');
        RETURN NULL;
      END IF;
      head := '{"origin":' || coalesce(to_json(left(nullif(current_setting('tessera.origin', true), ''), 64))::text, 'null') || ',"ids":[';
      FOR item IN SELECT to_json(id)::text FROM changed LOOP
        IF octet_length(head) + octet_length(item) + 2 > ${MAX_PAYLOAD_BYTES} THEN
          PERFORM pg_notify(channel, '{"all":true}');
        ELSIF octet_length(head) + octet_length(batch) + octet_length(item) + 3 > ${MAX_PAYLOAD_BYTES} THEN
          PERFORM pg_notify(channel, head || batch || ']}');
          batch := item;
        ELSIF batch = '' THEN
          batch := item;
        ELSE
          batch := batch || ',' || item;
        END IF;
      END LOOP;
      IF batch <> '' THEN
        PERFORM pg_notify(channel, head || batch || ']}');
      END IF;
      RETURN NULL;
    END
    $fn$;
    DROP TRIGGER IF EXISTS ${onUpdate} ON ${qualified};
    CREATE TRIGGER ${onUpdate} AFTER UPDATE ON ${qualified}
      REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE PROCEDURE ${invalidateFunction}();
    ALTER TABLE ${qualified} DISABLE TRIGGER ${onUpdate};
    DROP TRIGGER IF EXISTS ${onDelete} ON ${qualified};
    CREATE TRIGGER ${onDelete} AFTER DELETE ON ${qualified}
      REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE PROCEDURE ${invalidateFunction}();
    DROP TRIGGER IF EXISTS ${onTruncate} ON ${qualified};
    CREATE TRIGGER ${onTruncate} AFTER TRUNCATE ON ${qualified} FOR EACH STATEMENT EXECUTE PROCEDURE ${invalidateFunction}();`;
}

/** The version `migrate` brings a table to. */
export const SCHEMA_VERSION = migrations.length;

/** One lock for all tessera migrations in a database: `CREATE SCHEMA IF NOT EXISTS` races too. */
const MIGRATION_LOCK = "hashtext('tessera:migrate')";

/**
 * Creates or upgrades the sessions table to `SCHEMA_VERSION`. Safe to run from many processes at
 * once; returns the version before and after. `PostgresStore` calls it on first use unless
 * `migrate: false`; with that, call `migrate(pool)` yourself, from a deployment step or at start-up
 * (or run `tessera migrate --store postgres://…`, which calls it).
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'public', table: 'tessera_sessions' });
 */
export async function migrate(
  pool: PgPool,
  options: TableNames = {},
): Promise<{
  /** The schema version before. */
  from: number;
  /** The schema version after: `SCHEMA_VERSION`. */
  to: number;
}> {
  const names = resolveNames(options);
  let client: PgPoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw translateError(error);
  }
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure = error;
  };
  client.on('error', onError);
  try {
    await client.query({ text: 'BEGIN' });
    try {
      await client.query({ text: `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})` });
      // Migrations may rebuild indexes on large tables: no statement timeout inside this transaction.
      await client.query({ text: 'SET LOCAL statement_timeout = 0' });
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
      const schemaExists = await client.query({ text: 'SELECT 1 FROM pg_namespace WHERE nspname = $1', values: [names.schema] });
      if (schemaExists.rows.length === 0) await client.query({ text: `CREATE SCHEMA ${quoteIdent(names.schema)}` });
      await client.query({
        text: `CREATE TABLE IF NOT EXISTS ${names.migrations} (
          table_name text        NOT NULL,
          version    integer     NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (table_name, version)
        )`,
      });
      const current = await client.query({
        text: `SELECT coalesce(max(version), 0) AS version FROM ${names.migrations} WHERE table_name = $1`,
        values: [names.table],
      });
      const from = Number((current.rows[0] as { version: number | string }).version);
      if (from > SCHEMA_VERSION)
        throw new Error(`table ${names.qualified} is at schema version ${from}, newer than this tessera (${SCHEMA_VERSION})`);
      for (let version = from + 1; version <= SCHEMA_VERSION; version++) {
        const step = migrations[version - 1] as (names: ResolvedNames) => string;
        await client.query({ text: step(names) });
        await client.query({
          text: `INSERT INTO ${names.migrations} (table_name, version) VALUES ($1, $2)`,
          values: [names.table, version],
        });
      }
      await client.query({ text: 'COMMIT' });
      return { from, to: SCHEMA_VERSION };
    } catch (error) {
      await client.query({ text: 'ROLLBACK' }).catch(() => {});
      throw error;
    }
  } catch (error) {
    failure ??= error instanceof Error ? error : new Error(String(error));
    throw translateError(error);
  } finally {
    client.removeListener('error', onError);
    client.release(failure ?? false);
  }
}
