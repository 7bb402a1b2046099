/**
 * The PostgreSQL outbox on a real server: notices recorded by the statement that ends the
 * sessions (or by none), the claim/defer/remove/count/trim semantics, concurrent claimers on two
 * pools with the overlap forced, and the upgrade from schema version 4.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { SessionRecord } from '../src/core/index.js';
import { PostgresStore, SCHEMA_VERSION, migrate, migrations } from '../src/stores/postgres/index.js';
import { resolveNames, type ResolvedNames } from '../src/stores/postgres/migrations.js';
import { sqlContext } from '../src/stores/postgres/params.js';
import { claimNoticesStatement } from '../src/stores/postgres/sql-outbox.js';
import { makeRecord } from '../src/testing/index.js';
import { countingPool, databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const T0 = Date.UTC(2030, 0, 1);

interface RawNotice {
  id: string;
  type: string;
  session_id: string;
  subject: string | null;
  reason: string | null;
  at: number;
  attempts: number;
  due_at: number;
}

describe('postgres store: session-notice outbox', { skip }, () => {
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  const stores: PostgresStore[] = [];
  const pool = (max = 5) => {
    const p = new pg.Pool({ connectionString: url as string, max });
    pools.push(p);
    return p;
  };
  const freshSchema = () => {
    const name = randomSchema('tessera_outbox');
    schemas.push(name);
    return name;
  };
  const open = (ns: string, p: pg.Pool = pool()) => {
    const counting = countingPool(p);
    const store = new PostgresStore({ pool: counting.pool, schema: ns });
    stores.push(store);
    return { store, counting, raw: p };
  };
  const notices = async (p: pg.Pool, ns: string): Promise<RawNotice[]> =>
    (
      await p.query(
        `SELECT id, type, session_id, subject, reason, at::float8 AS at, attempts, due_at::float8 AS due_at
         FROM "${ns}".tessera_sessions_notices ORDER BY at, id`,
      )
    ).rows;
  const created = async (store: PostgresStore, count: number, overrides: Partial<SessionRecord> = {}, at = T0) => {
    const records: SessionRecord[] = [];
    for (let i = 0; i < count; i++) {
      const { record } = makeRecord(at + i, overrides);
      await store.create(record, { now: at + i });
      records.push(record);
    }
    return records;
  };
  const ended = (record: SessionRecord, reason: string, at: number, dueAt: number): RawNotice => ({
    id: `session.ended:${record.id}`,
    type: 'session.ended',
    session_id: record.id,
    subject: record.subject,
    reason,
    at,
    attempts: 0,
    due_at: dueAt,
  });

  after(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const p of pools.splice(0)) await p.end().catch(() => {});
    for (const name of schemas.splice(0)) await dropSchema(url as string, name);
  });

  it('declares the outbox and its name', () => {
    const store = new PostgresStore({ connectionString: 'postgres://127.0.0.1:1/none' });
    assert.equal(store.capabilities.outbox, true);
    assert.equal(store.name, 'postgres');
  });

  it('records one session.ended notice per session each ending call removes, in the statement that removes it', async () => {
    const ns = freshSchema();
    const { store, counting, raw } = open(ns);
    const [ann] = await created(store, 1, { subject: 'ann' });
    const [anon] = await created(store, 1);
    const toms = await created(store, 3, { subject: 'tom' });
    const sues = await created(store, 3, { subject: 'sue' });
    const expiring = [...(await created(store, 2, { subject: 'eve', idleTimeout: 60 })), ...(await created(store, 1, { idleTimeout: 60 }))];
    assert.deepEqual(await notices(raw, ns), [], 'creating records nothing');

    counting.reset();
    assert.ok(await store.delete((ann as SessionRecord).id, { notice: { reason: 'logout', at: T0 + 100 } }));
    assert.equal(counting.statements.length, 1, 'the removal and its notice: one statement');
    assert.ok(await store.delete((anon as SessionRecord).id, { notice: { reason: 'admin', at: T0 + 101 } }));
    assert.equal(await store.delete('x'.repeat(28), { notice: { reason: 'admin', at: T0 + 102 } }), null);

    counting.reset();
    const trimmed = await store.trimSubject('tom', {
      now: T0 + 200,
      max: 1,
      keep: (toms[2] as SessionRecord).id,
      batch: 10,
      notice: { reason: 'evicted', at: T0 + 200 },
    });
    assert.deepEqual(
      trimmed.map((r) => r.id),
      [toms[0], toms[1]].map((r) => r?.id),
    );
    assert.deepEqual(
      counting.statements.map((text) => text.trim().split(/\s+/)[0]),
      ['SELECT', 'BEGIN', 'SELECT', 'WITH', 'COMMIT'],
    );
    assert.ok(counting.statements[3]?.includes('_notices'), 'the notices are inserted by the removing statement');

    counting.reset();
    const revoked = await store.deleteBySubject('sue', {
      now: T0 + 300,
      except: (sues[0] as SessionRecord).id,
      limit: 10,
      notice: { reason: 'user', at: T0 + 300 },
    });
    assert.equal(revoked.length, 2);
    assert.equal(counting.statements.length, 1);

    // The sweep: each notice carries the session's subject and its own expiresAt, due at the sweep's now.
    const sweepAt = T0 + 120_000;
    counting.reset();
    const swept = await store.deleteExpired(sweepAt, 100, { notice: true });
    assert.equal(counting.statements.length, 1);
    assert.deepEqual(new Set(swept.map((r) => r.id)), new Set(expiring.map((r) => r.id)));

    const expected = [
      ended(ann as SessionRecord, 'logout', T0 + 100, T0 + 100),
      ended(anon as SessionRecord, 'admin', T0 + 101, T0 + 101),
      ended(toms[0] as SessionRecord, 'evicted', T0 + 200, T0 + 200),
      ended(toms[1] as SessionRecord, 'evicted', T0 + 200, T0 + 200),
      ended(sues[1] as SessionRecord, 'user', T0 + 300, T0 + 300),
      ended(sues[2] as SessionRecord, 'user', T0 + 300, T0 + 300),
      ...expiring.map((r) => ended(r, 'expired', r.expiresAt, sweepAt)),
    ].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    assert.deepEqual(await notices(raw, ns), expected);
    assert.equal(expected.filter((n) => n.reason === 'expired' && n.subject === 'eve').length, 2);
    assert.equal(await store.outbox.countNotices(), expected.length);
  });

  it('records nothing, and names no notices table, when the ending calls ask for no notice', async () => {
    const ns = freshSchema();
    const { store, counting, raw } = open(ns);
    const [a] = await created(store, 1, { subject: 'ann' });
    await created(store, 3, { subject: 'tom' });
    await created(store, 2, { subject: 'sue' });
    await created(store, 2, { idleTimeout: 60 });
    counting.reset();
    assert.ok(await store.delete((a as SessionRecord).id));
    assert.equal((await store.trimSubject('tom', { now: T0 + 10, max: 1, keep: 'x'.repeat(28), batch: 10 })).length, 2);
    assert.equal((await store.deleteBySubject('sue', { now: T0 + 10, limit: 10 })).length, 2);
    assert.equal((await store.deleteExpired(T0 + 3_600_000, 100)).length, 3);
    assert.equal((await store.deleteExpired(T0 + 3_600_000, 100, { notice: false })).length, 0);
    assert.deepEqual(await notices(raw, ns), []);
    assert.deepEqual(
      counting.statements.filter((text) => text.includes('_notices')),
      [],
    );
  });

  it('a notice that cannot be recorded undoes the removal: one atomic step', async () => {
    const ns = freshSchema();
    const { store, raw } = open(ns);
    const [a] = await created(store, 1, { subject: 'ann' });
    await created(store, 1, { subject: 'bob', idleTimeout: 60 });
    await raw.query(
      `CREATE FUNCTION "${ns}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$`,
    );
    await raw.query(
      `CREATE TRIGGER refuse BEFORE INSERT ON "${ns}".tessera_sessions_notices FOR EACH ROW EXECUTE PROCEDURE "${ns}".refuse()`,
    );
    const id = (a as SessionRecord).id;
    await assert.rejects(store.delete(id, { notice: { reason: 'logout', at: T0 } }), /outbox refused/);
    assert.ok(await store.load(id, { now: T0 }), 'still there');
    await assert.rejects(store.deleteBySubject('ann', { now: T0, limit: 10, notice: { reason: 'admin', at: T0 } }), /outbox refused/);
    await assert.rejects(store.deleteExpired(T0 + 3_600_000, 100, { notice: true }), /outbox refused/);
    assert.equal(await store.count({ now: T0 }), 2, 'neither removal happened');
    assert.ok(await store.delete(id), 'without a notice the same removal goes through');
    assert.equal((await store.deleteExpired(T0 + 3_600_000, 100)).length, 1, 'and so does the sweep');
  });

  it('claims the earliest due with a lease, defers, removes, counts claimed ones, trims the oldest by at', async () => {
    const ns = freshSchema();
    const { store, raw } = open(ns);
    const s = (i: number) => ({
      id: `session.created:s${i}`,
      type: 'session.created' as const,
      sessionId: `s${i}`,
      subject: `u${i}`,
      reason: null,
      at: T0 + i * 10_000,
    });
    await store.outbox.addNotices([0, 1, 2, 3, 4].map(s));
    await store.outbox.addNotices([
      { ...s(0), subject: 'changed' },
      { ...s(5), type: 'session.logged_in', id: 'session.logged_in:s5' },
    ]);
    assert.equal(await store.outbox.countNotices(), 6);
    assert.equal((await notices(raw, ns))[0]?.subject, 'u0', 'an id already held is ignored');
    await store.outbox.removeNotices(['session.logged_in:s5']);

    const ids = (list: { id: string }[]) => list.map((n) => n.id.replace('session.created:', ''));
    const lease = T0 + 25_000;
    const first = await store.outbox.claimNotices({ now: T0 + 20_000, limit: 2, leaseUntil: lease });
    assert.deepEqual(first, [
      { ...s(0), attempts: 1 },
      { ...s(1), attempts: 1 },
    ]);
    assert.deepEqual(ids(await store.outbox.claimNotices({ now: T0 + 20_000, limit: 10, leaseUntil: lease })), ['s2']);
    assert.deepEqual(
      await store.outbox.claimNotices({ now: lease - 1, limit: 10, leaseUntil: lease + 9 }),
      [],
      'leased, and s3 not yet due',
    );
    const again = await store.outbox.claimNotices({ now: lease, limit: 10, leaseUntil: T0 + 50_000 });
    assert.deepEqual(ids(again), ['s0', 's1', 's2'], 'a lease that ended makes the notice due again');
    assert.deepEqual(
      again.map((n) => n.attempts),
      [2, 2, 2],
    );

    await store.outbox.deferNotice('session.created:s0', T0 + 100_000);
    await store.outbox.deferNotice('session.created:nope', T0);
    assert.deepEqual(
      ids(await store.outbox.claimNotices({ now: T0 + 60_000, limit: 10, leaseUntil: T0 + 90_000 })),
      ['s3', 's4', 's1', 's2'],
      'by due time: s3 and s4 as recorded, s1 and s2 when their lease ended; s0 deferred',
    );
    assert.deepEqual(
      ids(await store.outbox.claimNotices({ now: T0 + 100_000, limit: 10, leaseUntil: T0 + 200_000 })),
      ['s1', 's2', 's3', 's4', 's0'],
      'the earliest due first: the leases that ended at 90 s, then the notice deferred to 100 s',
    );
    assert.deepEqual(await store.outbox.claimNotices({ now: T0, limit: 0, leaseUntil: T0 }), []);

    await store.outbox.removeNotices(['session.created:s1', 'nope']);
    await store.outbox.removeNotices([]);
    assert.equal(await store.outbox.countNotices(), 4, 'claimed notices count until removed');
    assert.equal(await store.outbox.trimNotices(5), 0);
    assert.equal(await store.outbox.trimNotices(2), 2);
    assert.deepEqual(ids(await notices(raw, ns)), ['s3', 's4'], 'the most recent by at are kept');
    assert.equal(await store.outbox.trimNotices(0), 2);
    assert.equal(await store.outbox.countNotices(), 0);
  });

  it('two claimers on two pools take disjoint notices: one holds its claim open while the other claims', async () => {
    const ns = freshSchema();
    const a = open(ns, pool(2));
    const b = open(ns, pool(2));
    await a.store.outbox.addNotices(
      Array.from({ length: 10 }, (_, i) => ({
        id: `session.created:h${i}`,
        type: 'session.created' as const,
        sessionId: `h${i}`,
        subject: null,
        reason: null,
        at: T0 + i,
      })),
    );
    // Claimer A: the store's claim statement, inside a transaction held open on A's pool.
    const held = await a.raw.connect();
    try {
      await held.query('BEGIN');
      const claim = claimNoticesStatement(sqlContext(resolveNames({ schema: ns }), 'c', 'o'), {
        now: T0 + 100,
        limit: 4,
        leaseUntil: T0 + 60_000,
      });
      const byA = (await held.query(claim.text, claim.values)).rows.map((r: { id: string }) => r.id);
      assert.equal(byA.length, 4);
      // Claimer B, while A's rows are locked and uncommitted: it skips them and never waits.
      const started = performance.now();
      const byB = (await b.store.outbox.claimNotices({ now: T0 + 100, limit: 10, leaseUntil: T0 + 60_000 })).map((n) => n.id);
      const waited = performance.now() - started;
      assert.ok(waited < 1000, `B waited ${waited.toFixed(0)} ms for A`);
      assert.equal(byB.length, 6);
      assert.deepEqual(
        byB.filter((id) => byA.includes(id)),
        [],
        'disjoint',
      );
      assert.equal(new Set([...byA, ...byB]).size, 10);
      // A dies before committing: its claim is undone, and the notices are due again at once.
      await held.query('ROLLBACK');
      const retaken = await b.store.outbox.claimNotices({ now: T0 + 100, limit: 10, leaseUntil: T0 + 60_000 });
      assert.deepEqual(retaken.map((n) => n.id).sort(), [...byA].sort());
      assert.deepEqual(
        retaken.map((n) => n.attempts),
        [1, 1, 1, 1],
      );
    } finally {
      held.release();
    }
  });

  it('ten claimers on two pools take 1,000 notices, each exactly once', async () => {
    const ns = freshSchema();
    const a = open(ns, pool(5));
    const b = open(ns, pool(5));
    const total = 1000;
    await a.store.outbox.addNotices(
      Array.from({ length: total }, (_, i) => ({
        id: `session.created:c${i}`,
        type: 'session.created' as const,
        sessionId: `c${i}`,
        subject: 'u',
        reason: null,
        at: T0 + (i % 37),
      })),
    );
    const seen = new Map<string, number>();
    let claims = 0;
    const worker = async (store: PostgresStore) => {
      for (let round = 0; round < 200; round++) {
        const batch = await store.outbox.claimNotices({ now: T0 + 1000, limit: 25, leaseUntil: T0 + 600_000 });
        claims++;
        if (batch.length === 0) return;
        for (const n of batch) seen.set(n.id, (seen.get(n.id) ?? 0) + 1);
        await store.outbox.removeNotices(batch.map((n) => n.id));
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => worker(i % 2 === 0 ? a.store : b.store)));
    const ms = performance.now() - started;
    const duplicates = [...seen.values()].filter((count) => count > 1).length;
    console.log(`# 10 claimers, 2 pools: ${seen.size} notices in ${claims} claims, ${duplicates} claimed twice, ${ms.toFixed(0)} ms`);
    assert.equal(seen.size, total);
    assert.equal(duplicates, 0);
    assert.equal(await a.store.outbox.countNotices(), 0);
  });

  it('three sweepers on three pools record each expired session once, with its subject', async () => {
    const ns = freshSchema();
    const sweepers = [open(ns, pool(2)), open(ns, pool(2)), open(ns, pool(2))];
    const first = sweepers[0] as ReturnType<typeof open>;
    const records = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const { record } = makeRecord(T0, { subject: `x${i % 7}`, idleTimeout: 60 });
        await first.store.create(record, { now: T0 });
        return record;
      }),
    );
    const removed: string[] = [];
    await Promise.all(
      sweepers.map(async ({ store }) => {
        for (let round = 0; round < 100; round++) {
          const batch = await store.deleteExpired(T0 + 120_000, 20, { notice: true });
          if (batch.length === 0) return;
          removed.push(...batch.map((r) => r.id));
        }
      }),
    );
    assert.equal(removed.length, 300);
    assert.equal(new Set(removed).size, 300, 'each session removed by one sweeper');
    const rows = await notices(first.raw, ns);
    assert.equal(rows.length, 300);
    const subjects = new Map(records.map((r) => [r.id, r.subject]));
    for (const row of rows) {
      assert.equal(row.subject, subjects.get(row.session_id));
      assert.equal(row.at, T0 + 60_000);
      assert.equal(row.reason, 'expired');
    }
  });

  it('upgrades a database at schema version 4, keeping its sessions, and names the table after the table option', async () => {
    const ns = freshSchema();
    const p = pool(2);
    const table = 'a'.repeat(48);
    const names = resolveNames({ schema: ns, table });
    await p.query(`CREATE SCHEMA "${ns}"`);
    await p.query(
      `CREATE TABLE "${ns}".tessera_migrations (table_name text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, version))`,
    );
    for (const [i, step] of migrations.slice(0, 4).entries()) {
      await p.query((step as (names: ResolvedNames) => string)(names));
      await p.query(`INSERT INTO "${ns}".tessera_migrations (table_name, version) VALUES ($1, $2)`, [table, i + 1]);
    }
    // A store of the previous release: writes a session without touching the schema.
    const old = new PostgresStore({ pool: p, schema: ns, table, migrate: false });
    const [veteran] = await created(old, 1, { subject: 'vet' });
    await old.close();

    assert.deepEqual(await migrate(p, { schema: ns, table }), { from: 4, to: SCHEMA_VERSION });
    assert.equal(SCHEMA_VERSION, 5);
    const indexes = await p.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`, [
      ns,
      `${table}_notices`,
    ]);
    assert.deepEqual(
      indexes.rows.map((r: { indexname: string }) => r.indexname),
      [`${table}_notices_at_idx`, `${table}_notices_idx`, `${table}_notices_pkey`],
      'index names whole at the longest table name',
    );
    const store = new PostgresStore({ pool: p, schema: ns, table });
    stores.push(store);
    const id = (veteran as SessionRecord).id;
    assert.ok(await store.load(id, { now: T0 }), 'the session made before the upgrade still opens');
    assert.ok(await store.delete(id, { notice: { reason: 'logout', at: T0 + 1 } }));
    assert.deepEqual(
      (await store.outbox.claimNotices({ now: T0 + 1, limit: 10, leaseUntil: T0 + 2 })).map((n) => [n.id, n.subject, n.reason]),
      [[`session.ended:${id}`, 'vet', 'logout']],
    );
    assert.deepEqual(await migrate(p, { schema: ns, table }), { from: 5, to: 5 });
  });
});
