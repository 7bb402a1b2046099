import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { makeRecord } from '../../testing/index.js';
import { SqliteStore } from './index.js';
import { rowValues } from '../../store-kit/index.js';
import { statementsSql } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-cleanup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface WorkerReport {
  removed: Array<{ id: string; subject: string | null }>;
  /** Wall-clock times (ms) the worker's first batch started and its last one ended. */
  from: number;
  to: number;
  batches: number;
}

/**
 * Starts `code` in a child process with TypeScript loaded. The child prints a line when it is
 * ready and waits for a line on stdin before it sweeps, so that every child starts at once
 * however long each took to load; it prints `swept` after its first batch and waits for another
 * line (`release`) before going on; then it prints its report as JSON.
 */
function startWorker(code: string): {
  ready: Promise<void>;
  go(): void;
  swept: Promise<void>;
  release(): void;
  done: Promise<WorkerReport>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let signalReady: () => void = () => {};
  let signalSwept: () => void = () => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  const swept = new Promise<void>((resolve) => (signalSwept = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready\n')) signalReady();
    if (out.includes('swept\n')) signalSwept();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<WorkerReport>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      signalReady();
      signalSwept();
      if (status === 0) resolve(JSON.parse(out.slice(out.lastIndexOf('\n') + 1)) as WorkerReport);
      else reject(new Error(`worker exited ${status}: ${err}`));
    });
  });
  return { ready, go: () => child.stdin.write('go\n'), swept, release: () => child.stdin.end('release\n'), done };
}

describe('SqliteStore: cleanup by several processes at once', () => {
  it('4 processes sweeping 3,000 expired sessions on one file report each exactly once, with its subject, and no live one', async () => {
    const path = join(dir, 'sessions.db');
    const now = Date.UTC(2030, 0, 1);
    const expected = new Map<string, string | null>();
    const liveIds = new Set<string>();
    // Made by the store (schema), filled in one transaction of plain inserts (fast), then closed.
    await new SqliteStore({ path }).close();
    const db = new Database(path);
    const insert = db.prepare(statementsSql('tessera_sessions').insert);
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) {
        // Two hours ago with a 60 s idle timeout: long expired at `now`. Two in three are logged in.
        const subject = i % 3 === 0 ? null : `user${i % 97}`;
        const { record } = makeRecord(now - 7_200_000, { subject, idleTimeout: 60, lastSeenAt: now - 7_200_000 + (i % 1000) });
        insert.run(...rowValues(record));
        expected.set(record.id, subject);
      }
      for (let i = 0; i < 300; i++) {
        const { record } = makeRecord(now, { subject: i % 2 ? 'kept' : null, idleTimeout: 3600 });
        insert.run(...rowValues(record));
        liveIds.add(record.id);
      }
    }).immediate();
    db.close();

    const storeUrl = new URL('./index.ts', import.meta.url).href;
    const coreUrl = new URL('../../core/index.ts', import.meta.url).href;
    // Batches are small, so that sweeps starting together interleave.
    const batch = 20;
    const common = `
      const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
      const { SessionManager, ManualClock } = await import(${JSON.stringify(coreUrl)});
      const store = new SqliteStore({ path: ${JSON.stringify(path)}, busyTimeout: 20000 });
      const report = { removed: [], from: 0, to: 0, batches: 0 };
      // Every sweeper removes a batch before any goes on, so the work is shared whatever the
      // scheduling (on a busy machine one process could otherwise sweep it all before the others start).
      const sweepOnce = store.deleteExpired.bind(store);
      let held = true;
      store.deleteExpired = async (...args) => {
        const gone = await sweepOnce(...args);
        if (held) {
          held = false;
          const released = new Promise((resolve) => process.stdin.once('data', resolve));
          process.stdout.write('swept\\n');
          await released;
        }
        return gone;
      };
      process.stdout.write('ready\\n');
      await new Promise((resolve) => process.stdin.once('data', resolve));
      report.from = Date.now();
    `;
    const end = `
      report.to = Date.now();
      await store.close();
      process.stdout.write(JSON.stringify(report));
    `;
    // Two processes call deleteExpired in a loop, as a store's own timer would.
    const bareSweeper = `${common}
      for (;;) {
        const gone = await store.deleteExpired(${now}, ${batch});
        report.batches++;
        report.removed.push(...gone);
        if (gone.length === 0) break;
      }
      ${end}`;
    // Two run a SessionManager's sweep and report what its 'expired' events carried.
    const managerSweeper = `${common}
      const manager = new SessionManager({ store, clock: new ManualClock(${now}), cleanupInterval: false, cleanupBatchSize: ${batch} });
      manager.on('expired', (event) => report.removed.push({ id: event.session.id, subject: event.session.subject }));
      const counted = await manager.sweep();
      report.batches = Math.ceil(counted / ${batch});
      manager.close();
      ${end}`;
    const workers = [bareSweeper, bareSweeper, managerSweeper, managerSweeper].map(startWorker);
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    await Promise.all(workers.map((w) => w.swept));
    for (const w of workers) w.release();
    const reports = await Promise.all(workers.map((w) => w.done));

    const all = reports.flatMap((r) => r.removed);
    assert.equal(new Set(all.map((r) => r.id)).size, all.length, 'no session reported twice');
    assert.equal(all.length, expected.size, 'every expired session reported');
    for (const { id, subject } of all) {
      assert.ok(expected.has(id), `${id} was not an expired session${liveIds.has(id) ? ' (it is a live one)' : ''}`);
      assert.equal(subject, expected.get(id), `the subject reported for ${id}`);
    }
    const shares = reports.map((r) => r.removed.length);
    assert.ok(
      shares.every((n) => n > 0),
      `every sweeper removed some: ${shares.join(', ')}`,
    );
    // The sweeps ran at the same time: the latest start came before the earliest end.
    const latestStart = Math.max(...reports.map((r) => r.from));
    const earliestEnd = Math.min(...reports.map((r) => r.to));
    assert.ok(latestStart < earliestEnd, `the sweeps overlapped: ${reports.map((r) => `${r.from}-${r.to}`).join(', ')}`);

    const check = new SqliteStore({ path });
    try {
      assert.equal(await check.count({ now }), liveIds.size, 'the live sessions are all there');
      assert.deepEqual(await check.deleteExpired(now, 100), []);
    } finally {
      await check.close();
    }
  });

  it('one call removing 2,000 expired sessions lets the event loop turn between slices of it, and removes them all', async () => {
    const path = join(dir, 'slices.db');
    const now = Date.UTC(2030, 0, 1);
    await new SqliteStore({ path }).close();
    const db = new Database(path);
    const insert = db.prepare(statementsSql('tessera_sessions').insert);
    db.transaction(() => {
      for (let i = 0; i < 2000; i++)
        insert.run(...rowValues(makeRecord(now - 7_200_000, { subject: i % 2 ? `u${i % 40}` : null, idleTimeout: 60 }).record));
    })();
    db.close();
    const store = new SqliteStore({ path });
    try {
      let turns = 0;
      let sweeping = true;
      const spin = () => {
        turns++;
        if (sweeping) setImmediate(spin);
      };
      setImmediate(spin);
      const removed = await store.deleteExpired(now, 2000);
      sweeping = false;
      assert.equal(removed.length, 2000);
      assert.equal(new Set(removed.map((r) => r.id)).size, 2000);
      // A slice is at most 100 sessions (and about 10 ms): 20 slices, 19 turns between them at least.
      assert.ok(turns >= 19, `${turns} event-loop turns during one call`);
      assert.deepEqual(await store.deleteExpired(now, 10), []);
    } finally {
      await store.close();
    }
  });

  it('checkpoints the write-ahead log from a worker thread: the log reaches the database file while the store is open', async () => {
    const path = join(dir, 'checkpoint.db');
    const store = new SqliteStore({ path });
    try {
      const now = Date.now();
      const initial = statSync(path).size;
      for (let i = 0; i < 1000; i++) {
        const { record } = makeRecord(now, { data: { blob: 'x'.repeat(2000) } });
        await store.create(record, { now });
      }
      // The store's own connection never checkpoints; the worker does, once a second.
      let size = statSync(path).size;
      for (let i = 0; i < 100 && size < initial + 1_000_000; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        size = statSync(path).size;
      }
      assert.ok(size >= initial + 1_000_000, `the database file grew from ${initial} to ${size} bytes`);
    } finally {
      await store.close();
    }
  });
});
