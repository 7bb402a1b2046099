import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeRecord } from '../../testing/index.js';
import { SqliteStore, type SqliteDatabase } from './index.js';
import { isBusy } from './lock-wait.js';
import { indexNames, noticesTableName, statementsSql } from './schema.js';

const T = Date.UTC(2030, 0, 1);
const TABLE = 'tessera_sessions';
const created = (n: number, at: number) => ({
  id: `session.created:s${String(n).padStart(2, '0')}`,
  type: 'session.created' as const,
  sessionId: `s${n}`,
  subject: null,
  reason: null,
  at,
});

describe('SqliteStore: the outbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-outbox-'));
  let files = 0;
  const open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = () => join(dir, `sessions-${++files}.db`);
  const store = (file: string) => {
    const s = new SqliteStore({ path: file });
    open.push(s);
    return s;
  };

  it('two processes claiming at once, one held between its select and its lease, get disjoint notices', async () => {
    const file = path();
    const setup = store(file);
    await setup.outbox.addNotices(Array.from({ length: 10 }, (_, i) => created(i, T + i)));
    const selected = join(dir, `${files}-a-selected`);
    const tried = join(dir, `${files}-b-tried`);
    // Process A: its claim selects the due notices, then waits, inside its transaction and before
    // leasing them, until B has tried to claim.
    const url = new URL('./index.ts', import.meta.url).href;
    const code = `
      import Database from 'better-sqlite3';
      import { existsSync, writeFileSync } from 'node:fs';
      const { SqliteStore } = await import(${JSON.stringify(url)});
      const raw = new Database(${JSON.stringify(file)}, { timeout: 5 });
      const database = new Proxy(raw, {
        get(target, key) {
          if (key !== 'prepare') { const value = Reflect.get(target, key); return typeof value === 'function' ? value.bind(target) : value; }
          return (sql) => {
            const statement = target.prepare(sql);
            if (!sql.includes('WHERE due_at <= ?')) return statement;
            return {
              run: (...p) => statement.run(...p),
              get: (...p) => statement.get(...p),
              safeIntegers: (t) => statement.safeIntegers(t),
              all: (...p) => {
                const rows = statement.all(...p);
                writeFileSync(${JSON.stringify(selected)}, '');
                const deadline = Date.now() + 20000;
                while (!existsSync(${JSON.stringify(tried)})) if (Date.now() > deadline) throw new Error('B never tried');
                return rows;
              },
            };
          };
        },
      });
      const store = new SqliteStore({ database });
      const claimed = await store.outbox.claimNotices({ now: ${T + 100}, limit: 6, leaseUntil: ${T + 60_000} });
      raw.close();
      process.stdout.write(JSON.stringify(claimed.map((n) => n.id)));
    `;
    // Process B (this one): a connection that notes each time the write lock was refused.
    const raw = new Database(file, { timeout: 5 });
    let refused = 0;
    const database: SqliteDatabase = {
      get open() {
        return raw.open;
      },
      prepare: (sql) => raw.prepare(sql),
      exec: (sql) => raw.exec(sql),
      pragma: (sql, options) => raw.pragma(sql, options),
      close: () => raw.close(),
      transaction: (fn) => {
        const transaction = raw.transaction(fn);
        return {
          immediate: () => {
            try {
              return transaction.immediate();
            } catch (error) {
              if (isBusy(error)) {
                refused++;
                writeFileSync(tried, '');
              }
              throw error;
            }
          },
        };
      },
    };
    const b = new SqliteStore({ database, busyTimeout: 20_000 });
    open.push(raw, b);
    const a = run(code);
    for (let i = 0; i < 2000 && !existsSync(selected); i++) await sleep(10);
    assert.ok(existsSync(selected), 'A selected its notices');
    let fromB: string[];
    try {
      fromB = (await b.outbox.claimNotices({ now: T + 100, limit: 6, leaseUntil: T + 60_000 })).map((n) => n.id);
    } finally {
      writeFileSync(tried, '');
    }
    const fromA = await a;
    assert.deepEqual(
      fromA,
      Array.from({ length: 6 }, (_, i) => created(i, 0).id),
      'A claimed the six earliest',
    );
    assert.deepEqual(
      fromB,
      Array.from({ length: 4 }, (_, i) => created(i + 6, 0).id),
      'B the rest, none of them twice',
    );
    assert.ok(refused > 0, 'B tried while A held its claim open');
    assert.equal(await setup.outbox.countNotices(), 10);
  });

  it('records a notice in the transaction of its removal: when the notice cannot be written, the session stays', async () => {
    const file = path();
    const s = store(file);
    const { record } = makeRecord(T, { subject: 'wanda' });
    await s.create(record, { now: T });
    const raw = new Database(file);
    open.push(raw);
    raw.exec(`DROP TABLE "${noticesTableName(TABLE)}"`);
    await assert.rejects(s.delete(record.id, { notice: { reason: 'logout', at: T } }), /no such table/);
    assert.ok(await s.load(record.id, { now: T }), 'the removal was rolled back with it');
    assert.deepEqual(await s.delete(record.id), { id: record.id, subject: 'wanda' }, 'without a notice nothing touches the outbox');
  });

  it('a file of the previous version (no notices table) gains it on open, sessions kept', async () => {
    const file = path();
    const old = new SqliteStore({ path: file });
    const { record } = makeRecord(T, { subject: 'xena' });
    await old.create(record, { now: T });
    await old.close();
    const raw = new Database(file);
    open.push(raw);
    // As the previous version left it: the notices table and its indexes did not exist.
    raw.exec(`DROP TABLE "${noticesTableName(TABLE)}"`);
    const objects = () =>
      (raw.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%notices%' ORDER BY name").all() as Array<{ name: string }>).map(
        (r) => r.name,
      );
    assert.deepEqual(objects(), []);
    const s = store(file);
    const names = indexNames(TABLE);
    assert.deepEqual(objects(), [noticesTableName(TABLE), names.noticesAt, names.noticesDue].sort());
    assert.equal((await s.load(record.id, { now: T }))?.subject, 'xena');
    await s.delete(record.id, { notice: { reason: 'admin', at: T + 5 } });
    assert.deepEqual(await s.outbox.claimNotices({ now: T + 5, limit: 5, leaseUntil: T + 10 }), [
      {
        id: `session.ended:${record.id}`,
        type: 'session.ended',
        sessionId: record.id,
        subject: 'xena',
        reason: 'admin',
        at: T + 5,
        attempts: 1,
      },
    ]);
  });

  it('claims and trims through their indexes, and trims a backlog in slices without removing more than the excess', async () => {
    const file = path();
    const s = store(file);
    const raw = new Database(file);
    open.push(raw);
    const sql = statementsSql(TABLE);
    const names = indexNames(TABLE);
    const plan = (statement: string, ...params: unknown[]) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${statement}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    assert.match(plan(sql.dueNotices, T, 10), new RegExp(`USING (COVERING )?INDEX ${names.noticesDue}\\b`));
    assert.match(plan(sql.trimNotices, 10, 100), new RegExp(`USING (COVERING )?INDEX ${names.noticesAt}\\b`));
    assert.doesNotMatch(plan(sql.dueNotices, T, 10), /TEMP B-TREE/, 'no sort of the whole queue');
    assert.doesNotMatch(plan(sql.trimNotices, 10, 100), /TEMP B-TREE/);
    const backlog = 1234;
    for (let i = 0; i < backlog; i += 200)
      await s.outbox.addNotices(Array.from({ length: Math.min(200, backlog - i) }, (_, k) => created(i + k, T + i + k)));
    // Two trims at once, as two workers would run them: together they remove the excess exactly.
    const other = store(file);
    const [x, y] = await Promise.all([s.outbox.trimNotices(100), other.outbox.trimNotices(100)]);
    assert.equal((x ?? 0) + (y ?? 0), backlog - 100);
    assert.equal(await s.outbox.countNotices(), 100);
    const kept = await s.outbox.claimNotices({ now: T + backlog, limit: 1000, leaseUntil: T + backlog + 1 });
    assert.deepEqual(
      kept.map((n) => n.at),
      Array.from({ length: 100 }, (_, i) => T + backlog - 100 + i),
    );
    assert.equal(await s.outbox.trimNotices(Number.NaN), 0, 'NaN trims nothing');
    assert.equal(await s.outbox.trimNotices(Number.POSITIVE_INFINITY), 0);
    assert.deepEqual(
      await s.outbox.claimNotices({ now: T + backlog + 1, limit: -1, leaseUntil: T + backlog + 2 }),
      [],
      'a negative limit claims nothing',
    );
  });
});

function run(code: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) =>
      status === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`process A exited ${status}: ${err}`)),
    );
  });
}
