import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreUnavailableError } from '../../core/index.js';
import { makeRecord } from '../../testing/index.js';
import { SqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/**
 * Another process that takes the write lock of `path` (`BEGIN IMMEDIATE`) and holds it until
 * `release()`: no timing decides when it lets go, the test does.
 */
async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(path)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    process.stdin.once('data', () => {
      db.exec('ROLLBACK');
      db.close();
      process.stdout.write('released\\n');
    });`;
  const child = spawn(process.execPath, ['-e', code], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const waiter of waiters.splice(0)) {
      if (out.includes(waiter.text)) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve() : reject(new Error(`lock holder exited ${status}: ${err}`))));
  });
  const seen = (text: string) => (out.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve })));
  await Promise.race([seen('locked\n'), exited]);
  return {
    /** Idempotent: a failing test releases it too, in a finally. */
    async release() {
      if (child.stdin.writable) child.stdin.end('go\n');
      await exited;
    },
  };
}

/** How a call's promise ended, observable without awaiting it. */
function track<T>(call: () => Promise<T>): { settled: boolean; result: Promise<{ ok: true; value: T } | { ok: false; error: unknown }> } {
  const state = {
    settled: false,
    result: Promise.resolve()
      .then(call)
      .then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
  };
  void state.result.then(() => (state.settled = true));
  return state;
}

describe('SqliteStore: a write lock held by another process', () => {
  const open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });
  const store = (busyTimeout: number) => {
    const s = new SqliteStore({ path: join(dir, `lock-${++files}.db`), busyTimeout });
    open.push(s);
    return s;
  };

  it('every write waits for it without blocking the event loop: HTTP requests are served meanwhile, and the writes complete once it is released', async () => {
    // The deadline is far beyond the wait, so only the release ends it.
    const s = store(10_000);
    const path = join(dir, `lock-${files}.db`);
    const now = Date.now();
    const seed = async (subject: string | null, idleTimeout = 3600) => {
      const { record } = makeRecord(now - 1000, { subject, idleTimeout });
      await s.create(record, { now: now - 1000 });
      return record;
    };
    const [a, b, c, d] = [await seed('lou'), await seed('lou'), await seed('lou'), await seed('lou')];
    const trimmed = [await seed('tim'), await seed('tim'), await seed('tim')];
    const expired = await seed(null, 1);
    const { record: fresh } = makeRecord(now, { subject: 'lou' });
    const { record: limited } = makeRecord(now, { subject: 'mia' });
    const touchDue = { maxIntervalMs: 1, idleFraction: 0.1 };

    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const holder = await holdWriteLock(path);
    try {
      const writes = {
        create: track(() => s.create(fresh, { now })),
        createWithLimit: track(() => s.create(limited, { now, limit: { max: 5 } })),
        apply: track(() => s.apply(a.id, { set: { k: 1 } }, { now })),
        touch: track(() =>
          s.load(b.id, { now: now + 5000, secretHash: b.secretHash, touch: touchDue, device: { ip: '198.51.100.1', userAgent: 'x' } }),
        ),
        delete: track(() => s.delete(c.id)),
        trim: track(() => s.trimSubject('tim', { now, max: 1, keep: (trimmed[2] as typeof a).id, batch: 10 })),
        deleteBySubject: track(() => s.deleteBySubject('lou', { now, except: a.id, limit: 1 })),
        deleteExpired: track(() => s.deleteExpired(now + 5000, 10)),
      };
      // The event loop turns while they wait: 20 HTTP requests, one after the other, are answered.
      let served = 0;
      for (let i = 0; i < 20; i++) {
        assert.equal(await (await fetch(url)).text(), 'ok');
        served++;
      }
      assert.equal(served, 20);
      const settledEarly = Object.entries(writes)
        .filter(([, w]) => w.settled)
        .map(([name]) => name);
      assert.deepEqual(settledEarly, [], 'no write got through (or gave up) while the lock was held');
      // WAL: a read needs no write lock.
      assert.equal((await s.load(d.id, { now }))?.id, d.id);

      await holder.release();
      const results = Object.fromEntries(
        await Promise.all(Object.entries(writes).map(async ([name, w]) => [name, await w.result] as const)),
      );
      for (const [name, result] of Object.entries(results)) assert.ok(result.ok, `${name}: ${result.ok ? '' : String(result.error)}`);
      assert.ok((await s.load(fresh.id, { now })) !== null);
      assert.ok((await s.load(limited.id, { now })) !== null);
      assert.equal((await s.load(a.id, { now }))?.data.k, 1);
      assert.equal(await s.load(c.id, { now }), null);
      assert.equal((results.trim as { value: unknown[] } | undefined)?.value.length, 2);
      assert.equal((results.deleteBySubject as { value: unknown[] } | undefined)?.value.length, 1);
      assert.deepEqual((results.deleteExpired as { value: unknown[] } | undefined)?.value, [{ id: expired.id, subject: null }]);
      // The touch went through unless the revocation above took its session first.
      const touched = await s.load(b.id, { now: now + 5000 });
      assert.ok(touched === null || touched.lastSeenAt === now + 5000, 'the touch was written');
    } finally {
      await holder.release();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a write still waiting at busyTimeout fails with StoreUnavailableError; timers ran all along', async () => {
    const s = store(300);
    const path = join(dir, `lock-${files}.db`);
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'ned' });
    await s.create(record, { now });
    const holder = await holdWriteLock(path);
    try {
      let turns = 0;
      const ticker = setInterval(() => turns++, 5);
      const error = await Promise.resolve()
        .then(() => s.apply(record.id, { set: { a: 1 } }, { now }))
        .then(
          () => assert.fail('the write went through a held lock'),
          (e: unknown) => e,
        );
      clearInterval(ticker);
      assert.ok(error instanceof StoreUnavailableError, String(error));
      assert.equal(error.status, 503);
      assert.ok(turns >= 10, `the timer ran ${turns} times while the write waited`);
    } finally {
      await holder.release();
    }
    assert.equal((await s.apply(record.id, { set: { a: 2 } }, { now })).status, 'applied', 'and it works once the lock is free');
  });
});
