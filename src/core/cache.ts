/**
 * The two-tier session store: recently read records kept in this process in front of the app's
 * store, so that a request inside the touch window sends nothing to it. What keeps an entry true:
 * - Changes made through this cache update or drop its entries from the store's answers.
 * - Changes made anywhere else reach it through the store's invalidation channel, which is
 *   probed every quarter of `maxStaleness`; entries are served only while the last probe that
 *   succeeded started less than `maxStaleness` ago, and everything is dropped when the channel
 *   goes down. A store without a channel has each entry served for `maxStaleness` after its read.
 * - An answer is cached only when nothing could have changed the session while it was on its way:
 *   no invalidation of it, no flush, no write of it (or, for a write, no other call on it) in
 *   flight, no bulk removal running. Otherwise it is dropped, and the next read goes to the store.
 * - A store whose channel reports this cache's own writes back to it (Redis: see `ExpectedEchoes`)
 *   has the first invalidation after each write taken as that write's echo: the entry is kept, for
 *   at most `maxStaleness` unless a newer answer replaces it.
 */
import { CacheChannel } from './cache-channel.js';
import { ExpectedEchoes } from './cache-echoes.js';
import type { ResolvedCacheOptions } from './cache-options.js';
import { copyRecord, entryRecord, estimateBytes, older, StringPool } from './cache-records.js';
import type { Clock } from './clock.js';
import { isLive, isTouchDue } from './expiry.js';
import { hasSessionOutbox, type NoticeRequest, type SessionOutbox } from './outbox.js';
import { secretAccepted } from './record-ops.js';
import {
  hasInvalidationSource,
  hasSharedCounters,
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
  type SharedCounters,
  type StoreCapabilities,
  type SubjectPartitions,
} from './store.js';

interface Entry {
  record: SessionRecord;
  /** When it was read from the store (the cache's clock). */
  readAt: number;
  bytes: number;
  /**
   * When an invalidation taken as the echo of this cache's own write arrived (see `ExpectedEchoes`):
   * the entry is then served until `maxStaleness` after it, as an entry without a channel would be.
   */
  echoedAt: number | null;
  /** Served since the eviction sweep last passed it: it gets another round (see `#evict`). */
  used: boolean;
}

/** Calls on one session in flight, how many of them write, and what happened meanwhile. */
interface InFlight {
  calls: number;
  writes: number;
  /** Their answers must not be cached (see the module comment). */
  dirty: boolean;
  /** When the echo of this cache's write came while it was in flight; null when it has not. */
  echoedAt: number | null;
}

/** What the cache has done since it started, for metrics and the benchmark. */
export interface CacheStats {
  /** Sessions held now. */
  entries: number;
  /** Their estimated bytes. */
  bytes: number;
  /** Loads answered from the cache. */
  hits: number;
  /** Loads that went to the store. */
  misses: number;
  /** Sessions the channel said changed elsewhere (whether cached or not). */
  invalidations: number;
  /** Invalidations taken as the echo of this cache's own write (Redis), which keep the entry. */
  echoes: number;
  /** Times everything was dropped (the channel went down, or said anything may have changed). */
  flushes: number;
  /** Whether entries are served now. */
  serving: boolean;
  /** Whether the store pushes invalidations (else each entry lasts `maxStaleness` from its read). */
  pushed: boolean;
}

type Index = SessionStore & SessionIndex & SubjectPartitions & SharedCounters;

export class CachingStore implements SessionStore, SessionIndex, SubjectPartitions, SharedCounters {
  readonly capabilities: StoreCapabilities;
  readonly options: ResolvedCacheOptions;
  readonly #store: Index;
  readonly #clock: Clock;
  /** In insertion order, which `#evict` walks from the oldest. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #strings = new StringPool();
  /** Bumped by every flush and every start and end of a bulk removal: an answer that spans one is not cached. */
  #generation = 0;
  #bulkRemovals = 0;
  /** The store's invalidation channel; null when it has none (then each entry lasts `maxStaleness` from its read). */
  readonly #channel: CacheChannel | null;
  #users = 0;
  readonly #stats = { hits: 0, misses: 0, invalidations: 0, echoes: 0, flushes: 0 };
  /** Echoes of this cache's own writes still to come (see `ExpectedEchoes`). */
  readonly #echoes: ExpectedEchoes;

  constructor(store: SessionStore, options: ResolvedCacheOptions, clock: Clock) {
    this.#store = store as Index;
    // The channel is this cache's: what is in front of it offers none.
    this.capabilities = Object.freeze({ ...store.capabilities, invalidation: 'none' as const });
    this.options = options;
    this.#clock = clock;
    this.#channel = hasInvalidationSource(store) ? new CacheChannel(store, clock, options.maxStaleness, () => this.#flush()) : null;
    this.#echoes = new ExpectedEchoes(options.maxStaleness);
  }

  /** A manager starts using the cache: the channel is subscribed while anyone does. */
  retain(): void {
    this.#users++;
    if (this.#users === 1) this.#subscribe();
  }

  /** A manager is done with it: the last one gives up the channel. */
  release(): void {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#users === 0) this.#unsubscribe();
  }

  stats(): CacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      ...this.#stats,
      serving: this.#serving(this.#clock.now()),
      pushed: this.#channel !== null,
    };
  }

  #subscribe(): void {
    this.#channel?.open({
      invalidate: (ids) => {
        const now = this.#clock.now();
        for (const id of ids) {
          this.#stats.invalidations++;
          if (this.#takeEcho(id, now)) continue;
          const calls = this.#inFlight.get(id);
          if (calls !== undefined) calls.dirty = true;
          this.#drop(id);
        }
      },
      invalidateAll: () => this.#flush(),
      down: () => this.#flush(),
    });
  }

  #unsubscribe(): void {
    this.#channel?.close();
    this.#flush();
  }

  /** Whether entries may be served (and answers cached) at `now`. */
  #serving(now: number): boolean {
    return this.#channel === null || this.#channel.believed(now);
  }

  #fresh(entry: Entry, now: number): boolean {
    if (this.#channel !== null) return this.#channel.believed(now);
    return now >= entry.readAt && now - entry.readAt < this.options.maxStaleness;
  }

  #flush(): void {
    this.#generation++;
    if (this.#entries.size > 0) this.#stats.flushes++;
    this.#entries.clear();
    this.#bytes = 0;
  }

  #drop(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
    return true;
  }

  #put(record: SessionRecord, now: number, echoedAt: number | null = null): void {
    const held = this.#entries.get(record.id);
    if (held !== undefined) {
      if (older(record, held.record)) return;
      this.#drop(record.id);
    }
    const bytes = estimateBytes(record);
    if (bytes > this.options.maxBytes) return;
    this.#entries.set(record.id, { record: entryRecord(record, this.#strings), readAt: now, bytes, echoedAt, used: false });
    this.#bytes += bytes;
    this.#evict();
  }

  /**
   * Least recently used out, approximately (the "second chance" clock): a hit only marks its entry,
   * since moving it to the end of the map on every hit cost more than the rest of a cached read;
   * the oldest entry is dropped unless it was used since, in which case it moves to the end.
   */
  #evict(): void {
    while (this.#entries.size > this.options.maxEntries || this.#bytes > this.options.maxBytes) {
      const [id, entry] = this.#entries.entries().next().value as [string, Entry];
      this.#entries.delete(id);
      if (entry.used) {
        entry.used = false;
        this.#entries.set(id, entry);
      } else {
        this.#bytes -= entry.bytes;
      }
    }
  }

  #begin(id: string, writes: boolean): number {
    const calls = this.#inFlight.get(id);
    if (calls === undefined) {
      this.#inFlight.set(id, { calls: 1, writes: writes ? 1 : 0, dirty: false, echoedAt: null });
    } else {
      if (writes || calls.writes > 0) calls.dirty = true;
      calls.calls++;
      if (writes) calls.writes++;
    }
    return this.#generation;
  }

  /** Ends a call begun with `#begin`; returns its calls' record when the answer may be cached, else null. */
  #end(id: string, writes: boolean, generation: number, now: number): InFlight | null {
    const calls = this.#inFlight.get(id) as InFlight;
    calls.calls--;
    if (writes) calls.writes--;
    if (calls.calls === 0) this.#inFlight.delete(id);
    if (calls.dirty || generation !== this.#generation || this.#bulkRemovals > 0 || !this.#serving(now)) return null;
    return calls;
  }

  /** Only a channel that reports this cache's own writes back (`echoesOwnWrites`, known once subscribed) has echoes to expect. */
  #expectEcho(id: string, now: number): void {
    if (this.#channel?.echoesOwnWrites) this.#echoes.expect(id, now);
  }

  /** Whether this invalidation is taken as the echo of this cache's own write (see `ExpectedEchoes`); marks the entry if so. */
  #takeEcho(id: string, now: number): boolean {
    if (!this.#echoes.take(id, now)) return false;
    this.#stats.echoes++;
    const calls = this.#inFlight.get(id);
    if (calls !== undefined) calls.echoedAt = now;
    const entry = this.#entries.get(id);
    if (entry !== undefined) entry.echoedAt = now;
    return true;
  }

  /**
   * The cached record `load(id, options)` would return, when the cache can answer alone: fresh, its
   * secret accepted, live, and no touch due. Null sends the load to the store.
   */
  peek(id: string, options: LoadOptions): SessionRecord | null {
    const entry = this.#entries.get(id);
    if (entry === undefined) return null;
    const { now } = options;
    const record = entry.record;
    if (!this.#fresh(entry, now) || !isLive(record, now)) {
      this.#drop(id);
      return null;
    }
    if (entry.echoedAt !== null && !(now >= entry.echoedAt && now - entry.echoedAt < this.options.maxStaleness)) return null;
    if (options.secretHash !== undefined && !secretAccepted(record, options.secretHash, now)) return null;
    if (options.touch !== undefined && isTouchDue(record, now, options.touch)) return null;
    entry.used = true;
    this.#stats.hits++;
    return copyRecord(record);
  }

  async load(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    const hit = this.peek(id, options);
    if (hit !== null) return hit;
    this.#stats.misses++;
    return this.#fetch(id, options);
  }

  async #fetch(id: string, options: LoadOptions): Promise<SessionRecord | null> {
    const generation = this.#begin(id, false);
    let record: SessionRecord | null;
    try {
      record = await this.#store.load(id, options);
    } catch (error) {
      this.#end(id, false, generation, options.now);
      this.#drop(id);
      throw error;
    }
    const now = this.#clock.now();
    const calls = this.#end(id, false, generation, now);
    if (calls !== null && record !== null) this.#put(record, now, calls.echoedAt);
    else if (!(calls !== null && this.#refusedSecret(id, options))) this.#drop(id);
    return record;
  }

  /**
   * Whether the store's null answered a secret the entry refuses too: the session is not gone, and
   * keeping it means tokens guessed for a known id cannot push it out of the cache.
   */
  #refusedSecret(id: string, options: LoadOptions): boolean {
    const entry = this.#entries.get(id);
    return entry !== undefined && options.secretHash !== undefined && !secretAccepted(entry.record, options.secretHash, options.now);
  }

  async apply(id: string, changes: ChangeSet, options: ApplyOptions): Promise<ApplyResult> {
    const generation = this.#begin(id, true);
    this.#expectEcho(id, options.now);
    let result: ApplyResult;
    try {
      result = await this.#store.apply(id, changes, options);
    } catch (error) {
      this.#end(id, true, generation, options.now);
      this.#drop(id);
      throw error;
    }
    const now = this.#clock.now();
    const calls = this.#end(id, true, generation, now);
    if (result.status !== 'applied' || result.duplicate === true) this.#echoes.cancel(id);
    if (calls !== null && result.status !== 'gone') this.#put(result.record, now, calls.echoedAt);
    else this.#drop(id);
    return result;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const replaced = options.replaces?.id;
    if (replaced !== undefined) this.#drop(replaced);
    const generation = this.#begin(record.id, true);
    this.#expectEcho(record.id, options.now);
    if (replaced !== undefined) this.#begin(replaced, true);
    const settle = (): InFlight | null => {
      const now = this.#clock.now();
      if (replaced !== undefined) {
        this.#end(replaced, true, generation, now);
        this.#drop(replaced);
      }
      return this.#end(record.id, true, generation, now);
    };
    let result: CreateResult;
    try {
      result = await this.#store.create(record, options);
    } catch (error) {
      settle();
      throw error;
    }
    const calls = settle();
    if (result.status === 'created') {
      for (const removed of result.evicted) this.#drop(removed.id);
      if (calls !== null) this.#put(record, this.#clock.now(), calls.echoedAt);
    } else this.#echoes.cancel(record.id);
    return result;
  }

  async delete(id: string, options?: { notice?: NoticeRequest }): Promise<RemovedSession | null> {
    this.#drop(id);
    const generation = this.#begin(id, true);
    try {
      return await this.#store.delete(id, options);
    } finally {
      this.#end(id, true, generation, this.#clock.now());
      this.#drop(id);
    }
  }

  /** Removes sessions it learns of only from the answer: no answer that overlaps it is cached. */
  async #bulkRemoval(remove: () => Promise<RemovedSession[]>): Promise<RemovedSession[]> {
    this.#bulkRemovals++;
    this.#generation++;
    try {
      const removed = await remove();
      for (const session of removed) this.#drop(session.id);
      return removed;
    } finally {
      this.#bulkRemovals--;
      this.#generation++;
    }
  }

  trimSubject(subject: string, options: Parameters<SessionStore['trimSubject']>[1]): Promise<RemovedSession[]> {
    return this.#bulkRemoval(() => this.#store.trimSubject(subject, options));
  }

  deleteBySubject(subject: string, options: Parameters<SessionIndex['deleteBySubject']>[1]): Promise<RemovedSession[]> {
    return this.#bulkRemoval(() => this.#store.deleteBySubject(subject, options));
  }

  /** Expired sessions are never served from the cache anyway (`peek` checks expiry): dropping them frees the memory. */
  async deleteExpired(now: number, limit: number, options?: { notice?: boolean }): Promise<RemovedSession[]> {
    const removed = await this.#store.deleteExpired(now, limit, options);
    for (const session of removed) this.#drop(session.id);
    return removed;
  }

  isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    return this.#store.isSuperseded(id, options);
  }
  listBySubject(subject: string, options: { now: number; cursor?: string | null; limit: number }): Promise<SessionPage> {
    return this.#store.listBySubject(subject, options);
  }
  query(query: SessionQuery): Promise<SessionPage> {
    return this.#store.query(query);
  }
  count(filter: { now: number; subject?: string }): Promise<number> {
    return this.#store.count(filter);
  }
  subjectPartition(subject: string): Promise<string> {
    return this.#store.subjectPartition(subject);
  }
  countInWindow(key: string, options: { now: number; windowMs: number }): Promise<number> {
    if (!hasSharedCounters(this.#store)) return Promise.reject(new TypeError('the store has no shared counters'));
    return this.#store.countInWindow(key, options);
  }
  /** The store's own (notices are never cached); null when its capabilities say it has none. */
  get outbox(): SessionOutbox | null {
    return hasSessionOutbox(this.#store) ? this.#store.outbox : null;
  }
  async ready(): Promise<void> {
    await this.#store.ready?.();
  }
  async close(): Promise<void> {
    this.#users = 0;
    this.#unsubscribe();
    await this.#store.close();
  }
}
