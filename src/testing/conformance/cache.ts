import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { cachedStore, defaultCacheOptions, SessionManager, type Session, type SessionRecord, type SessionStore } from '../../core/index.js';
import type { ConformanceOptions } from '../conformance.js';
import { countingStore } from '../fixtures.js';
import type { ConformanceContext } from './context.js';

/** Wall-clock bound on waiting for an invalidation to arrive: far above what one takes, never a measure of it. */
const ARRIVAL_BOUND_MS = 5000;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ARRIVAL_BOUND_MS;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ARRIVAL_BOUND_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A store object whose `load` answers are held back while `hold()` is on: the race of a read with a revocation, forced. */
function holdingLoads(store: SessionStore): { store: SessionStore; hold: () => void; held: () => number; release: () => void } {
  let gate: Promise<void> | null = null;
  let open = (): void => {};
  let held = 0;
  const load = async (id: string, options: Parameters<SessionStore['load']>[1]): Promise<SessionRecord | null> => {
    const waitFor = gate;
    const record = await store.load(id, options);
    if (waitFor !== null) {
      held++;
      await waitFor;
    }
    return record;
  };
  const proxy = new Proxy(store, {
    get(target, property) {
      if (property === 'load') return load;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    store: proxy,
    hold: () => {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    held: () => held,
    release: () => {
      gate = null;
      open();
    },
  };
}

/**
 * The cache's cases (`ConformanceOptions.cache`): instances are managers, each on its own store
 * object (`peer`) with its own cache, or sharing the one store object.
 */
export function cacheCases(ctx: ConformanceContext, options: ConformanceOptions): void {
  const cacheOptions = options.cache === true || options.cache === undefined ? {} : options.cache;
  const maxStaleness = cacheOptions.maxStaleness ?? defaultCacheOptions.maxStaleness;
  const opened: SessionStore[] = [];

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  /** Another app instance: its own store object and cache when the store has peers. */
  async function instance(wrap?: (raw: SessionStore) => SessionStore): Promise<SessionManager> {
    if (options.peer === undefined) return ctx.manager();
    const raw = await options.peer();
    const store = cachedStore(wrap ? wrap(raw) : raw, cacheOptions, ctx.clock);
    opened.push(store);
    const m = new SessionManager({ store, clock: ctx.clock, cleanupInterval: false });
    ctx.managers.push(m);
    return m;
  }

  async function instances(count: number): Promise<SessionManager[]> {
    const list = [ctx.manager()];
    while (list.length < count) list.push(await instance());
    return list;
  }

  async function read(m: SessionManager, token: string): Promise<Session> {
    return (await ctx.request(m, token)).session;
  }

  /** Reads until the instance answers from its cache (its channel probed healthy, the entry loaded). */
  async function warm(m: SessionManager, token: string): Promise<void> {
    await until('the instance serves the session from its cache', async () => (await read(m, token)).servedFromCache);
  }

  /** Waits for every instance to refuse the session: at once with a channel, after `maxStaleness` without one. */
  async function refusedEverywhere(ms: SessionManager[], token: string): Promise<void> {
    const pushed = ms[0]?.cacheStats()?.pushed === true;
    if (!pushed) ctx.clock.advance(maxStaleness);
    for (const m of ms) await until('the revoked session is refused', async () => !(await read(m, token)).isStored);
  }

  it('cache: store work per request: none for a warm read-only request, one call for a change', async () => {
    const counting = countingStore(await options.createStore());
    const store = cachedStore(counting.store, cacheOptions, ctx.clock);
    opened.push(store);
    const m = new SessionManager({ store, clock: ctx.clock, cleanupInterval: false });
    ctx.managers.push(m);
    const token = await ctx.loggedIn(m, 'cache-counted');
    await warm(m, token);
    counting.reset();
    const reader = await read(m, token);
    reader.get('anything');
    assert.equal(reader.servedFromCache, true);
    assert.equal(counting.total(), 0, 'a warm read-only request calls the store no time');
    for (let i = 1; i <= 3; i++) {
      counting.reset();
      const writer = await read(m, token);
      assert.equal(writer.servedFromCache, true, `request ${i} after a write is served from the cache`);
      writer.set('a', i);
      assert.equal(await writer.increment('n'), i);
      assert.deepEqual(Object.fromEntries(counting.counts), { apply: 1 }, 'one store call for a change');
      // The write's echo, where the store sends one (Redis), must not cost the next request a read.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('cache: a warm read is answered from the cache, a due touch from the store', async () => {
    const m = ctx.manager();
    const token = await ctx.loggedIn(m, 'cache-reader');
    await warm(m, token);
    const before = m.cacheStats();
    const session = await read(m, token);
    assert.equal(session.servedFromCache, true);
    assert.equal(session.subject, 'cache-reader');
    assert.equal(m.cacheStats()?.hits, (before?.hits ?? 0) + 1);
    // Past the touch interval the read goes to the store, which touches the session.
    ctx.clock.advance(61_000);
    const touched = await read(m, token);
    assert.equal(touched.isStored, true);
    assert.equal(touched.servedFromCache, false);
    assert.equal(touched.info?.lastSeenAt, ctx.clock.now());
  });

  for (const how of ['logout', 'revoke', 'revokeAll', 'eviction'] as const) {
    it(`cache: a session ended by ${how} on one instance is refused by every instance`, async () => {
      const [a, b, c] = (await instances(3)) as [SessionManager, SessionManager, SessionManager];
      const token = await ctx.loggedIn(a, 'cache-user');
      for (const m of [a, b, c]) await warm(m, token);
      const session = await read(a, token);
      const id = session.id as string;
      if (how === 'logout') await session.logout();
      else if (how === 'revoke') assert.equal(await a.revoke(id), true);
      else if (how === 'revokeAll') assert.equal(await a.revokeAll('cache-user'), 1);
      else {
        const limited = new SessionManager({ store: ctx.store, clock: ctx.clock, cleanupInterval: false, maxSessionsPerSubject: 1 });
        ctx.managers.push(limited);
        await ctx.loggedIn(limited, 'cache-user');
      }
      await refusedEverywhere([a, b, c], token);
    });
  }

  it('cache: concurrent increments through several instances are all kept, and every one answers', async () => {
    const ms = await instances(4);
    const first = ms[0] as SessionManager;
    const token = await ctx.loggedIn(first, 'cache-counter');
    for (const m of ms) await warm(m, token);
    const answers = await Promise.all(
      Array.from({ length: ctx.concurrency }, async (_, i) => (await read(ms[i % ms.length] as SessionManager, token)).increment('n')),
    );
    assert.deepEqual(
      [...answers].sort((x, y) => x - y),
      Array.from({ length: ctx.concurrency }, (_, i) => i + 1),
      'each increment saw its own value',
    );
    for (const m of ms) {
      if (m.cacheStats()?.pushed !== true) ctx.clock.advance(maxStaleness);
      await until('every instance reads the final count', async () => (await read(m, token)).get('n') === ctx.concurrency);
    }
  });

  it('cache: a request still running when its session is revoked elsewhere cannot bring it back', async () => {
    const [a, b] = (await instances(2)) as [SessionManager, SessionManager];
    const token = await ctx.loggedIn(a, 'cache-late');
    await warm(a, token);
    await warm(b, token);
    const running = await read(a, token);
    assert.equal(await b.revoke(running.id as string), true);
    await assert.rejects(running.set('late', true));
    await refusedEverywhere([a, b], token);
  });

  it('cache: a read whose answer arrives after the session was revoked elsewhere is not cached', async (t) => {
    if (options.peer === undefined) {
      t.skip('needs peer store objects');
      return;
    }
    let holding: ReturnType<typeof holdingLoads> | undefined;
    const a = await instance((raw) => {
      holding = holdingLoads(raw);
      return holding.store;
    });
    const gate = holding as ReturnType<typeof holdingLoads>;
    const b = await instance();
    const token = await ctx.loggedIn(b, 'cache-race');
    await warm(a, token);
    if (a.cacheStats()?.pushed !== true) {
      t.skip('the store pushes no invalidations: its bound is maxStaleness, checked by the cases above');
      return;
    }
    // A due touch sends the next read to the store, once the channel is healthy again at the new time.
    ctx.clock.advance(61_000);
    await until('the channel is probed healthy at the new time', () => a.cacheStats()?.serving === true);
    gate.hold();
    const reading = read(a, token);
    await until('the read has its answer', () => gate.held() === 1);
    const heard = a.cacheStats()?.invalidations ?? 0;
    assert.equal(await b.revoke((await read(b, token)).id as string), true);
    await until('the revocation reached the other instance', () => (a.cacheStats()?.invalidations ?? 0) > heard);
    await until('the channel is healthy', () => a.cacheStats()?.serving === true);
    gate.release();
    assert.equal((await reading).isStored, true, 'the read began before the revocation');
    const after = await read(a, token);
    assert.equal(after.isStored, false, 'the older answer was not cached');
  });
}
