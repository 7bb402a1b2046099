// The store conformance suite on the machine's Redis, and the round trips per request measured with INFO commandstats
// (on a redis-server of the suite's own).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createClient } from 'redis';
import { InvalidOptionError, StoreUnavailableError, type SessionRecord } from '../src/core/index.js';
import { ID_SHARDS } from '../src/core/token.js';
import { scriptNotCompiled } from '../src/stores/redis/compat.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord, runStoreConformance } from '../src/testing/index.js';
import { RedisServers, commandCalls, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';
import { runRoundTripSuite } from './support/redis-round-trips.js';
import { deleteByPrefix, rawClient, unreachable as probeLocal } from './support/redis-local.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const root = `tessera-test:${randomUUID()}:`;

/** Deletes every key under a prefix through a client of its own. */
async function clearPrefix(prefix: string): Promise<void> {
  const client = await rawClient(url);
  try {
    await deleteByPrefix(client, prefix);
  } finally {
    client.destroy();
  }
}

const unreachable = await probeLocal(url);
if (unreachable !== null) console.log(`${unreachable}${requireServices ? '' : ': skipping the Redis conformance suite'}`);

let n = 0;
runStoreConformance({
  name: `redis (${url})`,
  skip: unreachable !== null && !requireServices ? unreachable : false,
  // The suite's 200-way compare-and-set contention can hold a reply in the client's queue past the
  // 500 ms default on a loaded 2-core machine; the fault test checks the default itself.
  createStore: () => new RedisStore({ url, prefix: `${root}${++n}:`, commandTimeout: 3000 }),
  teardown: async () => {
    if (unreachable === null) await clearPrefix(root);
  },
});

// The same suite with the in-process cache in front, each instance a store object of its own on one prefix.
let cachedPrefix = '';
runStoreConformance({
  name: `redis (${url})`,
  cache: true,
  skip: unreachable !== null && !requireServices ? unreachable : false,
  createStore: () => new RedisStore({ url, prefix: (cachedPrefix = `${root}cached-${++n}:`), commandTimeout: 3000 }),
  peer: () => new RedisStore({ url, prefix: cachedPrefix, commandTimeout: 3000 }),
});

// A client the app made and gave to the store, speaking RESP3: its HGETALL replies are objects, not flat lists.
const resp3 = createClient({ url, RESP: 3, socket: { reconnectStrategy: false } });
resp3.on('error', () => {});
runStoreConformance({
  name: `redis, a given RESP3 client (${url})`,
  skip: unreachable !== null && !requireServices ? unreachable : false,
  setup: async () => {
    await resp3.connect();
  },
  createStore: () => new RedisStore({ client: resp3, prefix: `${root}resp3-${++n}:`, commandTimeout: 3000 }),
  teardown: async () => {
    if (resp3.isOpen) resp3.destroy();
    if (unreachable === null) await clearPrefix(`${root}resp3-`);
  },
});

runRoundTripSuite('redis-server');

describe('redis store: options and ownership', () => {
  it('validates its options at construction', () => {
    assert.throws(() => new RedisStore({ prefix: 'a{b}:' }), InvalidOptionError);
    assert.throws(() => new RedisStore({ commandTimeout: 0 }), InvalidOptionError);
    assert.throws(() => new RedisStore({ url, cluster: { rootNodes: [url] } }), InvalidOptionError);
    assert.throws(() => new RedisStore({ cluster: { rootNodes: [] } }), InvalidOptionError);
    assert.throws(() => new RedisStore({ expiredRetention: -1 }), InvalidOptionError);
    assert.throws(() => new RedisStore({ expiredRetention: 1.5 }), InvalidOptionError);
  });

  it('leaves a client it was given open', { skip: unreachable !== null && !requireServices ? unreachable : false }, async () => {
    const client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
    try {
      const prefix = `${root}given:`;
      const store = new RedisStore({ client, prefix });
      const now = Date.now();
      const { record } = makeRecord(now, { subject: 'given' }, await store.subjectPartition('given'));
      await store.create(record, { now });
      assert.equal((await store.load(record.id, { now }))?.subject, 'given');
      await store.close();
      assert.ok(client.isOpen);
      assert.equal(await client.ping(), 'PONG');
      await assert.rejects(store.load(record.id, { now }), StoreUnavailableError, 'a closed store refuses work');
      await clearPrefix(prefix);
    } finally {
      client.destroy();
    }
  });
});

describe('redis store: a server too old for the scripts', { skip: unreachable !== null && !requireServices ? unreachable : false }, () => {
  it("names Redis 7.0 as the need when the server cannot compile a script's shebang", async () => {
    const client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
    try {
      // Redis 6 compiles a script as the body of `function f_<sha>() ... end`, so the shebang that
      // Redis 7 reads as flags is Lua there; this server compiles the same text to show the reply.
      const reply = (await client.sendCommand(['EVAL', 'function f_check() #!lua flags=allow-oom\nreturn 1 end', '0']).then(
        () => assert.fail('the server compiled a shebang inside a function'),
        (error: unknown) => error,
      )) as Error;
      assert.match(reply.message, /Error compiling script/);
      const reported = scriptNotCompiled(reply);
      assert.ok(reported instanceof InvalidOptionError);
      assert.match(reported.message, /need Redis 7\.0 or newer, or Valkey/);
      assert.ok(reported.message.includes(reply.message.trim()), 'the server reply is kept');
      const other = (await client
        .sendCommand(['EVAL', "return redis.call('INCR', 'x', 'y')", '0'])
        .catch((error: unknown) => error)) as Error;
      assert.equal(scriptNotCompiled(other), other, 'other script errors pass through');
    } finally {
      client.destroy();
    }
  });
});

describe('redis store: the live-session counter (single node)', {
  skip: unreachable !== null && !requireServices ? unreachable : false,
}, () => {
  /** The counter, and what it should be: the entries of every expiry index. */
  async function counterAndEntries(client: ReturnType<typeof createClient>, prefix: string): Promise<[number | null, number]> {
    const counter = await client.get(`${prefix}n`);
    const cards = await Promise.all(ID_SHARDS.map((shard) => client.zCard(`${prefix}x:{${shard}}`)));
    return [counter === null ? null : Number(counter), cards.reduce((a, b) => a + b, 0)];
  }

  it('follows every index write, rebuilds itself when missing, and is set right by a full sweep', async () => {
    const client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
    const prefix = `${root}counter:`;
    const store = new RedisStore({ url, prefix, commandTimeout: 3000 });
    try {
      const start = Date.now();
      assert.equal(await store.count({ now: start }), 0);
      assert.deepEqual(await counterAndEntries(client, prefix), [0, 0], 'the first count creates the counter');

      const live = new Map<string, number>(); // id -> version
      const create = async (subject: string | null, idleTimeout = 1800, replaces?: string) => {
        const partition = subject === null ? null : await store.subjectPartition(subject);
        const { record } = makeRecord(start, { subject, idleTimeout }, partition);
        const result = await store.create(record, {
          now: start,
          ...(replaces === undefined
            ? {}
            : { replaces: { id: replaces, version: live.get(replaces) as number, supersededUntil: start + 30_000 } }),
        });
        assert.equal(result.status, 'created');
        if (replaces !== undefined) live.delete(replaces);
        live.set(record.id, record.version);
        // As the core does after a login: its subject is trimmed to a limit of 3.
        if (subject !== null)
          for (const gone of await store.trimSubject(subject, { now: start, max: 3, keep: record.id, batch: 10 })) live.delete(gone.id);
        return record.id;
      };
      const anonymous: string[] = [];
      for (let i = 0; i < 10; i++) anonymous.push(await create(null));
      for (let i = 0; i < 20; i++) await create(`user-${i % 4}`); // 5 each against a limit of 3: 8 evicted
      for (let i = 0; i < 3; i++) await create(`user-9`, 1800, anonymous[i]); // login replaces the anonymous session
      await create('user-9'); // evicts user-9's oldest
      for (const id of anonymous.slice(3, 5)) {
        assert.notEqual(await store.delete(id), null);
        live.delete(id);
      }
      assert.equal(await store.delete(anonymous[0] as string), null, 'replaced already');
      const removed = await store.deleteBySubject('user-1', { now: start, limit: 10 });
      assert.equal(removed.length, 3);
      for (const r of removed) live.delete(r.id);
      // Touches move an entry's score, never the number of entries.
      for (const id of live.keys()) await store.load(id, { now: start + 120_000, touch: { maxIntervalMs: 60_000, idleFraction: 0.5 } });
      for (let i = 0; i < 6; i++) await create(null, 60); // expire at start + 60 s
      assert.deepEqual(await counterAndEntries(client, prefix), [live.size, live.size]);

      // Past the short sessions' expiry: counted out at once, taken from the indexes by the sweep.
      const later = start + 61_000;
      assert.equal(await store.count({ now: later }), live.size - 6);
      const partial = await store.deleteExpired(later, 4); // stops at its limit: no full pass
      assert.equal(partial.length, 4);
      for (const r of partial) live.delete(r.id);
      assert.deepEqual(await counterAndEntries(client, prefix), [live.size, live.size], 'kept by the sweep itself');

      await client.del(`${prefix}n`);
      assert.equal(await store.count({ now: later }), live.size - 2, 'rebuilt when missing');
      assert.deepEqual(await counterAndEntries(client, prefix), [live.size, live.size]);

      await client.set(`${prefix}n`, '999');
      assert.equal(await store.count({ now: later }), 999 - 2, 'the count trusts the counter...');
      const rest = await store.deleteExpired(later, 100);
      assert.equal(rest.length, 2);
      for (const r of rest) live.delete(r.id);
      assert.deepEqual(await counterAndEntries(client, prefix), [live.size, live.size], '...until a full sweep sets it');
      assert.equal(await store.count({ now: later }), live.size);
    } finally {
      await store.close();
      await clearPrefix(prefix);
      client.destroy();
    }
  });
});

describe('redis store: admin query walks the indexes in id order, a bounded stretch per script', {
  skip: hasRedisServer() || requireServices ? false : 'redis-server is not on PATH',
}, () => {
  it('fills a page from the first shards, pages through everything in id order, and splits a sparse search into bounded calls', async () => {
    const servers = new RedisServers();
    const port = await freePort();
    await servers.start(port);
    const own = `redis://127.0.0.1:${port}`;
    const admin = createClient({ url: own });
    admin.on('error', () => {});
    await admin.connect();
    const store = new RedisStore({ url: own, prefix: 'q:', commandTimeout: 3000 });
    const calls = async (command: string) => (await commandCalls(admin))[command] ?? 0;
    try {
      const now = Date.now();
      const ids: string[] = [];
      const needles: string[] = [];
      const records: SessionRecord[] = [];
      for (let i = 0; i < 5000; i++) {
        const needle = i % 1700 === 3; // three of them, far apart
        const { record } = makeRecord(now, { displayName: needle ? `needle ${i}` : `hay ${i}` });
        records.push(record);
        ids.push(record.id);
        if (needle) needles.push(record.id);
      }
      for (let i = 0; i < records.length; i += 100)
        await Promise.all(records.slice(i, i + 100).map((record) => store.create(record, { now })));
      ids.sort();
      needles.sort();

      const walked = await calls('zrangebyscore');
      const first = await store.query({ now, limit: 10 });
      assert.deepEqual(
        first.sessions.map((r) => r.id),
        ids.slice(0, 10),
      );
      assert.equal(first.nextCursor, ids[9]);
      // About five sessions a shard here: a page of eleven (one to tell whether more follow) reads a
      // handful of indexes, not all 1,024.
      assert.ok((await calls('zrangebyscore')) - walked <= 6, 'a page reads only the first shards');

      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.query({ now, limit: 97, ...(cursor === null ? {} : { cursor }) });
        paged.push(...page.sessions.map((r) => r.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(paged, ids, 'every live session once, in id order');

      const scripts = await calls('evalsha');
      const found = await store.query({ now, limit: 10, displayNamePrefix: 'needle' });
      assert.deepEqual(
        found.sessions.map((r) => r.id),
        needles,
      );
      assert.equal(found.nextCursor, null);
      assert.equal((await calls('evalsha')) - scripts, 1, 'a search reads the display-name indexes: one script');
      // As a store from before the display-name index left them: the search walks every session
      // instead, and still in bounded calls.
      for (const key of await admin.keys('q:d:*')) await admin.del(key);
      const walking = await calls('evalsha');
      const unindexed = await store.query({ now, limit: 10, displayNamePrefix: 'needle' });
      assert.deepEqual(
        unindexed.sessions.map((r) => r.id),
        needles,
      );
      assert.ok((await calls('evalsha')) - walking >= 3, 'a search through 5,000 sessions takes several bounded calls (2,000 ids each)');
      assert.equal((await store.query({ now: now + 86_400_001, limit: 10 })).sessions.length, 0, 'expired sessions are not listed');
    } finally {
      await store.close();
      admin.destroy();
      await servers.stopAll();
    }
  });
});
