// The Redis store's outbox (test/support/redis-outbox.ts) on the machine's Redis and on a three-master
// Redis Cluster this test starts itself.
import { randomUUID } from 'node:crypto';
import { createCluster } from 'redis';
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
