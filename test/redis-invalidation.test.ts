// The Redis store's invalidation channel and shared counters, on a redis-server this test starts
// itself (it kills connections and flushes the database, which the machine's shared Redis must not
// see). A second store on the same prefix plays another instance of the app.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { InvalidationSubscription } from '../src/core/store.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord } from '../src/testing/index.js';
import { Recorder, healthy, probeRejects, waitFor } from './support/invalidations.js';
import { RedisServers, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the Redis invalidation suite`);

describe('redis invalidations (single node)', { skip: skip && !requireServices ? skip : false }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  let url = '';
  let mine: RedisStore;
  let other: RedisStore;
  let raw: ReturnType<typeof createClient>;
  let recorder: Recorder;
  let subscription: InvalidationSubscription;
  const prefix = 'inv:';
  const now = Date.now();

  before(async () => {
    assert.ok(servers);
    const port = await freePort();
    await servers.start(port);
    url = `redis://127.0.0.1:${port}`;
    mine = new RedisStore({ url, prefix });
    other = new RedisStore({ url, prefix });
    raw = createClient({ url });
    raw.on('error', () => {});
    await raw.connect();
    recorder = new Recorder();
    subscription = mine.subscribeInvalidations(recorder);
    await healthy(subscription);
  });
  after(async () => {
    await subscription?.close();
    await mine?.close();
    await other?.close();
    if (raw?.isOpen) raw.destroy();
    await servers?.stopAll();
  });

  /** A session created by the other store. */
  async function session(subject: string | null = null) {
    const partition = subject === null ? null : await other.subjectPartition(subject);
    const made = makeRecord(now, { subject }, partition);
    assert.equal((await other.create(made.record, { now })).status, 'created');
    return made.record;
  }

  function invalidated(id: string, what: string): Promise<void> {
    return waitFor(`an invalidation of ${id} (${what})`, () => recorder.ids.includes(id));
  }

  it('declares the capabilities', () => {
    assert.equal(mine.capabilities.invalidation, 'everywhere');
    assert.equal(mine.capabilities.sharedCounters, true);
  });

  it('tracks in BCAST mode with NOLOOP, redirected to its subscriber', async () => {
    const list = String(await raw.sendCommand(['CLIENT', 'LIST']));
    const tracking = list.split('\n').filter((line) => / flags=\S*t/.test(line));
    assert.equal(tracking.length, 1, list);
    const subscribers = list.split('\n').filter((line) => / sub=1 /.test(line));
    assert.equal(subscribers.length, 1, list);
  });

  it("another store's apply, increment, renewal and delete reach the listener", async () => {
    const a = await session();
    assert.equal((await other.apply(a.id, { set: { x: 1 } }, { now })).status, 'applied');
    await invalidated(a.id, 'apply');
    const b = await session();
    assert.equal((await other.apply(b.id, { increment: { n: 1 } }, { now })).status, 'applied');
    await invalidated(b.id, 'increment');
    const c = await session();
    const renewSecret = {
      secretHash: 'x'.repeat(22),
      renewedAt: now,
      previousSecretHash: c.secretHash,
      previousSecretExpiresAt: now + 1000,
    };
    assert.equal((await other.apply(c.id, { renewSecret }, { now })).status, 'applied');
    await invalidated(c.id, 'renewal');
    const d = await session();
    assert.ok(await other.delete(d.id));
    await invalidated(d.id, 'delete');
  });

  it('a login replacing a session, deleteExpired, trimSubject and deleteBySubject reach the listener', async () => {
    const anonymous = await session();
    const partition = await other.subjectPartition('alice');
    const login = makeRecord(now, { subject: 'alice' }, partition).record;
    const replaces = { id: anonymous.id, version: anonymous.version, supersededUntil: now + 60_000 };
    assert.equal((await other.create(login, { now, replaces })).status, 'created');
    await invalidated(anonymous.id, 'login replacing it');

    const short = makeRecord(now, { idleTimeout: 1 }).record;
    assert.equal((await other.create(short, { now })).status, 'created');
    const removed = await other.deleteExpired(now + 5000, 1000);
    assert.ok(removed.some((r) => r.id === short.id));
    await invalidated(short.id, 'deleteExpired');

    // Both made at the same time: the trim takes the first by id then, which is either one.
    const bobs = [await session('bob'), await session('bob')];
    const trimmed = await other.trimSubject('bob', { now, max: 1, keep: 'none', batch: 10 });
    assert.equal(trimmed.length, 1);
    const first = bobs.find((b) => b.id === trimmed[0]?.id);
    assert.ok(first, 'one of the two was trimmed');
    await invalidated(first.id, 'trimSubject');

    const carol = await session('carol');
    assert.equal((await other.deleteBySubject('carol', { now, limit: 10 })).length, 1);
    await invalidated(carol.id, 'deleteBySubject');
  });

  it('a raw DEL reaches the listener; keys that are not sessions do not', async () => {
    const s = await session();
    // Its creation is a change too: wait for that one first.
    await invalidated(s.id, 'create');
    const before = recorder.ids.length;
    await raw.set(`${prefix}s:not-a-session`, '1');
    await raw.del(`${prefix}s:{${s.id.slice(0, 2)}}${s.id.slice(2)}`);
    await waitFor('an invalidation after the raw DEL', () => recorder.ids.length > before);
    assert.deepEqual(recorder.ids.slice(before), [s.id]);
  });

  it("the store's own writes: NOLOOP is on, yet Redis reports the writes its scripts make", async () => {
    // Measured on Redis 7.0 and Valkey 8.0: a write inside EVAL/EVALSHA is attributed to the
    // server's script client, not to the connection that called the script, so NOLOOP leaves out
    // only plain commands. Every write of the store is a script; see "Invalidation for the cache"
    // in docs/stores/redis.md. Should a server start leaving them out, this test says so.
    const made = makeRecord(now);
    assert.equal((await mine.create(made.record, { now })).status, 'created');
    assert.equal((await mine.apply(made.record.id, { increment: { n: 1 } }, { now })).status, 'applied');
    await invalidated(made.record.id, 'own write through a script');
  });

  it('FLUSHDB invalidates everything', async () => {
    const before = recorder.all;
    await raw.flushDb();
    await waitFor('invalidateAll', () => recorder.all > before);
    await healthy(subscription);
  });

  it('a killed subscriber: down, probe rejects, then the channel comes back by itself', async () => {
    const list = String(await raw.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
    const id = /id=(\d+)/.exec(list)?.[1];
    assert.ok(id, list);
    const downs = recorder.downs;
    await raw.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    await waitFor('down()', () => recorder.downs > downs);
    assert.ok(await probeRejects(subscription), 'probe rejects while the channel is down');
    await healthy(subscription);
    const s = await session();
    await other.delete(s.id);
    await invalidated(s.id, 'delete after the subscriber came back');
  });

  it('a killed data connection: down, probe rejects, then tracking comes back by itself', async () => {
    const list = String(await raw.sendCommand(['CLIENT', 'LIST']));
    const id = list
      .split('\n')
      .find((line) => / flags=\S*t/.test(line))
      ?.match(/id=(\d+)/)?.[1];
    assert.ok(id, list);
    const downs = recorder.downs;
    await raw.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    await waitFor('down()', () => recorder.downs > downs);
    assert.ok(await probeRejects(subscription), 'probe rejects while the channel is down');
    await healthy(subscription);
    const s = await session();
    await other.apply(s.id, { set: { y: 2 } }, { now });
    await invalidated(s.id, 'apply after the data connection came back');
  });

  it('close() of the subscription and of the store release the subscriber connections', async () => {
    const store = new RedisStore({ url, prefix });
    const extra = store.subscribeInvalidations(new Recorder());
    await healthy(extra);
    const subscribers = async () =>
      String(await raw.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']))
        .trim()
        .split('\n')
        .filter(Boolean).length;
    assert.equal(await subscribers(), 2);
    await extra.close();
    await waitFor('the subscriber to close', async () => (await subscribers()) === 1);
    const again = store.subscribeInvalidations(new Recorder());
    await healthy(again);
    await store.close();
    await waitFor('the store to close its subscriber', async () => (await subscribers()) === 1);
    assert.ok(await probeRejects(again));
  });

  it('countInWindow: shared by two stores, a new window starts at 1, the counter expires', async () => {
    const windowMs = 60_000;
    const at = Math.floor(Date.now() / windowMs) * windowMs + 10;
    assert.equal(await mine.countInWindow('203.0.113.9', { now: at, windowMs }), 1);
    assert.equal(await other.countInWindow('203.0.113.9', { now: at + 5, windowMs }), 2);
    assert.equal(await mine.countInWindow('203.0.113.9', { now: at + 7, windowMs }), 3);
    assert.equal(await other.countInWindow('203.0.113.9', { now: at + windowMs, windowMs }), 1);
    const keys = await raw.keys(`${prefix}c:*`);
    assert.equal(keys.length, 2);
    for (const key of keys) {
      const ttl = await raw.pTTL(key);
      assert.ok(ttl > 0 && ttl <= 2 * windowMs + 1000, `${key} has PTTL ${ttl}`);
    }
    await assert.rejects(mine.countInWindow('', { now: at, windowMs }), RangeError);
    await assert.rejects(mine.countInWindow('k', { now: at, windowMs: 0 }), RangeError);
  });

  it('a client without duplicate() is refused at subscribe with InvalidOptionError', () => {
    const client = { isOpen: false, connect: async () => {}, sendCommand: async () => null, close: async () => {}, destroy: () => {} };
    const store = new RedisStore({ client });
    assert.throws(() => store.subscribeInvalidations(new Recorder()), { name: 'InvalidOptionError' });
  });
});
