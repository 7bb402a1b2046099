// The Redis outbox checks, run on the machine's Redis and on a Redis Cluster (test/redis-outbox.test.ts):
// each ending call records its notices in its own script, claims are disjoint, the queue's semantics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock, type SessionRecord } from '../../src/core/index.js';
import type { SessionNotice } from '../../src/core/outbox.js';
import type { RedisStore } from '../../src/stores/redis/index.js';
import { makeRecord } from '../../src/testing/index.js';

export interface OutboxSuiteOptions {
  name: string;
  skip: string | false;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
  /** A store on a prefix of its own; a second call with `same` gives another store object on the same prefix. */
  createStore: (options?: { same?: boolean; expiredRetention?: number }) => RedisStore;
}

const T0 = 1_800_000_000_000;

async function session(store: RedisStore, clock: ManualClock, subject: string | null, overrides: Partial<SessionRecord> = {}) {
  const partition = subject === null ? null : await store.subjectPartition(subject);
  const { record } = makeRecord(clock.now(), { subject, ...overrides }, partition);
  const created = await store.create(record, { now: clock.now() });
  assert.equal(created.status, 'created');
  return record;
}

function ended(record: SessionRecord, reason: string, at: number, attempts = 1): SessionNotice {
  const { id, subject } = record;
  return {
    id: `session.ended:${id}`,
    type: 'session.ended',
    sessionId: id,
    subject,
    reason: reason as SessionNotice['reason'],
    at,
    attempts,
  };
}

const byId = (a: SessionNotice, b: SessionNotice) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Everything due at `now`, claimed. */
async function claimAll(store: RedisStore, now: number): Promise<SessionNotice[]> {
  return (await store.outbox.claimNotices({ now, limit: 1000, leaseUntil: now + 60_000 })).sort(byId);
}

export function runOutboxSuite(options: OutboxSuiteOptions): void {
  const { createStore } = options;
  describe(`redis outbox: ${options.name}`, { skip: options.skip }, () => {
    if (options.setup) before(options.setup);
    if (options.teardown) after(options.teardown);

    it('declares the outbox and its name', () => {
      const store = createStore();
      assert.equal(store.capabilities.outbox, true);
      assert.equal(store.name, 'redis');
      return store.close();
    });

    it('records nothing when an ending call asks for no notice', async () => {
      const store = createStore();
      const clock = new ManualClock(T0);
      try {
        const a = await session(store, clock, 'ann');
        await session(store, clock, 'ann');
        const c = await session(store, clock, 'ann');
        const d = await session(store, clock, null, { absoluteExpiresAt: T0 + 1000 });
        await store.delete(a.id);
        await store.trimSubject('ann', { now: clock.now(), max: 1, keep: c.id, batch: 10 });
        assert.equal((await store.deleteBySubject('ann', { now: clock.now(), limit: 10 })).length, 1);
        clock.advance(2000);
        assert.deepEqual(
          (await store.deleteExpired(clock.now(), 100)).map((r) => r.id),
          [d.id],
        );
        assert.equal(await store.outbox.countNotices(), 0);
        assert.deepEqual(await claimAll(store, clock.now() + 1e9), []);
      } finally {
        await store.close();
      }
    });

    it('delete, deleteBySubject and trimSubject record one notice per session removed, with its subject', async () => {
      const store = createStore();
      const clock = new ManualClock(T0);
      try {
        const anon = await session(store, clock, null);
        const one = await session(store, clock, 'bo');
        const [two, three, four] = [
          await session(store, clock, 'cy'),
          await session(store, clock, 'cy'),
          await session(store, clock, 'cy'),
        ];
        const [five, six] = [await session(store, clock, 'di'), await session(store, clock, 'di')];
        assert.deepEqual(await store.delete(anon.id, { notice: { reason: 'logout', at: T0 + 1 } }), { id: anon.id, subject: null });
        await store.delete(one.id, { notice: { reason: 'admin', at: T0 + 2 } });
        // Gone already: nothing removed, nothing recorded.
        assert.equal(await store.delete(one.id, { notice: { reason: 'admin', at: T0 + 3 } }), null);
        const trimmed = await store.trimSubject('cy', {
          now: T0,
          max: 1,
          keep: four.id,
          batch: 10,
          notice: { reason: 'evicted', at: T0 + 4 },
        });
        assert.deepEqual(trimmed.map((r) => r.id).sort(), [two.id, three.id].sort());
        const dropped = await store.deleteBySubject('di', { now: T0, except: six.id, limit: 10, notice: { reason: 'user', at: T0 + 5 } });
        assert.deepEqual(dropped, [{ id: five.id, subject: 'di' }]);
        assert.equal(await store.outbox.countNotices(), 5);
        const expected = [
          ended(anon, 'logout', T0 + 1),
          ended(one, 'admin', T0 + 2),
          ended(two, 'evicted', T0 + 4),
          ended(three, 'evicted', T0 + 4),
          ended(five, 'user', T0 + 5),
        ].sort(byId);
        assert.deepEqual(await claimAll(store, T0 + 10), expected);
      } finally {
        await store.close();
      }
    });

    it("deleteExpired records each session's notice with its subject and expiresAt, reason expired, due at the sweep's now", async () => {
      const store = createStore();
      const clock = new ManualClock(T0);
      try {
        const a = await session(store, clock, 'ed', { absoluteExpiresAt: T0 + 1000 });
        const b = await session(store, clock, null, { absoluteExpiresAt: T0 + 2000 });
        const live = await session(store, clock, 'ed');
        clock.advance(5000);
        const removed = await store.deleteExpired(clock.now(), 100, { notice: true });
        assert.deepEqual(removed.map((r) => r.id).sort(), [a.id, b.id].sort());
        // Due at the sweep's now, not before.
        assert.deepEqual(await store.outbox.claimNotices({ now: T0 + 4999, limit: 10, leaseUntil: T0 + 6000 }), []);
        assert.deepEqual(await claimAll(store, clock.now()), [ended(a, 'expired', T0 + 1000), ended(b, 'expired', T0 + 2000)].sort(byId));
        assert.notEqual(await store.load(live.id, { now: clock.now() }), null);
      } finally {
        await store.close();
      }
    });

    it('a session whose hash Redis already dropped is noticed by the sweep with its subject and the expiry it was indexed with', async () => {
      const store = createStore({ expiredRetention: 0 });
      const clock = new ManualClock(T0);
      try {
        // The TTL is relative to the core's clock: 20 ms of real time.
        const a = await session(store, clock, 'fay', { absoluteExpiresAt: T0 + 20 });
        const b = await session(store, clock, null, { absoluteExpiresAt: T0 + 20 });
        // Real time passing is the point here: Redis drops the hashes by their TTL.
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(await store.load(a.id, { now: T0 }), null, 'Redis dropped the hash');
        clock.advance(1000);
        const removed = await store.deleteExpired(clock.now(), 100, { notice: true });
        assert.deepEqual(
          removed.sort((x, y) => (x.id < y.id ? -1 : 1)),
          [
            { id: a.id, subject: 'fay' },
            { id: b.id, subject: null },
          ].sort((x, y) => (x.id < y.id ? -1 : 1)),
        );
        assert.deepEqual(await claimAll(store, clock.now()), [ended(a, 'expired', T0 + 20), ended(b, 'expired', T0 + 20)].sort(byId));
        assert.equal((await store.listBySubject('fay', { now: T0, limit: 10 })).sessions.length, 0, 'its subject index entry went too');
      } finally {
        await store.close();
      }
    });

    it('claims the earliest due first, each with one more attempt, and never again before its lease ends', async () => {
      const store = createStore();
      try {
        const records = makeRecords(6);
        // Due (and at) T0 + 10 * i, added out of order.
        await store.outbox.addNotices([3, 0, 5, 1, 4, 2].map((i) => notice(records[i] as SessionRecord, T0 + 10 * i)));
        const first = await store.outbox.claimNotices({ now: T0 + 30, limit: 2, leaseUntil: T0 + 1000 });
        assert.deepEqual(
          first.map((n) => [n.sessionId, n.attempts]),
          [0, 1].map((i) => [records[i]?.id, 1]),
        );
        const second = await store.outbox.claimNotices({ now: T0 + 30, limit: 10, leaseUntil: T0 + 1000 });
        assert.deepEqual(
          second.map((n) => n.sessionId).sort(),
          [2, 3].map((i) => records[i]?.id).sort(),
          'only those due at now, none claimed already',
        );
        assert.deepEqual(
          await store.outbox.claimNotices({ now: T0 + 999, limit: 2, leaseUntil: T0 + 2000 }).then((c) => c.map((n) => n.sessionId)),
          [records[4]?.id, records[5]?.id],
        );
        // The leases end at T0 + 1000: claimed again, a second attempt.
        const again = await store.outbox.claimNotices({ now: T0 + 1000, limit: 10, leaseUntil: T0 + 3000 });
        assert.deepEqual(again.map((n) => [n.sessionId, n.attempts]).sort(), [0, 1, 2, 3].map((i) => [records[i]?.id, 2]).sort());
        assert.equal(await store.outbox.countNotices(), 6, 'claimed notices are still held');
      } finally {
        await store.close();
      }
    });

    it('defers, removes, ignores held and unknown ids, and trims the oldest by `at` beyond the cap', async () => {
      const store = createStore();
      try {
        const records = makeRecords(5);
        const notices = records.map((r, i) => notice(r, T0 + 100 - i));
        await store.outbox.addNotices(notices);
        // Held already: left as it is (its `at` too).
        await store.outbox.addNotices([{ ...(notices[0] as SessionNotice), at: 1 }]);
        assert.equal(await store.outbox.countNotices(), 5);
        const [claimed] = await store.outbox.claimNotices({ now: T0 + 100, limit: 1, leaseUntil: T0 + 10_000 });
        assert.equal(claimed?.sessionId, records[4]?.id);
        await store.outbox.deferNotice(claimed?.id as string, T0 + 500);
        await store.outbox.deferNotice(`session.ended:${records[0]?.id.replace(/^../, 'zz')}`, T0);
        await store.outbox.deferNotice('not a notice', T0);
        const due = await store.outbox.claimNotices({ now: T0 + 500, limit: 10, leaseUntil: T0 + 10_000 });
        assert.equal(due.length, 5, 'the deferred one is due at its new time');
        assert.equal(due.find((n) => n.sessionId === records[4]?.id)?.attempts, 2);
        await store.outbox.removeNotices([notices[1]?.id as string, 'session.ended:unknown', notices[1]?.id as string]);
        assert.equal(await store.outbox.countNotices(), 4);
        assert.equal(await store.outbox.trimNotices(10), 0);
        // Oldest by `at`: records 4 and 3 (at T0 + 96, T0 + 97).
        assert.equal(await store.outbox.trimNotices(2), 2);
        const left = await store.outbox.claimNotices({ now: T0 + 20_000, limit: 10, leaseUntil: T0 + 30_000 });
        assert.deepEqual(left.map((n) => n.sessionId).sort(), [records[0]?.id, records[2]?.id].sort());
        assert.equal(await store.outbox.trimNotices(0), 2);
        assert.equal(await store.outbox.countNotices(), 0);
      } finally {
        await store.close();
      }
    });

    it('two store objects claiming at once get disjoint notices, all of them between them', async () => {
      const one = createStore();
      const two = createStore({ same: true });
      try {
        const records = makeRecords(200);
        await one.outbox.addNotices(records.map((r, i) => notice(r, T0 + i)));
        const claims = { now: T0 + 1000, limit: 60, leaseUntil: T0 + 60_000 };
        const seen: string[] = [];
        for (let round = 0; round < 2; round++) {
          const [a, b] = await Promise.all([one.outbox.claimNotices(claims), two.outbox.claimNotices(claims)]);
          assert.equal(a.length + b.length, round === 0 ? 120 : 80);
          seen.push(...a.map((n) => n.id), ...b.map((n) => n.id));
        }
        assert.equal(new Set(seen).size, 200, 'no notice claimed twice');
        assert.deepEqual(await two.outbox.claimNotices(claims), []);
      } finally {
        await one.close();
        await two.close();
      }
    });
  });
}

function notice(record: SessionRecord, at: number): Omit<SessionNotice, 'attempts'> {
  return { id: `session.ended:${record.id}`, type: 'session.ended', sessionId: record.id, subject: record.subject, reason: 'admin', at };
}

/** Records for notices (their sessions need not exist): anonymous ids, spread over the shards. */
function makeRecords(count: number): SessionRecord[] {
  return Array.from({ length: count }, () => makeRecord(T0).record);
}
