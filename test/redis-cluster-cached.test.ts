// The store conformance suite with the in-process cache on, on a three-master Redis Cluster that this
// test starts and stops itself: each instance is a store with a cluster client of its own, since
// invalidation tracking belongs to a connection.
import { randomUUID } from 'node:crypto';
import { RedisStore } from '../src/stores/redis/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import { RedisServers, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the cached Redis Cluster suite`);

const servers = canSpawn ? new RedisServers() : null;
const ports: number[] = [];
const run = randomUUID().slice(0, 8);
let n = 0;
let prefix = '';
const cluster = (): { rootNodes: string[] } => ({ rootNodes: ports.map((port) => `redis://127.0.0.1:${port}`) });

runStoreConformance({
  name: 'redis cluster (3 masters, a cluster client per instance)',
  cache: true,
  skip: skip && !requireServices ? skip : false,
  setup: async () => {
    ports.push(...(await (servers as RedisServers).startCluster(3, ['--cluster-node-timeout', '2000'])));
  },
  teardown: async () => {
    await servers?.stopAll();
  },
  // A generous timeout: the suite's 200-way contention on a loaded 2-core machine (see redis-store.test.ts).
  createStore: () => new RedisStore({ cluster: cluster(), prefix: (prefix = `cc${run}:${++n}:`), commandTimeout: 3000 }),
  peer: () => new RedisStore({ cluster: cluster(), prefix, commandTimeout: 3000 }),
});
