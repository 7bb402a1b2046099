import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SessionManager, ManualClock, type RemovedSession } from '../src/core/index.js';
import { PostgresStore, migrate, type SessionChange } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();

describe('postgres store on several instances', { skip }, () => {
  const schema = randomSchema();
  // A channel of our own, so suites running at the same time on this database do not cross-talk.
  const channel = `tessera_test_${randomBytes(6).toString('hex')}`;
  let admin: pg.Pool;
  const stores: PostgresStore[] = [];
  const instance = () => {
    const store = new PostgresStore({ connectionString: url as string, schema, channel, poolSize: 4 });
    stores.push(store);
    return store;
  };

  before(async () => {
    admin = new pg.Pool({ connectionString: url as string });
    await migrate(admin, { schema });
  });
  after(async () => {
    for (const store of stores.splice(0)) await store.close();
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  it('3 instances sweeping 5,000 expired sessions at once delete each exactly once, with its subject, and keep the live ones', async () => {
    const now = Date.now();
    const expired = 5000;
    const live = 200;
    // Expired rows in bulk (created an hour ago with a 60 s idle timeout), live rows beside them.
    await admin.query(
      `INSERT INTO "${schema}".tessera_sessions
         (id, secret_hash, subject, created_at, last_seen_at, renewed_at, idle_timeout, absolute_expires_at, expires_at, version, data)
       SELECT 'x' || lpad(g::text, 27, '0'), 'h', CASE WHEN g % 3 = 0 THEN 'user' || (g % 50) END,
              $1::bigint, $1::bigint, $1::bigint, 60, $1::bigint + 86400000, $1::bigint + 60000 - (g % 1000), 1, '{"a":1}'
       FROM generate_series(1, $2::int) AS g`,
      [now - 3_600_000, expired],
    );
    const liveIds: string[] = [];
    const seed = instance();
    for (let i = 0; i < live; i++) {
      const { record } = makeRecord(now, { subject: i % 2 ? 'kept' : null });
      await seed.create(record, { now });
      liveIds.push(record.id);
    }

    // The subject each expired row was given above, by its number.
    const subjectOf = (id: string) => {
      const g = Number(id.slice(1));
      return g % 3 === 0 ? `user${g % 50}` : null;
    };

    const sweepers = [instance(), instance(), instance()];
    // Connected and migrated first, so that the sweeps start together.
    await Promise.all(sweepers.map((store) => store.count({ now })));
    const removed: RemovedSession[][] = [[], [], []];
    const spans: Array<[number, number]> = [];
    const batch = 97;
    await Promise.all(
      sweepers.map(async (store, n) => {
        const from = performance.now();
        // Each instance sweeps until a batch comes back empty, as a cleanup timer would.
        for (;;) {
          const gone = await store.deleteExpired(now, batch);
          assert.ok(gone.length <= batch);
          (removed[n] as RemovedSession[]).push(...gone);
          if (gone.length === 0) break;
        }
        spans[n] = [from, performance.now()];
      }),
    );
    const all = removed.flat();
    assert.equal(all.length, expired, 'every expired session reported once in total');
    assert.equal(new Set(all.map((r) => r.id)).size, expired, 'no session reported twice');
    for (const r of all) assert.equal(r.subject, subjectOf(r.id), `the subject reported for ${r.id}`);
    assert.ok(removed.filter((ids) => ids.length > 0).length >= 2, `the work was shared: ${removed.map((r) => r.length).join(', ')}`);
    assert.ok(Math.max(...spans.map((s) => s[0])) < Math.min(...spans.map((s) => s[1])), 'the sweeps overlapped in time');
    const left = await admin.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE expires_at <= $1)::int AS expired FROM "${schema}".tessera_sessions`,
      [now],
    );
    assert.deepEqual(left.rows[0], { n: live, expired: 0 });
    for (const id of liveIds.slice(0, 10)) assert.ok(await seed.load(id, { now }));
  });

  it('the sweep of a session manager on each instance emits each expired event once, with its subject', async () => {
    const now = Date.now();
    const seed = instance();
    const subjects = new Map<string, string | null>();
    for (let i = 0; i < 300; i++) {
      const subject = i % 2 ? `m${i % 7}` : null;
      const { record } = makeRecord(now - 7_200_000, { idleTimeout: 60, subject });
      await seed.create(record, { now: now - 7_200_000 });
      subjects.set(record.id, subject);
    }
    const stores = [instance(), instance(), instance()];
    await Promise.all(stores.map((store) => store.count({ now })));
    const events: RemovedSession[][] = [[], [], []];
    const managers = stores.map((store, n) => {
      const clock = new ManualClock(now);
      const manager = new SessionManager({ store, clock, cleanupInterval: false, cleanupBatchSize: 10 });
      manager.on('expired', (event) => void (events[n] as RemovedSession[]).push(event.session));
      return manager;
    });
    const counts = await Promise.all(managers.map((m) => m.sweep()));
    for (const m of managers) m.close();
    const all = events.flat();
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      300,
    );
    assert.equal(all.length, 300);
    assert.equal(new Set(all.map((e) => e.id)).size, 300);
    for (const e of all) {
      assert.ok(subjects.has(e.id), `${e.id} was one of the expired sessions`);
      assert.equal(e.subject, subjects.get(e.id), `the subject the event carried for ${e.id}`);
    }
    assert.ok(events.filter((list) => list.length > 0).length >= 2, `the work was shared: ${events.map((list) => list.length).join(', ')}`);
  });

  it("publishes revocations and rotations that another instance's watch() receives", async () => {
    const first = instance();
    const second = instance();
    const received: SessionChange[] = [];
    let wake: () => void = () => {};
    const stop = await second.watch((change) => {
      received.push(change);
      wake();
    });
    const waitFor = async (count: number) => {
      const deadline = Date.now() + 5000;
      while (received.length < count && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100).unref();
        });
      }
    };
    const now = Date.now();
    const { record: revoked } = makeRecord(now, { subject: 'watcher' });
    await first.create(revoked, { now });
    assert.deepEqual(await first.delete(revoked.id), { id: revoked.id, subject: 'watcher' });
    await waitFor(1);
    assert.deepEqual(received, [{ type: 'revoked', id: revoked.id, subject: 'watcher' }]);

    // A login or rotation replacing a session publishes `replaced`; an eviction (the trim after a login) publishes `revoked`.
    const { record: old } = makeRecord(now, { subject: 'watcher' });
    await first.create(old, { now });
    const { record: other } = makeRecord(now + 1, { subject: 'watcher' });
    await first.create(other, { now: now + 1 });
    const { record: next } = makeRecord(now + 2, { subject: 'watcher' });
    const created = await first.create(next, {
      now: now + 2,
      replaces: { id: old.id, version: old.version, supersededUntil: now + 30_002 },
    });
    assert.deepEqual(created, { status: 'created', evicted: [] });
    assert.deepEqual(await first.trimSubject('watcher', { now: now + 2, max: 1, keep: next.id, batch: 10 }), [
      { id: other.id, subject: 'watcher' },
    ]);
    await waitFor(3);
    assert.deepEqual(
      received.slice(1).sort((a, b) => a.type.localeCompare(b.type)),
      [
        { type: 'replaced', id: old.id, subject: 'watcher' },
        { type: 'revoked', id: other.id, subject: 'watcher' },
      ],
    );

    // Revoke-all publishes one change per session; after unsubscribing nothing more arrives.
    await first.deleteBySubject('watcher', { now: now + 3, limit: 10 });
    await waitFor(4);
    assert.deepEqual(received[3], { type: 'revoked', id: next.id, subject: 'watcher' });
    await stop();
    const { record: late } = makeRecord(now, { subject: 'watcher' });
    await first.create(late, { now });
    await first.delete(late.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(received.length, 4);
  });

  it('holds a limit of 1 under 20 simultaneous logins spread over 2 pools (reject at create; evict-oldest by trimming after)', async () => {
    const a = instance();
    const b = instance();
    for (const onLimit of ['reject', 'evict-oldest'] as const) {
      const subject = `racer-${onLimit}`;
      const now = Date.now();
      let evicted = 0;
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const { record } = makeRecord(now + i, { subject });
          const store = i % 2 ? a : b;
          if (onLimit === 'reject') return store.create(record, { now: now + i, limit: { max: 1 } });
          // As the core does it: the create, then a trim that keeps the new session.
          const result = await store.create(record, { now: now + i });
          const removed = await store.trimSubject(subject, { now: now + i, max: 1, keep: record.id, batch: 500 });
          evicted += removed.length;
          return result;
        }),
      );
      const created = results.filter((r) => r.status === 'created').length;
      if (onLimit === 'reject') assert.equal(created, 1);
      else {
        assert.equal(created, 20);
        assert.equal(evicted, 19, 'each session beyond the limit evicted once');
      }
      assert.equal(await a.count({ now: now + 100, subject }), 1);
    }
  });
});
