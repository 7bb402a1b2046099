// Valkey (the Linux Foundation's fork of Redis): the store conformance suite on one valkey-server
// and on a three-master Valkey cluster, and the round trips per request. The servers are started
// by the test on free loopback ports and stopped by PID.
// `.ci/run` installs valkey-server (Debian bookworm-backports) when it is missing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { ManualClock, SessionManager } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import { runRoundTripSuite } from './support/redis-round-trips.js';
import { RedisServers, freePort, hasRedisServer, requireServices, serverVersion } from './support/redis-servers.js';

const canSpawn = hasRedisServer('valkey-server');
const skip = canSpawn ? false : 'valkey-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the Valkey suites`);
else console.log(`valkey: ${serverVersion('valkey-server')}`);

const servers = canSpawn ? new RedisServers('valkey-server') : null;
let url = '';
const run = randomUUID().slice(0, 8);
let n = 0;

runStoreConformance({
  name: 'valkey (valkey-server started by the test)',
  skip: skip && !requireServices ? skip : false,
  setup: async () => {
    assert.ok(servers, 'valkey-server is on PATH');
    const port = await freePort();
    await servers.start(port);
    url = `redis://127.0.0.1:${port}`;
  },
  teardown: async () => {
    await servers?.stopAll();
  },
  // As on Redis: the suite's 200-way compare-and-set contention needs more than the default on a loaded machine.
  createStore: () => new RedisStore({ url, prefix: `v${run}:${++n}:`, commandTimeout: 3000 }),
});

const clusterServers = canSpawn ? new RedisServers('valkey-server') : null;
let rootNodes: string[] = [];
runStoreConformance({
  name: 'valkey cluster (3 masters started by the test, store-owned cluster client)',
  skip: skip && !requireServices ? skip : false,
  setup: async () => {
    assert.ok(clusterServers, 'valkey-server is on PATH');
    const ports = await clusterServers.startCluster(3, ['--cluster-node-timeout', '2000']);
    rootNodes = ports.map((port) => `redis://127.0.0.1:${port}`);
  },
  teardown: async () => {
    await clusterServers?.stopAll();
  },
  createStore: () => new RedisStore({ cluster: { rootNodes }, prefix: `vc${run}:${++n}:`, commandTimeout: 3000 }),
});

runRoundTripSuite('valkey-server');

describe('valkey: the server is Valkey, and a session lives through it', { skip: skip && !requireServices ? skip : false }, () => {
  const own = canSpawn ? new RedisServers('valkey-server') : null;
  let port = 0;

  before(async () => {
    assert.ok(own, 'valkey-server is on PATH');
    port = await freePort();
    await own.start(port);
  });
  after(async () => {
    await own?.stopAll();
  });

  it('answers INFO as Valkey, and login, increments, list, count and revoke work through the manager', async () => {
    const probe = createClient({ url: `redis://127.0.0.1:${port}` });
    probe.on('error', () => {});
    await probe.connect();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'vk:' });
    const clock = new ManualClock();
    const manager = new SessionManager({ store, clock, cleanupInterval: false, idleTimeout: 60 });
    try {
      const info = (await probe.sendCommand(['INFO', 'server'])) as string;
      assert.match(info, /^valkey_version:\d+\.\d+/m, 'the server under test is Valkey, not Redis');
      const session = await manager.load({ secure: false });
      await session.login('valkey-user');
      const token = session.issuedToken as string;
      const again = await manager.load({ cookie: `${manager.cookieName(false)}=${token}`, secure: false });
      assert.equal(await again.increment('n'), 1);
      assert.equal(await again.increment('n', 2), 3);
      assert.equal((await manager.list('valkey-user')).sessions.length, 1);
      assert.equal(await manager.count(), 1);
      clock.advance(61_000);
      assert.equal(await manager.count(), 0, 'idle past its timeout');
      assert.equal((await manager.load({ cookie: `${manager.cookieName(false)}=${token}`, secure: false })).isStored, false);
    } finally {
      manager.close();
      await store.close();
      probe.destroy();
    }
  });
});
