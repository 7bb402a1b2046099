/**
 * The Redis store: what each `SessionStore` and `SessionIndex` call sends, and how it reads the
 * replies. docs/stores/redis.md describes the keys, the scripts and what each operation costs;
 * "the doc" below means it.
 */
import {
  compareById,
  defineCapabilities,
  lookahead,
  matchesQuery,
  queryPage,
  PARTITION_LENGTH,
  SHARD_LENGTH,
  applyChangeSet,
  isTouchDue,
  secretAccepted,
  touchIntervalMs,
  isSessionId,
  keyedPartition,
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
  type InvalidationListener,
  type InvalidationSource,
  type InvalidationSubscription,
  type SharedCounters,
  type NoticeRequest,
  type SessionOutbox,
} from '../../store-kit/index.js';
import { IDEMPOTENCY_KEY, isIncrementOnly } from './change-sets.js';
import { countInWindow } from './counters.js';
import { ExpiredSweep } from './expired-sweep.js';
import { decodeHash, encodeDevice, encodeHash } from './hash-codec.js';
import { Invalidations } from './invalidation.js';
import { RedisOutbox } from './outbox.js';
import { queryNode } from './query-node.js';
import { RedisKeys, expiryIndexSlots } from './keys.js';
import { LastSeen } from './last-seen.js';
import { resolveRedisOptions, type RedisStoreOptions } from './options.js';
import { redisPartitionKey, type PartitionKey } from './partitions.js';
import { asString, flatHash, type Reply } from './reply.js';
import { compileScripts, type Scripts } from './scripts/index.js';
import { slotOf } from './slots.js';
import { SubjectSessions } from './subject-sessions.js';
import { RedisTransport, isReply, type Target } from './transport.js';

/**
 * Sessions in Redis: a hash per session, a sorted set per subject, Lua scripts for every
 * multi-key change. docs/stores/redis.md describes the key layout.
 *
 * @example
 * const store = new RedisStore({ url: process.env.REDIS_URL });
 * const sessions = new SessionManager({ store });
 */
export class RedisStore implements SessionStore, SessionIndex, SubjectPartitions, InvalidationSource, SharedCounters {
  readonly capabilities = defineCapabilities({
    index: true,
    nativeExpiry: true,
    subjectPartitions: true,
    invalidation: 'everywhere',
    sharedCounters: true,
    outbox: true,
  });
  readonly name = 'redis';
  readonly #transport: RedisTransport;
  readonly #keys: RedisKeys;
  readonly #scripts: Scripts;
  readonly #partitionKey: PartitionKey;
  readonly #subjects: SubjectSessions;
  readonly #invalidations: Invalidations;
  readonly #sweep: ExpiredSweep;
  readonly #outbox: RedisOutbox;
  /** See load. */
  readonly #lastSeen = new LastSeen();

  constructor(options: RedisStoreOptions = {}) {
    const resolved = resolveRedisOptions(options);
    const transport = new RedisTransport(resolved.connection, resolved.commandTimeout, resolved.prefix, resolved.onError);
    const keys = new RedisKeys(resolved.prefix);
    this.#transport = transport;
    this.#keys = keys;
    this.#scripts = compileScripts(transport.cluster, resolved.expiredRetention);
    this.#partitionKey = redisPartitionKey(resolved.partitionKey, keys.partitionKey, transport);
    this.#subjects = new SubjectSessions(transport, keys, this.#scripts, (subject) => this.subjectPartition(subject));
    this.#invalidations = new Invalidations(transport, keys);
    const targets = () => this.#targets();
    this.#sweep = new ExpiredSweep(transport, keys, this.#scripts, targets);
    this.#outbox = new RedisOutbox(transport, keys, this.#scripts, targets);
  }

  /**
   * Tells `listener` which sessions other connections change (see "Invalidation for the cache" in
   * docs/stores/redis.md); throws `InvalidOptionError` for a given client that cannot track.
   */
  subscribeInvalidations(listener: InvalidationListener): InvalidationSubscription {
    return this.#invalidations.subscribe(listener);
  }

  /** Adds one to `key`'s count in the window holding `now`, in one script: see `SharedCounters`. */
  countInWindow(key: string, options: { now: number; windowMs: number }): Promise<number> {
    return countInWindow(this.#transport, this.#keys, this.#scripts.windowCount, key, options);
  }

  /** The partition a logged-in session's id for `subject` starts with: see `partitionKey`. */
  async subjectPartition(subject: string): Promise<string> {
    return keyedPartition(await this.#partitionKey.get(), subject);
  }

  /** Where the ending calls record session notices, for a delivery worker (`capabilities.outbox`). */
  get outbox(): SessionOutbox {
    return this.#outbox;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now, replaces, limit } = options;
    if (!isSessionId(record.id)) throw new Error('not a session id');
    // Its subject index lives in the slot of the subject's partition, so the id must too.
    if (record.subject !== null && (await this.subjectPartition(record.subject)) !== record.id.slice(0, PARTITION_LENGTH)) {
      throw new Error("a logged-in session's id must start with subjectPartition(subject)");
    }
    if (replaces !== undefined && !isSessionId(replaces.id)) return { status: 'gone' };
    const crossSlot =
      replaces !== undefined &&
      this.#transport.cluster &&
      slotOf(replaces.id.slice(0, SHARD_LENGTH)) !== slotOf(record.id.slice(0, SHARD_LENGTH));
    if (replaces !== undefined && !crossSlot) return this.#create(record, now, replaces, limit);
    const created = await this.#create(record, now, undefined, limit);
    if (replaces === undefined || created.status !== 'created') return created;
    // Cross-slot replace (see "Cluster: login from an anonymous session" in the doc): step 2, retire the old session.
    let removed: Reply;
    try {
      removed = await this.#transport.run(
        this.#scripts.delete,
        [this.#keys.session(replaces.id), this.#keys.expiryIndex(replaces.id)],
        [replaces.id, String(now), String(replaces.version), String(replaces.supersededUntil)],
      );
    } catch (error) {
      await this.#transport
        .run(this.#scripts.delete, [this.#keys.session(record.id), this.#keys.expiryIndex(record.id)], [record.id, '', '', ''])
        .catch(() => {});
      throw error;
    }
    if (removed === null) {
      await this.#transport.run(
        this.#scripts.delete,
        [this.#keys.session(record.id), this.#keys.expiryIndex(record.id)],
        [record.id, '', '', ''],
      );
      return { status: 'gone' };
    }
    return created;
  }

  async #create(
    record: SessionRecord,
    now: number,
    replaces: CreateOptions['replaces'],
    limit: CreateOptions['limit'],
  ): Promise<CreateResult> {
    const fields = encodeHash(record);
    const keys = [this.#keys.session(record.id), this.#keys.expiryIndex(record.id)];
    if (replaces !== undefined) keys.push(this.#keys.session(replaces.id), this.#keys.expiryIndex(replaces.id));
    let reply: Reply;
    try {
      reply = await this.#transport.run(this.#scripts.create, keys, [
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
    this.#lastSeen.remember(record);
    // Never evicts: the core trims the subject (trimSubject) once the login has succeeded.
    return { status: 'created', evicted: [] };
  }

  load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    if (!isSessionId(id)) return Promise.resolve(null);
    const { touch, now } = options;
    const key = this.#keys.session(id);
    if (touch !== undefined) {
      // lastSeenAt only moves forward, so the one this process last saw is a lower bound: when
      // even that says no touch is due, none is, and a plain HGETALL is the whole load.
      const seen = this.#lastSeen.get(id);
      if (seen !== undefined && now - seen.lastSeenAt < touchIntervalMs(seen.idleTimeout, touch)) {
        // Promise callbacks rather than async functions: this is every request's path.
        return this.#transport.send(key, ['HGETALL', key]).then((reply) => {
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
    return this.#transport
      .run(this.#scripts.load, [key, this.#keys.expiryIndex(id)], args)
      .then((reply) => (reply === null ? null : this.#checked(decodeHash(id, reply), options)));
  }

  /** The record if the presented secret opens it and it is live; remembers its lastSeenAt. */
  #checked(record: SessionRecord, options: LoadOptions): SessionRecord | null {
    if (options.secretHash !== undefined && !secretAccepted(record, options.secretHash, options.now)) return null;
    if (options.now >= record.expiresAt) return null;
    this.#lastSeen.remember(record);
    return record;
  }

  apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    if (!isSessionId(id)) return Promise.resolve({ status: 'gone' });
    const base = options.base !== undefined && options.base.id === id ? options.base : undefined;
    const idempotency = options.idempotency;
    if (idempotency !== undefined && !IDEMPOTENCY_KEY.test(idempotency.key))
      return Promise.reject(new RangeError('an idempotency key is 1 to 256 printable ASCII characters'));
    if (isIncrementOnly(changes) && options.expectedVersion === undefined)
      return this.#increment(id, changes.increment, options.now, base, idempotency);
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
    const keys = [this.#keys.session(id), this.#keys.expiryIndex(id)];
    if (idempotency !== undefined) {
      keys.push(this.#keys.idempotency(id, idempotency.key));
      args.push(String(idempotency.until));
    }
    return this.#transport.run(this.#scripts.apply, keys, args).then((reply) => this.#applied(id, reply, changes, base));
  }

  #increment(
    id: string,
    increments: Record<string, number>,
    now: number,
    base: SessionRecord | undefined,
    idempotency: ApplyOptions['idempotency'],
  ): Promise<ApplyResult> {
    const args = [String(now), base === undefined ? '' : String(base.version)];
    for (const key in increments) {
      const delta = increments[key] as number;
      if (!Number.isSafeInteger(delta)) return Promise.reject(new RangeError('increments must be safe integers'));
      args.push(`d:${key}`, String(delta));
    }
    const keys = [this.#keys.session(id)];
    if (idempotency !== undefined) {
      keys.push(this.#keys.idempotency(id, idempotency.key));
      args.push(String(idempotency.until));
    }
    return this.#transport
      .run(this.#scripts.increment, keys, args)
      .then((reply) => this.#applied(id, reply, { increment: increments }, base));
  }

  #applied(id: string, reply: Reply, changes: ChangeSet, base: SessionRecord | undefined): ApplyResult {
    if (reply === null) return { status: 'gone' };
    const [status, flat] = reply as [Reply, Reply | undefined];
    // No hash back: nothing else changed the session since `base`, so the result is derived from it.
    const derived = flat === undefined && base !== undefined;
    const record = derived ? applyChangeSet(base, changes) : decodeHash(id, flat);
    // A record derived from `base` has a new lastSeenAt only when the change set moved it.
    if (!derived || changes.lastSeenAt !== undefined || changes.idleTimeout !== undefined) this.#lastSeen.remember(record);
    const kind = asString(status);
    if (kind === 'conflict') return { status: 'conflict', record };
    return kind === 'duplicate' ? { status: 'applied', record, duplicate: true } : { status: 'applied', record };
  }

  async delete(id: string, options?: { notice?: NoticeRequest }): Promise<RemovedSession | null> {
    if (!isSessionId(id)) return null;
    // A revocation: nothing is remembered for isSuperseded.
    const notice = options?.notice;
    const args = notice === undefined ? [id, '', '', ''] : [id, '', '', '', notice.reason, String(notice.at)];
    const reply = await this.#transport.run(this.#scripts.delete, [this.#keys.session(id), this.#keys.expiryIndex(id)], args);
    if (reply === null) return null;
    const [subject] = reply as [Reply];
    return { id, subject: subject == null ? null : asString(subject) };
  }

  /** One script on the session's slot: its `r:` key, else its live hash's previous secret (see SUPERSEDED). */
  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    if (!isSessionId(id)) return false;
    const reply = await this.#transport.run(
      this.#scripts.superseded,
      [this.#keys.superseded(id), this.#keys.session(id)],
      [String(options.now), options.secretHash],
    );
    return Number(reply) === 1;
  }

  async deleteExpired(now: number, limit: number, options?: { notice?: boolean }): Promise<RemovedSession[]> {
    // A partition key deleted in Redis is put back (or another instance's new one adopted): see
    // "Partition key". Housekeeping that must not stop the sweep: a full Redis refuses the SET that
    // restores the key, and the next sweep tries again.
    await this.#partitionKey.reassert().catch(() => {});
    return this.#sweep.deleteExpired(now, limit, options?.notice === true);
  }

  /**
   * Resolves once the store can serve: connected, its scripts loaded on every node, the partition
   * key read (or made). Rejects within a bounded time with why not: a `StoreUnavailableError`
   * naming the cause (refused, unknown host, authentication, database index, TLS, no answer), or
   * an `InvalidOptionError` for a server too old for the scripts. For `SessionManager.ready()`.
   */
  async ready(): Promise<void> {
    for (const target of await this.#targets()) await this.#transport.loadScripts(target, Object.values(this.#scripts));
    await this.#partitionKey.get();
  }

  async close(): Promise<void> {
    await this.#invalidations.stop();
    await this.#transport.close();
  }

  listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    return this.#subjects.list(subject, options);
  }

  deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    return this.#subjects.drop(subject, options);
  }

  trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    return this.#subjects.trim(subject, options);
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const { now, limit } = query;
    const cursor = query.cursor ?? '';
    // Every name starts with '', and so does a missing one: no condition (the scripts would look
    // for a display name).
    const prefix = query.displayNamePrefix === '' ? undefined : query.displayNamePrefix;
    let candidates: SessionRecord[];
    if (query.id !== undefined) {
      const record = await this.load(query.id, { now });
      candidates = record === null ? [] : [record];
    } else if (query.subject !== undefined) {
      candidates = await this.#subjects.query(query.subject, now, cursor, prefix, lookahead(limit));
    } else {
      // Each node gives its first `limit + 1` matches; the first `limit + 1` overall are among them.
      const pages = await Promise.all(
        (await this.#targets()).map((target) =>
          queryNode(this.#transport, this.#scripts.query, target, now, cursor, prefix, lookahead(limit)),
        ),
      );
      candidates = pages.flat();
    }
    return queryPage(candidates.filter((record) => matchesQuery(record, query)).sort(compareById), limit);
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    if (filter.subject !== undefined) return this.#subjects.count(filter.subject, filter.now);
    const counts = await Promise.all(
      (await this.#targets()).map((target) => this.#transport.runOn(target, this.#scripts.count, [String(filter.now), ...target.indexes])),
    );
    return counts.reduce<number>((sum, n) => sum + Number(asString(n)), 0);
  }

  #targets(): Promise<Target[]> {
    return this.#transport.targets(this.#keys.expiryIndexes, expiryIndexSlots);
  }
}
