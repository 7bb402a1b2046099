// The round trips per request, measured with INFO commandstats on a server the suite starts
// itself: redis-server, or valkey-server (Valkey answers the same commands and scripts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { ManualClock, SessionManager } from '../../src/core/index.js';
import { hashSecret } from '../../src/core/token.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { makeRecord } from '../../src/testing/index.js';
import { RedisServers, commandCalls, freePort, hasRedisServer, requireServices, type ServerBinary } from './redis-servers.js';

/** Registers the round-trip suite on a private `binary` server; skips (or fails, when services are required) without it. */
export function runRoundTripSuite(binary: ServerBinary): void {
  const canSpawn = hasRedisServer(binary);
  const noServer = canSpawn ? false : `${binary} is not on PATH`;
  if (noServer && !requireServices) console.log(`${noServer}: skipping the round-trip test`);

  describe(`${binary}: round trips (INFO commandstats)`, { skip: noServer && !requireServices ? noServer : false }, () => {
    const servers = canSpawn ? new RedisServers(binary) : null;
    let port = 0;
    let store: RedisStore;
    let stats: ReturnType<typeof createClient>;

    before(async () => {
      assert.ok(servers, `${binary} is on PATH`);
      port = await freePort();
      await servers.start(port);
      store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'rt:' });
      stats = createClient({ url: `redis://127.0.0.1:${port}` });
      stats.on('error', () => {});
      await stats.connect();
    });
    after(async () => {
      await store?.close();
      if (stats?.isOpen) stats.destroy();
      await servers?.stopAll();
    });

    /** Runs `work` and returns the commands the server executed meanwhile, by name (the stats client's own excluded). */
    async function measure(work: () => Promise<unknown>): Promise<Record<string, number>> {
      await stats.sendCommand(['CONFIG', 'RESETSTAT']);
      await work();
      const calls = await commandCalls(stats);
      for (const name of Object.keys(calls)) {
        // A new connection's handshake (node-redis sends CLIENT SETINFO, which Valkey and Redis 7.2+
        // count) happens once per connection, not per request.
        if (name === 'info' || name.startsWith('config') || name === 'client|setinfo' || name === 'hello') delete calls[name];
      }
      return calls;
    }

    /** Commands only a script issues here; anything else at top level would be a second round trip. */
    const INSIDE_SCRIPTS = new Set([
      'hgetall',
      'hmget',
      'hget',
      'hset',
      'hdel',
      'hincrby',
      'pexpire',
      'pttl',
      'zadd',
      'zrange',
      'zrem',
      'zremrangebyscore',
      'exists',
      'del',
      'get',
    ]);
    function assertOneCommand(calls: Record<string, number>, label: string): void {
      console.log(`${label}: ${JSON.stringify(calls)}`);
      assert.equal(calls.evalsha, 1, `${label}: one EVALSHA`);
      for (const name of Object.keys(calls))
        if (name !== 'evalsha') assert.ok(INSIDE_SCRIPTS.has(name), `${label}: unexpected top-level ${name}`);
    }

    it('load inside the touch window, load with a due touch, and apply are one command each', async () => {
      const clock = new ManualClock();
      const manager = new SessionManager({ store, clock, cleanupInterval: false });
      const cookies: string[] = [];
      const request = (token: string | null) =>
        manager.load({
          cookie: token === null ? undefined : `${manager.cookieName(false)}=${token}`,
          secure: false,
          setCookie: (c) => cookies.push(c),
        });
      const first = await request(null);
      await first.login('rt-user');
      const token = first.issuedToken as string;
      // Warm the script cache so that the measured requests are the steady state.
      await (await request(token)).increment('n');
      clock.advance(120_000);
      await request(token);

      clock.advance(1000);
      const readOnly = await measure(async () => {
        const session = await request(token);
        assert.equal(session.get('n'), 1);
      });
      console.log(`read-only load inside the touch window: ${JSON.stringify(readOnly)}`);
      // The store saw this session's lastSeenAt a second ago, so no touch can be due: a plain read.
      assert.deepEqual(readOnly, { hgetall: 1 });

      // Another instance (a fresh store) knows nothing yet: one script that finds no touch due.
      const otherStore = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'rt:' });
      const other = new SessionManager({ store: otherStore, clock, cleanupInterval: false });
      try {
        const fresh = await measure(async () => {
          const session = await other.load({ cookie: `${other.cookieName(false)}=${token}`, secure: false });
          assert.equal(session.get('n'), 1);
        });
        assertOneCommand(fresh, 'read-only load by an instance that has not seen the session');
        assert.equal(fresh.hset, undefined, 'no touch was due');
      } finally {
        other.close();
        await otherStore.close();
      }

      clock.advance(120_000);
      const touched = await measure(() => request(token));
      assertOneCommand(touched, 'load with a due touch');
      assert.equal(touched.hset, 1, 'the touch wrote lastSeenAt');

      clock.advance(1000);
      const session = await request(token);
      const applied = await measure(() => session.increment('n'));
      assertOneCommand(applied, 'apply (increment)');
      assert.equal(applied.hincrby, 2, 'the counter and the version');
      assert.equal(applied.hgetall, undefined, 'nothing else wrote, so the hash is not read back');
      manager.close();
    });

    it('a touch made due by another instance (a shorter idle timeout) still happens, in a second command only then', async () => {
      const clock = new ManualClock();
      const storeA = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'rt2:' });
      const storeB = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'rt2:' });
      const a = new SessionManager({ store: storeA, clock, cleanupInterval: false });
      const b = new SessionManager({ store: storeB, clock, cleanupInterval: false });
      const cookie = (m: SessionManager, token: string) => ({ cookie: `${m.cookieName(false)}=${token}`, secure: false });
      try {
        const first = await a.load({ secure: false });
        await first.login('short-idle');
        const token = first.issuedToken as string;
        await a.load(cookie(a, token)); // A remembers lastSeenAt and the 30-minute idle timeout
        // B shortens the idle timeout to 20 s: the touch interval becomes 2 s.
        await (await b.load(cookie(b, token))).setIdleTimeout(20);
        clock.advance(5_000);
        const calls = await measure(async () => {
          const session = await a.load(cookie(a, token));
          assert.equal(session.info?.lastSeenAt, clock.now(), 'the touch happened');
        });
        console.log(`load with a touch made due elsewhere: ${JSON.stringify(calls)}`);
        assert.equal(calls.hgetall, 2, 'the plain read, then the script read');
        assert.equal(calls.evalsha, 1);
        assert.equal(calls.hset, 1, 'lastSeenAt written');
        clock.advance(19_000);
        assert.ok((await a.load(cookie(a, token))).isStored, 'alive 19 s after the touch, though 24 s after login');
      } finally {
        a.close();
        b.close();
        await storeA.close();
        await storeB.close();
      }
    });

    it('a login remembers the token it replaced in one key, for the grace period only; isSuperseded is one command; a logout remembers nothing', async () => {
      const clock = new ManualClock();
      const manager = new SessionManager({ store, clock, cleanupInterval: false, renewalGracePeriod: 30 });
      const secretHashOf = (token: string) => hashSecret(token.split('.')[1] as string);
      const supersededKey = (id: string) => `rt:r:{${id.slice(0, 2)}}${id.slice(2)}`;
      try {
        const session = await manager.load({ secure: false });
        await session.set('cart', 1);
        const anonymous = session.issuedToken as string;
        const anonymousId = session.id as string;
        await session.login('rt-superseded');
        const key = supersededKey(anonymousId);
        const ttl = await stats.pTTL(key);
        assert.ok(ttl > 29_000 && ttl <= 30_000, `the replaced token is remembered for the 30 s grace period (PTTL ${ttl})`);
        assert.equal(await stats.get(key), `${clock.now() + 30_000} ${secretHashOf(anonymous)}`, 'until when, and the hash that opened it');
        const ask = () => store.isSuperseded(anonymousId, { now: clock.now(), secretHash: secretHashOf(anonymous) });
        assert.equal(await ask(), true); // the script is cached from here on
        const calls = await measure(async () => assert.equal(await ask(), true));
        assertOneCommand(calls, 'isSuperseded');

        const token = session.issuedToken as string;
        const id = session.id as string;
        await session.logout();
        assert.equal(await stats.exists(supersededKey(id)), 0, 'a revocation writes no superseded key');
        assert.equal(await store.isSuperseded(id, { now: clock.now(), secretHash: secretHashOf(token) }), false);
      } finally {
        manager.close();
      }
    });

    it('a wrong secret reads nothing in one command', async () => {
      const now = Date.now();
      const { record } = makeRecord(now);
      await store.create(record, { now });
      const calls = await measure(async () => assert.equal(await store.load(record.id, { now, secretHash: hashSecret('nope') }), null));
      assertOneCommand(calls, 'load with a wrong secret');
    });
  });
}
