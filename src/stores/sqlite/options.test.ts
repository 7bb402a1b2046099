import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { InvalidOptionError, StoreUnavailableError } from '../../core/index.js';
import { SqliteStore } from './index.js';

/** The tables a store made in a fresh in-memory database given `options`. */
async function tablesMadeWith(options: { table?: string; tableName?: string }): Promise<string[]> {
  const database = new Database(':memory:');
  const store = new SqliteStore({ database, ...options });
  await store.close();
  const rows = database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>;
  database.close();
  return rows.map((row) => row.name);
}

describe('SqliteStore table option', () => {
  it('is `table`, as in the PostgreSQL store', async () => {
    assert.deepEqual(await tablesMadeWith({ table: 'app_sessions' }), [
      'app_sessions',
      'app_sessions_applied',
      'app_sessions_notices',
      'app_sessions_superseded',
    ]);
    assert.deepEqual(await tablesMadeWith({}), [
      'tessera_sessions',
      'tessera_sessions_applied',
      'tessera_sessions_notices',
      'tessera_sessions_superseded',
    ]);
  });

  it('still reads the deprecated `tableName`', async () => {
    assert.deepEqual(await tablesMadeWith({ tableName: 'old_sessions' }), [
      'old_sessions',
      'old_sessions_applied',
      'old_sessions_notices',
      'old_sessions_superseded',
    ]);
    assert.deepEqual(await tablesMadeWith({ table: 'same', tableName: 'same' }), [
      'same',
      'same_applied',
      'same_notices',
      'same_superseded',
    ]);
  });

  it('refuses two different names, and a name that is not a plain identifier', () => {
    const database = new Database(':memory:');
    assert.throws(() => new SqliteStore({ database, table: 'a', tableName: 'b' }), InvalidOptionError);
    assert.throws(() => new SqliteStore({ database, table: 'x; DROP TABLE y' }), /table must be a plain SQL identifier/);
    database.close();
  });
});

describe('SqliteStore path option', () => {
  it('refuses a path in a directory that does not exist, naming both, as an option error rather than an outage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-path-'));
    try {
      const missing = join(dir, 'no-such-dir');
      const path = join(missing, 'sessions.db');
      let thrown: unknown = null;
      try {
        new SqliteStore({ path });
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown instanceof InvalidOptionError, `an InvalidOptionError, got ${String(thrown)}`);
      assert.ok(thrown.message.includes(path), thrown.message);
      assert.ok(thrown.message.includes(`the directory ${missing} does not exist`), thrown.message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ready() resolves while the store is open and rejects once it is closed', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.ready();
    await store.close();
    await assert.rejects(store.ready(), StoreUnavailableError);
  });
});
