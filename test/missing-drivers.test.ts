// A store whose driver (better-sqlite3, redis, pg: optional peer dependencies) is not installed
// says which package to install, at construction, and a store given a connection needs no driver.
// Each case runs in a child process in which test/support/hide-packages.mjs makes the package
// look uninstalled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWithout, source } from './support/without-packages.js';

/** A child's body: imports `module`, runs `construct`, and reports what it threw. */
function constructing(module: string, construct: string): string {
  return `
    const errors = await import(${source('core/errors.ts')});
    let result = { threw: false };
    try {
      const loaded = await import(${module});
      ${construct}
    } catch (error) {
      result = { threw: true, invalidOption: error instanceof errors.InvalidOptionError, message: String(error?.message ?? error) };
    }
    process.stdout.write(JSON.stringify(result));
  `;
}

type Outcome = { threw: false } | { threw: true; invalidOption: boolean; message: string };

describe('a missing driver', () => {
  it('the SQLite store says npm install better-sqlite3', async () => {
    const outcome = JSON.parse(
      await runWithout('better-sqlite3', constructing(source('stores/sqlite/index.ts'), "new loaded.SqliteStore({ path: ':memory:' });")),
    ) as Outcome;
    assert.deepEqual(outcome, {
      threw: true,
      invalidOption: true,
      message: 'SqliteStore needs the package better-sqlite3, which is not installed: npm install better-sqlite3',
    });
  });

  it('the Redis store says npm install redis', async () => {
    const outcome = JSON.parse(
      await runWithout('redis', constructing(source('stores/redis/index.ts'), "new loaded.RedisStore({ url: 'redis://127.0.0.1:6379' });")),
    ) as Outcome;
    assert.deepEqual(outcome, {
      threw: true,
      invalidOption: true,
      message: 'RedisStore needs the package redis, which is not installed: npm install redis',
    });
  });

  it('the PostgreSQL store says npm install pg, at construction rather than at the first request', async () => {
    const outcome = JSON.parse(
      await runWithout(
        'pg',
        constructing(
          source('stores/postgres/index.ts'),
          "new loaded.PostgresStore({ connectionString: 'postgres://127.0.0.1:5432/test' });",
        ),
      ),
    ) as Outcome;
    assert.deepEqual(outcome, {
      threw: true,
      invalidOption: true,
      message: 'PostgresStore needs the package pg, which is not installed: npm install pg',
    });
  });

  it('is not needed by a store given its connection (a Redis client, a pg pool)', async () => {
    const redisClient = `{ isOpen: false, connect: async () => {}, sendCommand: async () => null, close: async () => {}, destroy() {} }`;
    assert.deepEqual(
      JSON.parse(
        await runWithout('redis', constructing(source('stores/redis/index.ts'), `new loaded.RedisStore({ client: ${redisClient} });`)),
      ),
      { threw: false },
    );
    const pool = `{ query: async () => ({ rows: [], rowCount: 0 }), connect: async () => { throw new Error('unused'); }, end: async () => {} }`;
    assert.deepEqual(
      JSON.parse(
        await runWithout(
          'pg',
          constructing(source('stores/postgres/index.ts'), `new loaded.PostgresStore({ pool: ${pool}, migrate: false });`),
        ),
      ),
      { threw: false },
    );
  });
});
