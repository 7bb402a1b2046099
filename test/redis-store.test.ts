// The store conformance suite on the machine's Redis, and the round trips per request measured with INFO commandstats
// (on a redis-server of the suite's own).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { createClient } from 'redis';
import { InvalidOptionError, StoreUnavailableError } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord, runStoreConformance } from '../src/testing/index.js';
import { requireServices } from './support/redis-servers.js';
import { runRoundTripSuite } from './support/redis-round-trips.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const root = `tessera-test:${randomUUID()}:`;

async function reachable(target: string): Promise<string | null> {
  const client = createClient({ url: target, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return `Redis at ${target} is unreachable (${(error as Error).message || String(error)})`;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** Deletes every key under a prefix (SCAN is fine in tests, never in the store). */
async function deleteByPrefix(target: string, prefix: string): Promise<void> {
  const client = createClient({ url: target });
  client.on('error', () => {});
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    client.destroy();
  }
}

const unreachable = await reachable(url);
if (unreachable !== null) console.log(`${unreachable}${requireServices ? '' : ': skipping the Redis conformance suite'}`);

let n = 0;
runStoreConformance({
  name: `redis (${url})`,
  skip: unreachable !== null && !requireServices ? unreachable : false,
  // The suite's 200-way compare-and-set contention can hold a reply in the client's queue past the
  // 500 ms default on a loaded 2-core machine; the fault test checks the default itself.
  createStore: () => new RedisStore({ url, prefix: `${root}${++n}:`, commandTimeout: 3000 }),
  teardown: async () => {
    if (unreachable === null) await deleteByPrefix(url, root);
  },
});

runRoundTripSuite('redis-server');

describe('redis store: options and ownership', () => {
  it('validates its options at construction', () => {
    assert.throws(() => new RedisStore({ prefix: 'a{b}:' }), InvalidOptionError);
    assert.throws(() => new RedisStore({ commandTimeout: 0 }), InvalidOptionError);
    assert.throws(() => new RedisStore({ url, cluster: { rootNodes: [url] } }), InvalidOptionError);
    assert.throws(() => new RedisStore({ cluster: { rootNodes: [] } }), InvalidOptionError);
  });

  it('leaves a client it was given open', { skip: unreachable !== null && !requireServices ? unreachable : false }, async () => {
    const client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
    try {
      const prefix = `${root}given:`;
      const store = new RedisStore({ client, prefix });
      const now = Date.now();
      const { token: _t, ...record } = makeRecord(now, { subject: 'given' });
      await store.create(record, { now });
      assert.equal((await store.load(record.id, { now }))?.subject, 'given');
      await store.close();
      assert.ok(client.isOpen);
      assert.equal(await client.ping(), 'PONG');
      await assert.rejects(store.load(record.id, { now }), StoreUnavailableError, 'a closed store refuses work');
      await deleteByPrefix(url, prefix);
    } finally {
      client.destroy();
    }
  });
});
