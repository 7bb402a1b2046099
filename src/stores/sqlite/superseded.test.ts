import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { hashSecret } from '../../core/token.js';
import { makeRecord } from '../../testing/index.js';
import { SqliteStore, type SqliteDatabase, type SqliteStatement } from './index.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A given database that records the SQL of every statement it runs, to count the store's work. */
function countingDatabase(db: Database.Database): { database: SqliteDatabase; runs: string[] } {
  const runs: string[] = [];
  const database = new Proxy(db as unknown as SqliteDatabase, {
    get(target, property) {
      if (property === 'prepare') {
        return (source: string): SqliteStatement => {
          const statement = target.prepare(source);
          const count =
            (method: 'run' | 'get' | 'all') =>
            (...params: unknown[]) => {
              runs.push(source);
              return (statement[method] as (...p: unknown[]) => unknown)(...params);
            };
          return {
            run: count('run'),
            get: count('get'),
            all: count('all'),
            safeIntegers: (toggle?: boolean) => statement.safeIntegers(toggle),
          } as SqliteStatement;
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { database, runs };
}

interface SupersededRow {
  id: string;
  secret_hash: string;
  previous_secret_hash: string | null;
  superseded_until: number;
}

describe('SqliteStore: superseded tokens', () => {
  let path: string;
  const open: Array<{ close(): unknown }> = [];
  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-superseded-'));
    dirs.push(dir);
    path = join(dir, 'sessions.db');
  });
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });
  const store = (tableName?: string) => {
    const s = new SqliteStore({ path, ...(tableName !== undefined ? { tableName } : {}) });
    open.push(s);
    return s;
  };
  const raw = () => {
    const db = new Database(path);
    open.push(db);
    return db;
  };

  it('remembers a replaced session in <table>_superseded, in the same transaction as the replace', async () => {
    const s = store('app_sessions');
    const db = raw();
    const rows = () =>
      db
        .prepare('SELECT id, secret_hash, previous_secret_hash, superseded_until FROM app_sessions_superseded ORDER BY id')
        .all() as SupersededRow[];
    const now = Date.UTC(2030, 0, 1);
    const { record: old } = makeRecord(now, { subject: 'ann' });
    await s.create(old, { now });
    const fresh = makeRecord(now).record.secretHash;
    const renewed = await s.apply(
      old.id,
      { renewSecret: { secretHash: fresh, renewedAt: now, previousSecretHash: old.secretHash, previousSecretExpiresAt: now + 20_000 } },
      { now },
    );
    assert.ok(renewed.status === 'applied');

    // A replace at a stale version writes nothing, here either.
    const { record: stale } = makeRecord(now, { subject: 'ann' });
    assert.deepEqual(await s.create(stale, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } }), {
      status: 'gone',
    });
    assert.deepEqual(rows(), []);

    // An insert that fails (a duplicate id) rolls the removal and the memory of it back together.
    const { record: duplicate } = makeRecord(now, { subject: 'ann' });
    await s.create({ ...duplicate }, { now });
    await assert.rejects(
      s.create(duplicate, { now, replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 30_000 } }),
      /duplicate session id/,
    );
    assert.deepEqual(rows(), []);
    assert.ok(await s.load(old.id, { now, secretHash: fresh }), 'the session a failed login would have replaced is still there');

    const { record: next } = makeRecord(now, { subject: 'ann' });
    assert.equal(
      (await s.create(next, { now: now + 1000, replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 31_000 } }))
        .status,
      'created',
    );
    assert.deepEqual(rows(), [{ id: old.id, secret_hash: fresh, previous_secret_hash: old.secretHash, superseded_until: now + 31_000 }]);
    assert.equal(await s.isSuperseded(old.id, { now: now + 31_000 - 1, secretHash: old.secretHash }), true);

    // Replaced after its grace period, a renewed session's previous secret is not remembered.
    const later = now + 25_000;
    const { record: third } = makeRecord(later, { subject: 'ann' });
    const renewedNext = await s.apply(
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
    await s.create(third, { now: later, replaces: { id: next.id, version: renewedNext.record.version, supersededUntil: later + 30_000 } });
    assert.deepEqual(
      rows().find((r) => r.id === next.id),
      { id: next.id, secret_hash: hashSecret('n2'), previous_secret_hash: null, superseded_until: later + 30_000 },
    );
    assert.equal(await s.isSuperseded(next.id, { now: later, secretHash: next.secretHash }), false);
  });

  it('answers isSuperseded in one statement, and deleteExpired forgets a bounded batch, unreported', async () => {
    const counted = countingDatabase(new Database(path));
    open.push({ close: () => (counted.database as unknown as Database.Database).close() });
    const s = new SqliteStore({ database: counted.database });
    open.push(s);
    const now = Date.UTC(2030, 0, 1);
    const replaced: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { record: old } = makeRecord(now, { subject: 'bo' });
      await s.create(old, { now });
      const { record: next } = makeRecord(now, { subject: 'bo', idleTimeout: 3600 * 24 });
      await s.create(next, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 + i } });
      replaced.push(old.id);
    }
    counted.runs.length = 0;
    assert.equal(await s.isSuperseded(replaced[0] as string, { now, secretHash: hashSecret('wrong') }), false);
    assert.equal(counted.runs.length, 1, 'isSuperseded: one statement');

    const remembered = () => (counted.database.prepare('SELECT count(*) AS n FROM tessera_sessions_superseded').get() as { n: number }).n;
    assert.equal(remembered(), 5);
    const sweep = now + 60_000;
    assert.deepEqual(await s.deleteExpired(sweep, 2), [], 'forgotten tokens are not reported as sessions');
    assert.equal(remembered(), 3, 'at most the batch size per call');
    assert.deepEqual(await s.deleteExpired(sweep, 10), []);
    assert.equal(remembered(), 0);
  });

  it('forgets a few expired ones at each replace, so logins alone keep the table small', async () => {
    const s = store();
    const db = raw();
    const remembered = () => (db.prepare('SELECT count(*) AS n FROM tessera_sessions_superseded').get() as { n: number }).n;
    const start = Date.UTC(2030, 0, 1);
    // Each login replaces the previous session and is remembered for 30 s; 100 logins a minute apart.
    let { record: current } = makeRecord(start, { subject: 'cy', idleTimeout: 3600 });
    await s.create(current, { now: start });
    for (let i = 1; i <= 100; i++) {
      const now = start + i * 60_000;
      const { record: next } = makeRecord(now, { subject: 'cy', idleTimeout: 3600 });
      assert.equal(
        (await s.create(next, { now, replaces: { id: current.id, version: current.version, supersededUntil: now + 30_000 } })).status,
        'created',
      );
      current = next;
    }
    assert.ok(remembered() <= 2, `without any sweep, ${remembered()} remembered tokens are left`);
  });

  it('adds the table to a database made before it, keeping the sessions', async () => {
    const now = Date.UTC(2030, 0, 1);
    const { record: old } = makeRecord(now, { subject: 'dee' });
    const first = store();
    await first.create(old, { now });
    await first.close();
    const db = raw();
    db.exec('DROP TABLE tessera_sessions_superseded');
    const s = store();
    assert.ok(await s.load(old.id, { now, secretHash: old.secretHash }));
    const { record: next } = makeRecord(now, { subject: 'dee' });
    await s.create(next, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } });
    assert.equal(await s.isSuperseded(old.id, { now, secretHash: old.secretHash }), true);
  });
});
