import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import type { CachingStore } from './cache.js';
import { cachedStore } from './cache-registry.js';
import { resolveCacheOptions } from './cache-options.js';
import { ManualClock } from './clock.js';
import { InvalidOptionError, StoreUnavailableError } from './errors.js';
import { SessionManager } from './manager.js';
import type { InvalidationListener, SessionRecord, SessionStore } from './store.js';
import { makeRecord } from '../testing/fixtures.js';

const TOUCH = { maxIntervalMs: 60_000, idleFraction: 0.1 };

/**
 * A memory store behind a channel the test drives: it delivers invalidations and answers probes
 * when told to, and holds back the answer of the next store call of a kind until released, to force
 * the order of a race.
 */
function scripted(options: { pushed?: boolean; echoes?: boolean } = {}) {
  const memory = new MemoryStore();
  let listener: InvalidationListener | null = null;
  let healthy = true;
  const holds = new Map<string, { arrived: Promise<void>; release: () => void }>();
  const holding = (kind: string) => {
    let release = (): void => {};
    let arrive = (): void => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    holds.set(kind, { arrived, release });
    return { gate, arrive };
  };
  const pending = new Map<string, { gate: Promise<void>; arrive: () => void }>();
  const held =
    <A extends unknown[], R>(kind: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const hold = pending.get(kind);
      pending.delete(kind);
      const answer = await call(...args);
      if (hold) {
        hold.arrive();
        await hold.gate;
      }
      return answer;
    };
  const store = {
    capabilities: { ...memory.capabilities, invalidation: options.pushed === false ? 'none' : 'everywhere' },
    create: held('create', memory.create.bind(memory)),
    load: held('load', memory.load.bind(memory)),
    apply: held('apply', memory.apply.bind(memory)),
    delete: held('delete', memory.delete.bind(memory)),
    trimSubject: held('trimSubject', memory.trimSubject.bind(memory)),
    isSuperseded: memory.isSuperseded.bind(memory),
    deleteExpired: memory.deleteExpired.bind(memory),
    listBySubject: memory.listBySubject.bind(memory),
    deleteBySubject: held('deleteBySubject', memory.deleteBySubject.bind(memory)),
    query: memory.query.bind(memory),
    count: memory.count.bind(memory),
    close: () => memory.close(),
    subscribeInvalidations(given: InvalidationListener) {
      listener = given;
      return {
        probe: () => (healthy ? Promise.resolve() : Promise.reject(new StoreUnavailableError('channel down'))),
        close: () => Promise.resolve(),
        echoesOwnWrites: options.echoes === true,
      };
    },
  } as unknown as SessionStore;
  return {
    memory,
    store,
    /** The channel as the store's subscriber sees it. */
    get channel(): InvalidationListener {
      assert.ok(listener, 'subscribed');
      return listener;
    },
    setHealthy(value: boolean) {
      healthy = value;
    },
    /** Holds the answer of the next call of `kind`; `arrived` resolves once the store has answered. */
    hold(kind: string) {
      pending.set(kind, holding(kind));
      return holds.get(kind) as { arrived: Promise<void>; release: () => void };
    },
  };
}

async function serving(cache: CachingStore): Promise<void> {
  for (let i = 0; i < 500 && !cache.stats().serving; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(cache.stats().serving, true, 'the channel was probed healthy');
}

async function setup(options: { pushed?: boolean; echoes?: boolean; maxEntries?: number; maxBytes?: number; maxStaleness?: number } = {}) {
  const { pushed, echoes, ...cacheOptions } = options;
  const clock = new ManualClock();
  const fake = scripted({ ...(pushed === undefined ? {} : { pushed }), ...(echoes === undefined ? {} : { echoes }) });
  const cache = cachedStore(fake.store, cacheOptions, clock) as CachingStore;
  cache.retain();
  if (pushed !== false) await serving(cache);
  const stored = async (overrides: Partial<SessionRecord> = {}) => {
    const { record, token } = makeRecord(clock.now(), overrides);
    await fake.memory.create(record, { now: clock.now() });
    return { record, token };
  };
  const load = (id: string) => cache.load(id, { now: clock.now(), touch: TOUCH });
  return { clock, fake, cache, stored, load };
}

describe('the session cache', () => {
  it('answers a second read from memory, and only while the channel is probed healthy', async () => {
    const { fake, cache, stored, load } = await setup();
    const { record } = await stored();
    await load(record.id);
    assert.equal(cache.peek(record.id, { now: record.createdAt })?.id, record.id);
    assert.equal(cache.stats().hits, 1);
    fake.channel.down();
    assert.equal(cache.stats().entries, 0, 'a channel that goes down flushes everything');
    assert.equal(cache.stats().serving, false);
    await load(record.id);
    assert.equal(cache.stats().entries, 0, 'and nothing is cached until a probe succeeds again');
    await serving(cache);
    await load(record.id);
    assert.equal(cache.stats().entries, 1);
    cache.release();
  });

  it('stops serving when probes fail, before maxStaleness has passed since the last good one', async () => {
    const { fake, cache, stored, load, clock } = await setup({ maxStaleness: 100 });
    const { record } = await stored();
    await load(record.id);
    fake.setHealthy(false);
    clock.advance(99);
    assert.notEqual(cache.peek(record.id, { now: clock.now() }), null, 'inside the bound');
    clock.advance(1);
    assert.equal(cache.peek(record.id, { now: clock.now() }), null, 'past it, whatever the probes say');
    cache.release();
  });

  it('does not cache a read whose answer arrives after an invalidation of it', async () => {
    const { fake, cache, stored, load } = await setup();
    const { record } = await stored();
    const hold = fake.hold('load');
    const reading = load(record.id);
    await hold.arrived;
    fake.channel.invalidate([record.id]);
    hold.release();
    assert.equal((await reading)?.id, record.id);
    assert.equal(cache.stats().entries, 0, 'the older answer was dropped');
    cache.release();
  });

  it('does not cache a read that overlapped a write of this cache, nor a bulk removal', async () => {
    const { fake, cache, stored, load, clock } = await setup();
    const { record } = await stored({ subject: 'ana' });
    const hold = fake.hold('load');
    const reading = load(record.id);
    await hold.arrived;
    await cache.apply(record.id, { set: { a: 1 } }, { now: clock.now() });
    hold.release();
    await reading;
    assert.equal(cache.stats().entries, 0);
    const removal = fake.hold('deleteBySubject');
    const removing = cache.deleteBySubject('ana', { now: clock.now(), limit: 10 });
    await removal.arrived;
    const other = await stored();
    await load(other.record.id);
    assert.equal(cache.stats().entries, 0, 'nothing is cached while a bulk removal runs');
    removal.release();
    assert.equal((await removing).length, 1);
    await load(other.record.id);
    assert.equal(cache.stats().entries, 1);
    cache.release();
  });

  it('with a channel that echoes its own writes (Redis), takes the first invalidation after each write as its echo', async () => {
    const { fake, cache, stored, load, clock } = await setup({ echoes: true });
    const { record } = await stored();
    await load(record.id);
    await cache.apply(record.id, { increment: { n: 1 } }, { now: clock.now() });
    fake.channel.invalidate([record.id]);
    assert.equal(cache.stats().echoes, 1);
    assert.equal(cache.peek(record.id, { now: clock.now() })?.data.n, 1, 'the echo keeps the entry');
    fake.channel.invalidate([record.id]);
    assert.equal(cache.peek(record.id, { now: clock.now() }), null, 'a second invalidation is someone else’s: dropped');
    // The echo often comes before the write's own answer, over another connection.
    await load(record.id);
    const hold = fake.hold('apply');
    const writing = cache.apply(record.id, { increment: { n: 1 } }, { now: clock.now() });
    await hold.arrived;
    fake.channel.invalidate([record.id]);
    hold.release();
    await writing;
    assert.equal(cache.stats().echoes, 2);
    assert.equal(cache.peek(record.id, { now: clock.now() })?.data.n, 2, 'the answer is cached');
    // What the echo may have folded in is bounded: the entry is served maxStaleness after it at most.
    clock.advance(1000);
    await serving(cache);
    assert.equal(cache.peek(record.id, { now: clock.now() }), null);
    cache.release();
  });

  it('takes no echo for a write that changed nothing, nor on a channel that leaves its own writes out', async () => {
    const echoing = await setup({ echoes: true });
    const { record } = await echoing.stored();
    await echoing.load(record.id);
    const conflict = await echoing.cache.apply(record.id, { set: { a: 1 } }, { now: echoing.clock.now(), expectedVersion: 99 });
    assert.equal(conflict.status, 'conflict');
    await echoing.load(record.id);
    echoing.fake.channel.invalidate([record.id]);
    assert.equal(echoing.cache.stats().echoes, 0);
    assert.equal(echoing.cache.peek(record.id, { now: echoing.clock.now() }), null);
    echoing.cache.release();
    const quiet = await setup();
    const other = await quiet.stored();
    await quiet.load(other.record.id);
    await quiet.cache.apply(other.record.id, { increment: { n: 1 } }, { now: quiet.clock.now() });
    quiet.fake.channel.invalidate([other.record.id]);
    assert.equal(quiet.cache.peek(other.record.id, { now: quiet.clock.now() }), null, 'there, every invalidation is someone else’s');
    quiet.cache.release();
  });

  it('runs the store rules on a cached record: the secret, expiry and a due touch send the read on', async () => {
    const { cache, stored, clock } = await setup();
    const { record } = await stored({ idleTimeout: 600 });
    const right = { now: clock.now(), secretHash: record.secretHash, touch: TOUCH };
    await cache.load(record.id, right);
    assert.notEqual(cache.peek(record.id, right), null);
    assert.equal(cache.peek(record.id, { ...right, secretHash: 'A'.repeat(22) }), null, 'a wrong secret opens nothing');
    assert.equal(await cache.load(record.id, { ...right, secretHash: 'A'.repeat(22) }), null);
    clock.advance(60_000);
    await serving(cache);
    assert.equal(cache.peek(record.id, { ...right, now: clock.now() }), null, 'a touch is due: the store does it');
    assert.equal(cache.stats().entries, 1, 'the entry stays for the touch to replace');
    clock.advance(600_000);
    await serving(cache);
    assert.equal(cache.peek(record.id, { ...right, now: clock.now() }), null, 'expired');
    assert.equal(cache.stats().entries, 0, 'and dropped');
    cache.release();
  });

  it('without a channel, serves an entry for maxStaleness after its read', async () => {
    const { cache, stored, load, clock } = await setup({ pushed: false, maxStaleness: 200 });
    const { record } = await stored();
    await load(record.id);
    clock.advance(199);
    assert.notEqual(cache.peek(record.id, { now: clock.now() }), null);
    clock.advance(1);
    assert.equal(cache.peek(record.id, { now: clock.now() }), null);
    cache.release();
  });

  it('keeps at most maxEntries sessions and maxBytes of them, least recently used out first', async () => {
    const { cache, stored, load, clock } = await setup({ maxEntries: 2 });
    const [a, b, c] = [await stored(), await stored(), await stored()];
    await load(a.record.id);
    await load(b.record.id);
    cache.peek(a.record.id, { now: clock.now() });
    await load(c.record.id);
    assert.equal(cache.stats().entries, 2);
    assert.equal(cache.peek(b.record.id, { now: clock.now() }), null, 'the least recently used went');
    assert.notEqual(cache.peek(a.record.id, { now: clock.now() }), null);
    cache.release();
    const small = await setup({ maxBytes: 2048 });
    for (let i = 0; i < 10; i++) await small.load((await small.stored({ data: { text: 'x'.repeat(200) } })).record.id);
    assert.ok(small.cache.stats().bytes <= 2048, `${small.cache.stats().bytes} bytes held`);
    assert.ok(small.cache.stats().entries >= 1);
    small.cache.release();
  });

  it('shares nothing a caller can change with what it holds', async () => {
    const { cache, stored, load, clock } = await setup();
    const { record } = await stored({ data: { cart: ['a'] } });
    const first = (await load(record.id)) as SessionRecord;
    (first.data.cart as string[]).push('b');
    const second = cache.peek(record.id, { now: clock.now() }) as SessionRecord;
    assert.deepEqual(second.data.cart, ['a']);
    (second.data.cart as string[]).push('c');
    second.lastDevice.ip = 'changed';
    const third = cache.peek(record.id, { now: clock.now() }) as SessionRecord;
    assert.deepEqual(third.data.cart, ['a']);
    assert.notEqual(third.lastDevice.ip, 'changed');
    cache.release();
  });

  it('checks its options, and managers on one store share one cache with the same options', () => {
    assert.equal(resolveCacheOptions(undefined), null);
    assert.equal(resolveCacheOptions(false), null);
    assert.equal(resolveCacheOptions(true)?.maxStaleness, 1000);
    assert.throws(() => resolveCacheOptions({ maxStaleness: 0 }), InvalidOptionError);
    assert.throws(() => resolveCacheOptions({ maxEntries: 1.5 }), InvalidOptionError);
    assert.throws(() => resolveCacheOptions({ maxStalenes: 10 } as never), /unknown option cache\.maxStalenes/);
    const store = new MemoryStore();
    const a = new SessionManager({ store, cache: { maxStaleness: 500 }, cleanupInterval: false });
    const b = new SessionManager({ store, cleanupInterval: false });
    assert.equal(b.options.cache?.maxStaleness, 500, 'a manager without the option shares the store’s cache');
    assert.throws(() => new SessionManager({ store, cache: { maxStaleness: 600 }, cleanupInterval: false }), InvalidOptionError);
    a.close();
    b.close();
  });
});

describe('unknown tokens counted in a store every instance shares', () => {
  function sharing(counts: Map<string, number>, fails = false): SessionStore {
    const memory = new MemoryStore();
    return new Proxy(memory, {
      get(target, property) {
        if (property === 'capabilities') return { ...target.capabilities, sharedCounters: true };
        if (property === 'countInWindow') {
          return async (key: string) => {
            if (fails) throw new StoreUnavailableError('down');
            counts.set(key, (counts.get(key) ?? 0) + 1);
            return counts.get(key) as number;
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  it('counts in the store, so that two managers (two instances) share one limit', async () => {
    const counts = new Map<string, number>();
    const store = sharing(counts);
    const options = {
      store,
      clock: new ManualClock(),
      cleanupInterval: false as const,
      bruteForceLimit: 3,
      bruteForceAction: 'block' as const,
    };
    const [a, b] = [new SessionManager(options), new SessionManager({ ...options, store: sharing(counts) })];
    const guess = (m: SessionManager) =>
      m.load({ cookie: `tessera=${makeRecord(0).token}`, secure: false, ip: '203.0.113.5', setCookie: () => {} });
    await guess(a);
    await guess(b);
    await guess(a);
    await assert.rejects(guess(b), { code: 'TOO_MANY_REQUESTS' });
    assert.deepEqual([...counts.entries()], [['unknown-token:203.0.113.5', 4]]);
    a.close();
    b.close();
  });

  it('falls back to counting in the process when the store cannot count: the request is not failed', async () => {
    const m = new SessionManager({
      store: sharing(new Map(), true),
      cleanupInterval: false,
      bruteForceLimit: 1,
      bruteForceAction: 'block',
    });
    const guess = () => m.load({ cookie: `tessera=${makeRecord(0).token}`, secure: false, ip: '203.0.113.6', setCookie: () => {} });
    assert.equal((await guess()).isStored, false);
    await assert.rejects(guess(), { code: 'TOO_MANY_REQUESTS' });
    m.close();
  });
});
