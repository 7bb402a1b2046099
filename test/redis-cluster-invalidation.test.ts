// The Redis store's invalidation channel and shared counters on a three-master Redis Cluster that
// this test starts and stops itself: tracking on every master, through the very connection the
// cluster client sends that master's commands on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCluster } from 'redis';
import type { InvalidationSubscription } from '../src/core/store.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { slotOf } from '../src/stores/redis/slots.js';
import { makeRecord } from '../src/testing/index.js';
import { Recorder, healthy, waitFor } from './support/invalidations.js';
import { RedisServers, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the Redis Cluster invalidation suite`);

type Cluster = ReturnType<typeof createCluster>;

describe('redis cluster invalidations (3 masters)', { skip: skip && !requireServices ? skip : false }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  let ports: number[] = [];
  let shared: Cluster;
  let mine: RedisStore;
  let other: RedisStore;
  let recorder: Recorder;
  let subscription: InvalidationSubscription;
  const prefix = 'cinv:';
  const now = Date.now();

  before(async () => {
    assert.ok(servers);
    ports = await servers.startCluster(3, ['--cluster-node-timeout', '2000']);
    const rootNodes = ports.map((port) => `redis://127.0.0.1:${port}`);
    // One store on a cluster client given to it, one on a cluster client it opens.
    shared = createCluster({ rootNodes: rootNodes.map((url) => ({ url })) });
    shared.on('error', () => {});
    await shared.connect();
    mine = new RedisStore({ client: shared, prefix });
    other = new RedisStore({ cluster: { rootNodes }, prefix });
    recorder = new Recorder();
    subscription = mine.subscribeInvalidations(recorder);
    await healthy(subscription);
  });
  after(async () => {
    await subscription?.close();
    await mine?.close();
    await other?.close();
    if (shared?.isOpen) await shared.close().catch(() => shared.destroy());
    await servers?.stopAll();
  });

  it("nodeClient(master) is the connection the cluster sends that master's commands on", async () => {
    for (const master of shared.masters) {
      const client = await shared.nodeClient(master);
      const slot = shared.slots.findIndex((s) => s?.master === master);
      assert.ok(slot >= 0);
      // A command routed by a key of the master's slot, as the store sends its own, comes from
      // the same connection as nodeClient's.
      const routed = await shared.sendCommand(findKeyInSlot(slot), false, ['CLIENT', 'ID']);
      assert.equal(String(routed), String(await client.sendCommand(['CLIENT', 'ID'])));
    }
  });

  it('tracks on every master, and the probe is healthy', async () => {
    for (const port of ports) {
      const list = await servers?.cli(port, 'CLIENT', 'LIST');
      assert.ok(list && / flags=\S*t/.test(list), `port ${port} has a tracking connection: ${list}`);
      assert.ok(list && / sub=1 /.test(list), `port ${port} has a subscriber: ${list}`);
    }
    await subscription.probe();
  });

  it('changes on every master reach the listener', async () => {
    const ids: string[] = [];
    const masters = new Set<unknown>();
    for (let i = 0; i < 30 || masters.size < 3; i++) {
      const { record } = makeRecord(now);
      assert.equal((await other.create(record, { now })).status, 'created');
      masters.add(shared.slots[slotOf(record.id.slice(0, 2))]?.master);
      ids.push(record.id);
      assert.ok(i < 200, 'the ids reached every master');
    }
    for (const id of ids) assert.ok(await other.delete(id));
    await waitFor('every invalidation', () => ids.every((id) => recorder.ids.includes(id)));
  });

  it('countInWindow counts across stores on any slot', async () => {
    const windowMs = 60_000;
    const at = Math.floor(Date.now() / windowMs) * windowMs + 10;
    for (const key of ['198.51.100.1', '198.51.100.2', '2001:db8::7']) {
      assert.equal(await mine.countInWindow(key, { now: at, windowMs }), 1);
      assert.equal(await other.countInWindow(key, { now: at + 1, windowMs }), 2);
      const ttl = await shared.pTTL(`${prefix}c:${windowMs}:${Math.floor(at / windowMs)}:${key}`);
      assert.ok(ttl > 0, `PTTL ${ttl}`);
    }
  });
});

/** A key whose slot is `slot`. */
function findKeyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (slotOf(`k${i}`) === slot) return `k${i}`;
}
