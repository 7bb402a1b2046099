// Subject partitions on Redis: derived with a key the deployment owns (given, or created once in
// Redis and shared by every instance), never the unkeyed SHA-256 of the subject that 0.1 used; and
// the sessions 0.1 issued that way still found by subject until they end.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { InvalidOptionError, ManualClock, SessionManager } from '../src/core/index.js';
import { SHARD_LENGTH, keyedPartition, partitionOfId, unkeyedPartition } from '../src/core/token.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord } from '../src/testing/index.js';
import { legacySession } from './support/redis-legacy.js';
import { deleteByPrefix, localSkip, localUrl as url, rawClient, type RawClient } from './support/redis-local.js';

const skip = await localSkip('the Redis partition tests');
const root = `tessera-test:${randomUUID()}:`;
let n = 0;
const SUBJECTS = ['alice', 'bob', '1', 'admin@example.com', 'ünïcode'];

describe('redis store: keyed subject partitions', { skip }, () => {
  let client: RawClient;
  const stores: RedisStore[] = [];
  const open = (options: ConstructorParameters<typeof RedisStore>[0] = {}) => {
    const store = new RedisStore({ url, prefix: `${root}${++n}:`, commandTimeout: 3000, ...options });
    stores.push(store);
    return store;
  };

  before(async () => {
    client = await rawClient();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await deleteByPrefix(client, root);
    client.destroy();
  });

  it('declares the capability and validates the key it is given', () => {
    assert.equal(new RedisStore({ url }).capabilities.subjectPartitions, true);
    assert.throws(() => new RedisStore({ url, partitionKey: new Uint8Array(31) }), InvalidOptionError);
    assert.throws(
      () => new RedisStore({ url, partitionKey: 'a string of more than thirty-two characters' as unknown as Uint8Array }),
      InvalidOptionError,
    );
  });

  it('gives each key its own partitions, none of them the unkeyed SHA-256 of the subject', async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(48);
    const given1 = open({ partitionKey: k1 });
    const given2 = open({ partitionKey: k2 });
    const own1 = open();
    const own2 = open();
    for (const subject of SUBJECTS) {
      const partitions = await Promise.all([given1, given2, own1, own2].map((store) => store.subjectPartition(subject)));
      assert.equal(partitions[0], keyedPartition(k1, subject), 'a given key is the HMAC key');
      assert.equal(partitions[1], keyedPartition(k2, subject));
      assert.equal(new Set(partitions).size, 4, `four keys, four partitions for ${subject}`);
      for (const partition of partitions) assert.notEqual(partition, unkeyedPartition(subject));
    }
  });

  it('creates its key once in Redis: the same partition every time, from every instance sharing the prefix', async () => {
    const prefix = `${root}shared-${++n}:`;
    // Fresh instances racing for the first use agree (SET NX), and a later one reads the same key.
    const first = Array.from({ length: 5 }, () => open({ prefix }));
    const raced = await Promise.all(first.map((store) => store.subjectPartition('carol')));
    assert.equal(new Set(raced).size, 1);
    const stored = await client.get(`${prefix}partition-key`);
    assert.ok(stored !== null && Buffer.from(stored, 'base64').length === 32, 'a 32-byte key, base64, in P partition-key');
    assert.equal(raced[0], keyedPartition(Buffer.from(stored, 'base64'), 'carol'));
    const later = open({ prefix });
    for (const subject of SUBJECTS) {
      const expected = await first[0]!.subjectPartition(subject);
      assert.equal(await first[0]!.subjectPartition(subject), expected, 'the same store, again');
      assert.equal(await later.subjectPartition(subject), expected, 'another instance');
    }
    // Only the first use of an instance reads Redis: the key is cached.
    const before = await client.get(`${prefix}partition-key`);
    await client.del(`${prefix}partition-key`);
    assert.equal(await first[1]!.subjectPartition('dave'), keyedPartition(Buffer.from(before as string, 'base64'), 'dave'));
  });

  it('refuses a logged-in id that does not start with the subject’s keyed partition, such as the unkeyed one', async () => {
    const store = open();
    const now = Date.now();
    const { record: unkeyed } = makeRecord(now, { subject: 'erin' }, unkeyedPartition('erin'));
    await assert.rejects(store.create(unkeyed, { now }), /must start with/);
    const { record: random } = makeRecord(now, { subject: 'erin' });
    await assert.rejects(store.create(random, { now }), /must start with/);
    const { record: keyed } = makeRecord(now, { subject: 'erin' }, await store.subjectPartition('erin'));
    assert.equal((await store.create(keyed, { now })).status, 'created');
    const { record: anonymous } = makeRecord(now);
    assert.equal((await store.create(anonymous, { now })).status, 'created', 'an anonymous id may start anywhere');
  });

  it('a deleted partition key: every old session keeps working, and instances settle on one key by their next sweep', async () => {
    const prefix = `${root}lost-${++n}:`;
    const clock = new ManualClock();
    const a = open({ prefix });
    const ma = new SessionManager({ store: a, clock, cleanupInterval: false });
    const request = (m: SessionManager, token: string) => m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false });
    const login = async (m: SessionManager, subject: string) => {
      const session = await m.load({ secure: false });
      await session.login(subject);
      return session.issuedToken as string;
    };
    try {
      const old = await login(ma, 'fay');
      const k1 = await client.get(`${prefix}partition-key`);
      // Deleted by hand; instance A still has the key cached, and its next sweep puts it back.
      await client.del(`${prefix}partition-key`);
      await a.deleteExpired(clock.now(), 100);
      assert.equal(await client.get(`${prefix}partition-key`), k1, 'restored by the sweep of an instance that knew it');
      const b = open({ prefix });
      assert.equal(await b.subjectPartition('fay'), await a.subjectPartition('fay'));

      // Deleted again, and this time a new instance starts before any sweep: it makes a new key.
      await client.del(`${prefix}partition-key`);
      const c = open({ prefix });
      const mc = new SessionManager({ store: c, clock, cleanupInterval: false });
      const fresh = await login(mc, 'fay');
      assert.notEqual(partitionOfId(fresh.slice(0, 28)), partitionOfId(old.slice(0, 28)), 'a new key, a new partition');
      // A and B adopt the key Redis holds now at their next sweep, so new logins agree again.
      await a.deleteExpired(clock.now(), 100);
      await b.deleteExpired(clock.now(), 100);
      for (const store of [a, b]) assert.equal(await store.subjectPartition('fay'), await c.subjectPartition('fay'));
      // Nothing breaks: the session made under the lost key still opens, saves and is revoked, through any instance.
      for (const m of [ma, mc]) {
        const session = await request(m, old);
        assert.equal(session.subject, 'fay');
        await session.increment('n');
      }
      assert.equal((await request(ma, old)).get('n'), 2);
      assert.equal(await mc.revoke(old.slice(0, 28)), true);
      assert.equal((await request(ma, fresh)).subject, 'fay');
      mc.close();
    } finally {
      ma.close();
    }
  });
});

describe('redis store: sessions issued with 0.1’s unkeyed partitions keep working until they end', { skip }, () => {
  let client: RawClient;
  let store: RedisStore;
  const prefix = `${root}legacy:`;

  before(async () => {
    client = await rawClient();
    store = new RedisStore({ url, prefix, commandTimeout: 3000 });
  });
  after(async () => {
    await store.close();
    await deleteByPrefix(client, prefix);
    client.destroy();
  });

  it('opens, saves, lists, counts and revokes them by subject beside the keyed ones', async () => {
    const clock = new ManualClock();
    const m = new SessionManager({ store, clock, cleanupInterval: false });
    const request = (token: string) => m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false });
    try {
      const subject = 'gus';
      const keyedShard = (await store.subjectPartition(subject)).slice(0, SHARD_LENGTH);
      assert.notEqual(
        unkeyedPartition(subject).slice(0, SHARD_LENGTH),
        keyedShard,
        'the two indexes are apart (as for almost every subject)',
      );
      const before = await store.count({ now: clock.now() });
      const legacy = await legacySession(client, prefix, subject, clock.now());
      const other = await legacySession(client, prefix, subject, clock.now());
      const session = await request(legacy.token);
      assert.equal(session.subject, subject);
      assert.equal(await session.increment('n'), 42);

      const login = await m.load({ secure: false });
      await login.login(subject);
      const keyed = login.id as string;
      assert.equal(keyed.slice(0, SHARD_LENGTH), keyedShard);

      assert.deepEqual((await m.list(subject)).sessions.map((s) => s.id).sort(), [legacy.id, other.id, keyed].sort());
      assert.equal(await m.count({ subject }), 3);
      assert.equal(await m.count(), before + 3);
      assert.deepEqual((await m.query({ subject })).sessions.map((s) => s.id).sort(), [legacy.id, other.id, keyed].sort());
      // A touch of a legacy session keeps its entry in its own (legacy) index.
      clock.advance(10 * 60_000);
      assert.equal((await request(legacy.token)).subject, subject);
      clock.advance(25 * 60_000); // `other` (never touched) and the keyed one idle out; `legacy` was touched
      assert.deepEqual(
        (await m.list(subject)).sessions.map((s) => s.id),
        [legacy.id],
      );

      const again = await m.load({ secure: false });
      await again.login(subject);
      assert.equal(await m.revokeAll(subject, { except: again.id }), 1);
      assert.equal(await store.load(legacy.id, { now: clock.now() }), null, 'revoked');
      assert.deepEqual(
        (await m.list(subject)).sessions.map((s) => s.id),
        [again.id],
      );
      assert.equal(
        await client.exists(`${prefix}u:{${legacy.id.slice(0, SHARD_LENGTH)}}${subject}`),
        0,
        'the legacy index is gone with its last entry',
      );
    } finally {
      m.close();
    }
  });
});
