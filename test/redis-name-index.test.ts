// A search by display-name prefix (issue 23, "Scale") reads the shards' display-name indexes, not
// every session: a search that matches nothing is one script that reads no session hash, however
// many sessions there are. The work is counted as the commands the server ran (INFO commandstats
// on a redis-server of the test's own), never timed. The answers are checked against what
// `matchesQuery` would keep: renames, revocations, expiry, the cursor, and sessions written
// before the index existed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { ManualClock, type SessionRecord } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord } from '../src/testing/index.js';
import { RedisServers, commandCalls, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the display-name index test`);

const SESSIONS = 3000;

describe('redis store: the display-name index', { skip: skip && !requireServices ? skip : false }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  let store: RedisStore;
  let admin: ReturnType<typeof createClient>;
  const clock = new ManualClock();
  const records: SessionRecord[] = [];

  async function measure(work: () => Promise<unknown>): Promise<Record<string, number>> {
    await admin.sendCommand(['CONFIG', 'RESETSTAT']);
    await work();
    return commandCalls(admin);
  }

  /** Every id the query answers, page by page (pages of `limit`). */
  async function all(displayNamePrefix: string, limit = 50): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await store.query({ now: clock.now(), displayNamePrefix, limit, cursor });
      ids.push(...page.sessions.map((s) => s.id));
      cursor = page.nextCursor;
      if (cursor === null) break;
    }
    return ids;
  }

  const named = (prefix: string) =>
    records
      .filter((r) => (r.displayName ?? '').startsWith(prefix))
      .map((r) => r.id)
      .sort();

  before(async () => {
    assert.ok(servers, 'redis-server is on PATH');
    const port = await freePort();
    await servers.start(port);
    const url = `redis://127.0.0.1:${port}`;
    store = new RedisStore({ url, prefix: 'names:', commandTimeout: 5000 });
    admin = createClient({ url });
    admin.on('error', () => {});
    await admin.connect();
    const now = clock.now();
    for (let i = 0; i < SESSIONS; i++) {
      const displayName = i % 100 === 7 ? `Alice ${i}` : i % 10 === 3 ? null : `user ${i}`;
      const { record } = makeRecord(now, { displayName });
      records.push(record);
    }
    await Promise.all(records.map((record) => store.create(record, { now })));
  });
  after(async () => {
    await store?.close();
    if (admin?.isOpen) admin.destroy();
    await servers?.stopAll();
  });

  it('answers a search that matches nothing in one script that reads no session', async () => {
    let page: Awaited<ReturnType<RedisStore['query']>> | undefined;
    const calls = await measure(async () => {
      page = await store.query({ now: clock.now(), displayNamePrefix: 'Zed', limit: 50 });
    });
    assert.deepEqual(page?.sessions, []);
    assert.equal(calls.evalsha, 1);
    assert.equal(calls.hget ?? 0, 0, 'no session hash is read');
    assert.equal(calls.hgetall ?? 0, 0);
  });

  it('finds a prefix in id order, a page at a time, reading about a page of sessions', async () => {
    assert.deepEqual(await all('Alice'), named('Alice'));
    assert.deepEqual(await all('Alice', 7), named('Alice'));
    assert.deepEqual(await all('user 1'), named('user 1'));
    const calls = await measure(() => store.query({ now: clock.now(), displayNamePrefix: 'Alice', limit: 10 }));
    assert.equal(calls.evalsha, 1);
    assert.ok((calls.hgetall ?? 0) <= 11, `${calls.hgetall} hashes read for a page of 10`);
    // Case-sensitive; '' is no condition (every session, named or not).
    assert.deepEqual(await all('alice'), []);
    assert.equal((await all('', 500)).length, SESSIONS);
  });

  it('follows renames, revocations and expiry', async () => {
    const [a, b, c] = records.filter((r) => r.displayName?.startsWith('Alice')) as [SessionRecord, SessionRecord, SessionRecord];
    const now = clock.now();
    await store.apply(a.id, { displayName: 'Bob' }, { now });
    await store.apply(b.id, { displayName: null }, { now });
    await store.delete(c.id);
    a.displayName = 'Bob';
    b.displayName = null;
    records.splice(records.indexOf(c), 1);
    assert.deepEqual(await all('Alice'), named('Alice'));
    assert.deepEqual(await all('Bob'), [a.id]);
    // A login that replaces a named session takes its entry with it.
    const { record: next } = makeRecord(now, { displayName: 'Carol' });
    assert.equal((await store.create(next, { now, replaces: { id: a.id, version: 2, supersededUntil: now + 1000 } })).status, 'created');
    assert.deepEqual(await all('Bob'), []);
    assert.deepEqual(await all('Carol'), [next.id]);
    // Expired sessions are not answered, and the sweep takes their entries.
    clock.advance(3600_000);
    assert.deepEqual(await all('Alice'), []);
    await store.deleteExpired(clock.now(), 100_000);
    const left = await admin.keys('names:d:*');
    let members = 0;
    for (const key of left) members += (await admin.zCard(key)) - 1;
    assert.equal(members, 0, 'no entry outlives its session');
  });

  it('still finds sessions written before the index existed, and the heal indexes them', async () => {
    const now = clock.now();
    const old: SessionRecord[] = [];
    for (let i = 0; i < 200; i++) old.push(makeRecord(now, { displayName: `Dave ${i}` }).record);
    await Promise.all(old.map((record) => store.create(record, { now })));
    // As a store before this index left them: no display-name index at all.
    for (const key of await admin.keys('names:d:*')) await admin.del(key);
    const want = old.map((r) => r.id).sort();
    assert.deepEqual(await all('Dave'), want);
    // Every shard healed (64 sweeps heal them all): the index answers alone again.
    for (let i = 0; i < 64; i++) await store.deleteExpired(now, 500);
    assert.deepEqual(await all('Dave'), want);
    const calls = await measure(() => store.query({ now, displayNamePrefix: 'Zed', limit: 50 }));
    assert.equal(calls.hget ?? 0, 0);
  });
});
