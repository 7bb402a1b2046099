// Redis keys that vanish behind the store's back, and the sweep: a session key deleted by hand (as
// `redis-cli DEL` would) logs its user out and leaves the indexes and counts; a session that
// Redis's own TTL would have dropped at its expiry is still reported with its subject; several
// instances sweeping at once report each expired session exactly once; a sweep batch is short steps.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ManualClock, SessionManager, type RemovedSession } from '../src/core/index.js';
import { ID_SHARDS, SHARD_LENGTH } from '../src/core/token.js';
import { createClient } from 'redis';
import { RedisStore } from '../src/stores/redis/index.js';
import { SWEEP_STEP } from '../src/stores/redis/scripts/index.js';
import { makeRecord } from '../src/testing/index.js';
import { sweepTogether } from './support/redis-concurrent-sweep.js';
import { RedisServers, commandCalls, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';
import { deleteByPrefix, localSkip, localUrl as url, rawClient, type RawClient } from './support/redis-local.js';

const skip = await localSkip('the Redis sweep tests');
const root = `tessera-test:${randomUUID()}:`;
let n = 0;

/** The sweeps after which a session key deleted by hand no longer counts (see "Healing" in docs/stores/redis.md). */
const SWEEPS_TO_HEAL = 64;

const sessionKey = (prefix: string, id: string) => `${prefix}s:{${id.slice(0, SHARD_LENGTH)}}${id.slice(SHARD_LENGTH)}`;

describe('redis store: keys deleted or expired behind its back', { skip }, () => {
  let client: RawClient;
  const stores: RedisStore[] = [];
  const managers: SessionManager[] = [];
  const open = (prefix: string, options: ConstructorParameters<typeof RedisStore>[0] = {}) => {
    const store = new RedisStore({ url, prefix, commandTimeout: 3000, ...options });
    stores.push(store);
    return store;
  };
  const manage = (store: RedisStore, clock: ManualClock, extra: Partial<ConstructorParameters<typeof SessionManager>[0]> = {}) => {
    const m = new SessionManager({ store, clock, cleanupInterval: false, ...extra });
    managers.push(m);
    return m;
  };
  const login = async (m: SessionManager, subject: string, idleTimeout?: number) => {
    const session = await m.load({ secure: false });
    await session.login(subject, idleTimeout === undefined ? {} : { idleTimeout });
    return session.issuedToken as string;
  };
  /**
   * Redis's clock cannot be moved, so a test that moves the core's clock by `ms` moves the key's
   * remaining TTL by as much: what is left of it then, or gone.
   */
  const age = async (key: string, ms: number) => {
    const left = await client.pTTL(key);
    assert.ok(left > 0, `${key} has a TTL`);
    if (left - ms > 0) await client.pExpire(key, left - ms);
    else await client.del(key);
  };
  /** Every expiry index's entries, and the counter that should equal their sum. */
  const counted = async (prefix: string) => {
    const cards = await Promise.all(ID_SHARDS.map((shard) => client.zCard(`${prefix}x:{${shard}}`)));
    const counter = await client.get(`${prefix}n`);
    return { entries: cards.reduce((a, b) => a + b, 0), counter: counter === null ? null : Number(counter) };
  };

  before(async () => {
    client = await rawClient();
  });
  after(async () => {
    for (const m of managers) m.close();
    for (const store of stores) await store.close();
    await deleteByPrefix(client, root);
    client.destroy();
  });

  it('a session key deleted by hand: the next request has no session and clears the cookie; list, count by subject and the indexes heal at once', async () => {
    const prefix = `${root}${++n}:`;
    const clock = new ManualClock();
    const m = manage(open(prefix), clock);
    const token = await login(m, 'hal');
    const kept = await login(m, 'hal');
    const id = token.slice(0, 28);
    assert.equal(await m.count({ subject: 'hal' }), 2);
    assert.equal(await client.del(sessionKey(prefix, id)), 1);

    const cookies: string[] = [];
    const next = await m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false, setCookie: (c) => cookies.push(c) });
    assert.equal(next.isStored, false);
    assert.equal(cookies.length, 1);
    assert.match(cookies[0] as string, /Max-Age=0/, 'the cookie is cleared');

    assert.equal(await m.count({ subject: 'hal' }), 1, 'no longer counted for its subject');
    assert.deepEqual(
      (await m.list('hal')).sessions.map((s) => s.id),
      [kept.slice(0, 28)],
      'no longer listed',
    );
    const shard = id.slice(0, SHARD_LENGTH);
    assert.equal(await client.zScore(`${prefix}u:{${shard}}hal`, id), null, 'out of the subject index');
    assert.equal(await client.zScore(`${prefix}x:{${shard}}`, id), null, 'out of the expiry index');
    assert.equal(await m.count(), 1, 'and out of the count of all sessions');
    const { entries, counter } = await counted(prefix);
    assert.equal(counter, entries);
  });

  it(`a session key deleted by hand leaves the count of all sessions within ${SWEEPS_TO_HEAL} sweeps of one instance`, async () => {
    const prefix = `${root}${++n}:`;
    const clock = new ManualClock();
    const m = manage(open(prefix), clock);
    const anonymous: string[] = [];
    for (let i = 0; i < 40; i++) {
      const session = await m.load({ secure: false });
      await session.set('i', i);
      anonymous.push(session.id as string);
    }
    const subjectless = anonymous.slice(0, 10);
    for (const id of subjectless) await client.del(sessionKey(prefix, id));
    assert.equal((await m.list('nobody')).sessions.length, 0);
    for (let i = 0; i < SWEEPS_TO_HEAL; i++) assert.equal(await m.sweep(), 0, 'nothing expired, nothing reported');
    assert.equal(await m.count(), 30);
    const { entries, counter } = await counted(prefix);
    assert.deepEqual([entries, counter], [30, 30]);
    for (const id of subjectless) assert.equal(await client.zScore(`${prefix}x:{${id.slice(0, SHARD_LENGTH)}}`, id), null);
  });

  it('a session whose expiry Redis’s TTL has passed is still reported with its subject, within expiredRetention and past it', async () => {
    const prefix = `${root}${++n}:`;
    const clock = new ManualClock();
    const m = manage(open(prefix, { expiredRetention: 10_000 }), clock);
    const expired: RemovedSession[] = [];
    m.on('expired', (event) => {
      expired.push(event.session);
    });
    const within = (await login(m, 'ivy', 60)).slice(0, 28);
    const past = (await login(m, 'jon', 60)).slice(0, 28);
    clock.advance(61_000);
    // Redis's clock is as far past the expiry as the test clock, 1 s; then 11 s, past the retention.
    await age(sessionKey(prefix, within), 61_000);
    await age(sessionKey(prefix, past), 71_000);
    assert.equal(await client.exists(sessionKey(prefix, within)), 1, 'kept past its expiry');
    assert.equal(await m.sweep(), 2);
    const bySubject = Object.fromEntries(expired.map((r) => [r.id, r.subject]));
    assert.equal(bySubject[within], 'ivy', 'reported with its subject');
    // Past the retention Redis has dropped the hash; the subject is in the shard's `w` hash.
    assert.equal(await client.exists(sessionKey(prefix, past)), 0, 'dropped by Redis');
    assert.equal(bySubject[past], 'jon');
    assert.equal(await client.hGet(`${prefix}w:{${past.slice(0, 2)}}`, past), null, 'and its entry there went with it');
    assert.equal(await client.exists(sessionKey(prefix, within)), 0, 'the sweep removed it');
  });

  it('with the default retention the hash is still there when a sweep at the default interval comes after the expiry', async () => {
    const prefix = `${root}${++n}:`;
    const clock = new ManualClock();
    // The default cleanupInterval (60 s) jittered by up to +20%: 72 s between two sweeps at most.
    const m = manage(open(prefix), clock);
    const expired: RemovedSession[] = [];
    m.on('expired', (event) => {
      expired.push(event.session);
    });
    const id = (await login(m, 'kay', 60)).slice(0, 28);
    const key = sessionKey(prefix, id);
    const ttl = await client.pTTL(key);
    assert.ok(ttl > 60_000 + 72_000, `the hash outlives its expiry by more than a sweep interval (PTTL ${ttl} ms)`);
    assert.ok(ttl <= 60_000 + 300_000, 'by the documented default of 5 minutes at most');
    clock.advance(60_000 + 72_000);
    await age(key, 60_000 + 72_000);
    assert.equal(await client.exists(key), 1);
    assert.equal(await m.sweep(), 1);
    assert.deepEqual(expired, [{ id, subject: 'kay' }]);
  });

  it('several instances sweeping thousands of expired sessions at once report each exactly once, with its subject', async () => {
    const prefix = `${root}${++n}:`;
    await sweepTogether({ stores: Array.from({ length: 4 }, () => open(prefix)) });
    const { entries, counter } = await counted(prefix);
    assert.equal(entries, 200, 'only the live sessions are left in the indexes');
    assert.equal(counter, 200);
  });
});

describe('redis store: a sweep batch is short steps', {
  skip: hasRedisServer() || requireServices ? false : 'redis-server is not on PATH',
}, () => {
  it(`removes a batch of 500 in scripts of at most ${SWEEP_STEP} sessions, none walking again the indexes emptied before it`, async () => {
    const servers = new RedisServers();
    const port = await freePort();
    await servers.start(port);
    const own = `redis://127.0.0.1:${port}`;
    const admin = createClient({ url: own });
    admin.on('error', () => {});
    await admin.connect();
    const store = new RedisStore({ url: own, prefix: 'steps:', commandTimeout: 3000 });
    try {
      const now = Date.now();
      await store.deleteExpired(now, 10); // loads the scripts
      const ids = new Set<string>();
      for (let i = 0; i < 1200; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, k) => {
            const subject = (i + k) % 3 === 0 ? null : `user-${(i + k) % 50}`;
            const { record } = makeRecord(
              now,
              { subject, idleTimeout: 60 },
              subject === null ? null : await store.subjectPartition(subject),
            );
            await store.create(record, { now });
            ids.add(record.id);
          }),
        );
      }
      const later = now + 61_000;
      const swept = new Set<string>();
      for (const expected of [500, 500, 200]) {
        await admin.sendCommand(['CONFIG', 'RESETSTAT']);
        const batch = await store.deleteExpired(later, 500);
        const calls = await commandCalls(admin);
        assert.equal(batch.length, expected);
        for (const r of batch) swept.add(r.id);
        // The steps (and one more that finds the end, when the batch is not full), and the one heal
        // script of every call (see "Healing").
        const steps = (calls.evalsha ?? 0) - 1;
        assert.ok(
          steps >= Math.ceil(expected / SWEEP_STEP) && steps <= Math.ceil(expected / SWEEP_STEP) + 1,
          `steps of at most ${SWEEP_STEP}: ${JSON.stringify(calls)}`,
        );
        // 1,024 indexes: every step goes on where the last stopped, so a call reads each index about
        // once (the heal reads its 16 more), not once a step.
        assert.ok(
          (calls.zrangebyscore ?? 0) <= ID_SHARDS.length + 2 * Math.ceil(expected / SWEEP_STEP) + 16,
          `indexes read: ${calls.zrangebyscore}`,
        );
      }
      assert.deepEqual(swept, ids, 'every expired session once');
      assert.deepEqual(await store.deleteExpired(later, 500), []);
    } finally {
      await store.close();
      admin.destroy();
      await servers.stopAll();
    }
  });
});
