import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from './index.js';

// Several processes on one file: the limit must hold across connections, not only within one.
describe('SqliteStore across processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-processes-'));
  const path = join(dir, 'sessions.db');
  const open: SqliteStore[] = [];
  after(async () => {
    for (const item of open.splice(0)) await item.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = () => {
    const s = new SqliteStore({ path });
    open.push(s);
    return s;
  };

  it('holds the per-subject limit with several processes logging in on one file (reject at create; evict-oldest by trimming after)', async () => {
    const s = store();
    await s.close();
    const url = new URL('./index.ts', import.meta.url).href;
    const makeRecordUrl = new URL('../../testing/fixtures.ts', import.meta.url).href;
    const startAt = Date.now() + 1500;
    // As the core does it: 'reject' is the create's limit; 'evict-oldest' creates, then trims keeping the new one.
    const worker = (onLimit: 'reject' | 'evict-oldest', subject: string) => `
      const { SqliteStore } = await import(${JSON.stringify(url)});
      const { makeRecord } = await import(${JSON.stringify(makeRecordUrl)});
      const store = new SqliteStore({ path: ${JSON.stringify(path)}, busyTimeout: 20000 });
      const counts = { evicted: 0 };
      while (Date.now() < ${startAt}) {}
      for (let i = 0; i < 40; i++) {
        const now = Date.now();
        const { record } = makeRecord(now, { subject: ${JSON.stringify(subject)} });
        const result = await store.create(record, ${onLimit === 'reject' ? '{ now, limit: { max: 3 } }' : '{ now }'});
        counts[result.status] = (counts[result.status] ?? 0) + 1;
        ${onLimit === 'evict-oldest' ? 'counts.evicted += (await store.trimSubject(record.subject, { now, max: 3, keep: record.id, batch: 500 })).length;' : ''}
      }
      await store.close();
      process.stdout.write(JSON.stringify(counts));
    `;
    const run = (code: string) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          cwd: fileURLToPath(new URL('../../..', import.meta.url)),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`worker exited ${code}: ${err}`)),
        );
      });
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () => run(worker('reject', 'rita'))),
      ...Array.from({ length: 4 }, () => run(worker('evict-oldest', 'eve'))),
    ]);
    const rejected = results.slice(0, 4);
    const evicting = results.slice(4);
    assert.equal(
      rejected.reduce((sum, r) => sum + (r.created ?? 0), 0),
      3,
    );
    assert.equal(
      rejected.reduce((sum, r) => sum + (r.limit ?? 0), 0),
      4 * 40 - 3,
    );
    assert.equal(
      evicting.reduce((sum, r) => sum + (r.created ?? 0), 0),
      4 * 40,
    );
    assert.equal(
      evicting.reduce((sum, r) => sum + (r.evicted ?? 0), 0),
      4 * 40 - 3,
      'each session beyond the limit evicted exactly once',
    );
    const check = store();
    const now = Date.now();
    assert.equal(await check.count({ now, subject: 'rita' }), 3);
    assert.equal(await check.count({ now, subject: 'eve' }), 3);
  });
});
