import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock, SessionManager } from '../../core/index.js';
import { makeRecord } from '../../testing/index.js';
import { SqliteStore, type SqliteDatabase } from './index.js';
import { rowValues } from '../../store-kit/index.js';
import { statementsSql } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-heavy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HEAVY = 57_000;

/** The database, with every statement the store prepares recorded with the parameters it ran with. */
function recording(db: Database.Database): { database: SqliteDatabase; ran: Array<{ sql: string; params: unknown[] }> } {
  const ran: Array<{ sql: string; params: unknown[] }> = [];
  const database = new Proxy(db, {
    get(target, property) {
      if (property === 'prepare') {
        return (sql: string) => {
          const statement = target.prepare(sql);
          return new Proxy(statement, {
            get(inner, name) {
              const value = Reflect.get(inner, name) as unknown;
              if (typeof value !== 'function') return value;
              if (name === 'run' || name === 'get' || name === 'all') {
                return (...params: unknown[]) => {
                  ran.push({ sql, params });
                  return (value as (...a: unknown[]) => unknown).apply(inner, params);
                };
              }
              return (value as (...a: unknown[]) => unknown).bind(inner);
            },
          });
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as SqliteDatabase;
  return { database, ran };
}

describe('SqliteStore: one subject with 57,000 sessions', () => {
  const path = join(dir, 'heavy.db');
  const now = Date.UTC(2030, 0, 1);
  /** The heavy subject's live ids, oldest first (createdAt, then id), as every page must give them. */
  let expected: string[] = [];
  const db = new Database(path);
  const { database, ran } = recording(db);
  const store = new SqliteStore({ database });
  after(async () => {
    await store.close();
    db.close();
  });

  it('fills the table: 57,000 sessions of one subject, some sharing a createdAt, some expired, beside other subjects', () => {
    const insert = db.prepare(statementsSql('tessera_sessions').insert);
    const live: Array<{ id: string; createdAt: number }> = [];
    db.transaction(() => {
      for (let i = 0; i < HEAVY; i++) {
        const createdAt = now - HEAVY + Math.floor(i / 3);
        // Every 100th one has expired; its entry is skipped, never listed.
        const idleTimeout = i % 100 === 7 ? 1 : 86_400;
        const { record } = makeRecord(createdAt, {
          subject: 'heavy',
          idleTimeout,
          lastSeenAt: createdAt,
          absoluteExpiresAt: now + 86_400_000,
        });
        insert.run(...rowValues(record));
        if (idleTimeout !== 1) live.push({ id: record.id, createdAt });
      }
      for (let i = 0; i < 500; i++) {
        const { record } = makeRecord(now - i, { subject: `other${i % 50}` });
        insert.run(...rowValues(record));
      }
    })();
    expected = live.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map((r) => r.id);
    assert.equal(expected.length, HEAVY - HEAVY / 100);
  });

  /** The plans of the statements `work` ran: every access to the sessions table must be an index search, and nothing is sorted. */
  const plans = async (work: () => Promise<unknown>): Promise<string[]> => {
    ran.length = 0;
    await work();
    assert.ok(ran.length > 0);
    const details: string[] = [];
    for (const { sql, params } of ran) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((row) => row.detail);
      for (const line of plan) {
        assert.doesNotMatch(line, /TEMP B-TREE/, `no sort of the subject's sessions:\n${sql}\n${plan.join('\n')}`);
        if (/\btessera_sessions\b/.test(line)) assert.match(line, /^SEARCH /, `an index search, not a scan:\n${sql}\n${plan.join('\n')}`);
      }
      details.push(...plan);
    }
    return details;
  };

  it('a page of 50 is an index search of at most a page (no sort), and the next page starts where it ended', async () => {
    const clock = new ManualClock(now);
    const manager = new SessionManager({ store, clock, cleanupInterval: false });
    let first: Awaited<ReturnType<SessionManager['list']>> | undefined;
    await plans(async () => {
      first = await manager.list('heavy', { limit: 50 });
    });
    assert.ok(first);
    assert.deepEqual(
      first.sessions.map((s) => s.id),
      expected.slice(0, 50),
    );
    assert.notEqual(first.nextCursor, null);
    let second: Awaited<ReturnType<SessionManager['list']>> | undefined;
    await plans(async () => {
      second = await manager.list('heavy', { limit: 50, cursor: first?.nextCursor ?? null });
    });
    assert.deepEqual(
      second?.sessions.map((s) => s.id),
      expected.slice(50, 100),
    );
    manager.close();
  });

  it('pages of 1,000 give every live session once, oldest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result: Awaited<ReturnType<SqliteStore['listBySubject']>> = await store.listBySubject('heavy', { now, cursor, limit: 1000 });
      assert.ok(result.sessions.length <= 1000);
      seen.push(...result.sessions.map((s) => s.id));
      cursor = result.nextCursor;
      if (cursor === null) break;
    }
    assert.equal(seen.length, expected.length);
    assert.deepEqual(seen, expected);
  });

  it('a trim and a bounded revocation are index searches of at most a batch too', async () => {
    const newest = expected[expected.length - 1] as string;
    let trimmed: Array<{ id: string }> = [];
    await plans(async () => {
      trimmed = await store.trimSubject('heavy', { now, max: 100, keep: newest, batch: 500 });
    });
    assert.deepEqual(
      trimmed.map((r) => r.id),
      expected.slice(0, 500),
      'the oldest 500',
    );
    let revoked: Array<{ id: string }> = [];
    await plans(async () => {
      revoked = await store.deleteBySubject('heavy', { now, except: newest, limit: 500 });
    });
    assert.equal(revoked.length, 500);
    assert.equal(await store.count({ now, subject: 'heavy' }), expected.length - 1000);
    let refused: unknown;
    await plans(async () => {
      const { record } = makeRecord(now, { subject: 'heavy' });
      refused = await store.create(record, { now, limit: { max: 100 } });
    });
    assert.deepEqual(refused, { status: 'limit' }, 'counting to the limit stops at the limit');
  });
});
