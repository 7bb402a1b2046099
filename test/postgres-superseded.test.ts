import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../src/core/token.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { countingPool, databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();

interface SupersededRow {
  id: string;
  secret_hash: string;
  previous_secret_hash: string | null;
  superseded_until: string;
}

describe('postgres store: superseded tokens', { skip }, () => {
  const schema = randomSchema();
  // The longest table name the store accepts: the names derived from it must still fit in 63 bytes.
  const table = `t${'x'.repeat(46)}s`;
  let admin: pg.Pool;
  const stores: PostgresStore[] = [];
  const rows = async () =>
    (
      await admin.query(
        `SELECT id, secret_hash, previous_secret_hash, superseded_until::text FROM "${schema}"."${table}_superseded" ORDER BY superseded_until, id`,
      )
    ).rows as SupersededRow[];

  before(async () => {
    admin = new pg.Pool({ connectionString: url as string, max: 2 });
  });
  after(async () => {
    for (const store of stores.splice(0)) await store.close();
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  it('remembers a replaced session in <table>_superseded within the replace statement; isSuperseded and deleteExpired are one statement each', async () => {
    assert.equal(table.length, 48);
    const counting = countingPool(new pg.Pool({ connectionString: url as string, max: 4 }));
    const store = new PostgresStore({ pool: counting.pool, schema, table });
    stores.push(store);
    const now = Date.now();
    const { record: old } = makeRecord(now, { subject: 'ann' });
    await store.create(old, { now });
    // The tables and indexes of later steps by their full names (PostgreSQL would cut longer ones short).
    const derived = [
      `${table}_applied`,
      `${table}_applied_idx`,
      `${table}_applied_pkey`,
      `${table}_created_idx`,
      `${table}_superseded`,
      `${table}_superseded_idx`,
    ];
    const names = await admin.query(
      `SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relname = ANY($2::text[]) ORDER BY relname`,
      [schema, derived],
    );
    assert.deepEqual(
      names.rows.map((r: { relname: string }) => r.relname),
      derived,
    );

    const fresh = makeRecord(now).record.secretHash;
    const renewed = await store.apply(
      old.id,
      { renewSecret: { secretHash: fresh, renewedAt: now, previousSecretHash: old.secretHash, previousSecretExpiresAt: now + 20_000 } },
      { now },
    );
    assert.ok(renewed.status === 'applied');

    // A replace at a stale version, and one whose insert fails, remember nothing.
    const { record: stale } = makeRecord(now, { subject: 'ann' });
    assert.deepEqual(await store.create(stale, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } }), {
      status: 'gone',
    });
    const { record: duplicate } = makeRecord(now, { subject: 'ann' });
    await store.create({ ...duplicate }, { now });
    await assert.rejects(
      store.create(duplicate, { now, replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 30_000 } }),
    );
    assert.deepEqual(await rows(), []);
    assert.ok(await store.load(old.id, { now, secretHash: fresh }), 'the failed login left the session it would have replaced');

    const { record: next } = makeRecord(now, { subject: 'ann' });
    counting.reset();
    assert.equal(
      (
        await store.create(next, {
          now: now + 1000,
          replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 31_000 },
        })
      ).status,
      'created',
    );
    assert.deepEqual(
      counting.statements.map((text) => text.trim().split(/\s+/)[0]),
      ['BEGIN', 'WITH', 'COMMIT'],
      'a replacing login: one statement, in a transaction',
    );
    assert.deepEqual(await rows(), [
      { id: old.id, secret_hash: fresh, previous_secret_hash: old.secretHash, superseded_until: String(now + 31_000) },
    ]);

    counting.reset();
    assert.equal(await store.isSuperseded(old.id, { now: now + 1000, secretHash: old.secretHash }), true);
    assert.equal(await store.isSuperseded(old.id, { now: now + 31_000, secretHash: fresh }), false, 'forgotten at supersededUntil');
    assert.equal(await store.isSuperseded(old.id, { now: now + 1000, secretHash: hashSecret('wrong') }), false);
    assert.equal(counting.statements.length, 3, 'isSuperseded: one statement');

    // Replaced after its grace period: a renewed session's previous secret is not remembered.
    const renewedNext = await store.apply(
      next.id,
      {
        renewSecret: {
          secretHash: hashSecret('n2'),
          renewedAt: now + 2000,
          previousSecretHash: next.secretHash,
          previousSecretExpiresAt: now + 3000,
        },
      },
      { now: now + 2000 },
    );
    assert.ok(renewedNext.status === 'applied');
    const later = now + 25_000;
    const { record: third } = makeRecord(later, { subject: 'ann' });
    await store.create(third, {
      now: later,
      replaces: { id: next.id, version: renewedNext.record.version, supersededUntil: later + 30_000 },
    });
    assert.deepEqual(
      (await rows()).find((r) => r.id === next.id),
      { id: next.id, secret_hash: hashSecret('n2'), previous_secret_hash: null, superseded_until: String(later + 30_000) },
    );
    assert.equal(await store.isSuperseded(next.id, { now: later, secretHash: next.secretHash }), false);

    // Forgotten by deleteExpired, a bounded batch at a time, in its one statement, and never reported.
    for (let i = 0; i < 3; i++) {
      const { record: a } = makeRecord(later, { subject: 'ann', idleTimeout: 86_400 });
      await store.create(a, { now: later });
      const { record: b } = makeRecord(later, { subject: 'ann', idleTimeout: 86_400 });
      await store.create(b, { now: later, replaces: { id: a.id, version: a.version, supersededUntil: later + 30_000 + i } });
    }
    assert.equal((await rows()).length, 5);
    const sweep = later + 3_600_000;
    counting.reset();
    const swept = await store.deleteExpired(sweep, 2);
    assert.equal(counting.statements.length, 1, 'deleteExpired: one statement');
    assert.ok(!swept.some((r) => r.id === old.id || r.id === next.id), 'a superseded token is not reported as a session');
    assert.equal((await rows()).length, 3, 'at most the batch size per call');
    while ((await store.deleteExpired(sweep, 2)).length > 0);
    await store.deleteExpired(sweep, 2);
    assert.deepEqual(await rows(), []);
  });

  it('forgets a few expired ones at each replace, so logins alone keep the table small', async () => {
    const store = new PostgresStore({ connectionString: url as string, schema, table, poolSize: 2 });
    stores.push(store);
    await admin.query(`TRUNCATE "${schema}"."${table}_superseded"`);
    const start = Date.now();
    let { record: current } = makeRecord(start, { subject: 'cy', idleTimeout: 3600 });
    await store.create(current, { now: start });
    // 100 logins a minute apart, each remembered for 30 s, and no sweep.
    for (let i = 1; i <= 100; i++) {
      const now = start + i * 60_000;
      const { record: next } = makeRecord(now, { subject: 'cy', idleTimeout: 3600 });
      assert.equal(
        (await store.create(next, { now, replaces: { id: current.id, version: current.version, supersededUntil: now + 30_000 } })).status,
        'created',
      );
      current = next;
    }
    const left = (await rows()).length;
    assert.ok(left <= 2, `without any sweep, ${left} remembered tokens are left`);
  });
});
