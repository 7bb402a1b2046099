/** `tessera migrate` on a fresh SQLite file and a fresh PostgreSQL schema: --dry-run changes nothing, a run brings the latest version. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { main } from '../src/cli/index.js';
import { SCHEMA_VERSION } from '../src/stores/postgres/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';
import { localSkip, localUrl } from './support/redis-local.js';

async function tessera(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    (l) => out.push(l),
    (l) => err.push(l),
    {},
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function json(argv: string[]) {
  const result = await tessera([...argv, '--json']);
  assert.equal(result.code, 0, result.err);
  return JSON.parse(result.out);
}

const database = await databaseOrSkip();

describe('tessera migrate on sqlite', () => {
  it('--dry-run lists what is missing without creating the file; a run creates it; then nothing to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-migrate-'));
    const path = join(dir, 's.db');
    try {
      const plan = await json(['migrate', '--dry-run', '--store', `sqlite:${path}`]);
      assert.equal(plan.dryRun, true);
      assert.deepEqual(plan.steps.slice(0, 2), [`file ${path}`, 'table tessera_sessions']);
      assert.ok(plan.steps.includes('index tessera_sessions_display_name'));
      assert.ok(plan.steps.includes('table tessera_sessions_notices'), 'the outbox table');
      assert.ok(plan.steps.includes('index tessera_sessions_notices_due'));
      assert.equal(existsSync(path), false);
      const done = await json(['migrate', '--store', `sqlite:${path}`]);
      assert.deepEqual(done.steps, plan.steps);
      assert.equal(existsSync(path), true);
      assert.deepEqual((await json(['migrate', '--dry-run', '--store', `sqlite:${path}`])).steps, []);
      assert.equal((await tessera(['migrate', '--store', `sqlite:${path}`])).out, 'schema up to date: nothing to do');
      // The store it made is one the sessions commands read.
      assert.deepEqual(await json(['stats', '--store', `sqlite:${path}`]), { live: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tessera migrate on redis', { skip: await localSkip('tessera migrate on Redis') }, () => {
  it('has no schema: says so and exits 0', async () => {
    const result = await tessera(['migrate', '--store', localUrl]);
    assert.equal(result.code, 0, result.err);
    assert.equal(result.out, 'redis has no schema to migrate');
  });
});

describe('tessera migrate on postgres', { skip: database.skip }, () => {
  it('--dry-run prints the steps and changes nothing; a run migrates; the sessions commands need it', async () => {
    const base = database.url as string;
    const schema = randomSchema('tessera_cli_migrate');
    const url = `${base}?schema=${schema}`;
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try {
      // The CLI opens PostgreSQL without migrating: reading sessions must not change a schema.
      const unmigrated = await tessera(['stats', '--store', url]);
      assert.equal(unmigrated.code, 1);
      assert.match(unmigrated.err, /^tessera: the sessions table is missing .*: run tessera migrate$/);

      const plan = await json(['migrate', '--dry-run', '--store', url]);
      assert.equal(plan.from, 0);
      assert.equal(plan.to, SCHEMA_VERSION);
      assert.equal(plan.steps.length, SCHEMA_VERSION);
      assert.match(plan.steps[0], /CREATE TABLE IF NOT EXISTS/);
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      assert.equal(exists.rows.length, 0, 'the dry run created the schema');

      const done = await json(['migrate', '--store', url]);
      assert.deepEqual([done.from, done.to, done.dryRun], [0, SCHEMA_VERSION, false]);
      const versions = await client.query(`SELECT max(version) AS v FROM "${schema}".tessera_migrations`);
      assert.equal(Number(versions.rows[0].v), SCHEMA_VERSION);
      const again = await tessera(['migrate', '--store', url]);
      assert.equal(again.out, `schema at version ${SCHEMA_VERSION}: nothing to do`);
      assert.deepEqual(await json(['stats', '--store', url]), { live: 0 });
    } finally {
      await client.end();
      await dropSchema(base, schema);
    }
  });
});
