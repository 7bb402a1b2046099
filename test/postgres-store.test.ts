import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { StoreUnavailableError } from '../src/core/index.js';
import { hashSecret } from '../src/core/token.js';
import { PostgresStore, SCHEMA_VERSION, migrate, migrations } from '../src/stores/postgres/index.js';
import { resolveNames, type ResolvedNames } from '../src/stores/postgres/migrations.js';
import { makeRecord, runStoreConformance } from '../src/testing/index.js';
import { countingPool, databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const schema = randomSchema();
const TOUCH = { maxIntervalMs: 60_000, idleFraction: 0.1 };
const DEVICE = { ip: '198.51.100.1', userAgent: 'Counting/1.0' };

let admin: pg.Pool;

runStoreConformance({
  name: 'postgres',
  skip,
  async setup() {
    admin = new pg.Pool({ connectionString: url as string });
    await migrate(admin, { schema });
  },
  async teardown() {
    await admin.end();
    await dropSchema(url as string, schema);
  },
  async createStore() {
    await admin.query(`TRUNCATE "${schema}".tessera_sessions, "${schema}".tessera_sessions_counters, "${schema}".tessera_sessions_notices`);
    return new PostgresStore({ connectionString: url as string, schema });
  },
  // Another instance's store object on the same tables: the outbox cases claim from both at once.
  peer: () => new PostgresStore({ connectionString: url as string, schema }),
});

// The same suite with the in-process cache in front: each instance a store object (its own pool and
// LISTEN connection) on one table.
const cachedSchema = randomSchema();
let cachedAdmin: pg.Pool;
runStoreConformance({
  name: 'postgres',
  cache: true,
  skip,
  async setup() {
    cachedAdmin = new pg.Pool({ connectionString: url as string });
    await migrate(cachedAdmin, { schema: cachedSchema });
  },
  async teardown() {
    await cachedAdmin.end();
    await dropSchema(url as string, cachedSchema);
  },
  async createStore() {
    await cachedAdmin.query(
      `TRUNCATE "${cachedSchema}".tessera_sessions, "${cachedSchema}".tessera_sessions_counters, "${cachedSchema}".tessera_sessions_notices`,
    );
    return new PostgresStore({ connectionString: url as string, schema: cachedSchema });
  },
  peer: () => new PostgresStore({ connectionString: url as string, schema: cachedSchema }),
});

describe('postgres store: statements, migrations, ownership', { skip }, () => {
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  const pool = (max = 10) => {
    const p = new pg.Pool({ connectionString: url as string, max });
    pools.push(p);
    return p;
  };
  const freshSchema = () => {
    const name = randomSchema();
    schemas.push(name);
    return name;
  };

  after(async () => {
    for (const p of pools.splice(0)) await p.end().catch(() => {});
    for (const name of schemas.splice(0)) await dropSchema(url as string, name);
  });

  it('loads in one statement, inside and outside the touch window, and applies in one', async () => {
    const ns = freshSchema();
    const real = pool();
    const counting = countingPool(real);
    const store = new PostgresStore({ pool: counting.pool, schema: ns });
    const now = Date.now();
    const { record } = makeRecord(now, { idleTimeout: 100, data: { n: 1 } });
    await store.create(record, { now });
    const xmin = async () =>
      (await real.query(`SELECT xmin::text AS x FROM "${ns}".tessera_sessions WHERE id = $1`, [record.id])).rows[0]?.x as string;
    const load = (at: number) => store.load(record.id, { now: at, secretHash: record.secretHash, touch: TOUCH, device: DEVICE });

    counting.reset();
    const before = await xmin();
    const inside = await load(now + 9_999);
    assert.deepEqual(counting.statements.length, 1, 'load inside the touch window');
    assert.equal(inside?.lastSeenAt, now);
    assert.equal(await xmin(), before, 'a read inside the touch window writes nothing');

    counting.reset();
    const due = await load(now + 10_000);
    assert.equal(counting.statements.length, 1, 'load with a due touch');
    assert.equal(due?.lastSeenAt, now + 10_000);
    assert.notEqual(await xmin(), before, 'the due touch was written');

    counting.reset();
    assert.equal(await store.load(record.id, { now: now + 10_001, secretHash: hashSecret('wrong'), touch: TOUCH }), null);
    assert.equal(counting.statements.length, 1, 'load with a wrong secret');

    counting.reset();
    const applied = await store.apply(
      record.id,
      { set: { a: 'x' }, delete: ['b'], increment: { n: 2 }, lastSeenAt: now + 10_001 },
      { now: now + 10_001 },
    );
    assert.equal(applied.status, 'applied');
    assert.equal(counting.statements.length, 1, 'apply');

    counting.reset();
    const stale = await store.apply(record.id, { set: { a: 'y' } }, { now: now + 10_002, expectedVersion: record.version });
    assert.equal(stale.status, 'conflict');
    assert.equal(counting.statements.length, 1, 'apply with compare-and-set, conflict included');

    counting.reset();
    assert.ok(await store.delete(record.id));
    assert.deepEqual(await store.apply(record.id, { increment: { n: 1 } }, { now: now + 10_003 }), { status: 'gone' });
    assert.equal(counting.statements.length, 2, 'delete, then a late apply: one statement each');
    await store.close();
  });

  it('counts its statements: a keyed apply, a page and a bounded revocation in one each; a trim under the limit in one read; a limited login in a transaction of one statement', async () => {
    const ns = freshSchema();
    const counting = countingPool(pool());
    const store = new PostgresStore({ pool: counting.pool, schema: ns });
    const now = Date.now();
    await store.count({ now });
    const { record } = makeRecord(now, { subject: 'stan', data: { n: 1 } });
    await store.create(record, { now });
    const kinds = () => counting.statements.map((text) => text.trim().split(/\s+/)[0]);

    counting.reset();
    const keyed = await store.apply(record.id, { increment: { n: 1 } }, { now, idempotency: { key: 'k#1', until: now + 60_000 } });
    assert.equal(keyed.status, 'applied');
    const again = await store.apply(record.id, { increment: { n: 1 } }, { now, idempotency: { key: 'k#1', until: now + 60_000 } });
    assert.ok(again.status === 'applied' && again.duplicate === true && again.record.data.n === 2);
    assert.equal(counting.statements.length, 2, 'an apply with an idempotency key: one statement, duplicate or not');

    counting.reset();
    const page = await store.listBySubject('stan', { now, limit: 10 });
    assert.equal(page.sessions.length, 1);
    assert.equal(counting.statements.length, 1, 'a page');

    counting.reset();
    assert.deepEqual(await store.trimSubject('stan', { now, max: 5, keep: record.id, batch: 100 }), []);
    assert.deepEqual(kinds(), ['SELECT'], 'a trim with nothing to trim: one read, no lock');

    counting.reset();
    const { record: second } = makeRecord(now, { subject: 'stan' });
    assert.deepEqual(
      await store.create(second, { now, replaces: { id: record.id, version: 2, supersededUntil: now + 30_000 }, limit: { max: 1 } }),
      { status: 'created', evicted: [] },
    );
    assert.deepEqual(kinds(), ['BEGIN', 'SELECT', 'WITH', 'COMMIT'], 'a limited login: the subject lock, then one statement');

    counting.reset();
    const { record: third } = makeRecord(now, { subject: 'stan' });
    await store.create(third, { now });
    assert.equal((await store.trimSubject('stan', { now, max: 1, keep: third.id, batch: 100 })).length, 1);
    assert.deepEqual(
      kinds(),
      ['INSERT', 'SELECT', 'BEGIN', 'SELECT', 'WITH', 'COMMIT'],
      'a login without a limit, then a trim that removes: the read, then the lock and one statement',
    );

    counting.reset();
    assert.equal((await store.deleteBySubject('stan', { now, limit: 10 })).length, 1);
    assert.equal(counting.statements.length, 1, 'a bounded revocation');
    await store.close();
  });

  it('refuses a create of an id that exists, alone or replacing a session, with an error that is not StoreUnavailableError', async () => {
    const ns = freshSchema();
    const store = new PostgresStore({ pool: pool(2), schema: ns });
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'dup', data: { a: 1 } });
    await store.create(record, { now });
    const { record: other } = makeRecord(now);
    await store.create(other, { now });
    for (const options of [
      { now },
      { now, replaces: { id: other.id, version: other.version, supersededUntil: now + 30_000 } },
      { now, limit: { max: 5 } },
    ]) {
      const error = await store.create({ ...record, data: { a: 2 } }, options).then(
        () => assert.fail('a duplicate id was created'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof Error && !(error instanceof StoreUnavailableError), String(error));
      assert.equal((error as { code?: string }).code, '23505');
    }
    assert.equal((await store.load(record.id, { now }))?.data.a, 1);
    assert.ok(await store.load(other.id, { now }), 'the session the failed login would have replaced is still there');
    await store.close();
  });

  it('applies 50 concurrent keyed increments once per key: 50 keys add 50, one key sent 50 times adds 1', async () => {
    const ns = freshSchema();
    const store = new PostgresStore({ pool: pool(10), schema: ns });
    const now = Date.now();
    const { record } = makeRecord(now, { data: { n: 0 } });
    await store.create(record, { now });
    const until = now + 60_000;
    const distinct = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.apply(record.id, { increment: { n: 1 } }, { now, idempotency: { key: `k${i}#1`, until } }),
      ),
    );
    assert.ok(distinct.every((r) => r.status === 'applied' && r.duplicate !== true));
    assert.equal((await store.load(record.id, { now }))?.data.n, 50);
    const same = await Promise.all(
      Array.from({ length: 50 }, () => store.apply(record.id, { increment: { n: 1 } }, { now, idempotency: { key: 'same#1', until } })),
    );
    assert.equal(same.filter((r) => r.status === 'applied' && r.duplicate !== true).length, 1, 'applied once');
    assert.equal(same.filter((r) => r.status === 'applied' && r.duplicate === true).length, 49, 'the others are duplicates');
    for (const r of same) if (r.status === 'applied') assert.equal(r.record.data.n, 51, 'every answer shows the one increment');
    assert.equal((await store.load(record.id, { now }))?.data.n, 51);
    await store.close();
  });

  it('applies migrations once when 5 instances start together', async () => {
    const ns = freshSchema();
    const five = Array.from({ length: 5 }, () => pool(2));
    const results = await Promise.all(five.map((p) => migrate(p, { schema: ns })));
    assert.equal(results.filter((r) => r.from === 0).length, 1, 'exactly one instance migrated');
    for (const r of results) assert.equal(r.to, SCHEMA_VERSION);
    const rows = await (five[0] as pg.Pool).query(`SELECT table_name, version FROM "${ns}".tessera_migrations ORDER BY version`);
    assert.deepEqual(
      rows.rows,
      Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ table_name: 'tessera_sessions', version: i + 1 })),
    );
    // And five stores starting on the migrated schema at once all work.
    const stores = five.map((p) => new PostgresStore({ pool: p, schema: ns }));
    assert.deepEqual(await Promise.all(stores.map((s) => s.count({ now: Date.now() }))), [0, 0, 0, 0, 0]);
    for (const s of stores) await s.close();
  });

  it('upgrades a table made by schema version 1 in place, keeping its sessions', async () => {
    const ns = freshSchema();
    const p = pool(2);
    // The database as tessera at schema version 1 left it: the first step only, recorded as applied.
    const first = migrations[0] as (names: ResolvedNames) => string;
    await p.query(`CREATE SCHEMA "${ns}"`);
    await p.query(first(resolveNames({ schema: ns })));
    await p.query(
      `CREATE TABLE "${ns}".tessera_migrations (table_name text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_name, version))`,
    );
    await p.query(`INSERT INTO "${ns}".tessera_migrations (table_name, version) VALUES ('tessera_sessions', 1)`);
    const now = Date.now();
    const { record: old } = makeRecord(now, { subject: 'veteran', data: { n: 1 } });
    await p.query(
      `INSERT INTO "${ns}".tessera_sessions (id, secret_hash, subject, created_at, last_seen_at, renewed_at, idle_timeout, absolute_expires_at, expires_at, version, data)
       VALUES ($1, $2, $3, $4, $4, $4, $5, $6, $7, 1, '{"n":1}')`,
      [old.id, old.secretHash, old.subject, now, old.idleTimeout, old.absoluteExpiresAt, old.expiresAt],
    );

    const store = new PostgresStore({ pool: p, schema: ns });
    const loaded = await store.load(old.id, { now, secretHash: old.secretHash });
    assert.equal(loaded?.data.n, 1, 'the session made before the upgrade still opens, with its data');
    const versions = await p.query(`SELECT version FROM "${ns}".tessera_migrations ORDER BY version`);
    assert.deepEqual(
      versions.rows.map((r: { version: number }) => r.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    assert.ok(SCHEMA_VERSION >= 2);
    const { record: next } = makeRecord(now, { subject: 'veteran' });
    assert.equal(
      (await store.create(next, { now, replaces: { id: old.id, version: 1, supersededUntil: now + 30_000 } })).status,
      'created',
    );
    assert.equal(
      await store.isSuperseded(old.id, { now, secretHash: old.secretHash }),
      true,
      'a login on the upgraded table remembers the token it replaced',
    );
    assert.deepEqual(await migrate(p, { schema: ns }), { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    await store.close();
  });

  it('schema.sql matches what the migrations create', async () => {
    const migrated = freshSchema();
    const fromFile = freshSchema();
    const p = pool(1);
    await migrate(p, { schema: migrated });
    const sql = await readFile(new URL('../src/stores/postgres/schema.sql', import.meta.url), 'utf8');
    const client = await p.connect();
    try {
      await client.query(`CREATE SCHEMA "${fromFile}"; SET search_path TO "${fromFile}"; ${sql}`);
      await client.query('RESET search_path');
    } finally {
      client.release(true);
    }
    const shape = async (ns: string) => ({
      columns: (
        await p.query(
          `SELECT table_name, column_name, data_type, is_nullable, column_default, collation_name
           FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
          [ns],
        )
      ).rows,
      indexes: (
        await p.query(`SELECT indexname, replace(indexdef, $1, 'ns') AS def FROM pg_indexes WHERE schemaname = $2 ORDER BY indexname`, [
          `"${ns}".`,
          ns,
        ])
      ).rows.map((r: { indexname: string; def: string }) => ({ name: r.indexname, def: r.def.replace(`${ns}.`, 'ns.') })),
      // The invalidation triggers, and their function's body with its whitespace folded.
      triggers: (
        await p.query(
          `SELECT t.tgname, t.tgenabled, replace(replace(pg_get_triggerdef(t.oid), $1, ''), $2, '') AS def
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $3 AND NOT t.tgisinternal ORDER BY t.tgname`,
          [`"${ns}".`, `${ns}.`, ns],
        )
      ).rows,
      functions: (
        await p.query(
          `SELECT p.proname, regexp_replace(trim(p.prosrc), '\\s+', ' ', 'g') AS body
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY p.proname`,
          [ns],
        )
      ).rows,
    });
    const [expected, actual] = [await shape(migrated), await shape(fromFile)];
    assert.equal(expected.triggers.length, 3);
    assert.deepEqual(actual, expected);
  });

  it('leaves a pool it was given open on close', async () => {
    const ns = freshSchema();
    const given = pool(2);
    const store = new PostgresStore({ pool: given, schema: ns });
    assert.equal(await store.count({ now: Date.now() }), 0);
    await store.close();
    assert.equal((await given.query('SELECT 1 AS one')).rows[0].one, 1);
  });

  it('fails fast with StoreUnavailableError when nothing listens, and never reports "no session"', async () => {
    const store = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/none', schema: 'tessera_unreachable' });
    const started = Date.now();
    await assert.rejects(store.load('x'.repeat(28), { now: Date.now() }), StoreUnavailableError);
    await assert.rejects(store.apply('x'.repeat(28), { set: { a: 1 } }, { now: Date.now() }), StoreUnavailableError);
    await assert.rejects(
      store.watch(() => {}),
      StoreUnavailableError,
    );
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    await store.close();
  });

  it('refuses bad options at construction', () => {
    assert.throws(() => new PostgresStore({}), /exactly one of connectionString or pool/);
    assert.throws(() => new PostgresStore({ connectionString: 'postgres://x', table: 'bad; drop' }), /table must be/);
    assert.throws(() => new PostgresStore({ connectionString: 'postgres://x', statementTimeout: 0 }), /statementTimeout/);
  });
});
