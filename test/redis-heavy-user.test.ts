// One subject with 57,000 sessions (issue 20, "no listing blocks the server"): each page of its
// listing, its count, a bounded revocation, a trim and a login refused at its limit are each one
// script whose work does not grow with the subject's sessions. The work is counted as the commands
// the server ran (INFO commandstats on a redis-server of the test's own), never timed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { ManualClock, SessionManager, type SessionRecord } from '../src/core/index.js';
import { SHARD_LENGTH } from '../src/core/token.js';
import type { SessionPage } from '../src/core/store.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { makeRecord } from '../src/testing/index.js';
import { RedisServers, commandCalls, freePort, hasRedisServer, requireServices } from './support/redis-servers.js';

const canSpawn = hasRedisServer();
const skip = canSpawn ? false : 'redis-server is not on PATH';
if (skip && !requireServices) console.log(`${skip}: skipping the heavy-user test`);

const HEAVY = 57_000;
const PAGE = 50;

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
async function bounded(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

describe('redis store: one subject with 57,000 sessions', { skip: skip && !requireServices ? skip : false }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  let store: RedisStore;
  let admin: ReturnType<typeof createClient>;
  const clock = new ManualClock();
  /** The heavy subject's ids, oldest first (createdAt, then id). */
  let expected: string[] = [];

  /** The commands the server ran for `work`, by name, and their total (the admin client's own left out). */
  async function measure(work: () => Promise<unknown>): Promise<{ calls: Record<string, number>; total: number }> {
    await admin.sendCommand(['CONFIG', 'RESETSTAT']);
    await work();
    const calls = await commandCalls(admin);
    for (const name of Object.keys(calls)) if (name === 'info' || name.startsWith('config')) delete calls[name];
    return { calls, total: Object.values(calls).reduce((a, b) => a + b, 0) };
  }

  before(async () => {
    assert.ok(servers, 'redis-server is on PATH');
    const port = await freePort();
    await servers.start(port);
    const url = `redis://127.0.0.1:${port}`;
    store = new RedisStore({ url, prefix: 'heavy:', commandTimeout: 5000 });
    admin = createClient({ url });
    admin.on('error', () => {});
    await admin.connect();
    const partition = await store.subjectPartition('heavy');
    const now = clock.now();
    const created: Array<{ id: string; createdAt: number }> = [];
    // Three sessions share each createdAt (a rotation keeps it), so ties are ordered by id.
    await bounded(HEAVY, 200, async (i) => {
      const at = now - HEAVY + Math.floor(i / 3);
      const { record } = makeRecord(at, { subject: 'heavy' }, partition);
      const result = await store.create(record, { now: at });
      assert.equal(result.status, 'created');
      created.push({ id: record.id, createdAt: at });
    });
    created.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    expected = created.map((r) => r.id);
    // Another user, who must never be touched.
    const { record: neighbour } = makeRecord(now, { subject: 'light' }, await store.subjectPartition('light'));
    await store.create(neighbour, { now });
  });
  after(async () => {
    await store?.close();
    if (admin?.isOpen) admin.destroy();
    await servers?.stopAll();
  });

  it('lists it a page at a time, oldest first, each page one script of about a page of reads', async () => {
    const now = clock.now();
    const first = await measure(() => store.listBySubject('heavy', { now, limit: PAGE }));
    console.log(`first page of ${PAGE}: ${JSON.stringify(first.calls)}`);
    assert.equal(first.calls.evalsha, 1, 'one script');
    assert.ok((first.calls.hgetall ?? 0) <= PAGE + 1, `reads about a page of sessions (${first.calls.hgetall} HGETALL)`);
    assert.ok(first.total <= 4 * PAGE + 20, `a bounded number of commands (${first.total})`);

    // The whole listing in pages of 1000: every session once, in order.
    const seen: string[] = [];
    let cursor: string | null = null;
    let deep: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result: SessionPage = await store.listBySubject('heavy', { now, cursor, limit: 1000 });
      assert.ok(result.sessions.length <= 1000, 'no page larger than its limit');
      for (const record of result.sessions) assert.equal(record.subject, 'heavy');
      seen.push(...result.sessions.map((r) => r.id));
      cursor = result.nextCursor;
      if (page === 30) deep = cursor;
      if (cursor === null) break;
    }
    assert.equal(seen.length, HEAVY);
    assert.deepEqual(seen, expected, 'every session once, oldest first');

    const middle = await measure(() => store.listBySubject('heavy', { now, cursor: deep, limit: PAGE }));
    console.log(`a page from a cursor 31,000 sessions in: ${JSON.stringify(middle.calls)}`);
    assert.equal(middle.calls.evalsha, 1);
    assert.ok((middle.calls.hgetall ?? 0) <= PAGE + 1, `reads about a page of sessions (${middle.calls.hgetall} HGETALL)`);
    assert.ok(middle.total <= 4 * PAGE + 60, `a bounded number of commands (${middle.total})`);

    const m = new SessionManager({ store, clock, cleanupInterval: false });
    try {
      const page = await m.list('heavy', { currentId: expected[1] as string });
      assert.equal(page.sessions.length, PAGE, 'the manager gives the first page by default');
      assert.deepEqual(
        page.sessions.map((s) => s.id),
        expected.slice(0, PAGE),
      );
      assert.deepEqual(
        page.sessions.map((s) => s.current),
        expected.slice(0, PAGE).map((_, i) => i === 1),
      );
      assert.notEqual(page.nextCursor, null);
    } finally {
      m.close();
    }
  });

  it('counts it in one script that reads neither its sessions nor its whole index', async () => {
    const now = clock.now();
    let counted = 0;
    const cost = await measure(async () => {
      counted = await store.count({ now, subject: 'heavy' });
    });
    console.log(`count by subject: ${JSON.stringify(cost.calls)}`);
    assert.equal(counted, HEAVY);
    assert.equal(cost.calls.evalsha, 1);
    assert.ok(cost.total <= 20, `a bounded number of commands (${cost.total})`);
  });

  it('refuses a login at its limit, trims and revokes it a bounded batch at a time', async () => {
    const now = clock.now();
    const partition = await store.subjectPartition('heavy');
    const { record } = makeRecord(now, { subject: 'heavy' }, partition);
    let refused: unknown;
    const refusal = await measure(async () => {
      refused = await store.create(record, { now, limit: { max: HEAVY } });
    });
    console.log(`create refused at the limit: ${JSON.stringify(refusal.calls)}`);
    assert.deepEqual(refused, { status: 'limit' });
    assert.ok(refusal.total <= 40, `a bounded number of commands (${refusal.total})`);

    let trimmed: Array<{ id: string }> = [];
    const trim = await measure(async () => {
      trimmed = await store.trimSubject('heavy', { now, max: HEAVY - 10, keep: expected[0] as string, batch: 5 });
    });
    console.log(`trim of 5: ${JSON.stringify(trim.calls)}`);
    assert.deepEqual(
      trimmed.map((r) => r.id),
      expected.slice(1, 6),
      'the oldest but the one kept',
    );
    assert.ok(trim.total <= 60, `a bounded number of commands (${trim.total})`);

    let removed: SessionRecord[] | Array<{ id: string }> = [];
    const revoke = await measure(async () => {
      removed = await store.deleteBySubject('heavy', { now, limit: 100, except: expected[0] as string });
    });
    console.log(`revocation of 100: ${JSON.stringify(revoke.calls)}`);
    assert.equal(removed.length, 100);
    // About six a session, one of them the HDEL of its subject from the shard's `w` hash (see "Expired sessions and the sweep").
    assert.ok(revoke.total <= 7 * 100 + 40, `a bounded number of commands, about six a session (${revoke.total})`);
    assert.equal(await store.count({ now, subject: 'heavy' }), HEAVY - 105);
    assert.equal(await store.count({ now, subject: 'light' }), 1, 'the neighbour is untouched');
  });
});

describe('redis store: a page meets expired and vanished sessions', { skip: skip && !requireServices ? skip : false }, () => {
  const servers = canSpawn ? new RedisServers() : null;
  let store: RedisStore;
  let admin: ReturnType<typeof createClient>;

  before(async () => {
    assert.ok(servers, 'redis-server is on PATH');
    const port = await freePort();
    await servers.start(port);
    const url = `redis://127.0.0.1:${port}`;
    store = new RedisStore({ url, prefix: 'met:', commandTimeout: 5000 });
    admin = createClient({ url });
    admin.on('error', () => {});
    await admin.connect();
  });
  after(async () => {
    await store?.close();
    if (admin?.isOpen) admin.destroy();
    await servers?.stopAll();
  });

  it('trims the expired ones it meets, drops those deleted by hand, and goes on after a cursor whose session is gone', async () => {
    const clock = new ManualClock();
    const now = clock.now();
    const partition = await store.subjectPartition('meg');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      // Sessions 2, 3 and 4 idle out after a second; the others live on.
      const { record } = makeRecord(now + i, { subject: 'meg', idleTimeout: i >= 2 && i <= 4 ? 1 : 1800 }, partition);
      await store.create(record, { now: now + i });
      ids.push(record.id);
    }
    const shard = partition.slice(0, SHARD_LENGTH);
    const u = `met:u:{${shard}}meg`;
    const sessionKey = (id: string) => `met:s:{${shard}}${id.slice(SHARD_LENGTH)}`;
    await admin.del(sessionKey(ids[8] as string)); // deleted by hand
    const later = now + 5000;
    const first = await store.listBySubject('meg', { now: later, limit: 3 });
    assert.deepEqual(
      first.sessions.map((r) => r.id),
      [ids[0], ids[1], ids[5]],
    );
    assert.equal(await admin.zCard(u), 9, 'the three expired entries it met left the subject index');
    assert.ok(await admin.zScore(`met:x:{${shard}}`, ids[2] as string), 'but stay in the expiry index, for the sweep to report');
    // The session the cursor names ends before the next page is asked for.
    assert.notEqual(await store.delete(ids[5] as string), null);
    const second = await store.listBySubject('meg', { now: later, cursor: first.nextCursor, limit: 3 });
    assert.deepEqual(
      second.sessions.map((r) => r.id),
      [ids[6], ids[7], ids[9]],
    );
    assert.equal(await admin.zScore(u, ids[8] as string), null, 'the vanished one left the subject index');
    assert.equal(await admin.zScore(`met:x:{${shard}}`, ids[8] as string), null, 'and the expiry index');
    const third = await store.listBySubject('meg', { now: later, cursor: second.nextCursor, limit: 3 });
    assert.deepEqual(
      third.sessions.map((r) => r.id),
      [ids[10], ids[11]],
    );
    assert.equal(third.nextCursor, null);
    assert.equal(await store.count({ now: later, subject: 'meg' }), 7);
    await assert.rejects(store.listBySubject('meg', { now: later, cursor: 'not a cursor', limit: 3 }), { code: 'BAD_REQUEST' });
  });
});
