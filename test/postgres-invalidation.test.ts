/**
 * PostgreSQL as an `InvalidationSource` and `SharedCounters`, on a real server: every way a session
 * row changes, through another store object or by hand, reaches a subscriber; its own writes do
 * not; `probe` delivers what was committed before it; a lost `LISTEN` connection says `down()` and
 * comes back by itself; counts are shared between instances and their old windows forgotten.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { InvalidationListener, InvalidationSubscription } from '../src/core/index.js';
import { invalidationChannel } from '../src/stores/postgres/migrations.js';
import { PostgresStore, migrate } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();

/** What a listener was told, in order. */
class Recorder implements InvalidationListener {
  readonly ids: string[] = [];
  all = 0;
  downs = 0;
  onDown: () => void = () => {};
  invalidate(ids: readonly string[]): void {
    this.ids.push(...ids);
  }
  invalidateAll(): void {
    this.all++;
  }
  down(): void {
    this.downs++;
    this.onDown();
  }
}

/** Polls `condition` until it holds; fails after 10 s (a bound, not a timing assertion). */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves once the subscription is healthy. */
async function healthy(subscription: InvalidationSubscription): Promise<void> {
  await until(
    () =>
      subscription.probe().then(
        () => true,
        () => false,
      ),
    'a probe to resolve',
  );
}

describe('postgres store: invalidations and shared counters', { skip }, () => {
  const schema = randomSchema();
  const table = `"${schema}".tessera_sessions`;
  // Tells this file's LISTEN backends apart from any other client of the database.
  const application = `tessera_inv_${randomBytes(4).toString('hex')}`;
  const withName = () => {
    const u = new URL(url as string);
    u.searchParams.set('application_name', application);
    return u.toString();
  };
  let admin: pg.Pool;
  let listening: PostgresStore;
  let other: PostgresStore;
  let recorder: Recorder;
  let subscription: InvalidationSubscription;
  const now = Date.now();

  before(async () => {
    admin = new pg.Pool({ connectionString: url as string, max: 3 });
    admin.on('error', () => {});
    await migrate(admin, { schema });
    listening = new PostgresStore({ connectionString: withName(), schema, poolSize: 4 });
    other = new PostgresStore({ connectionString: url as string, schema, poolSize: 4 });
    recorder = new Recorder();
    subscription = listening.subscribeInvalidations(recorder);
    await healthy(subscription);
  });
  after(async () => {
    await subscription?.close();
    await listening?.close();
    await other?.close();
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  const session = async (overrides: Parameters<typeof makeRecord>[1] = {}, at = now) => {
    const { record } = makeRecord(at, overrides);
    assert.equal((await other.create(record, { now: at })).status, 'created');
    return record;
  };
  const invalidated = (id: string, what: string) => until(() => recorder.ids.includes(id), `${what} to invalidate ${id}`);

  it('declares both capabilities', () => {
    assert.equal(listening.capabilities.invalidation, 'everywhere');
    assert.equal(listening.capabilities.sharedCounters, true);
  });

  it('every change another store object makes reaches the listener: change sets, counters, touches, renewals, display names', async () => {
    const applied = await session();
    await other.apply(applied.id, { set: { cart: 1 } }, { now });
    await invalidated(applied.id, 'a change set');

    const incremented = await session();
    await other.apply(incremented.id, { increment: { hits: 1 } }, { now });
    await invalidated(incremented.id, 'an increment');

    const touched = await session();
    const loaded = await other.load(touched.id, { now: now + 61_000, touch: { maxIntervalMs: 60_000, idleFraction: 0.5 } });
    assert.equal(loaded?.lastSeenAt, now + 61_000, 'the touch was due');
    await invalidated(touched.id, 'a touch');

    const renewed = await session();
    const renewSecret = {
      secretHash: 'new-hash',
      renewedAt: now,
      previousSecretHash: renewed.secretHash,
      previousSecretExpiresAt: now + 30_000,
    };
    assert.equal((await other.apply(renewed.id, { renewSecret }, { now })).status, 'applied');
    await invalidated(renewed.id, 'a renewal');

    const named = await session({ subject: 'ann' });
    await other.apply(named.id, { displayName: 'Ann' }, { now });
    await invalidated(named.id, 'a display name');
  });

  it('every removal another store object makes reaches it: logout, eviction, revoke-all, cleanup, a login replacing it', async () => {
    const loggedOut = await session();
    await other.delete(loggedOut.id);
    await invalidated(loggedOut.id, 'a delete');

    const oldest = await session({ subject: 'bob' }, now - 2);
    const kept = await session({ subject: 'bob' }, now - 1);
    assert.deepEqual(
      (await other.trimSubject('bob', { now, max: 1, keep: kept.id, batch: 10 })).map((r) => r.id),
      [oldest.id],
    );
    await invalidated(oldest.id, 'an eviction');

    const second = await session({ subject: 'bob' });
    await other.deleteBySubject('bob', { now, limit: 10 });
    await invalidated(kept.id, 'a revoke-all');
    await invalidated(second.id, 'a revoke-all');

    const expired = await session({ idleTimeout: 60 }, now - 7_200_000);
    assert.ok((await other.deleteExpired(now, 100)).some((r) => r.id === expired.id));
    await invalidated(expired.id, 'the cleanup');

    const replaced = await session();
    const { record: next } = makeRecord(now);
    const created = await other.create(next, {
      now,
      replaces: { id: replaced.id, version: replaced.version, supersededUntil: now + 30_000 },
    });
    assert.equal(created.status, 'created');
    await invalidated(replaced.id, 'a login replacing it');
  });

  it('changes made by hand reach it: UPDATE and DELETE through a plain client, and TRUNCATE as invalidateAll', async () => {
    const updated = await session();
    await admin.query(`UPDATE ${table} SET data = '{"by":"hand"}' WHERE id = $1`, [updated.id]);
    await invalidated(updated.id, 'a hand UPDATE');
    const deleted = await session();
    await admin.query(`DELETE FROM ${table} WHERE id = $1`, [deleted.id]);
    await invalidated(deleted.id, 'a hand DELETE');

    const before = recorder.all;
    await admin.query(`TRUNCATE ${table}`);
    await until(() => recorder.all > before, 'TRUNCATE to invalidate everything');
  });

  it('a statement over many rows sends their ids in batches under the 8000-byte payload limit', async () => {
    const raw = new pg.Client({ connectionString: url as string });
    await raw.connect();
    const payloads: string[] = [];
    raw.on('notification', (message) => payloads.push(message.payload ?? ''));
    try {
      await raw.query(`LISTEN "${invalidationChannel(schema, 'tessera_sessions')}"`);
      const ids: string[] = [];
      for (let i = 0; i < 600; i++) ids.push((await session({ subject: 'many' })).id);
      await admin.query(`UPDATE ${table} SET display_name = 'Many' WHERE subject = 'many'`);
      await until(() => ids.every((id) => recorder.ids.includes(id)), 'all 600 ids');
      await until(() => payloads.length >= 2, 'the batches on a raw listener');
      for (const payload of payloads) assert.ok(Buffer.byteLength(payload) < 8000, `${Buffer.byteLength(payload)} bytes`);
      const sent = payloads.flatMap((payload) => (JSON.parse(payload) as { ids: string[] }).ids);
      assert.deepEqual(sent.sort(), [...ids].sort(), 'every id once, in one of a few payloads');
      assert.ok(payloads.length <= 4, `${payloads.length} payloads for 600 ids`);

      // An id no payload can hold (only a hand-made row has one) makes the trigger say "everything".
      const { record } = makeRecord(now);
      const huge = 'h'.repeat(8000);
      await admin.query(
        `INSERT INTO ${table} (id, secret_hash, created_at, last_seen_at, renewed_at, idle_timeout, absolute_expires_at, expires_at, version)
         VALUES ($1, $2, $3, $3, $3, 60, $4, $4, 1)`,
        [huge, record.secretHash, now, now + 60_000],
      );
      const before = recorder.all;
      await admin.query(`DELETE FROM ${table} WHERE id = $1`, [huge]);
      await until(() => recorder.all > before, 'invalidateAll for an id too long for a payload');
    } finally {
      await raw.end();
    }
  });

  it('leaves out its own writes, and a probe resolves only after what was committed before it was delivered', async () => {
    // Own writes: through the listening store object itself. The probe after them proves they
    // would have arrived by then, so their absence is not a matter of waiting longer.
    const own = makeRecord(now).record;
    await listening.create(own, { now });
    await listening.apply(own.id, { increment: { hits: 1 } }, { now });
    await listening.load(own.id, { now: now + 61_000, touch: { maxIntervalMs: 60_000, idleFraction: 0.5 } });
    const marker = await session();
    await other.apply(marker.id, { set: { seen: true } }, { now });
    await listening.delete(own.id);
    await subscription.probe();
    assert.ok(recorder.ids.includes(marker.id), "another instance's change before the probe was delivered before it resolved");
    assert.ok(!recorder.ids.includes(own.id), 'its own increment, touch and delete were left out');

    // Many times over: each change committed before a probe is there when that probe resolves.
    for (let i = 0; i < 50; i++) {
      const record = await session();
      await (i % 2 === 0 ? other.delete(record.id) : admin.query(`UPDATE ${table} SET data = '{}' WHERE id = $1`, [record.id]));
      await subscription.probe();
      assert.ok(recorder.ids.includes(record.id), `change ${i} was delivered before the probe resolved`);
    }
  });

  it("a statement of someone else on a pooled connection the store just wrote on is not taken for the store's own", async () => {
    // Two connections: one the store listens on, one shared by the store and the app. The store's
    // origin lasts only its own transaction.
    const shared = new pg.Pool({ connectionString: url as string, max: 2 });
    shared.on('error', () => {});
    const store = new PostgresStore({ pool: shared, schema });
    const own = new Recorder();
    const sub = store.subscribeInvalidations(own);
    try {
      await healthy(sub);
      const { record } = makeRecord(now);
      await store.create(record, { now });
      await store.apply(record.id, { increment: { hits: 1 } }, { now });
      await shared.query(`UPDATE ${table} SET data = '{}' WHERE id = $1`, [record.id]);
      await until(() => own.ids.includes(record.id), "the app's UPDATE on the store's connection");
      assert.deepEqual(own.ids, [record.id], "once: the store's own increment was left out");
    } finally {
      await sub.close();
      await store.close();
      await shared.end();
    }
  });

  it('a probe rejects while the triggers are disabled (or not yet migrated) and resolves again once they are back', async () => {
    await admin.query(`ALTER TABLE ${table} DISABLE TRIGGER tessera_invalidate_update`);
    try {
      await assert.rejects(subscription.probe(), /invalidation triggers of .* are missing or disabled/);
    } finally {
      await admin.query(`ALTER TABLE ${table} ENABLE TRIGGER tessera_invalidate_update`);
    }
    await subscription.probe();
  });

  it('when the LISTEN backend is terminated: down() at once, probes reject until it listens again by itself, then changes flow again', async () => {
    const backend = async () =>
      (
        await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND (query LIKE 'LISTEN%' OR query LIKE '%pg_trigger%')`,
          [application],
        )
      ).rows.map((row: { pid: number }) => row.pid);
    await subscription.probe();
    const [pid, ...more] = await backend();
    assert.ok(pid !== undefined && more.length === 0, 'one LISTEN backend');
    const downsBefore = recorder.downs;
    let probeInDown: Promise<string> | null = null;
    recorder.onDown = () => {
      probeInDown = subscription.probe().then(
        () => 'resolved',
        () => 'rejected',
      );
    };
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await until(() => recorder.downs > downsBefore, 'down()');
    recorder.onDown = () => {};
    assert.equal(await probeInDown, 'rejected', 'a probe made when down() is called rejects');
    await healthy(subscription);
    const [next] = await backend();
    assert.ok(next !== undefined && next !== pid, 'it listens on a new backend');

    const after = await session();
    await other.delete(after.id);
    await invalidated(after.id, 'a delete after the reconnection');
  });

  it('watch() keeps its payloads on the same connection; closing a subscription stops its listener and frees the connection', async () => {
    const changes: string[] = [];
    const stop = await listening.watch((change) => changes.push(`${change.type}:${change.id}`));
    const second = new Recorder();
    const extra = listening.subscribeInvalidations(second);
    await healthy(extra);
    const revoked = await session();
    await other.delete(revoked.id);
    await until(() => changes.includes(`revoked:${revoked.id}`), 'watch to see the revocation');
    await until(() => second.ids.includes(revoked.id), 'the second subscription');
    await extra.close();
    await assert.rejects(extra.probe(), /closed/);
    const later = await session();
    await other.delete(later.id);
    await invalidated(later.id, 'the first subscription, still open');
    await until(() => changes.includes(`revoked:${later.id}`), 'watch, still open');
    assert.ok(!second.ids.includes(later.id), 'a closed subscription hears nothing more');
    await stop();

    // A store given a pool: its close() ends the LISTEN connection and leaves the pool open.
    const given = new pg.Pool({ connectionString: withName(), max: 2 });
    const store = new PostgresStore({ pool: given, schema });
    const sub = store.subscribeInvalidations(new Recorder());
    await healthy(sub);
    const listeners = async () =>
      Number(
        (
          await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend'`, [
            application,
          ])
        ).rows[0].n,
      );
    const withBoth = await listeners();
    await store.close();
    await until(async () => (await listeners()) < withBoth, 'the LISTEN connection to end');
    assert.equal((await given.query('SELECT 1 AS one')).rows[0].one, 1, 'the given pool stays open');
    await assert.rejects(sub.probe());
    await given.end();
  });

  it('countInWindow: one count two instances share, a new window starts at 1, windows that are over are forgotten', async () => {
    const windowMs = 60_000;
    const start = Math.floor(now / windowMs) * windowMs;
    const key = `ip:${randomBytes(4).toString('hex')}`;
    assert.equal(await listening.countInWindow(key, { now: start, windowMs }), 1);
    assert.equal(await other.countInWindow(key, { now: start + 1, windowMs }), 2);
    assert.deepEqual(
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? listening : other).countInWindow(key, { now: start + 2, windowMs })),
      ).then((counts) => counts.sort((a, b) => a - b)),
      [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
      'simultaneous counts from two instances are each counted once',
    );
    assert.equal(await other.countInWindow(`${key}:other`, { now: start, windowMs }), 1, 'keys count apart');
    assert.equal(await other.countInWindow(key, { now: start, windowMs: 1000 }), 1, 'windows of another length count apart');

    const rows = async () =>
      (
        await admin.query(
          `SELECT key, window_ms, window_start FROM "${schema}".tessera_sessions_counters WHERE key LIKE $1 ORDER BY key, window_ms, window_start`,
          [`${key}%`],
        )
      ).rows.map(
        (row: { key: string; window_ms: string; window_start: string }) =>
          `${row.key}/${row.window_ms}@${Number(row.window_start) - start}`,
      );
    assert.deepEqual(await rows(), [`${key}/1000@0`, `${key}/60000@0`, `${key}:other/60000@0`]);
    // The cleanup sweep forgets the windows that are over, in its batch.
    await other.deleteExpired(start + 1000, 100);
    assert.deepEqual(await rows(), [`${key}/60000@0`, `${key}:other/60000@0`], 'the 1-second window is over');
    assert.equal(await listening.countInWindow(key, { now: start + windowMs, windowMs }), 1, 'the next window starts at 1');
    // Counting forgets a few windows that are over by itself, without a sweep (two per count).
    assert.deepEqual(await rows(), [`${key}/60000@${windowMs}`], 'that count forgot the two windows over');
    await other.deleteExpired(start + 3 * windowMs, 100);
    assert.deepEqual(await rows(), []);
  });
});
