import {
  InvalidOptionError,
  applyChangeSet,
  hashesEqual,
  secretAccepted,
  sessionsToEvict,
  touched,
  type ApplyOptions,
  type ApplyResult,
  type ChangeSet,
  type CreateOptions,
  type CreateResult,
  type JsonValue,
  type LoadOptions,
  type RemovedSession,
  type SessionIndex,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type SessionStore,
} from '../../core/index.js';
import { MinHeap } from './min-heap.js';

export interface MemoryStoreOptions {
  /**
   * Most sessions held at once. When full, expired sessions are freed first, then the session
   * closest to expiry is evicted (and reported as evicted).
   * @default 100000
   */
  maxSessions?: number;
}

/** Expired entries freed per access, so no single request pays for a backlog. */
const PURGE_PER_ACCESS = 64;
/** Stale heap entries tolerated beyond one per session before the heap is rebuilt. */
const COMPACT_SLACK = 1024;

/** A deep copy of JSON data as plain objects and arrays (a key named `__proto__` stays a key). */
function copyJson(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: Record<string, JsonValue> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson(value[key] as JsonValue);
    if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy;
}

/**
 * The store's records never leave it, nor do callers' records enter it: each crosses as a copy.
 * Written out for the record's shape, it costs about a twentieth of a `structuredClone`.
 */
function copyRecord(record: SessionRecord): SessionRecord {
  return {
    ...record,
    data: copyJson(record.data) as Record<string, JsonValue>,
    createdDevice: { ...record.createdDevice },
    lastDevice: { ...record.lastDevice },
  };
}

/**
 * Sessions in process memory: for tests, demos and single-process apps that accept losing
 * sessions on restart. Expired sessions are found through a min-heap on expiry, never by scanning.
 */
export class MemoryStore implements SessionStore, SessionIndex {
  readonly capabilities = Object.freeze({ index: true, nativeExpiry: false });
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #bySubject = new Map<string, Set<string>>();
  /** Each session's expiry as last pushed; entries go stale when a session slides and are re-pushed when popped. */
  readonly #expiry = new MinHeap<string>();
  /** Expired sessions freed on access, reported by the next `deleteExpired`. */
  #freed: RemovedSession[] = [];
  /**
   * Ids a login or rotation replaced, with the secret hashes that opened them, until their
   * `supersededUntil`: see `isSuperseded`. In insertion order, which is nearly expiry order.
   */
  readonly #superseded = new Map<string, { hashes: string[]; until: number }>();

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

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { now } = options;
    this.#purge(now, PURGE_PER_ACCESS);
    if (this.#sessions.has(record.id)) throw new Error('duplicate session id');
    if (options.replaces) {
      const existing = this.#live(options.replaces.id, now);
      if (existing === null || existing.version !== options.replaces.version) return { status: 'gone' };
    }
    const evicted: RemovedSession[] = [];
    if (options.limit && record.subject !== null) {
      const live = this.#liveOf(record.subject, now).filter((r) => r.id !== options.replaces?.id);
      const excess = sessionsToEvict(live, options.limit.max);
      if (excess.length > 0 && options.limit.onLimit === 'reject') return { status: 'limit' };
      for (const victim of excess) evicted.push(this.#remove(victim.id) as RemovedSession);
    }
    if (options.replaces) this.#supersede(options.replaces.id, options.replaces.supersededUntil, now);
    while (this.#sessions.size >= this.#maxSessions) {
      if (this.#purge(now, Number.POSITIVE_INFINITY, 1) > 0) continue;
      const victim = this.#evictSoonestExpiring();
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
    if (options.expectedVersion !== undefined && options.expectedVersion !== record.version) {
      return { status: 'conflict', record: copyRecord(record) };
    }
    const next = applyChangeSet(record, changes);
    this.#sessions.set(id, next);
    if (next.expiresAt < record.expiresAt) this.#pushExpiry(next.expiresAt, id);
    return { status: 'applied', record: copyRecord(next) };
  }

  async delete(id: string): Promise<RemovedSession | null> {
    return this.#remove(id);
  }

  async isSuperseded(id: string, options: { now: number; secretHash: string }): Promise<boolean> {
    const { now, secretHash } = options;
    const replaced = this.#superseded.get(id);
    if (replaced !== undefined && now < replaced.until && replaced.hashes.some((hash) => hashesEqual(hash, secretHash))) return true;
    const renewed = this.#live(id, now)?.previousSecretHash;
    return typeof renewed === 'string' && hashesEqual(renewed, secretHash);
  }

  async deleteExpired(now: number, limit: number): Promise<RemovedSession[]> {
    this.#forgetSuperseded(now, limit);
    this.#purge(now, limit);
    const removed = this.#freed.splice(0, limit);
    return removed;
  }

  async close(): Promise<void> {
    this.#sessions.clear();
    this.#bySubject.clear();
    this.#superseded.clear();
  }

  async listBySubject(subject: string, now: number): Promise<SessionRecord[]> {
    return this.#liveOf(subject, now)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .map((r) => copyRecord(r));
  }

  async deleteBySubject(subject: string, options: { now: number; except?: string }): Promise<RemovedSession[]> {
    const removed: RemovedSession[] = [];
    for (const record of this.#liveOf(subject, options.now)) {
      if (record.id === options.except) continue;
      const gone = this.#remove(record.id);
      if (gone) removed.push(gone);
    }
    return removed;
  }

  async query(query: SessionQuery): Promise<SessionPage> {
    const candidates: Iterable<SessionRecord> =
      query.id !== undefined
        ? [this.#sessions.get(query.id)].filter((r): r is SessionRecord => r !== undefined)
        : query.subject !== undefined
          ? this.#liveOf(query.subject, query.now)
          : this.#sessions.values();
    const matches: SessionRecord[] = [];
    for (const record of candidates) {
      if (record.expiresAt <= query.now) continue;
      if (query.subject !== undefined && record.subject !== query.subject) continue;
      if (query.displayNamePrefix !== undefined && !(record.displayName ?? '').startsWith(query.displayNamePrefix)) continue;
      if (query.cursor != null && record.id <= query.cursor) continue;
      matches.push(record);
    }
    matches.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = matches.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      sessions: page.map((r) => copyRecord(r)),
      nextCursor: matches.length > query.limit && last ? last.id : null,
    };
  }

  async count(filter: { now: number; subject?: string }): Promise<number> {
    if (filter.subject !== undefined) return this.#liveOf(filter.subject, filter.now).length;
    this.#purge(filter.now, Number.POSITIVE_INFINITY);
    return this.#sessions.size;
  }

  #live(id: string, now: number): SessionRecord | null {
    const record = this.#sessions.get(id);
    return record !== undefined && now < record.expiresAt ? record : null;
  }

  #liveOf(subject: string, now: number): SessionRecord[] {
    const ids = this.#bySubject.get(subject);
    if (ids === undefined) return [];
    const live: SessionRecord[] = [];
    for (const id of ids) {
      const record = this.#live(id, now);
      if (record !== null) live.push(record);
    }
    return live;
  }

  #insert(record: SessionRecord): void {
    this.#sessions.set(record.id, record);
    this.#pushExpiry(record.expiresAt, record.id);
    if (record.subject !== null) {
      let ids = this.#bySubject.get(record.subject);
      if (ids === undefined) this.#bySubject.set(record.subject, (ids = new Set()));
      ids.add(record.id);
    }
  }

  #remove(id: string): RemovedSession | null {
    const record = this.#sessions.get(id);
    if (record === undefined) return null;
    this.#sessions.delete(id);
    if (record.subject !== null) {
      const ids = this.#bySubject.get(record.subject);
      ids?.delete(id);
      if (ids?.size === 0) this.#bySubject.delete(record.subject);
    }
    return { id, subject: record.subject };
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
        if (this.#freed.length < 10_000) this.#freed.push(removed);
      }
    }
    return freed;
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
