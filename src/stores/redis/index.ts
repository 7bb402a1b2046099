/**
 * # Redis store
 *
 * Sessions in Redis or Redis Cluster (or Valkey: the conformance suite runs on Valkey 8.0, one node
 * and a cluster, in test/valkey-store.test.ts) through the official `redis` client (v5), an
 * optional peer dependency imported only here.
 *
 * ## Keys (`P` is the `prefix` option, `tessera:` by default)
 *
 * A session id is 28 characters: a 6-character partition then 22 random ones. The partition's
 * first two characters are its shard (1,024 values, see `ID_SHARDS` in the core), and the shard
 * is the Redis Cluster hash tag, so a logged-in session, its subject's index and its shard's
 * expiry index share a slot.
 *
 * - `P s:{<shard>}<rest of id>`: **hash**, one session. Reserved fields (short, because
 *   they are repeated in every session): `sh` secret hash, `sub` subject, `dn` display name,
 *   `ca` createdAt, `ls` lastSeenAt, `it` idle timeout (s), `ax` absolute expiry, `au`
 *   authenticatedAt (absent when it is `ca` for a logged-in session or null for an anonymous
 *   one; empty when null otherwise), `v` version, `cd`/`ld` created/last device (`ip`, a line
 *   feed, the user agent; see `encodeDevice`; `ld` absent while equal to `cd`), `rn` renewedAt,
 *   `ph` previous secret hash and `pe` the end of its grace period (empty when null; these three
 *   absent when the record never had them). expiresAt is not stored: it is `min(ls + it s, ax)`,
 *   computed by the scripts and by `decodeHash` (hash-codec.ts). Each data key `k` is the field `d:k` holding the
 *   value's JSON text, so an integer is its decimal digits and `HINCRBY` adds to it in place.
 *   TTL: `expiresAt - now + expiredRetention` (relative, because the core's clock may be a test
 *   clock), moved by every touch and by every apply that moves the expiry. Past `expiresAt` the
 *   hash is still there for `expiredRetention` (5 minutes by default), but dead: every read checks
 *   the expiry itself (each script compares `expiresAt(ls, it, ax)` with `now`; the plain-`HGETALL`
 *   load and `query` compare the record's expiresAt), so the margin only lets the sweep find the
 *   session's subject.
 *   A logged-in session's id must start with `subjectPartition(subject)` (the core issues it
 *   so); `create` refuses one that does not, since its index would live in another slot.
 * - `P u:{<shard of subjectPartition(subject)>}<subject>`: **sorted set**, the subject's session
 *   ids scored by createdAt, so that Redis orders them as a listing wants them (createdAt, then
 *   id in byte order: Redis orders equal scores by member) and a page starts anywhere in
 *   O(log n): see "A subject's sessions, a page at a time". An entry's score never moves (a
 *   touch leaves it alone); its expiry is the hash's, read as the walks meet the entry. Entries of
 *   sessions that ended leave it when the session is deleted, swept or trimmed, or when a walk
 *   meets them (see `drop` in scripts/fragments.ts). Its TTL is at least the expiry of its longest-lived
 *   entry, and only ever moved later (by the create and every expiry move: a `PTTL`, and a
 *   `PEXPIRE` when the TTL is short), so it never depends on keyspace notifications. Sessions
 *   issued by 0.1 sit in `P u:{<shard of unkeyedPartition(subject)>}`, scored by expiresAt as 0.1
 *   wrote them (see "Partition key").
 * - `P x:{<shard>}`: **sorted set**, one per shard (1,024), the shard's session ids scored by
 *   expiresAt. One per shard, on a single node as on a cluster: on a cluster the index is then
 *   written in the same script as the session, and everywhere each set stays small (about 100
 *   entries at 100,000 sessions) and so in Redis's compact listpack encoding, about 40 bytes an
 *   entry against about 120 in one large sorted set. Past `zset-max-listpack-entries` entries
 *   (128 by default, so from roughly 130,000 sessions) Redis turns a set into a skiplist; raise
 *   that setting to keep larger deployments compact. It serves `count` (one script per node:
 *   all entries, less `ZCOUNT(-inf, now)` of each shard, which passes over expired entries only,
 *   however many live sessions there are), `query` without a subject or id, and
 *   `deleteExpired`, which is what trims it (so that expired sessions are still reported to the
 *   core's sweep for its events).
 * - `P n` (single node only): **string**, the number of entries in all `x` indexes, kept by every
 *   script that adds or removes one, so that `count` reads it instead of a `ZCARD` per shard (a
 *   third less time at 100,000 sessions). When it is missing, `count` rebuilds it from the
 *   indexes (scripts adjust it only while it exists); each sweep that gets through every index
 *   sets it again to their entries, so a counter gone wrong (flushed, set by hand) is right by
 *   the next sweep. A cluster has no such key (no script could reach it from every slot) and
 *   counts with `ZCARD`s.
 * - `P r:{<shard>}<rest of id>`: **string**, `<supersededUntil> <sh>[ <ph>]`, written by the login
 *   or rotation that removed session `id` (CREATE, or DELETE as step 2 of a cross-slot replace;
 *   never by a revocation): the secret hashes that opened it then (`ph` only while its grace
 *   period lasted) and until when (the core's clock) they count as superseded rather than
 *   unknown. TTL `supersededUntil - now`, so nothing sweeps it. `isSuperseded` reads it and the
 *   live session's `ph` in one script (the `{shard}` is the session's, so one slot).
 * - `P k:{<shard>}<rest of id>:<idempotency key>`: **string**, the core's `until` (its clock),
 *   TTL `until - now`: a change set applied with `ApplyOptions.idempotency`, written by APPLY or
 *   INCREMENT in the same script that applied it (never by a conflict or a gone session). A
 *   change set whose key is there and not past answers `duplicate` with the current hash and
 *   writes nothing. One per applied change set that has a key (requests sent with an
 *   `Idempotency-Key`), about 100 bytes each for `idempotencyWindow` (10 minutes by default).
 * - `P partition-key`: **string**, no TTL, the base64 of the 32 random bytes that subject
 *   partitions are derived from, when the `partitionKey` option is not given (see below).
 *
 * ## Partition key
 *
 * A logged-in session's partition is `keyedPartition(key, subject)`, an HMAC, so that an id says
 * nothing about its user to whoever lacks the key. The key is the `partitionKey` option, or else
 * `P partition-key`: the first instance to need it reads it (`GET`) or, when it is missing,
 * creates it (`SET ... NX GET`, which also reads the key another instance created first), and
 * every instance caches it.
 * Deleting that key by hand (or evicting it: under an `allkeys-*` eviction policy Redis may pick
 * it, as it may pick sessions) breaks no session: load, save, touch, revoke and expiry follow each
 * id's own shard. What it can do is split a user's sessions over two partitions: each sweep
 * (`deleteExpired`) writes the cached key back if it is missing, or adopts the one Redis holds if
 * another instance, started after the deletion, made a new one first; so all instances agree
 * again by their next sweep. In that second case the sessions issued under the old key stay in
 * their old subject index until they end (at most the absolute timeout): they keep working, but
 * `listBySubject`, `count({ subject })`, `deleteBySubject` and the per-user limit no longer see
 * them. A deployment that cannot accept that gives `partitionKey` from its secret store.
 *
 * tessera 0.1 derived the partition from the subject alone (`unkeyedPartition`). Its sessions keep
 * working until they end: everything but the subject-wide operations follows the id, and those
 * (`listBySubject`, `count({ subject })`, `deleteBySubject`, `trimSubject`, `query({ subject })`)
 * also read the 0.1 index when it is in another shard than the keyed one: in the same script on a
 * single node (or when both shards share a cluster slot), in a second script on a cluster. Best
 * effort, as follows. A listing gives them first (they are older than any keyed session), in the
 * order of their index, which is their expiry as 0.1 last wrote it (nothing rescores it now), and
 * its cursor says which index it is in (an `l` before it); for the one subject in 1,024 whose two
 * partitions share a shard, the two indexes are one key, where 0.1's entries sit among the keyed
 * ones by their expiry. `trimSubject` counts them and ends
 * them first where its one script reaches their index (a single node, or the same slot), and
 * neither counts nor ends them on a cluster where it does not. They do not count against the
 * limit of a `create` with `limit` (`onLimit: 'reject'`), whose script cannot reach their slot on a
 * cluster. So a user with 0.1 sessions may have that many more than the limit until they end (at
 * most the absolute timeout after the upgrade).
 *
 * Every change that touches more than one key is one Lua script (EVALSHA, falling back to EVAL
 * when the server lost its script cache), so load with its touch, apply, create with its limit,
 * delete, a batch of delete-by-subject and a batch of trim are each atomic and one round trip
 * (delete-by-subject: one per cluster slot, when 0.1 sessions' index is in another; see
 * "Partition key").
 * No `KEYS`, no `SCAN`: the indexes above are walked instead. Each script carries a Redis 7 shebang with its
 * flags (`SCRIPT_FLAGS` in scripts/flags.ts), so that a full Redis (`maxmemory`, `noeviction`) refuses
 * create and apply before they start, which the store reports as `StoreUnavailableError`.
 *
 * Per request: a load is one command. When the store has seen the session's lastSeenAt recently
 * enough that no touch can be due (lastSeenAt only moves forward, so a remembered one is a lower
 * bound), it is a plain `HGETALL`; otherwise the LOAD script, which touches when due. If the
 * `HGETALL` shows a touch due after all (another instance shortened the idle timeout), the
 * script follows: a second round trip, only then. A save is one EVALSHA: INCREMENT for a change
 * set of increments only, APPLY for anything else (with an idempotency key, one `GET` more in the
 * script, and a `SET` when it applies). Both answer just `ok` when the hash was at the
 * version the caller read (`ApplyOptions.base`), and the whole hash otherwise. A login is CREATE
 * and, with `onLimit: 'evict-oldest'` (the default), the core's `trimSubject` after it: a second
 * EVALSHA, which costs a `ZCARD` and a `HMGET` per session of the user while the user has at
 * most 128 (see `live` in scripts/fragments.ts). A touch writes the hash, its TTL, its `x` entry and, for a
 * logged-in session, reads the `u` index's TTL (`PTTL`), moving it only when it is shorter than
 * the new expiry: before issue 20 it also rescored the `u` entry and read its last entry.
 * Admin paths cost: `count` O(shards); the subject-wide ones at most about a page each, see
 * below; `query` by id one `HGETALL`; a page of `query` over everything walks the `x` indexes in the order
 * of the ids they hold and stops at the shard that fills it (at 100,000 sessions, about 3 ms a
 * page, against 60 to 80 ms when every page walked every index). A display-name search reads
 * each live session's `dn` until the page is full, in scripts of at most 2,000 sessions each
 * (about 10 ms) so that the node serves other clients between them: about 0.4 s in all for a
 * prefix that matches nothing at 100,000 sessions.
 *
 * ## A subject's sessions, a page at a time
 *
 * No script walks more than about one page of a subject's index (plus the entries it meets that
 * name no live session, which it drops, so that no later walk meets them again), however many
 * sessions the subject has: one user with 57,000 sessions is listed 50 at a time in about a
 * millisecond of server time a page (bench/abuse/redis-heavy-user.mjs), where the whole listing
 * held Redis for 0.5 to 1 s before (and, past the 500 ms command timeout, failed with 503).
 * - `listBySubject`: LIST. A cursor is the last listed session's score (createdAt) and id; the
 *   next page starts at the first entry after it, found by two `ZCOUNT`s and a halving over the
 *   entries of that score (O(log² n), whether or not that session still exists), then reads one
 *   `HGETALL` per entry until it has `limit + 1` live sessions (one to tell whether more follow).
 * - `deleteBySubject`: DROP, oldest first, at most `limit` removals.
 * - `count({ subject })` (COUNT_SUBJECT) and the limit checks (`live` in scripts/fragments.ts): an index of
 *   at most 128 entries is walked whole (exact; it heals entries whose hash is gone); a larger one
 *   is its `ZCARD` less the entries that its shard's `x` index shows expired (at most 1,000 of
 *   them, oldest expiries first, dropped as they are met). That is exact unless a session hash
 *   was deleted by hand (see "Healing") or more than 1,000 expired sessions of the shard wait for
 *   the sweep; then it counts too many until the walks meet them. So for a user with more than
 *   128 sessions, a `create` with `limit` may refuse, and `trimSubject` end, one session too many
 *   per such entry: only for users over 128 sessions, and only after a deletion by hand or a
 *   missed sweep.
 * - `trimSubject`: TRIM, oldest first, never `keep`, at most `batch` removals, while the count
 *   above is over `max`; entries met that name no live session come off the excess.
 * - `query({ subject })`: ordered by id, which the index does not give, so it reads the whole
 *   index, but in SCAN_SUBJECT steps of 500 entries (2 to 3 ms each on this loaded machine), keeping the
 *   page's smallest ids, then one `HGETALL` each.
 *
 * Expired sessions: `u` entries leave as described above; `x` entries by `deleteExpired` (run by
 * the core's sweep), which deletes the hash and reports the session with the subject it finds there.
 * A `deleteExpired` batch is SWEEP steps of at most 100 sessions (about a millisecond of server
 * time each), each going on from the index where the last one stopped, and each call from where
 * this instance's last call stopped, round all 1,024: so no step walks again the indexes emptied
 * before it, and a request queued behind a sweep waits for one step, not a batch.
 * Redis drops the hash by its TTL `expiredRetention` after the expiry, so a sweep that comes
 * within that margin reports the subject (the `expired` event names the user); one that comes
 * later reports a null subject. The margin costs memory only for sessions that expired in the
 * last `expiredRetention`, never for live ones (the 400 B a session measured at 100,000 live
 * sessions is unchanged). Rejected: keeping the subject in the `x` entry (`id` + subject),
 * which would add the subject's length to every live session's entry (and so to every
 * `ZADD`/`ZREM` of a touch), for an event about sessions that have ended.
 *
 * ## Healing: a session key deleted by hand
 *
 * A session hash deleted behind the store's back (`redis-cli DEL`, say) ends the session at once:
 * every read finds nothing, so the next request with its token has no session and its cookie is
 * cleared. Its index entries heal as follows. Every walk of a subject's index (a listing page,
 * `deleteBySubject`, `trimSubject`, `query({ subject })`, and `count({ subject })` or a login's
 * limit check while the index has at most 128 entries) drops the entries it meets whose hash is
 * gone, from both indexes and `n`, in the same script: so a logged-in session deleted by hand
 * stops being listed at once, and counted by subject and overall once such a walk has met it
 * (for a user with at most 128 sessions, the next count; for a larger one, the listing page or
 * trim that reaches it). `count()` of everything cannot check 100,000 hashes within its 2 ms (an `EXISTS` of
 * every entry takes 150 to 300 ms at 100,000 sessions); instead each `deleteExpired` call also
 * runs the HEAL script over the next 16 of the 1,024 expiry indexes of the instance's own round
 * robin (which starts at a random shard), removing live entries whose hash is gone. So a session
 * deleted by hand, anonymous or not, leaves `count()` by the 64th `deleteExpired` call of any one
 * instance after the deletion: within 64 sweeps (about an hour at the default cleanupInterval of
 * 60 s; sooner with several instances, whose round robins start apart). Such sessions are not
 * reported to the sweep (nobody knows whose they were, and they did not expire). Costs: one more
 * script per node per `deleteExpired` call, about 2 ms of server time at 100,000 sessions.
 *
 * ## Cluster: login from an anonymous session
 *
 * An anonymous session's partition is random, so on a cluster the session a login replaces is
 * usually in another slot than the new one. That replace runs as two atomic steps, in this order:
 * (1) create the new session, refusing it at the subject's limit (the old session stays valid);
 * (2) delete the old one only if it is still live at the version read. If (2) finds it changed or
 * gone, the new session is deleted again and the result is `gone` (the core re-reads and retries).
 * The old token is never valid after the new one is handed out, and a failed login never destroys
 * the old session. If Redis fails between the steps, the create's outcome is unknown to the core,
 * which deletes the new session once Redis answers (see `Compensations` in the core); the new
 * session, whose token was never handed out, would expire by itself anyway.
 *
 * ## Ambiguous failures
 *
 * A command that times out on the client (`commandTimeout`) may still run: node-redis keeps it
 * queued, and Redis runs it once it can (after a `CLIENT PAUSE`, a slow script, a network stall).
 * The store reports `StoreUnavailableError` (503, "outcome unknown"); what makes that safe is
 * elsewhere: a create never evicts (the core trims only after a login that succeeded), the core
 * deletes a session whose create's outcome is unknown (`delete` is idempotent, and a `create` of
 * an id that exists fails with a plain `Error`, never `StoreUnavailableError`), and a change set
 * with an idempotency key is applied once (the `k:` key above). test/redis-ambiguous.test.ts
 * shows each with `CLIENT PAUSE ... WRITE`, on one node and on a cluster.
 */
import { createClient, createCluster, ErrorReply, TimeoutError } from 'redis';
import {
  BadRequestError,
  ID_SHARDS,
  InvalidOptionError,
  PARTITION_LENGTH,
  SHARD_LENGTH,
  StoreUnavailableError,
  applyChangeSet,
  isTouchDue,
  secretAccepted,
  touchIntervalMs,
  isSessionId,
  keyedPartition,
  unkeyedPartition,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type LoadOptions,
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionStore,
  type SubjectPartitions,
} from '../../core/index.js';
import { Deadlines } from './deadlines.js';
import { PartitionKey, assertPartitionKey } from './partitions.js';
import { HEAL_SHARDS, SCAN_BUDGET, SWEEP_STEP, compileScripts, type Script, type ScriptName } from './scripts/index.js';
import { scriptNotCompiled } from './compat.js';
import { decodeHash, encodeDevice, encodeHash } from './hash-codec.js';
import { asString, flatHash, type Reply } from './reply.js';
import { slotOf } from './slots.js';

interface CommandOptionsLike {
  timeout?: number;
}

/** The slice of a node-redis v5 client this store calls. */
export interface RedisClientLike {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: ReadonlyArray<string>, options?: CommandOptionsLike): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
}

/** The slice of a node-redis v5 cluster client this store calls. */
export interface RedisClusterLike {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[], options?: CommandOptionsLike): Promise<unknown>;
  readonly slots: ReadonlyArray<{ readonly master: object }>;
  nodeClient(node: object): Promise<RedisClientLike> | RedisClientLike;
  close(): Promise<unknown>;
  destroy(): void;
}

export interface RedisStoreOptions {
  /**
   * A Redis URL to connect to; the store opens the connection and `close()` ends it.
   * @default 'redis://127.0.0.1:6379' (when neither `client` nor `cluster` is given)
   * @example 'redis://:password@redis.internal:6379/0'
   */
  url?: string;
  /**
   * An existing node-redis client or cluster client, speaking RESP2 or RESP3. The store connects
   * it if it is not open yet and never closes it; its owner handles its `error` events. For the
   * fault behaviour described in `commandTimeout`, create it with `disableOfflineQueue: true` and
   * a reconnect strategy.
   * @default undefined
   */
  client?: RedisClientLike | RedisClusterLike;
  /**
   * Creates a cluster client from these seed nodes (`redis://host:port` URLs).
   * @default undefined
   * @example { rootNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] }
   */
  cluster?: { rootNodes: string[] };
  /**
   * Prepended to every key, so that several apps can share one Redis. Must not contain `{` or `}`.
   * @default 'tessera:'
   */
  prefix?: string;
  /**
   * Milliseconds a command may take before it fails with `StoreUnavailableError`. Connections
   * the store opens also use it as their connect timeout, queue nothing while disconnected, and
   * retry the connection every 100 to 250 ms, so service resumes within about a second of Redis
   * coming back.
   * @default 500
   */
  commandTimeout?: number;
  /**
   * The key that a logged-in session's id partition is derived from (`keyedPartition`), so that an
   * id says nothing about its user to whoever lacks it: at least 32 bytes, the same on every
   * instance, kept secret like a cookie-signing key. Changing it moves new logins to other
   * partitions; see "Partition key" at the top of this file for what that means.
   * @default a random 32-byte key that the first instance creates in Redis (`P partition-key`) and every instance then shares
   * @example Buffer.from(process.env.TESSERA_PARTITION_KEY, 'base64')
   */
  partitionKey?: Uint8Array;
  /**
   * Milliseconds a session's hash stays in Redis past its expiry (its TTL is `expiresAt - now`
   * plus this), so that the sweep still finds whose it was and reports the `expired` event with
   * its subject. Every read refuses an expired session whatever its TTL. Keep it longer than the
   * time between two sweeps (the core's `cleanupInterval`: 60 s, jittered up to 72 s, by default);
   * a sweep that comes later still removes the session and reports it, without its subject. With
   * 0, Redis drops the hash at the expiry.
   * @default 300000 (5 minutes)
   */
  expiredRetention?: number;
}


/** What `ApplyOptions.idempotency` allows as a key. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,256}$/;

/** Sessions whose lastSeenAt the store remembers; when full it starts over. */
const LAST_SEEN_ENTRIES = 50_000;

/** Replies that mean the server cannot serve now (OOM: full, with `maxmemory-policy noeviction`). */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS|MOVED|ASK|OOM)\b/;

/** An error the server replied with (also from a client built by another copy of node-redis). */
function isReply(error: unknown): error is Error {
  return error instanceof ErrorReply || (error instanceof Error && ['ErrorReply', 'SimpleError', 'BlobError'].includes(error.constructor.name));
}

/**
 * Runs a script through `send`: `command` is EVALSHA's, with its first two slots left for the
 * command name and the script. EVALSHA first; EVAL when the server does not know the script yet,
 * with a server too old for the scripts' shebangs named as such.
 */
function evalScript(s: Script, command: string[], send: (command: string[]) => Promise<Reply>): Promise<Reply> {
  command[0] = 'EVALSHA';
  command[1] = s.sha;
  return send(command).catch((error: unknown) => {
    if (!(isReply(error) && error.message.startsWith('NOSCRIPT'))) throw error;
    command[0] = 'EVAL';
    command[1] = s.text;
    return send(command).catch((failed: unknown) => {
      throw isReply(failed) ? scriptNotCompiled(failed) : failed;
    });
  });
}

function isCluster(client: RedisClientLike | RedisClusterLike): client is RedisClusterLike {
  return typeof (client as Partial<RedisClusterLike>).nodeClient === 'function';
}

function reconnectStrategy(retries: number): number {
  return Math.min(100 + retries * 50, 250);
}

/** A change set of integer increments only: the INCREMENT script's case. */
function isIncrementOnly(changes: ChangeSet): changes is ChangeSet & { increment: Record<string, number> } {
  for (const key in changes) {
    if (key !== 'increment' && (changes as Record<string, unknown>)[key] !== undefined) return false;
  }
  return changes.increment !== undefined;
}

/**
 * Sessions in Redis: a hash per session, a sorted set per subject, Lua scripts for every
 * multi-key change. See the comment at the top of this file for the key layout.
 *
 * @example
 * const store = new RedisStore({ url: process.env.REDIS_URL });
 * const sessions = new SessionManager({ store });
 */
export class RedisStore implements SessionStore, SessionIndex, SubjectPartitions {
  readonly capabilities = Object.freeze({ index: true, nativeExpiry: true, subjectPartitions: true });
  readonly #client: RedisClientLike | RedisClusterLike;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #cluster: boolean;
  #connecting: Promise<unknown> | null = null;
  #closed = false;
  /** lastSeenAt and idle timeout of recently seen sessions, by id: see load. */
  readonly #lastSeen = new Map<string, { lastSeenAt: number; idleTimeout: number }>();
  /** Commands awaiting a reply, each with its deadline; see #deadline. */
  readonly #inflight = new Deadlines();
  #watchdog: NodeJS.Timeout | null = null;
  /** Every shard's expiry index key, in the byte order of the shards (see QUERY): what the admin scripts walk. */
  readonly #indexKeys: readonly string[];
  readonly #scripts: Readonly<Record<ScriptName, Script>>;
  readonly #partitionKey: PartitionKey;
  /** Where this instance's next deleteExpired starts, by the first index key of a target: see deleteExpired. */
  readonly #sweptTo = new Map<string, number>();
  /** Where this instance's next sweep starts healing (see "Healing"); instances start apart. */
  #healNext = Math.floor(Math.random() * ID_SHARDS.length);

  constructor(options: RedisStoreOptions = {}) {
    const prefix = options.prefix ?? 'tessera:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) throw new InvalidOptionError('prefix must be a string without { or }');
    const timeout = options.commandTimeout ?? 500;
    if (!Number.isInteger(timeout) || timeout < 1) throw new InvalidOptionError('commandTimeout must be a positive integer (ms)');
    const given = [options.url, options.client, options.cluster].filter((v) => v !== undefined).length;
    if (given > 1) throw new InvalidOptionError('give one of url, client or cluster');
    const partitionKey = options.partitionKey === undefined ? undefined : assertPartitionKey(options.partitionKey);
    const retention = options.expiredRetention ?? 300_000;
    if (!Number.isSafeInteger(retention) || retention < 0) throw new InvalidOptionError('expiredRetention must be a whole number of milliseconds, 0 or more');
    this.#prefix = prefix;
    this.#timeout = timeout;
    const keyName = `${prefix}partition-key`;
    const text = (reply: Reply) => (reply == null ? null : asString(reply));
    this.#partitionKey = new PartitionKey(
      partitionKey,
      {
        read: () => this.#send(keyName, ['GET', keyName]).then(text),
        setIfAbsent: (value) => this.#send(keyName, ['SET', keyName, value, 'NX', 'GET']).then(text),
      },
      `the Redis key ${keyName}`,
    );
    const socket = { connectTimeout: timeout, reconnectStrategy };
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#owned = false;
    } else if (options.cluster !== undefined) {
      const rootNodes = options.cluster.rootNodes;
      if (!Array.isArray(rootNodes) || rootNodes.length === 0) throw new InvalidOptionError('cluster.rootNodes must list at least one redis:// URL');
      const cluster = createCluster({
        rootNodes: rootNodes.map((url) => ({ url })),
        defaults: { socket, disableOfflineQueue: true },
      });
      cluster.on('error', () => {
        // Reported to callers as StoreUnavailableError; reconnection is automatic.
      });
      this.#client = cluster as unknown as RedisClusterLike;
      this.#owned = true;
    } else {
      const client = createClient({
        url: options.url ?? 'redis://127.0.0.1:6379',
        socket,
        disableOfflineQueue: true,
      });
      client.on('error', () => {
        // Reported to callers as StoreUnavailableError; reconnection is automatic.
      });
      this.#client = client as unknown as RedisClientLike;
      this.#owned = true;
    }
    this.#cluster = isCluster(this.#client);
    this.#scripts = compileScripts(this.#cluster, retention);
    this.#indexKeys = SHARDS_IN_ID_ORDER.map((shard) => this.#shardIndexKey(shard));
  }

  /** The partition a logged-in session's id for `subject` starts with: see `partitionKey`. */
  async subjectPartition(subject: string): Promise<string> {
    return keyedPartition(await this.#partitionKey.get(), subject);
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now, replaces, limit } = options;
    if (!isSessionId(record.id)) throw new Error('not a session id');
    // Its subject index lives in the slot of the subject's partition, so the id must too.
    if (record.subject !== null && (await this.subjectPartition(record.subject)) !== record.id.slice(0, PARTITION_LENGTH)) {
      throw new Error("a logged-in session's id must start with subjectPartition(subject)");
    }
    if (replaces !== undefined && !isSessionId(replaces.id)) return { status: 'gone' };
    const crossSlot = replaces !== undefined && this.#cluster && slotOf(replaces.id.slice(0, SHARD_LENGTH)) !== slotOf(record.id.slice(0, SHARD_LENGTH));
    if (replaces !== undefined && !crossSlot) return this.#create(record, now, replaces, limit);
    const created = await this.#create(record, now, undefined, limit);
    if (replaces === undefined || created.status !== 'created') return created;
    // Cross-slot replace (see the top of this file): step 2, retire the old session.
    let removed: Reply;
    try {
      removed = await this.#run(this.#scripts.delete, [this.#sessionKey(replaces.id), this.#indexKey(replaces.id)], [
        replaces.id,
        String(now),
        String(replaces.version),
        String(replaces.supersededUntil),
      ]);
    } catch (error) {
      await this.#run(this.#scripts.delete, [this.#sessionKey(record.id), this.#indexKey(record.id)], [record.id, '', '', '']).catch(() => {});
      throw error;
    }
    if (removed === null) {
      await this.#run(this.#scripts.delete, [this.#sessionKey(record.id), this.#indexKey(record.id)], [record.id, '', '', '']);
      return { status: 'gone' };
    }
    return created;
  }

  async #create(record: SessionRecord, now: number, replaces: CreateOptions['replaces'], limit: CreateOptions['limit']): Promise<CreateResult> {
    const fields = encodeHash(record);
    const keys = [this.#sessionKey(record.id), this.#indexKey(record.id)];
    if (replaces !== undefined) keys.push(this.#sessionKey(replaces.id), this.#indexKey(replaces.id));
    let reply: Reply;
    try {
      reply = await this.#run(this.#scripts.create, keys, [
        record.id,
        String(now),
        String(record.expiresAt),
        record.subject ?? '',
        replaces?.id ?? '',
        String(replaces?.version ?? ''),
        String(replaces?.supersededUntil ?? ''),
        limit !== undefined && record.subject !== null ? String(limit.max) : '',
        String(record.createdAt),
        ...fields,
      ]);
    } catch (error) {
      if (isReply(error) && error.message.includes('tessera: duplicate session id')) throw new Error('duplicate session id');
      throw error;
    }
    const status = asString((reply as Reply[])[0]);
    if (status === 'limit') return { status: 'limit' };
    if (status === 'gone') return { status: 'gone' };
    this.#remember(record);
    // Never evicts: the core trims the subject (trimSubject) once the login has succeeded.
    return { status: 'created', evicted: [] };
  }

  load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    if (!isSessionId(id)) return Promise.resolve(null);
    const { touch, now } = options;
    const key = this.#sessionKey(id);
    if (touch !== undefined) {
      // lastSeenAt only moves forward, so the one this process last saw is a lower bound: when
      // even that says no touch is due, none is, and a plain HGETALL is the whole load.
      const seen = this.#lastSeen.get(id);
      if (seen !== undefined && now - seen.lastSeenAt < touchIntervalMs(seen.idleTimeout, touch)) {
        // Promise callbacks rather than async functions: this is every request's path.
        return this.#send(key, ['HGETALL', key]).then((reply) => {
          const flat = flatHash(reply);
          if (flat.length === 0) return null;
          const record = this.#checked(decodeHash(id, flat), options);
          // Due after all (another instance shortened the idle timeout): the script decides.
          if (record === null || !isTouchDue(record, now, touch)) return record;
          return this.#loadScript(id, key, options);
        });
      }
    }
    return this.#loadScript(id, key, options);
  }

  /** A load through the LOAD script, which touches the session when a touch is due. */
  #loadScript(id: string, key: string, options: LoadOptions): Promise<SessionRecord | null> {
    const { touch, now } = options;
    const args = [
      id,
      String(now),
      options.secretHash ?? '',
      touch ? String(touch.maxIntervalMs) : '',
      touch ? String(touch.idleFraction) : '',
      touch && options.device ? encodeDevice(options.device) : '',
    ];
    return this.#run(this.#scripts.load, [key, this.#indexKey(id)], args).then((reply) =>
      reply === null ? null : this.#checked(decodeHash(id, reply), options),
    );
  }

  /** The record if the presented secret opens it and it is live; remembers its lastSeenAt. */
  #checked(record: SessionRecord, options: LoadOptions): SessionRecord | null {
    if (options.secretHash !== undefined && !secretAccepted(record, options.secretHash, options.now)) return null;
    if (options.now >= record.expiresAt) return null;
    this.#remember(record);
    return record;
  }

  #remember(record: SessionRecord): void {
    const seen = this.#lastSeen;
    const known = seen.get(record.id);
    if (known !== undefined) {
      known.lastSeenAt = Math.max(known.lastSeenAt, record.lastSeenAt);
      known.idleTimeout = record.idleTimeout;
      return;
    }
    if (seen.size >= LAST_SEEN_ENTRIES) seen.clear();
    seen.set(record.id, { lastSeenAt: record.lastSeenAt, idleTimeout: record.idleTimeout });
  }

  apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    if (!isSessionId(id)) return Promise.resolve({ status: 'gone' });
    const base = options.base !== undefined && options.base.id === id ? options.base : undefined;
    const idempotency = options.idempotency;
    if (idempotency !== undefined && !IDEMPOTENCY_KEY.test(idempotency.key)) return Promise.reject(new RangeError('an idempotency key is 1 to 256 printable ASCII characters'));
    if (isIncrementOnly(changes) && options.expectedVersion === undefined) return this.#increment(id, changes.increment, options.now, base, idempotency);
    const args = [
      id,
      String(options.now),
      options.expectedVersion === undefined ? '' : String(options.expectedVersion),
      changes.idleTimeout === undefined ? '' : String(changes.idleTimeout),
      changes.lastSeenAt === undefined ? '' : String(changes.lastSeenAt),
      changes.lastDevice === undefined ? '' : encodeDevice(changes.lastDevice),
      changes.displayName === undefined ? '' : changes.displayName === null ? 'n' : 's',
      changes.displayName ?? '',
    ];
    const renew = changes.renewSecret;
    if (renew === undefined) args.push('', '', '', '', '');
    else args.push('1', renew.secretHash, String(renew.renewedAt), renew.previousSecretHash, String(renew.previousSecretExpiresAt));
    args.push(base === undefined ? '' : String(base.version));
    const deletes = changes.delete ?? [];
    args.push(String(deletes.length), ...deletes);
    const sets = Object.entries(changes.set ?? {});
    args.push(String(sets.length));
    for (const [key, value] of sets) args.push(key, JSON.stringify(value));
    const increments = Object.entries(changes.increment ?? {});
    args.push(String(increments.length));
    for (const [key, delta] of increments) {
      if (!Number.isSafeInteger(delta)) return Promise.reject(new RangeError('increments must be safe integers'));
      args.push(key, String(delta));
    }
    const keys = [this.#sessionKey(id), this.#indexKey(id)];
    if (idempotency !== undefined) {
      keys.push(this.#idempotencyKey(id, idempotency.key));
      args.push(String(idempotency.until));
    }
    return this.#run(this.#scripts.apply, keys, args).then((reply) => this.#applied(id, reply, changes, base));
  }

  #increment(id: string, increments: Record<string, number>, now: number, base: SessionRecord | undefined, idempotency: ApplyOptions['idempotency']): Promise<ApplyResult> {
    const args = [String(now), base === undefined ? '' : String(base.version)];
    for (const key in increments) {
      const delta = increments[key] as number;
      if (!Number.isSafeInteger(delta)) return Promise.reject(new RangeError('increments must be safe integers'));
      args.push(`d:${key}`, String(delta));
    }
    const keys = [this.#sessionKey(id)];
    if (idempotency !== undefined) {
      keys.push(this.#idempotencyKey(id, idempotency.key));
      args.push(String(idempotency.until));
    }
    return this.#run(this.#scripts.increment, keys, args).then((reply) => this.#applied(id, reply, { increment: increments }, base));
  }

  #applied(id: string, reply: Reply, changes: ChangeSet, base: SessionRecord | undefined): ApplyResult {
    if (reply === null) return { status: 'gone' };
    const [status, flat] = reply as [Reply, Reply | undefined];
    // No hash back: nothing else changed the session since `base`, so the result is derived from it.
    const derived = flat === undefined && base !== undefined;
    const record = derived ? applyChangeSet(base, changes) : decodeHash(id, flat);
    // A record derived from `base` has a new lastSeenAt only when the change set moved it.
    if (!derived || changes.lastSeenAt !== undefined || changes.idleTimeout !== undefined) this.#remember(record);
    const kind = asString(status);
    if (kind === 'conflict') return { status: 'conflict', record };
    return kind === 'duplicate' ? { status: 'applied', record, duplicate: true } : { status: 'applied', record };
  }

  async delete(id: string): Promise<RemovedSession | null> {
    if (!isSessionId(id)) return null;
    // A revocation: nothing is remembered for isSuperseded.
    const reply = await this.#run(this.#scripts.delete, [this.#sessionKey(id), this.#indexKey(id)], [id, '', '', '']);
    if (reply === null) return null;
    const [subject] = reply as [Reply];
    return { id, subject: subject == null ? null : asString(subject) };
  }

  /** One script on the session's slot: its `r:` key, else its live hash's previous secret (see SUPERSEDED). */
  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    if (!isSessionId(id)) return false;
    const reply = await this.#run(this.#scripts.superseded, [this.#supersededKey(id), this.#sessionKey(id)], [String(options.now), options.secretHash]);
    return Number(reply) === 1;
  }

  async deleteExpired(now: number, limit: number): Promise<RemovedSession[]> {
    // A partition key deleted in Redis is put back (or another instance's new one adopted): see
    // "Partition key". Housekeeping that must not stop the sweep: a full Redis refuses the SET that
    // restores the key, and the next sweep tries again.
    await this.#partitionKey.reassert().catch(() => {});
    const heal = this.#healSlice();
    const removed: RemovedSession[] = [];
    for (const target of await this.#targets()) {
      // From the index where this instance's last call stopped, round all of them, in steps of
      // SWEEP_STEP sessions that each go on where the one before stopped: no step walks again
      // the indexes emptied before it (1,024 of them cost some 3 ms late in a large sweep).
      const first = target.indexes[0] as string;
      const from = (this.#sweptTo.get(first) ?? 0) % target.indexes.length;
      const order = from === 0 ? target.indexes : [...target.indexes.slice(from), ...target.indexes.slice(0, from)];
      let done = 0;
      while (removed.length < limit && done < order.length) {
        const step = Math.min(SWEEP_STEP, limit - removed.length);
        const reply = (await this.#runOn(target, this.#scripts.sweep, [String(now), String(step), done === 0 ? '1' : '0', ...order.slice(done)])) as Reply[];
        done += Number(reply[0]);
        for (let i = 1; i + 2 < reply.length; i += 3) {
          removed.push({ id: asString(reply[i]), subject: asString(reply[i + 2]) === '1' ? asString(reply[i + 1]) : null });
        }
      }
      this.#sweptTo.set(first, (from + done) % target.indexes.length);
      // Every call heals its slice on every node, past the limit too: see "Healing".
      const healing = target.indexes.filter((key) => heal.has(key));
      if (healing.length > 0) await this.#runOn(target, this.#scripts.heal, [String(now), ...healing]);
    }
    return removed;
  }

  /** The next `HEAL_SHARDS` expiry indexes of this instance's round robin. */
  #healSlice(): Set<string> {
    const keys = this.#indexKeys;
    const start = this.#healNext;
    this.#healNext = (start + HEAL_SHARDS) % keys.length;
    const slice = new Set<string>();
    for (let i = 0; i < HEAL_SHARDS; i++) slice.add(keys[(start + i) % keys.length] as string);
    return slice;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
    if (!this.#owned) return;
    const client = this.#client;
    if (!client.isOpen) return;
    try {
      await client.close();
    } catch {
      client.destroy();
    }
  }

  /**
   * One LIST script per page (two on a cluster for the page where 0.1's index, in another slot,
   * gives way to the keyed one): the cursor names the index, the score (createdAt) and the id of
   * the last session listed, and the page starts right after it, however many sessions precede.
   */
  async listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const { now, limit } = options;
    const after = options.cursor == null ? null : parseListCursor(options.cursor);
    const indexes = await this.#subjectIndexes(subject);
    const start = after === null ? 0 : Math.max(0, indexes.pairs.findIndex((pair) => pair.legacy === after.legacy));
    // One more than the page, to know whether another follows.
    const want = limit + 1;
    const found: Array<{ pair: number; score: string; record: SessionRecord }> = [];
    for (const group of indexes.groups) {
      const first = Math.max(group[0] as number, start);
      if (found.length >= want || first > (group[group.length - 1] as number)) continue;
      const resume = after !== null && first === start;
      const reply = (await this.#run(this.#scripts.list, this.#keysOf(indexes, group), [
        subject,
        String(now),
        String(first - (group[0] as number) + 1),
        resume ? after.score : '',
        resume ? after.id : '',
        String(want - found.length),
      ])) as Reply[];
      for (let i = 0; i + 3 < reply.length; i += 4) {
        const record = decodeHash(asString(reply[i + 2]), reply[i + 3]);
        found.push({ pair: group[Number(reply[i]) - 1] as number, score: asString(reply[i + 1]), record });
      }
    }
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor = found.length > limit && last !== undefined ? listCursor(indexes.pairs[last.pair]?.legacy === true, last.score, last.record.id) : null;
    return { sessions: page.map((entry) => entry.record), nextCursor };
  }

  /** Up to `limit` in one DROP script (two on a cluster where 0.1's index is in another slot). */
  async deleteBySubject(subject: string, options: { now: number; except?: string; limit: number }): Promise<RemovedSession[]> {
    const indexes = await this.#subjectIndexes(subject);
    const removed: RemovedSession[] = [];
    for (const group of indexes.groups) {
      if (removed.length >= options.limit) break;
      const reply = (await this.#run(this.#scripts.drop, this.#keysOf(indexes, group), [
        subject,
        String(options.now),
        options.except ?? '',
        String(options.limit - removed.length),
      ])) as Reply[];
      for (const id of reply) removed.push({ id: asString(id), subject });
    }
    return removed;
  }

  /**
   * One TRIM script, in the subject's slot. 0.1's sessions (see "Partition key") are trimmed first,
   * being the oldest, where the same script reaches their index: always on a single node, on a
   * cluster only when it shares the keyed index's slot.
   */
  async trimSubject(subject: string, options: { now: number; max: number; keep: string; batch: number }): Promise<RemovedSession[]> {
    const { now, max, keep, batch } = options;
    if (!Number.isSafeInteger(max) || !Number.isSafeInteger(batch) || batch < 1) return [];
    const indexes = await this.#subjectIndexes(subject);
    const group = indexes.groups[indexes.groups.length - 1] as number[];
    const reply = (await this.#run(this.#scripts.trim, this.#keysOf(indexes, group), [subject, String(now), String(max), keep, String(batch)])) as Reply[];
    return reply.map((id) => ({ id: asString(id), subject }));
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const { now, limit } = query;
    const cursor = query.cursor ?? '';
    const matches = (record: SessionRecord) =>
      now < record.expiresAt &&
      (query.subject === undefined || record.subject === query.subject) &&
      (query.displayNamePrefix === undefined || (record.displayName ?? '').startsWith(query.displayNamePrefix)) &&
      record.id > cursor;
    let candidates: SessionRecord[];
    if (query.id !== undefined) {
      const record = await this.load(query.id, { now });
      candidates = record === null ? [] : [record];
    } else if (query.subject !== undefined) {
      candidates = await this.#subjectQuery(query.subject, now, cursor, query.displayNamePrefix, limit + 1);
    } else {
      // Each node gives its first `limit + 1` matches; the first `limit + 1` overall are among them.
      const pages = await Promise.all((await this.#targets()).map((target) => this.#queryNode(target, now, cursor, query.displayNamePrefix, limit + 1)));
      candidates = pages.flat();
    }
    const found = candidates.filter(matches).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return { sessions: page, nextCursor: found.length > limit && last ? last.id : null };
  }

  /**
   * The first `wanted` live sessions of one node's shards past the cursor, in id order: QUERY
   * calls, each a bounded walk (see the script), until the page is full or the shards run out.
   */
  async #queryNode(target: Target, now: number, cursor: string, displayNamePrefix: string | undefined, wanted: number): Promise<SessionRecord[]> {
    const records: SessionRecord[] = [];
    let indexes = target.indexes;
    while (indexes.length > 0 && records.length < wanted) {
      const reply = (await this.#runOn(target, this.#scripts.query, [
        String(now),
        cursor,
        displayNamePrefix === undefined ? '0' : '1',
        displayNamePrefix ?? '',
        String(wanted - records.length),
        ...indexes,
      ])) as Reply[];
      const consumed = Number(reply[0]);
      if (!(consumed > 0)) throw new Error('the query script walked no index');
      for (let i = 1; i + 1 < reply.length; i += 2) records.push(decodeHash(asString(reply[i]), reply[i + 1]));
      indexes = indexes.slice(consumed);
    }
    return records;
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    if (filter.subject !== undefined) {
      const { subject, now } = filter;
      const indexes = await this.#subjectIndexes(subject);
      const replies = await Promise.all(indexes.groups.map((group) => this.#run(this.#scripts.countSubject, this.#keysOf(indexes, group), [subject, String(now)])));
      return replies.reduce<number>((sum, n) => sum + Number(n), 0);
    }
    const counts = await Promise.all((await this.#targets()).map((target) => this.#runOn(target, this.#scripts.count, [String(filter.now), ...target.indexes])));
    return counts.reduce<number>((sum, n) => sum + Number(asString(n)), 0);
  }

  /**
   * query({ subject }): the live sessions with the `wanted` smallest ids past `cursor`. A subject
   * index is ordered by createdAt, not id, so it is read whole, but in SCAN_SUBJECT steps of
   * `SCAN_BUDGET` entries, so that the server serves others between them; then one HGETALL each.
   */
  async #subjectQuery(subject: string, now: number, cursor: string, displayNamePrefix: string | undefined, wanted: number): Promise<SessionRecord[]> {
    const indexes = await this.#subjectIndexes(subject);
    let smallest: string[] = [];
    for (const pair of indexes.pairs) {
      let from: [string, string] = ['', ''];
      for (;;) {
        const reply = (await this.#run(this.#scripts.scanSubject, pair.keys, [
          subject,
          String(now),
          ...from,
          String(SCAN_BUDGET),
          cursor,
          displayNamePrefix === undefined ? '0' : '1',
          displayNamePrefix ?? '',
        ])) as Reply[];
        for (let i = 2; i < reply.length; i++) smallest.push(asString(reply[i]));
        // Ids are ASCII, so the default order is byte order.
        if (smallest.length > wanted) smallest = smallest.sort().slice(0, wanted);
        const score = asString(reply[0]);
        if (score === '') break;
        from = [score, asString(reply[1])];
      }
    }
    const records = await Promise.all(
      smallest.map(async (id) => {
        const key = this.#sessionKey(id);
        const flat = flatHash(await this.#send(key, ['HGETALL', key]));
        return flat.length === 0 ? null : decodeHash(id, flat);
      }),
    );
    return records.filter((record): record is SessionRecord => record !== null);
  }

  /**
   * A subject's indexes in listing order: the index of the sessions 0.1 issued under its unkeyed
   * partition (see "Partition key"), when that is in another shard, then the keyed one; and which
   * of them one script can take together: both on a single node or when they share a cluster slot.
   */
  async #subjectIndexes(subject: string): Promise<SubjectIndexes> {
    const shard = (await this.subjectPartition(subject)).slice(0, SHARD_LENGTH);
    const legacy = unkeyedPartition(subject).slice(0, SHARD_LENGTH);
    const keyed: IndexPair = { legacy: false, keys: [this.#subjectIndexKey(shard, subject), this.#shardIndexKey(shard)] };
    if (legacy === shard) return { pairs: [keyed], groups: [[0]] };
    const pairs = [{ legacy: true, keys: [this.#subjectIndexKey(legacy, subject), this.#shardIndexKey(legacy)] } satisfies IndexPair, keyed];
    return { pairs, groups: !this.#cluster || slotOf(shard) === slotOf(legacy) ? [[0, 1]] : [[0], [1]] };
  }

  #keysOf(indexes: SubjectIndexes, group: readonly number[]): string[] {
    return group.flatMap((i) => indexes.pairs[i]?.keys ?? []);
  }

  /** A subject's index in a shard: the shard of the partition its sessions' ids start with. */
  #subjectIndexKey(shard: string, subject: string): string {
    return `${this.#prefix}u:{${shard}}${subject}`;
  }

  #sessionKey(id: string): string {
    return `${this.#prefix}s:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}`;
  }

  /** An applied change set's idempotency key, in the session's slot: see `ApplyOptions.idempotency`. */
  #idempotencyKey(id: string, key: string): string {
    return `${this.#prefix}k:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}:${key}`;
  }

  /** What a login or rotation that replaced this session remembers of it: see `isSuperseded`. */
  #supersededKey(id: string): string {
    return `${this.#prefix}r:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}`;
  }

  /** The expiry index that holds this id: its shard's. */
  #indexKey(id: string): string {
    return this.#shardIndexKey(id.slice(0, SHARD_LENGTH));
  }

  /** The expiry index of a shard's sessions. */
  #shardIndexKey(shard: string): string {
    return `${this.#prefix}x:{${shard}}`;
  }

  // --- transport -------------------------------------------------------------------------

  /** Connects on first use; while a first connection is pending, waits at most `commandTimeout`. */
  async #ready(): Promise<void> {
    if (this.#closed) throw new StoreUnavailableError('the session store is closed');
    const client = this.#client;
    if (client.isOpen) {
      if (this.#connecting === null) return;
    } else {
      this.#connecting ??= client.connect().catch((error: unknown) => {
        this.#connecting = null;
        throw error;
      });
    }
    const connecting = this.#connecting;
    if (connecting === null) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new StoreUnavailableError('timed out connecting to Redis')), this.#timeout);
        }),
      ]);
      if (this.#connecting === connecting) this.#connecting = null;
    } catch (error) {
      throw this.#unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  #unavailable(error: unknown): unknown {
    if (error instanceof StoreUnavailableError) return error;
    if (isReply(error) && !TRANSIENT_REPLY.test(error.message)) return error;
    const reason =
      error instanceof TimeoutError
        ? `no reply within ${this.#timeout} ms`
        : error instanceof Error
          ? `${error.constructor.name}${error.message ? `: ${error.message}` : ''}`
          : String(error);
    return new StoreUnavailableError(`the Redis session store is unavailable (${reason})`, { cause: error });
  }

  /**
   * A sent command's reply, or `StoreUnavailableError` once it has taken more than `timeout` ms.
   * One watchdog timer enforces every deadline, rather than a timer and an AbortSignal per
   * command: on the hot path that bookkeeping cost more than the rest of the transport. A reply
   * that comes after its deadline is dropped.
   */
  #deadline<T>(sent: Promise<T>, timeout: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.#inflight.add(timeout, reject);
      this.#watchdog ??= this.#startWatchdog();
      sent.then(
        (reply) => {
          this.#inflight.remove(entry);
          resolve(reply);
        },
        (error: unknown) => {
          this.#inflight.remove(entry);
          reject(this.#unavailable(error));
        },
      );
    });
  }

  #startWatchdog(): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (this.#inflight.isEmpty) return;
      this.#inflight.expire(Date.now(), (entry) => {
        entry.reject(new StoreUnavailableError(`the Redis session store is unavailable (no reply within ${entry.timeout} ms)`));
      });
    }, Math.max(5, Math.min(50, Math.floor(this.#timeout / 5))));
    timer.unref();
    return timer;
  }

  /** One command to the node serving `key`. */
  #send(key: string, args: string[]): Promise<Reply> {
    const client = this.#client;
    if (this.#closed || !client.isOpen || this.#connecting !== null) return this.#ready().then(() => this.#send(key, args));
    return this.#sendTo(client, key, args, this.#timeout);
  }

  /** One command on `client` (routed by `key` on a cluster), within `timeout` ms. */
  #sendTo(client: RedisClientLike | RedisClusterLike, key: string | undefined, args: string[], timeout: number): Promise<Reply> {
    let sent: Promise<Reply>;
    try {
      sent = isCluster(client) ? client.sendCommand(key, false, args) : client.sendCommand(args);
    } catch (error) {
      // A client given to the store might throw where node-redis rejects.
      sent = Promise.reject(error);
    }
    return this.#deadline(sent, timeout);
  }

  /** A script on the node serving `keys[0]`: EVALSHA, or EVAL when the server does not know it yet. */
  #run(s: Script, keys: readonly string[], args: readonly string[]): Promise<Reply> {
    // Sized once: grown by push, the array was reallocated on every call of this hot path.
    const command = new Array<string>(4 + keys.length + args.length);
    command[0] = command[1] = '';
    command[2] = String(keys.length);
    let at = 3;
    for (const key of keys) command[at++] = key;
    command[at++] = this.#prefix;
    for (const arg of args) command[at++] = arg;
    const first = keys[0] as string;
    return evalScript(s, command, (sent) => this.#send(first, sent));
  }

  /** Where admin scripts run: each master with the expiry indexes of its slots, or the one node with all of them. */
  async #targets(): Promise<Target[]> {
    await this.#ready();
    const client = this.#client;
    if (!isCluster(client)) return [{ client, indexes: this.#indexKeys }];
    const byMaster = new Map<object, string[]>();
    const slots = shardSlots();
    for (let i = 0; i < SHARDS_IN_ID_ORDER.length; i++) {
      const master = client.slots[slots[i] as number]?.master;
      if (master === undefined) throw new StoreUnavailableError('the cluster has unassigned slots');
      let list = byMaster.get(master);
      if (list === undefined) byMaster.set(master, (list = []));
      list.push(this.#indexKeys[i] as string);
    }
    const targets: Target[] = [];
    for (const [master, indexes] of byMaster) {
      try {
        targets.push({ client: await client.nodeClient(master), indexes });
      } catch (error) {
        throw this.#unavailable(error);
      }
    }
    return targets;
  }

  /**
   * An admin script with no declared keys on one node (on a cluster: allowed to span its slots).
   * These walk whole indexes, so they get ten times the command timeout.
   */
  #runOn(target: Target, s: Script, args: string[]): Promise<Reply> {
    const timeout = this.#timeout * 10;
    return evalScript(s, ['', '', '0', this.#prefix, ...args], (command) => this.#sendTo(target.client, undefined, command, timeout));
  }
}

interface Target {
  client: RedisClientLike;
  indexes: readonly string[];
}

/** A subject index and its shard's expiry index; `legacy`: 0.1's (see "Partition key"). */
interface IndexPair {
  legacy: boolean;
  keys: [string, string];
}

interface SubjectIndexes {
  /** In listing order: 0.1's (when apart), then the keyed one. */
  pairs: IndexPair[];
  /** Positions in `pairs` that one script takes together, in order. */
  groups: number[][];
}

/**
 * A listing cursor: the last session of a page as `<score>:<id>`, the score being its createdAt,
 * its index score (as 0.1 wrote it) after an `l` in 0.1's index.
 */
function listCursor(legacy: boolean, score: string, id: string): string {
  return `${legacy ? 'l' : ''}${score}:${id}`;
}

function parseListCursor(cursor: string): { legacy: boolean; score: string; id: string } {
  const match = /^(l?)(-?\d{1,17}):(.+)$/.exec(cursor);
  if (match === null || !isSessionId(match[3] as string)) throw new BadRequestError('not a listing cursor');
  return { legacy: match[1] === 'l', score: match[2] as string, id: match[3] as string };
}

let shardSlotTable: Uint16Array | null = null;

/** The shards in the order of the ids they begin (JavaScript's, byte order for these characters). */
const SHARDS_IN_ID_ORDER: readonly string[] = Object.freeze([...ID_SHARDS].sort());

/** The cluster slot of each of `SHARDS_IN_ID_ORDER`, computed once. */
function shardSlots(): Uint16Array {
  shardSlotTable ??= Uint16Array.from(SHARDS_IN_ID_ORDER, (shard) => slotOf(shard));
  return shardSlotTable;
}

