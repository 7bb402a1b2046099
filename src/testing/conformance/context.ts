import { after, afterEach, before, beforeEach, it } from 'node:test';
import {
  cachedStore,
  ManualClock,
  type Session,
  SessionManager,
  hasSessionIndex,
  type SessionIndex,
  type SessionManagerOptions,
  type SessionRecord,
  type SessionStore,
} from '../../core/index.js';
import { hasSubjectPartitions } from '../../core/store.js';
import type { ConformanceOptions } from '../conformance.js';
import { makeRecord } from '../fixtures.js';

export const DEVICE = { ip: '203.0.113.7', userAgent: 'Conformance/1.0' };
export const TOUCH = { maxIntervalMs: 60_000, idleFraction: 0.1 };

/**
 * What every capability's tests share. `store` and `clock` are replaced before each test, so a
 * test reads them when it runs (`const { store, clock } = ctx;` in its body), never when it is
 * registered; the helpers below always act on the current ones.
 */
export interface ConformanceContext {
  readonly concurrency: number;
  /** Whether `store` has the cache in front of it (`ConformanceOptions.cache`). */
  readonly cached: boolean;
  readonly store: SessionStore;
  readonly clock: ManualClock;
  /** Managers closed after the current test; a test that builds its own pushes it here. */
  readonly managers: SessionManager[];
  /** A manager on the current store and clock, without a cleanup timer. */
  manager(extra?: Partial<SessionManagerOptions>): SessionManager;
  /** A request with the given token's cookie, returning the session and what it set. */
  request(m: SessionManager, token: string | null): Promise<{ session: Session; cookies: string[] }>;
  /** Logs a fresh session in as `subject` and returns its token. */
  loggedIn(m: SessionManager, subject: string): Promise<string>;
  /** A record as the core makes one; a logged-in one starts with the store's partition for its subject. */
  rec(now: number, overrides?: Partial<SessionRecord>): Promise<{ record: SessionRecord; token: string }>;
  /** A test of the `SessionIndex` extension: it runs only on stores that declare it. */
  indexIt(name: string, fn: (index: SessionStore & SessionIndex) => Promise<void>): void;
  /**
   * Another store object on the current store's data, as another app instance would open it
   * (`ConformanceOptions.peer`, without the cache), closed after the test; null when the options give none.
   */
  peer(): Promise<SessionStore | null>;
}

/**
 * Builds the context and registers the hooks that give each test a fresh store and clock; call it
 * inside the suite's `describe`, so that the hooks belong to that suite only.
 */
export function conformanceContext(options: ConformanceOptions): ConformanceContext {
  let store: SessionStore;
  let clock: ManualClock;
  const managers: SessionManager[] = [];
  const peers: SessionStore[] = [];

  if (options.setup) before(options.setup);
  if (options.teardown) after(options.teardown);
  beforeEach(async () => {
    clock = new ManualClock();
    const created = await options.createStore();
    store = options.cache === undefined ? created : cachedStore(created, options.cache, clock);
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) m.close();
    for (const peer of peers.splice(0)) await peer.close();
    await store.close();
  });

  const ctx: ConformanceContext = {
    concurrency: options.concurrency ?? 200,
    cached: options.cache !== undefined,
    get store() {
      return store;
    },
    get clock() {
      return clock;
    },
    managers,
    manager(extra = {}) {
      const m = new SessionManager({ store, clock, cleanupInterval: false, ...extra });
      managers.push(m);
      return m;
    },
    async request(m, token) {
      const cookies: string[] = [];
      const session = await m.load({
        cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`,
        secure: false,
        ...DEVICE,
        setCookie: (value) => cookies.push(value),
      });
      return { session, cookies };
    },
    async loggedIn(m, subject) {
      const { session } = await ctx.request(m, null);
      await session.login(subject);
      return session.issuedToken as string;
    },
    async rec(now, overrides = {}) {
      const subject = overrides.subject ?? null;
      const partition = subject !== null && hasSubjectPartitions(store) ? await store.subjectPartition(subject) : null;
      return makeRecord(now, overrides, partition);
    },
    indexIt(name, fn) {
      it(name, async (t) => {
        if (!hasSessionIndex(store)) {
          t.skip('the store does not declare capabilities.index');
          return;
        }
        await fn(store);
      });
    },
    async peer() {
      if (options.peer === undefined) return null;
      const peer = await options.peer();
      peers.push(peer);
      return peer;
    },
  };
  return ctx;
}
