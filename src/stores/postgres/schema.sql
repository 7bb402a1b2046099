-- tessera: the PostgreSQL session tables, as the migrations in migrations.ts leave them (version 5),
-- with the default names. For reading and review; PostgresStore and `migrate()` create them.
-- A test checks that this file and the migrations agree.

-- One row per session. Times are milliseconds since the epoch; idle_timeout is in seconds.
-- Fixed-width columns come first so the row carries no alignment padding.
CREATE TABLE tessera_sessions (
  created_at          bigint  NOT NULL,
  last_seen_at        bigint  NOT NULL,
  absolute_expires_at bigint  NOT NULL,
  -- least(last_seen_at + idle_timeout * 1000, absolute_expires_at), kept so it can be indexed
  expires_at          bigint  NOT NULL,
  authenticated_at    bigint,
  -- when the current secret was issued (creation, login, rotation or renewal)
  renewed_at          bigint  NOT NULL,
  -- end of the renewal grace period, while previous_secret_hash is still accepted
  previous_secret_expires_at bigint,
  idle_timeout        integer NOT NULL,
  -- bumped by every change set, not by a touch
  version             integer NOT NULL,
  -- byte order, so pages ordered by id match the other stores
  id                  text COLLATE "C" PRIMARY KEY,
  -- base64url SHA-256 of the token's secret; the token itself is never stored
  secret_hash         text    NOT NULL,
  -- the secret the last renewal replaced
  previous_secret_hash text,
  subject             text,
  display_name        text,
  created_ip          text,
  created_user_agent  text,
  last_ip             text,
  last_user_agent     text,
  -- app data as encoded by the core's value codec
  data                jsonb   NOT NULL DEFAULT '{}'
);

-- A subject's live sessions, counted (limits at login, count by subject); anonymous sessions are left out.
CREATE INDEX tessera_sessions_subject_idx ON tessera_sessions (subject, expires_at) WHERE subject IS NOT NULL;
-- A subject's sessions in listing order (oldest first): a page, a trim or a bounded revocation
-- reads only its own entries, however many the subject has. created_at never changes.
CREATE INDEX tessera_sessions_created_idx ON tessera_sessions (subject, created_at, id) WHERE subject IS NOT NULL;
-- Cleanup: the oldest expiries first.
CREATE INDEX tessera_sessions_expires_idx ON tessera_sessions (expires_at);
-- Search by display-name prefix (LIKE 'prefix%') under any collation.
CREATE INDEX tessera_sessions_display_name_idx ON tessera_sessions (display_name text_pattern_ops) WHERE display_name IS NOT NULL;

-- Tokens a login or rotation replaced, kept until superseded_until (the renewal grace period) so
-- that a request still carrying one leaves the browser's newer cookie alone instead of clearing it.
-- Written in the statement that removes the session; forgotten by the cleanup sweep and by logins.
CREATE TABLE tessera_sessions_superseded (
  superseded_until     bigint NOT NULL,
  -- the replaced session's id
  id                   text COLLATE "C" PRIMARY KEY,
  -- the hashes of the secrets that opened it when it was replaced
  secret_hash          text   NOT NULL,
  -- set only when a renewal's grace period was still running then
  previous_secret_hash text
);
-- Forgetting the oldest first.
CREATE INDEX tessera_sessions_superseded_idx ON tessera_sessions_superseded (superseded_until);

-- Idempotency keys of applied change sets: a change set sent again with the same key for the same
-- session before `until` is not applied again. Written in the statement that applies the change;
-- removed with their session, and forgotten past `until` by the cleanup sweep.
CREATE TABLE tessera_sessions_applied (
  until      bigint NOT NULL,
  session_id text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  PRIMARY KEY (session_id, key)
);
-- Forgetting the oldest first.
CREATE INDEX tessera_sessions_applied_idx ON tessera_sessions_applied (until);

-- Counts in time windows that every instance shares (countInWindow: failed attempts per address).
-- One row per key and window; forgotten once the window is over (until), by later counts and by
-- the cleanup sweep.
CREATE TABLE tessera_sessions_counters (
  -- window_start + window_ms
  until        bigint NOT NULL,
  -- a multiple of window_ms since the epoch
  window_start bigint NOT NULL,
  window_ms    bigint NOT NULL,
  count        integer NOT NULL,
  key          text COLLATE "C" NOT NULL,
  PRIMARY KEY (key, window_ms, window_start)
);
-- Forgetting the oldest first.
CREATE INDEX tessera_sessions_counters_idx ON tessera_sessions_counters (until);

-- Publishes the id of every session row updated or deleted, by anyone, for the caches of other
-- instances: on the channel 'tessera_' || md5('<schema>.<table>'), one call per statement, the ids
-- in as few payloads as fit under the 8000-byte limit: {"origin":"<store id>"|null,"ids":[...]}
-- (origin: the tessera.origin setting a store sets for its own statements). TRUNCATE, or an id too
-- long for a payload, sends {"all":true}. Inserts are left out: a new row is in nobody's cache.
CREATE OR REPLACE FUNCTION tessera_sessions_invalidate() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
    IF octet_length(head) + octet_length(item) + 2 > 7900 THEN
      PERFORM pg_notify(channel, '{"all":true}');
    ELSIF octet_length(head) + octet_length(batch) + octet_length(item) + 3 > 7900 THEN
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
-- Statement-level, with the old rows as a transition table ("changed"). One trigger per event:
-- PostgreSQL allows transition tables only on single-event triggers.
CREATE TRIGGER tessera_invalidate_update AFTER UPDATE ON tessera_sessions
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE PROCEDURE tessera_sessions_invalidate();
-- Enabled by the first cache that subscribes: NOTIFY serialises commits, so it costs every save
-- and touch (see docs/stores/postgres.md).
ALTER TABLE tessera_sessions DISABLE TRIGGER tessera_invalidate_update;
CREATE TRIGGER tessera_invalidate_delete AFTER DELETE ON tessera_sessions
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE PROCEDURE tessera_sessions_invalidate();
CREATE TRIGGER tessera_invalidate_truncate AFTER TRUNCATE ON tessera_sessions
  FOR EACH STATEMENT EXECUTE PROCEDURE tessera_sessions_invalidate();

-- The outbox: session notices waiting for delivery to webhook receivers (SessionOutbox). A
-- session.ended row is inserted by the very statement that removes the session (logout,
-- revocation, eviction, the cleanup sweep) when the caller asks for notices, so a notice exists
-- if and only if the removal committed. Delivery workers claim the earliest due rows with
-- FOR UPDATE SKIP LOCKED, moving due_at to the end of their lease; delivered rows are deleted.
CREATE TABLE tessera_sessions_notices (
  -- when it happened, ms since the epoch (for an expiry: the session's expires_at)
  at         bigint  NOT NULL,
  -- when it may next be claimed: at once when recorded, the lease's end once claimed, the retry
  -- time once deferred
  due_at     bigint  NOT NULL,
  -- delivery attempts so far (claims)
  attempts   integer NOT NULL DEFAULT 0,
  -- '<type>:<session id>', the webhook-id every attempt carries
  id         text COLLATE "C" PRIMARY KEY,
  -- session.ended, session.created or session.logged_in
  type       text    NOT NULL,
  session_id text COLLATE "C" NOT NULL,
  -- null for an anonymous session
  subject    text,
  -- session.ended only: logout, user, admin, evicted or expired
  reason     text
);
-- Claims: the earliest due first.
CREATE INDEX tessera_sessions_notices_idx ON tessera_sessions_notices (due_at);
-- The cap: the oldest removed first.
CREATE INDEX tessera_sessions_notices_at_idx ON tessera_sessions_notices (at);

-- Applied versions, one row per (table, version).
CREATE TABLE tessera_migrations (
  table_name text        NOT NULL,
  version    integer     NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, version)
);
