// The Redis store's outbox (test/support/redis-outbox.ts) on the machine's Redis and on a three-master
// Redis Cluster this test starts itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCluster } from 'redis';
import type { SessionRecord } from '../src/core/index.js';
import { makeRecord } from '../src/testing/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { runOutboxSuite } from './support/redis-outbox.js';
import { deleteByPrefix, localSkip, localUrl, rawClient } from './support/redis-local.js';
import { RedisServers, hasRedisServer, requireServices } from './support/redis-servers.js';

const root = `tessera-outbox:${randomUUID()}:`;
let n = 0;
runOutboxSuite({
  name: `single node (${localUrl})`,
  skip: await localSkip('the Redis outbox suite'),
  createStore: (options = {}) =>
    new RedisStore({
      url: localUrl,
      prefix: `${root}${options.same ? n : ++n}:`,
      commandTimeout: 3000,
      ...(options.expiredRetention === undefined ? {} : { expiredRetention: options.expiredRetention }),
    }),
  teardown: async () => {
    const client = await rawClient();
    try {
      await deleteByPrefix(client, root);
    } finally {
      client.destroy();
    }
  },
});

describe('redis outbox: the set of shards holding notices (single node)', { skip: await localSkip('the outbox hint test') }, () => {
  it('is rebuilt from every shard when deleted by hand, and forgets shards emptied', async () => {
    const prefix = `${root}hint:`;
    const store = new RedisStore({ url: localUrl, prefix, commandTimeout: 3000 });
    const client = await rawClient();
    try {
      // Three shards apart, so that each check is about one notice.
      const records: SessionRecord[] = [];
      while (records.length < 3) {
        const { record } = makeRecord(1000);
        if (!records.some((r) => r.id.slice(0, 2) === record.id.slice(0, 2))) records.push(record);
      }
      const notices = records.map((r, i) => ({
        id: `session.ended:${r.id}`,
        type: 'session.ended' as const,
        sessionId: r.id,
        subject: null,
        reason: 'admin' as const,
        at: 1000 + i,
      }));
      await store.outbox.addNotices(notices);
      // Not built yet (no claim or count ran): every shard is walked once, and the set holds the three.
      assert.equal(await store.outbox.countNotices(), 3);
      // Each shard scored by its earliest due time (the notice's `at` for addNotices), the mark '' last.
      assert.deepEqual(await client.zRangeWithScores(`${prefix}oh`, 0, -1), [
        ...records.map((r, i) => ({ value: r.id.slice(0, 2), score: 1000 + i })),
        { value: '', score: Number.POSITIVE_INFINITY },
      ]);
      await client.del(`${prefix}oh`);
      const claimed = await store.outbox.claimNotices({ now: 2000, limit: 10, leaseUntil: 3000 });
      assert.deepEqual(claimed.map((n) => n.sessionId).sort(), records.map((r) => r.id).sort());
      await store.outbox.removeNotices([notices[0]?.id as string]);
      assert.equal(await client.zScore(`${prefix}oh`, records[0]?.id.slice(0, 2) as string), null, 'its shard left the set');
      assert.equal(await client.get(`${prefix}oc`), '2', 'the count follows');
      // A shard's outbox deleted by hand: dropped from the set when next met, and the count made again.
      await client.del(`${prefix}o:{${records[1]?.id.slice(0, 2)}}`);
      assert.equal(await store.outbox.countNotices(), 2, 'the count is kept, not walked: wrong until the loss is met');
      // Met by the next claim that reaches its shard (claimed until 3000).
      assert.deepEqual(
        (await store.outbox.claimNotices({ now: 3000, limit: 10, leaseUntil: 4000 })).map((n) => n.sessionId),
        [records[2]?.id],
      );
      assert.equal(await store.outbox.countNotices(), 1);
      assert.equal(await client.zScore(`${prefix}oh`, records[1]?.id.slice(0, 2) as string), null);
    } finally {
      await store.close();
      await deleteByPrefix(client, prefix);
      client.destroy();
    }
  });
});

const canSpawn = hasRedisServer();
const servers = canSpawn ? new RedisServers() : null;
let cluster: ReturnType<typeof createCluster> | null = null;
let c = 0;
runOutboxSuite({
  name: 'Redis Cluster (3 masters)',
  skip: canSpawn || requireServices ? false : 'redis-server is not on PATH',
  setup: async () => {
    const ports = await (servers as RedisServers).startCluster(3);
    cluster = createCluster({ rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })) });
    cluster.on('error', () => {});
    await cluster.connect();
  },
  teardown: async () => {
    if (cluster?.isOpen) await cluster.close().catch(() => cluster?.destroy());
    await servers?.stopAll();
  },
  createStore: (options = {}) =>
    new RedisStore({
      client: cluster as ReturnType<typeof createCluster>,
      prefix: `o${options.same ? c : ++c}:`,
      commandTimeout: 3000,
      ...(options.expiredRetention === undefined ? {} : { expiredRetention: options.expiredRetention }),
    }),
});
