/**
 * Sessions in process memory: for tests, demos and single-process apps that accept losing
 * sessions on restart.
 *
 * @module tessera-session/stores/memory
 */
import {
  InvalidOptionError,
  applyChangeSet,
  compareById,
  compareCreation,
  defineCapabilities,
  endedNotices,
  hashesEqual,
  listingPage,
  lookahead,
  matchesQuery,
  parseListingCursor,
  queryPage,
  removedSession,
  secretAccepted,
  touched,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type CreationKey,
  type InvalidationSource,
  type InvalidationSubscription,
  type LoadOptions,
  type NoticeRequest,
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionOutbox,
  type SessionQuery,
  type SessionRecord,
  type SessionStore,
} from '../../store-kit/index.js';
import { ByCreation } from './by-creation.js';
import { copyPage, copyRecord } from './copy.js';
import { MinHeap } from './min-heap.js';
import { MemoryOutbox } from './outbox.js';

/** The options of `new MemoryStore(options)`. */
export interface MemoryStoreOptions {
  /**
   * Most sessions held at once. When full, expired sessions are freed first, then anonymous ones
   * (oldest first), then the oldest session of the user logging in, and only then the session
   * closest to expiry; each is reported as evicted.
   * @default 100000
   */
  maxSessions?: number;
}

/** Expired entries freed per access, so no single request pays for a backlog. */
const PURGE_PER_ACCESS = 64;
/** Stale heap entries tolerated beyond one per session before the heap is rebuilt. */
const COMPACT_SLACK = 1024;

/**
 * Sessions in process memory: for tests, demos and single-process apps that accept losing
 * sessions on restart. Expired sessions are found through a min-heap on expiry, never by scanning.
 * Its session-notice outbox (`capabilities.outbox`) is in memory too, lost with the sessions; a
 * session freed on access is noted when the next `deleteExpired` reports it.
 */
export class MemoryStore implements SessionStore, SessionIndex, InvalidationSource {
  readonly capabilities = defineCapabilities({ index: true, invalidation: 'everywhere', outbox: true });
  readonly name = 'memory';
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, SessionRecord>();
  /** Each subject's sessions in creation order: pages, limits and trims walk only what they need. */
  readonly #bySubject = new Map<string, ByCreation>();
  /** Each session's expiry as last pushed; entries go stale when a session slides and are re-pushed when popped. */
  readonly #expiry = new MinHeap<string>();
  /** Expired sessions freed on access, reported (and their notices recorded, when asked) by the next `deleteExpired`. */
  #freed: { removed: RemovedSession; expiresAt: number }[] = [];
  readonly #outbox = new MemoryOutbox();
  /**
   * Ids a login or rotation replaced, with the secret hashes that opened them, until their
   * `supersededUntil`: see `isSuperseded`. In insertion order, which is nearly expiry order.
   */
  readonly #superseded = new Map<string, { hashes: string[]; until: number }>();
  /** Anonymous sessions in creation order: the first to make room when the store is full. */
  readonly #anonymousIds = new Set<string>();
  /** Idempotency keys of applied change sets (`<id>\n<key>`), until when they are remembered; insertion order is age. */
  readonly #applied = new Map<string, number>();

  constructor(options: MemoryStoreOptions = {}) {
    const maxSessions = options.maxSessions ?? 100_000;
    if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new InvalidOptionError('maxSessions must be a positive integer');
    this.#maxSessions = maxSessions;
  }

  /** Sessions held, expired ones not yet freed included. */
  get size(): number {
    return this.#sessions.size;
  }

  /** @internal Entries in the expiry heap, stale ones included (for tests of its bound). */
  get heapSize(): number {
    return this.#expiry.size;
  }

  /** Where the ending calls record session notices, for a delivery worker (`capabilities.outbox`). */
  get outbox(): SessionOutbox {
    return this.#outbox;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now } = options;
    this.#purge(now, PURGE_PER_ACCESS);
    if (this.#sessions.has(record.id)) throw new Error('duplicate session id');
    if (options.replaces) {
      const existing = this.#live(options.replaces.id, now);
      if (existing === null || existing.version !== options.replaces.version) return { status: 'gone' };
    }
    if (options.limit && record.subject !== null) {
      let live = 0;
      for (const other of this.#liveOf(record.subject, now)) {
        if (other.id !== options.replaces?.id && ++live >= options.limit.max) return { status: 'limit' };
      }
    }
    if (options.replaces) this.#supersede(options.replaces.id, options.replaces.supersededUntil, now);
    const evicted: RemovedSession[] = [];
    while (this.#sessions.size >= this.#maxSessions) {
      if (this.#purge(now, Number.POSITIVE_INFINITY, 1) > 0) continue;
      // Anonymous sessions make room first, oldest first: a flood of them never logs anyone out
      // while one remains. Then a user who logs in again pays with their own oldest session, so
      // that one user (whose per-user limit the app lifted) cannot push everyone else out.
      const victim =
        this.#anonymousIds.size > 0
          ? this.#remove(this.#anonymousIds.values().next().value as string)
          : (this.#evictOldestOf(record.subject) ?? this.#evictSoonestExpiring());
      if (victim) evicted.push(victim);
    }
    this.#insert(copyRecord(record));
    return { status: 'created', evicted };
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    this.#purge(options.now, PURGE_PER_ACCESS);
    const record = this.#live(id, options.now);
    if (record === null) return null;
    if (options.secretHash !== undefined && !secretAccepted(record, options.secretHash, options.now)) return null;
    const next = touched(record, options.now, options.touch, options.device);
    if (next !== record) this.#sessions.set(id, next);
    return copyRecord(next);
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const record = this.#live(id, options.now);
    if (record === null) return { status: 'gone' };
    const idempotency = options.idempotency;
    const appliedKey = idempotency === undefined ? null : `${id}\n${idempotency.key}`;
    if (appliedKey !== null && options.now < (this.#applied.get(appliedKey) ?? 0))
      return { status: 'applied', record: copyRecord(record), duplicate: true };
    if (options.expectedVersion !== undefined && options.expectedVersion !== record.version) {
      return { status: 'conflict', record: copyRecord(record) };
    }
    if (appliedKey !== null) this.#remember(appliedKey, (idempotency as { until: number }).until, options.now);
    const next = applyChangeSet(record, changes);
    this.#sessions.set(id, next);
    if (next.expiresAt < record.expiresAt) this.#pushExpiry(next.expiresAt, id);
    return { status: 'applied', record: copyRecord(next) };
  }

  async delete(id: string, options: { notice?: NoticeRequest } = {}): Promise<RemovedSession | null> {
    const removed = this.#remove(id);
    if (removed !== null) this.#ended([removed], options.notice);
    return removed;
  }

  async trimSubject(
    subject: string,
    options: { now: number; max: number; keep: string; batch: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const { now, max, keep, batch } = options;
    // The newest live ones stay (`keep` among them, wherever it is); walking from the newest end
    // finds them without counting everything older.
    const stays = new Set<string>();
    if (this.#live(keep, now)?.subject === subject) stays.add(keep);
    let oldestStaying: CreationKey | null = null;
    for (const entry of this.#bySubject.get(subject)?.newestFirst() ?? []) {
      if (stays.size >= max) break;
      if (this.#live(entry.id, now) === null) continue;
      stays.add(entry.id);
      if (entry.id !== keep) oldestStaying = entry;
    }
    if (stays.size < max) return [];
    const excess: string[] = [];
    for (const entry of this.#bySubject.get(subject)?.after(null) ?? []) {
      if (excess.length >= batch || (oldestStaying !== null && compareCreation(entry, oldestStaying) >= 0)) break;
      if (!stays.has(entry.id) && this.#live(entry.id, now) !== null) excess.push(entry.id);
    }
    return this.#ended(
      excess.map((id) => this.#remove(id) as RemovedSession),
      options.notice,
    );
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    const { now, secretHash } = options;
    const replaced = this.#superseded.get(id);
    if (replaced !== undefined && now < replaced.until && replaced.hashes.some((hash) => hashesEqual(hash, secretHash))) return true;
    const renewed = this.#live(id, now)?.previousSecretHash;
    return typeof renewed === 'string' && hashesEqual(renewed, secretHash);
  }

  async deleteExpired(now: number, limit: number, options: { notice?: boolean } = {}): Promise<RemovedSession[]> {
    this.#forgetSuperseded(now, limit);
    this.#purge(now, limit);
    const freed = this.#freed.splice(0, limit);
    if (options.notice === true) {
      for (const { removed, expiresAt } of freed) this.#outbox.record(endedNotices([removed], { reason: 'expired', at: expiresAt }), now);
    }
    return freed.map((entry) => entry.removed);
  }

  /** Always ready: the sessions live in this process. */
  async ready(): Promise<void> {}

  /**
   * Nothing but this object changes its sessions, and the cache in front of it sees every change
   * it makes: there is never anything to tell, and the channel is always healthy.
   */
  subscribeInvalidations(): InvalidationSubscription {
    return { probe: () => Promise.resolve(), close: () => Promise.resolve() };
  }

  async close(): Promise<void> {
    this.#sessions.clear();
    this.#bySubject.clear();
    this.#superseded.clear();
    this.#anonymousIds.clear();
    this.#applied.clear();
    this.#outbox.clear();
  }

  async listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    const after = options.cursor == null ? null : parseListingCursor(options.cursor);
    const found: SessionRecord[] = [];
    const wanted = lookahead(options.limit);
    for (const record of this.#liveOf(subject, options.now, after)) {
      if (found.length >= wanted) break;
      found.push(record);
    }
    return copyPage(listingPage(found, options.limit));
  }

  async deleteBySubject(
    subject: string,
    options: { now: number; except?: string; limit: number; notice?: NoticeRequest },
  ): Promise<RemovedSession[]> {
    const ids: string[] = [];
    for (const record of this.#liveOf(subject, options.now)) {
      if (ids.length >= options.limit) break;
      if (record.id !== options.except) ids.push(record.id);
    }
    return this.#ended(
      ids.map((id) => this.#remove(id) as RemovedSession),
      options.notice,
    );
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const candidates: Iterable<SessionRecord> =
      query.id !== undefined
        ? [this.#sessions.get(query.id)].filter((r): r is SessionRecord => r !== undefined)
        : query.subject !== undefined
          ? [...this.#liveOf(query.subject, query.now)]
          : this.#sessions.values();
    const matches: SessionRecord[] = [];
    for (const record of candidates) if (matchesQuery(record, query)) matches.push(record);
    return copyPage(queryPage(matches.sort(compareById), query.limit));
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    if (filter.subject !== undefined) {
      let live = 0;
      for (const _ of this.#liveOf(filter.subject, filter.now)) live++;
      return live;
    }
    this.#purge(filter.now, Number.POSITIVE_INFINITY);
    return this.#sessions.size;
  }

  /** Records the `session.ended` notices of what a call removed, when it asks: in the same call, so nothing runs between. */
  #ended(removed: RemovedSession[], notice: NoticeRequest | undefined): RemovedSession[] {
    if (notice !== undefined) this.#outbox.record(endedNotices(removed, notice));
    return removed;
  }

  #live(id: string, now: number): SessionRecord | null {
    const record = this.#sessions.get(id);
    return record !== undefined && now < record.expiresAt ? record : null;
  }

  /** The subject's live sessions after `cursor`, oldest first; the caller stops when it has enough. */
  *#liveOf(subject: string, now: number, cursor: CreationKey | null = null): Generator<SessionRecord> {
    for (const entry of this.#bySubject.get(subject)?.after(cursor) ?? []) {
      const record = this.#live(entry.id, now);
      if (record !== null) yield record;
    }
  }

  #insert(record: SessionRecord): void {
    this.#sessions.set(record.id, record);
    if (record.subject === null) this.#anonymousIds.add(record.id);
    this.#pushExpiry(record.expiresAt, record.id);
    if (record.subject !== null) {
      let sessions = this.#bySubject.get(record.subject);
      if (sessions === undefined) this.#bySubject.set(record.subject, (sessions = new ByCreation()));
      sessions.add(record);
    }
  }

  #remove(id: string): RemovedSession | null {
    const record = this.#sessions.get(id);
    if (record === undefined) return null;
    this.#sessions.delete(id);
    this.#anonymousIds.delete(id);
    if (record.subject !== null) {
      const sessions = this.#bySubject.get(record.subject);
      sessions?.delete(record);
      if (sessions?.size === 0) this.#bySubject.delete(record.subject);
    }
    return removedSession(record);
  }

  /** Remembers an applied change set's key, bounded like the sessions; the oldest and the expired go first. */
  #remember(key: string, until: number, now: number): void {
    let examined = 0;
    for (const [old, end] of this.#applied) {
      if ((end > now && this.#applied.size < this.#maxSessions) || examined++ >= PURGE_PER_ACCESS) break;
      this.#applied.delete(old);
    }
    this.#applied.set(key, until);
  }

  /** Removes a session that a login or rotation replaced, remembering its secret hashes until `until`. */
  #supersede(id: string, until: number, now: number): void {
    const record = this.#sessions.get(id);
    this.#remove(id);
    if (record === undefined) return;
    this.#forgetSuperseded(now, PURGE_PER_ACCESS);
    // Bounded like the sessions: under a flood of logins the oldest are forgotten first.
    if (this.#superseded.size >= this.#maxSessions) this.#superseded.delete(this.#superseded.keys().next().value as string);
    const hashes = [record.secretHash];
    if (record.previousSecretHash !== null && now < (record.previousSecretExpiresAt ?? 0)) hashes.push(record.previousSecretHash);
    this.#superseded.set(id, { hashes, until });
  }

  /** Forgets up to `max` superseded tokens past their time, oldest first. */
  #forgetSuperseded(now: number, max: number): void {
    let examined = 0;
    for (const [id, { until }] of this.#superseded) {
      if (until > now || examined++ >= max) break;
      this.#superseded.delete(id);
    }
  }

  /**
   * Heap entries of removed sessions stay until they reach the top, so logins and logouts in a
   * loop would grow the heap without bound: past twice the sessions held, it is rebuilt from them.
   */
  #pushExpiry(expiresAt: number, id: string): void {
    this.#expiry.push(expiresAt, id);
    if (this.#expiry.size <= 2 * this.#sessions.size + COMPACT_SLACK) return;
    this.#expiry.clear();
    for (const [key, record] of this.#sessions) this.#expiry.push(record.expiresAt, key);
  }

  /** Frees up to `max` expired sessions from the top of the heap; returns how many it freed. */
  #purge(now: number, max: number, stopAfter = Number.POSITIVE_INFINITY): number {
    let freed = 0;
    let examined = 0;
    while (freed < max && freed < stopAfter && examined < max * 4 + 16) {
      const top = this.#expiry.peekKey();
      if (top === undefined || top > now) break;
      examined++;
      const { value: id } = this.#expiry.pop() as { key: number; value: string };
      const record = this.#sessions.get(id);
      if (record === undefined) continue;
      if (record.expiresAt > now) {
        this.#expiry.push(record.expiresAt, id);
        continue;
      }
      const removed = this.#remove(id);
      if (removed) {
        freed++;
        // Bounded, so a store nobody sweeps does not grow a backlog of events.
        if (this.#freed.length < 10_000) this.#freed.push({ removed, expiresAt: record.expiresAt });
      }
    }
    return freed;
  }

  #evictOldestOf(subject: string | null): RemovedSession | null {
    if (subject === null) return null;
    const oldest = this.#bySubject.get(subject)?.after(null).next();
    return oldest === undefined || oldest.done === true ? null : this.#remove(oldest.value.id);
  }

  #evictSoonestExpiring(): RemovedSession | null {
    for (;;) {
      const top = this.#expiry.pop();
      if (top === undefined) return null;
      const record = this.#sessions.get(top.value);
      if (record === undefined) continue;
      if (record.expiresAt !== top.key) {
        this.#expiry.push(record.expiresAt, top.value);
        continue;
      }
      return this.#remove(top.value);
    }
  }
}
