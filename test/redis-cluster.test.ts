// The store conformance suite on a three-master Redis Cluster that this test starts and stops itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createCluster } from 'redis';
import { ManualClock, SessionManager } from '../src/core/index.js';
import { unkeyedPartition } from '../src/core/token.js';
import type { SessionPage } from '../src/core/store.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord, runStoreConformance } from '../src/testing/index.js';
import { sweepTogether } from './support/redis-concurrent-sweep.js';
import { legacySession } from './support/redis-legacy.js';
import { RedisServers, hasRedisServer, requireServices } from './support/redis-servers.js';
import { compileScripts } from '../src/stores/redis/scripts/index.js';
import { slotOf } from '../src/stores/redis/slots.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the Redis Cluster suite`);

const servers = canSpawn ? new RedisServers() : null;
const ports: number[] = [];
type Cluster = ReturnType<typeof createCluster>;
let shared: Cluster | null = null;

async function startCluster(): Promise<void> {
  assert.ok(servers, 'redis-server is on PATH');
  ports.push(...(await servers.startCluster(3, ['--cluster-node-timeout', '2000'])));
  shared = createCluster({ rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })) });
  shared.on('error', () => {});
  await shared.connect();
}

async function stopCluster(): Promise<void> {
  if (shared?.isOpen) await shared.close().catch(() => shared?.destroy());
  await servers?.stopAll();
}

let n = 0;
const run = randomUUID().slice(0, 8);
runStoreConformance({
  name: 'redis cluster (3 masters, given cluster client)',
  skip: skip && !requireServices ? skip : false,
  setup: startCluster,
  teardown: stopCluster,
  // A generous timeout: the suite's 200-way compare-and-set contention on a loaded machine (see redis-store.test.ts).
  createStore: () => new RedisStore({ client: shared as Cluster, prefix: `c${run}:${++n}:`, commandTimeout: 3000 }),
});

describe('redis cluster: layout and the store-owned cluster client', { skip: skip && !requireServices ? skip : false }, () => {
  let store: RedisStore;
  let own: RedisServers | null = null;
  const ownPorts: number[] = [];
  let probe: Cluster;

  before(async () => {
    own = new RedisServers();
    ownPorts.push(...(await own.startCluster()));
    store = new RedisStore({ cluster: { rootNodes: ownPorts.map((p) => `redis://127.0.0.1:${p}`) }, prefix: 'lay:' });
    probe = createCluster({ rootNodes: ownPorts.map((port) => ({ url: `redis://127.0.0.1:${port}` })) });
    probe.on('error', () => {});
    await probe.connect();
  });
  after(async () => {
    await store?.close();
    if (probe?.isOpen) await probe.close().catch(() => probe.destroy());
    await own?.stopAll();
  });

  it('ready() connects and loads the scripts on every master', async () => {
    const fresh = new RedisStore({ cluster: { rootNodes: ownPorts.map((p) => `redis://127.0.0.1:${p}`) }, prefix: 'ready:' });
    try {
      for (const port of ownPorts) await own?.cli(port, 'SCRIPT', 'FLUSH');
      await fresh.ready();
      const shas = Object.values(compileScripts(true, 300_000)).map((script) => script.sha);
      for (const port of ownPorts) {
        const exists = (await own?.cli(port, 'SCRIPT', 'EXISTS', ...shas))?.trim().split('\n');
        assert.deepEqual(
          exists,
          shas.map(() => '1'),
          `the scripts on the master at port ${port}`,
        );
      }
    } finally {
      await fresh.close();
    }
  });

  it('keeps a session and its subject index in one slot and counts across all masters', async () => {
    const clock = new ManualClock();
    const manager = new SessionManager({ store, clock, cleanupInterval: false });
    const now = clock.now();
    const subjects = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const shards = new Map<string, string>();
    for (const subject of subjects) {
      const partition = await store.subjectPartition(subject);
      const { record } = makeRecord(now, { subject }, partition);
      await store.create(record, { now });
      const shard = partition.slice(0, 2);
      shards.set(subject, shard);
      assert.notEqual(partition, unkeyedPartition(subject), 'a keyed partition, not the unkeyed SHA-256 of the subject');
      const key = `lay:s:{${record.id.slice(0, 2)}}${record.id.slice(2)}`;
      assert.equal(await probe.exists(key), 1, 'the session hash is where the layout says');
      assert.equal(Number(await probe.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', key])), slotOf(shard));
      assert.equal(Number(await probe.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', `lay:u:{${shard}}${subject}`])), slotOf(shard));
      assert.equal(Number(await probe.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', `lay:x:{${shard}}`])), slotOf(shard));
    }
    for (let i = 0; i < 10; i++) {
      const { record } = makeRecord(now);
      await store.create(record, { now });
    }
    const masters = new Set(subjects.map((s) => probe.slots[slotOf(shards.get(s) as string)]?.master.id));
    assert.ok(masters.size > 1, 'the sessions are spread over several masters');
    assert.equal(await manager.count(), 50);
    assert.equal((await manager.query({ limit: 1000 })).sessions.length, 50);
    assert.equal(await manager.count({ subject: 'user-3' }), 1);
    assert.equal(await store.count({ now: now + 86_400_000 }), 0);
    const swept = await store.deleteExpired(now + 86_400_000, 1000);
    assert.equal(swept.length, 50);
    assert.equal(swept.filter((s) => s.subject !== null).length, 40);
    manager.close();
    assert.equal(await probe.exists('lay:n'), 0, 'a cluster keeps no counter (no script could reach it from every slot)');
  });

  it("lists 0.1's sessions in another slot first, pages across both indexes, counts and revokes them, and trims only the keyed ones", async () => {
    const clock = new ManualClock();
    const now = clock.now();
    // A subject whose 0.1 index (unkeyed partition) is in another slot than its keyed one.
    let subject = '';
    for (let i = 0; subject === ''; i++) {
      const candidate = `legacy-${i}`;
      if (slotOf((await store.subjectPartition(candidate)).slice(0, 2)) !== slotOf(unkeyedPartition(candidate).slice(0, 2)))
        subject = candidate;
    }
    const legacy: string[] = [];
    for (let i = 0; i < 3; i++) legacy.push((await legacySession(probe, 'lay:', subject, now)).id);
    legacy.sort(); // one score (their expiry), so in id order
    const keyed: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const { record } = makeRecord(now + i, { subject }, await store.subjectPartition(subject));
      await store.create(record, { now: now + i });
      keyed.push(record.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result: SessionPage = await store.listBySubject(subject, { now, cursor, limit: 2 });
      seen.push(...result.sessions.map((r) => r.id));
      cursor = result.nextCursor;
      if (cursor === null) break;
    }
    assert.deepEqual(seen, [...legacy, ...keyed], "0.1's first (older), then the keyed ones, oldest first");
    assert.equal(await store.count({ now, subject }), 6);
    // The trim is one script in the keyed index's slot: it cannot reach 0.1's.
    const trimmed = await store.trimSubject(subject, { now, max: 2, keep: keyed[2] as string, batch: 10 });
    assert.deepEqual(
      trimmed.map((r) => r.id),
      [keyed[0]],
    );
    const removed = await store.deleteBySubject(subject, { now, limit: 4, except: keyed[2] as string });
    assert.deepEqual(
      removed.map((r) => r.id),
      [...legacy, keyed[1]],
      'a revocation takes both, up to its limit',
    );
    assert.deepEqual(
      (await store.listBySubject(subject, { now, limit: 10 })).sessions.map((r) => r.id),
      [keyed[2]],
    );
  });

  it('several instances sweeping thousands of expired sessions at once, on every master, report each exactly once, with its subject', async () => {
    const stores = Array.from(
      { length: 4 },
      () =>
        new RedisStore({ cluster: { rootNodes: ownPorts.map((p) => `redis://127.0.0.1:${p}`) }, prefix: 'sweep:', commandTimeout: 3000 }),
    );
    try {
      await sweepTogether({ stores });
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('works with a given RESP3 cluster client (HGETALL answers an object there)', async () => {
    const resp3 = createCluster({ rootNodes: ownPorts.map((port) => ({ url: `redis://127.0.0.1:${port}` })), RESP: 3 });
    resp3.on('error', () => {});
    await resp3.connect();
    const given = new RedisStore({ client: resp3, prefix: 'r3:' });
    try {
      const now = Date.now();
      const { record } = makeRecord(now, { subject: 'resp3', data: { n: 1 } }, await given.subjectPartition('resp3'));
      await given.create(record, { now });
      const touch = { maxIntervalMs: 60_000, idleFraction: 0.1 };
      // Inside the touch window the store sends a plain HGETALL: the path a RESP3 reply reaches.
      const loaded = await given.load(record.id, { now: now + 1000, secretHash: record.secretHash, touch });
      assert.equal(loaded?.subject, 'resp3');
      assert.equal(loaded?.data.n, 1);
      const applied = await given.apply(record.id, { increment: { n: 2 } }, { now: now + 2000 });
      assert.equal(applied.status, 'applied');
      assert.equal((await given.load(record.id, { now: now + 3000, secretHash: record.secretHash, touch }))?.data.n, 3);
      assert.equal(await given.count({ now }), 1);
    } finally {
      await given.close();
      await resp3.close().catch(() => resp3.destroy());
    }
  });
});
