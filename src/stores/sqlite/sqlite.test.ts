import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { InvalidOptionError, ManualClock, SessionManager, StoreUnavailableError } from '../../core/index.js';
import { hashSecret, parseToken } from '../../core/token.js';
import { makeRecord, runStoreConformance } from '../../testing/index.js';
import { SqliteStore, type SqliteDatabase } from './index.js';
import { indexNames, prefixUpperBound, statementsSql } from './schema.js';

const dirs: string[] = [];
/** A path in a fresh temporary folder, removed when the file's tests end. */
function tmpFile(name = 'sessions.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
  dirs.push(dir);
  return join(dir, name);
}
after(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

let plainPath = '';
runStoreConformance({
  name: 'sqlite',
  createStore: () => new SqliteStore({ path: (plainPath = tmpFile()) }),
  peer: () => new SqliteStore({ path: plainPath }),
});
let cachedPath = '';
runStoreConformance({
  name: 'sqlite',
  cache: { maxStaleness: 1000 },
  createStore: () => new SqliteStore({ path: (cachedPath = tmpFile()) }),
  peer: () => new SqliteStore({ path: cachedPath }),
});
runStoreConformance({
  name: 'sqlite (given database, custom table)',
  concurrency: 50,
  createStore: () => new SqliteStore({ database: new Database(':memory:'), tableName: 'app_sessions' }),
});

const DEVICE = { ip: '198.51.100.4', userAgent: 'SqliteTest/1.0' };

describe('SqliteStore', () => {
  let path: string;
  const open: Array<{ close(): unknown }> = [];
  beforeEach(() => {
    path = tmpFile();
  });
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });
  const store = (options: { tableName?: string; busyTimeout?: number } = {}) => {
    const s = new SqliteStore({ path, ...options });
    open.push(s);
    return s;
  };
  const manager = (s: SqliteStore, clock: ManualClock) => {
    const m = new SessionManager({ store: s, clock, cleanupInterval: false });
    open.push(m);
    return m;
  };
  const request = (m: SessionManager, token: string | null) =>
    m.load({ cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`, secure: false, ...DEVICE });

  it('upgrades a table made by the first schema in place, keeping its sessions', async () => {
    const db = new Database(path);
    db.exec(`CREATE TABLE tessera_sessions (id TEXT NOT NULL PRIMARY KEY, secret_hash TEXT NOT NULL, subject TEXT, display_name TEXT,
      created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, idle_timeout INTEGER NOT NULL, absolute_expires_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL, authenticated_at INTEGER, version INTEGER NOT NULL, data TEXT NOT NULL, created_ip TEXT,
      created_user_agent TEXT, last_ip TEXT, last_user_agent TEXT) WITHOUT ROWID`);
    const now = Date.UTC(2030, 0, 1);
    const { record: old } = makeRecord(now, { subject: 'old' });
    db.prepare('INSERT INTO tessera_sessions VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, 1, ?, NULL, NULL, NULL, NULL)').run(
      old.id,
      old.secretHash,
      'old',
      now,
      now,
      old.idleTimeout,
      old.absoluteExpiresAt,
      old.expiresAt,
      now,
      '{"n":1}',
    );
    db.close();
    const s = store();
    const loaded = await s.load(old.id, { now, secretHash: old.secretHash });
    assert.equal(loaded?.data.n, 1);
    assert.equal(loaded?.renewedAt, now);
    assert.equal(loaded?.previousSecretHash, null);
  });

  it('keeps sessions across a close and a reopen of the file', async () => {
    const clock = new ManualClock();
    const first = store();
    const m1 = manager(first, clock);
    const session = await request(m1, null);
    await session.set('cart', ['apple', { qty: 2 }]);
    await session.login('alice', { displayName: 'Alice' });
    const token = session.issuedToken as string;
    m1.close();
    await first.close();

    clock.advance(5_000);
    const second = store();
    const again = await request(manager(second, clock), token);
    assert.equal(again.isStored, true);
    assert.equal(again.id, session.id);
    assert.equal(again.subject, 'alice');
    assert.equal(again.displayName, 'Alice');
    assert.deepEqual(again.get('cart'), ['apple', { qty: 2 }]);
  });

  it('writes hashes of the secrets to disk, never the tokens or the secrets', async () => {
    const clock = new ManualClock();
    const s = store();
    const m = manager(s, clock);
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) {
      const session = await request(m, null);
      await session.set('n', i);
      await session.login(`user${i % 4}`);
      tokens.push(session.issuedToken as string);
      await session.rotate();
      tokens.push(session.issuedToken as string);
    }
    const bytes = () => Buffer.concat([path, `${path}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file)));
    const check = (content: Buffer) => {
      for (const token of tokens) {
        const { secret } = parseToken(token) ?? assert.fail('a well-formed token');
        assert.equal(content.includes(token), false, 'a token is on disk');
        assert.equal(content.includes(secret), false, 'a secret is on disk');
        assert.equal(content.includes(Buffer.from(secret, 'base64url')), false, 'raw secret bytes are on disk');
      }
    };
    const live = bytes();
    check(live);
    const current = parseToken(tokens[tokens.length - 1] as string);
    assert.ok(current && live.includes(hashSecret(current.secret)), 'the hash of a live session is stored');
    m.close();
    await s.close();
    check(bytes());
  });

  it('a session row deleted in the database logs its user out at once, and lists and counts drop it', async () => {
    const clock = new ManualClock();
    const s = store();
    const m = manager(s, clock);
    const login = async (subject: string) => {
      const session = await request(m, null);
      await session.login(subject);
      return session;
    };
    const [victim, kept, other] = [await login('ann'), await login('ann'), await login('bob')];
    const anonymous = await request(m, null);
    await anonymous.set('cart', 1);
    assert.equal(await m.count({ subject: 'ann' }), 2);
    assert.equal(await m.count(), 4);

    // Another program on the same file: a plain DELETE, no store, no manager.
    const db = new Database(path);
    open.push(db);
    assert.equal(db.prepare('DELETE FROM tessera_sessions WHERE id = ?').run(victim.id).changes, 1);

    const cookies: string[] = [];
    const after = await m.load({
      cookie: `${m.cookieName(false)}=${victim.issuedToken as string}`,
      secure: false,
      ...DEVICE,
      setCookie: (c) => cookies.push(c),
    });
    assert.equal(after.isStored, false, 'the deleted session no longer opens');
    assert.equal(after.superseded, false);
    assert.equal(cookies.length, 1);
    assert.match(
      cookies[0] as string,
      new RegExp(`^${m.cookieName(false)}=;.*Max-Age=0`),
      'its cookie is cleared: nothing replaced the token',
    );
    assert.deepEqual(
      (await m.list('ann')).sessions.map((info) => info.id),
      [kept.id],
    );
    assert.equal(await m.count({ subject: 'ann' }), 1);
    assert.equal(await m.count(), 3);
    for (const session of [kept, other]) assert.equal((await request(m, session.issuedToken)).isStored, true);
  });

  it('creates its indexes, and lists and counts by subject through them', async () => {
    const s = store({ tableName: 'my_sessions' });
    const now = Date.now();
    for (let i = 0; i < 5; i++) {
      const { record } = makeRecord(now + i, { subject: i < 3 ? 'pat' : 'sam' });
      await s.create(record, { now });
    }
    const db = new Database(path, { readonly: true });
    open.push(db);
    const names = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?").all('my_sessions') as Array<{ name: string }>
    ).map((r) => r.name);
    const expected = indexNames('my_sessions');
    for (const name of [expected.subject, expected.created, expected.expires, expected.displayName])
      assert.ok(names.includes(name), `index ${name} exists`);
    const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get('my_sessions') as { sql: string };
    assert.match(table.sql, /WITHOUT ROWID/);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');

    const sql = statementsSql('my_sessions');
    const plan = (statement: string, ...params: unknown[]) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${statement}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    assert.match(plan(sql.listFirst, 'pat', now, 51), new RegExp(`USING (COVERING )?INDEX ${expected.created}\\b`));
    assert.match(plan(sql.listAfter, 'pat', now, 'x', now, 51), new RegExp(`USING (COVERING )?INDEX ${expected.created}\\b`));
    assert.match(plan(sql.oldestLive, 'pat', now, null, 500), new RegExp(`USING (COVERING )?INDEX ${expected.created}\\b`));
    assert.match(plan(sql.liveCount, 'pat', now, null, 100), new RegExp(`USING (COVERING )?INDEX ${expected.subject}\\b`));
    assert.match(plan(sql.countBySubject, 'pat', now), new RegExp(`USING (COVERING )?INDEX ${expected.subject}\\b`));
    assert.match(plan(sql.countAll, now), new RegExp(`USING (COVERING )?INDEX ${expected.expires}\\b`));
    assert.match(plan(sql.expired, now, 10), new RegExp(`USING (COVERING )?INDEX ${expected.expires}\\b`));
    assert.deepEqual(
      (await s.listBySubject('pat', { now, limit: 10 })).sessions.map((r) => r.createdAt),
      [now, now + 1, now + 2],
    );
  });

  it('creates the schema idempotently and shares it between stores on one file', async () => {
    const a = store();
    const b = store();
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'kai' });
    await a.create(record, { now });
    assert.equal((await b.load(record.id, { now, secretHash: record.secretHash }))?.id, record.id);
    assert.equal(await b.count({ now, subject: 'kai' }), 1);
  });

  it('matches display-name prefixes literally, including % and _ and non-ASCII text', async () => {
    const s = store();
    const now = Date.now();
    const names = ['100% Pure', '100 Percent', '1_x', '1ax', 'Zoë', 'Zoe', 'Zoëlle', '\u{10FFFF}end', '\u{10FFFF}', 'a\u{10FFFF}b', null];
    const byName = new Map<string | null, string>();
    for (const displayName of names) {
      const { record } = makeRecord(now, { subject: 'p', displayName });
      await s.create(record, { now });
      byName.set(displayName, record.id);
    }
    const found = async (prefix: string) => {
      const page = await s.query({ now, displayNamePrefix: prefix, limit: 100 });
      return page.sessions.map((r) => r.displayName).sort();
    };
    assert.deepEqual(await found('100%'), ['100% Pure']);
    assert.deepEqual(await found('1_'), ['1_x']);
    assert.deepEqual(await found('Zoë'), ['Zoë', 'Zoëlle']);
    assert.deepEqual(await found('\u{10FFFF}'), ['\u{10FFFF}', '\u{10FFFF}end']);
    assert.deepEqual(await found('a\u{10FFFF}'), ['a\u{10FFFF}b']);
    assert.equal((await s.query({ now, displayNamePrefix: '', limit: 100 })).sessions.length, names.length);
    assert.equal(prefixUpperBound('ab'), 'ac');
    assert.equal(prefixUpperBound('a\u{10FFFF}'), 'b');
    assert.equal(prefixUpperBound('\u{10FFFF}'), null);
    assert.equal(prefixUpperBound('\u{D7FF}'), '\u{E000}');
  });

  it('round-trips odd data keys without touching prototypes', async () => {
    const s = store();
    const now = Date.now();
    const data = JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}') as Record<string, never>;
    const { record } = makeRecord(now, { data });
    await s.create(record, { now });
    const loaded = await s.load(record.id, { now });
    assert.ok(loaded);
    assert.ok(Object.hasOwn(loaded.data, '__proto__'));
    assert.deepEqual(loaded.data.__proto__, { admin: true });
    assert.equal(Object.getPrototypeOf(loaded.data), Object.prototype);
    assert.equal((loaded.data as Record<string, unknown>).admin, undefined);
    const applied = await s.apply(record.id, { set: JSON.parse('{"__proto__":2}') as Record<string, never> }, { now });
    assert.ok(applied.status === 'applied');
    assert.equal(applied.record.data.__proto__, 2);
    assert.equal(Object.getPrototypeOf(applied.record.data), Object.prototype);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('leaves a given database open, and refuses work once closed', async () => {
    const db = new Database(':memory:');
    const typed: SqliteDatabase = db;
    const s = new SqliteStore({ database: typed });
    await s.close();
    assert.equal(db.open, true);
    assert.equal((db.prepare('SELECT count(*) AS n FROM tessera_sessions').get() as { n: number }).n, 0);
    db.close();
    await assert.rejects(s.load('x', { now: 0 }), StoreUnavailableError);

    const owned = new SqliteStore({ path });
    await owned.close();
    await owned.close();
    await assert.rejects(owned.count({ now: 0 }), StoreUnavailableError);
  });

  it('reports a database closed under it as unavailable', async () => {
    const db = new Database(':memory:');
    const s = new SqliteStore({ database: db });
    db.close();
    await assert.rejects(s.count({ now: 0 }), StoreUnavailableError);
  });

  it('reports a lock held past the busy timeout as StoreUnavailableError, and recovers', async () => {
    const s = store({ busyTimeout: 50 });
    const now = Date.now();
    const { record: first } = makeRecord(now, { subject: 'lou' });
    await s.create(first, { now });
    const other = new Database(path);
    open.push(other);
    other.exec('BEGIN IMMEDIATE');
    const { record: second } = makeRecord(now, { subject: 'lou' });
    const error = await s.create(second, { now, limit: { max: 5 } }).catch((e: unknown) => e);
    assert.ok(error instanceof StoreUnavailableError, String(error));
    assert.equal(error.code, 'STORE_UNAVAILABLE');
    assert.equal(error.status, 503);
    await assert.rejects(s.apply(first.id, { set: { a: 1 } }, { now }), StoreUnavailableError);
    // WAL: readers do not wait for the writer.
    assert.equal((await s.load(first.id, { now }))?.id, first.id);
    other.exec('ROLLBACK');
    assert.equal((await s.create(second, { now, limit: { max: 5 } })).status, 'created');
  });

  it('keeps idempotency keys beside the sessions: removed with their session, forgotten past their time a bounded batch per sweep', async () => {
    const s = store();
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { record } = makeRecord(now);
      await s.create(record, { now });
      ids.push(record.id);
      for (const [key, until] of [
        ['short#1', now + 1000],
        ['long#1', now + 60_000],
      ] as const) {
        assert.equal((await s.apply(record.id, { increment: { n: 1 } }, { now, idempotency: { key, until } })).status, 'applied');
      }
    }
    const db = new Database(path, { readonly: true });
    open.push(db);
    const keys = () =>
      (
        db.prepare('SELECT session_id AS id, key FROM tessera_sessions_applied ORDER BY session_id, key').all() as Array<{
          id: string;
          key: string;
        }>
      ).map((r) => `${r.id}:${r.key}`);
    assert.equal(keys().length, 6);
    await s.delete(ids[0] as string);
    assert.deepEqual(
      keys(),
      [`${ids[1]}:long#1`, `${ids[1]}:short#1`, `${ids[2]}:long#1`, `${ids[2]}:short#1`].sort(),
      'removed with their session',
    );
    assert.deepEqual(await s.deleteExpired(now + 1000, 1), [], 'no session has expired');
    assert.equal(keys().length, 3, 'one key past its time forgotten per batch of 1');
    await s.deleteExpired(now + 1000, 1);
    assert.deepEqual(keys(), [`${ids[1]}:long#1`, `${ids[2]}:long#1`].sort());
    const again = await s.apply(
      ids[1] as string,
      { increment: { n: 1 } },
      { now: now + 1000, idempotency: { key: 'short#1', until: now + 2000 } },
    );
    assert.ok(again.status === 'applied' && again.duplicate !== true, 'a forgotten key applies again');
  });

  it('refuses a create of an id that exists with an error that is not StoreUnavailableError, and changes nothing', async () => {
    const s = store();
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'dup', data: { a: 1 } });
    await s.create(record, { now });
    const error = await s.create({ ...record, data: { a: 2 } }, { now }).then(
      () => assert.fail('a duplicate id was created'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof Error && !(error instanceof StoreUnavailableError), String(error));
    assert.equal((await s.load(record.id, { now }))?.data.a, 1);
  });

  it('validates its options at construction', () => {
    assert.throws(() => new SqliteStore({} as never), InvalidOptionError);
    assert.throws(() => new SqliteStore({ path, database: new Database(':memory:') } as never), InvalidOptionError);
    assert.throws(() => new SqliteStore({ path, tableName: 'x; DROP TABLE y' }), InvalidOptionError);
    assert.throws(() => new SqliteStore({ path, tableName: '"quoted"' }), InvalidOptionError);
    assert.throws(() => new SqliteStore({ path, busyTimeout: -1 }), InvalidOptionError);
    assert.throws(() => new SqliteStore({ database: {} as never }), InvalidOptionError);
    // A directory that does not exist is the app's mistake; a file that cannot be opened is not.
    assert.throws(() => new SqliteStore({ path: join(path, 'missing-dir', 'x.db') }), InvalidOptionError);
    assert.throws(() => new SqliteStore({ path: dirname(path) }), StoreUnavailableError);
  });

  it('deletes expired sessions oldest first, at most the limit, and never a negative-limit sweep', async () => {
    const s = store();
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { record } = makeRecord(now, { idleTimeout: 10 + i, subject: i % 2 ? 'q' : null });
      await s.create(record, { now });
      ids.push(record.id);
    }
    const later = now + 60_000;
    assert.deepEqual(await s.deleteExpired(later, 0), []);
    assert.deepEqual(await s.deleteExpired(later, -1), []);
    const first = await s.deleteExpired(later, 2);
    assert.deepEqual(first, [
      { id: ids[0], subject: null },
      { id: ids[1], subject: 'q' },
    ]);
    assert.deepEqual(
      (await s.deleteExpired(later, 10)).map((r) => r.id),
      ids.slice(2),
    );
  });
});
