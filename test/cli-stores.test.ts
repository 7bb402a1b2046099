/**
 * Every `tessera` store command against SQLite, Redis and PostgreSQL, run in-process through
 * `main(argv, out, err, env)`, with `--json` output parsed. Sessions are seeded straight into the
 * store, as an app's manager would have stored them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encryptionCodec, generateKey, parseKeyRing, type SessionStore } from '../src/core/index.js';
import { hasSubjectPartitions } from '../src/store-kit/index.js';
import { main } from '../src/cli/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { SqliteStore } from '../src/stores/sqlite/index.js';
import { makeRecord } from '../src/testing/fixtures.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';
import { deleteByPrefix, localSkip, localUrl, rawClient } from './support/redis-local.js';

interface Target {
  name: string;
  skip: string | false;
  /** The `--store` URL and a store of the test's own on the same data. */
  open(): Promise<{ url: string; store: SessionStore; cleanup(): Promise<void> }>;
}

const pg = await databaseOrSkip();
const targets: Target[] = [
  {
    name: 'sqlite',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
      const path = join(dir, 'sessions.db');
      const store = new SqliteStore({ path });
      return {
        url: `sqlite:${path}`,
        store,
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'redis',
    skip: await localSkip('the CLI on Redis'),
    async open() {
      const prefix = `tessera-cli-${randomBytes(4).toString('hex')}:`;
      const store = new RedisStore({ url: localUrl, prefix });
      await store.ready();
      return {
        url: `${localUrl}?prefix=${prefix}`,
        store,
        async cleanup() {
          await store.close();
          const client = await rawClient();
          await deleteByPrefix(client, prefix);
          client.destroy();
        },
      };
    },
  },
  {
    name: 'postgres',
    skip: pg.skip,
    async open() {
      const url = pg.url as string;
      const schema = randomSchema('tessera_cli');
      const store = new PostgresStore({ connectionString: url, schema });
      await store.ready();
      return {
        url: `${url}?schema=${schema}`,
        store,
        async cleanup() {
          await store.close();
          await dropSchema(url, schema);
        },
      };
    },
  },
];

/** Runs the CLI in-process; stdout and stderr as text. */
async function tessera(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    (l) => out.push(l),
    (l) => err.push(l),
    env,
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs a `--json` command that must succeed; its parsed output. */
async function json(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const result = await tessera([...argv, '--json'], env);
  assert.equal(result.code, 0, `${argv.join(' ')}: ${result.err}`);
  return JSON.parse(result.out);
}

async function seed(store: SessionStore, subject: string | null, displayName: string | null, data = {}) {
  const now = Date.now();
  const partition = subject !== null && hasSubjectPartitions(store) ? await store.subjectPartition(subject) : null;
  const { record, token } = makeRecord(now, { subject, displayName, data }, partition);
  const result = await store.create(record, { now });
  assert.equal(result.status, 'created');
  return { id: record.id, token, secretHash: record.secretHash };
}

for (const target of targets) {
  describe(`tessera cli on ${target.name}`, { skip: target.skip }, () => {
    let url: string;
    let store: SessionStore;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ url, store, cleanup } = await target.open());
    });
    after(() => cleanup());

    it('sessions list: a table, --json, filters, --limit pages and --all follows the cursor', async () => {
      const alice = [await seed(store, 'alice', 'Alice Liddell'), await seed(store, 'alice', 'Alice Liddell')];
      const bob = await seed(store, 'bob', 'Bob Dylan');
      await seed(store, null, null);

      const table = await tessera(['sessions', 'list', '--store', url]);
      assert.equal(table.code, 0, table.err);
      assert.match(table.out, /^ID +SUBJECT +NAME/);
      assert.match(table.out, /Bob Dylan/);
      assert.match(table.out, /4 session\(s\)/);

      const all = await json(['sessions', 'list', '--store', url]);
      assert.equal(all.sessions.length, 4);
      assert.equal(all.nextCursor, null);

      const bySubject = await json(['sessions', 'list', '--subject', 'alice'], { TESSERA_STORE: url });
      assert.deepEqual(bySubject.sessions.map((s: { id: string }) => s.id).sort(), alice.map((a) => a.id).sort());
      const byName = await json(['sessions', 'list', '--store', url, '--name', 'Bob']);
      assert.deepEqual(
        byName.sessions.map((s: { id: string }) => s.id),
        [bob.id],
      );
      const byId = await json(['sessions', 'list', '--store', url, '--id', bob.id]);
      assert.equal(byId.sessions[0].displayName, 'Bob Dylan');
      assert.match(byId.sessions[0].createdAt, /^\d{4}-\d\d-\d\dT/);

      const page = await json(['sessions', 'list', '--store', url, '--limit', '3']);
      assert.equal(page.sessions.length, 3);
      assert.equal(typeof page.nextCursor, 'string');
      const rest = await json(['sessions', 'list', '--store', url, '--limit', '3', '--cursor', page.nextCursor]);
      assert.equal(rest.sessions.length, 1);
      const followed = await json(['sessions', 'list', '--store', url, '--limit', '1', '--all']);
      assert.equal(followed.sessions.length, 4);
      assert.equal(followed.nextCursor, null);
      assert.equal(new Set(followed.sessions.map((s: { id: string }) => s.id)).size, 4);

      // No token, no secret hash, in any output.
      const everything = (await tessera(['sessions', 'list', '--store', url, '--all', '--json'])).out + table.out;
      for (const s of [...alice, bob]) {
        assert.ok(!everything.includes(s.token.split('.')[1] as string));
        assert.ok(!everything.includes(s.secretHash));
      }
    });

    it('sessions show: the fields, data names and sizes but never a value; 1 for an unknown id', async () => {
      const s = await seed(store, 'carol', 'Carol', { cart: 'secret-cart-value', n: 42 });
      const shown = await tessera(['sessions', 'show', s.id, '--store', url, '--json']);
      assert.equal(shown.code, 0, shown.err);
      const { session } = JSON.parse(shown.out);
      assert.equal(session.id, s.id);
      assert.equal(session.subject, 'carol');
      assert.deepEqual(session.dataFields, [
        { name: 'cart', bytes: 19 },
        { name: 'n', bytes: 2 },
      ]);
      const text = await tessera(['sessions', 'show', s.id, '--store', url]);
      assert.match(text.out, /data: +cart \(19 B\), n \(2 B\)/);
      for (const output of [shown.out, text.out]) {
        assert.ok(!output.includes('secret-cart-value'));
        assert.ok(!output.includes(s.secretHash));
      }
      const missing = await tessera(['sessions', 'show', 'nope', '--store', url, '--json']);
      assert.equal(missing.code, 1);
      assert.equal(missing.out, '');
      assert.match(missing.err, /^tessera: no live session "nope"$/);
    });

    it('sessions revoke and revoke-all end sessions (with --except), and say how many', async () => {
      const one = await seed(store, 'dave', 'Dave');
      const two = await seed(store, 'dave', 'Dave');
      const three = await seed(store, 'dave', 'Dave');
      const revoked = await tessera(['sessions', 'revoke', one.id, '--store', url, '--json']);
      assert.equal(revoked.code, 0, revoked.err);
      assert.deepEqual(JSON.parse(revoked.out), { revoked: 1, id: one.id });
      assert.equal(await store.load(one.id, { now: Date.now() }), null);
      const again = await tessera(['sessions', 'revoke', one.id, '--store', url]);
      assert.equal(again.code, 1);
      assert.match(again.err, /no live session/);

      const all = await tessera(['sessions', 'revoke-all', 'dave', '--except', three.id, '--store', url, '--json']);
      assert.equal(all.code, 0, all.err);
      assert.deepEqual(JSON.parse(all.out), { revoked: 1, subject: 'dave' });
      assert.equal(await store.load(two.id, { now: Date.now() }), null);
      assert.notEqual(await store.load(three.id, { now: Date.now() }), null);
      const text = await tessera(['sessions', 'revoke-all', 'dave', '--store', url]);
      assert.equal(text.out, 'revoked 1 session(s) of dave');
    });

    it('stats counts live sessions, overall and of one subject', async () => {
      const before = (await json(['stats', '--store', url])).live;
      await seed(store, 'frank', 'Frank');
      await seed(store, 'frank', 'Frank');
      await seed(store, null, null);
      assert.deepEqual(await json(['stats', '--store', url]), { live: before + 3 });
      assert.deepEqual(await json(['stats', '--store', url, '--subject', 'frank']), { live: 2, subject: 'frank' });
      assert.equal((await tessera(['stats', '--store', url, '--subject', 'frank'])).out, 'live sessions of frank: 2');
      assert.match((await tessera(['stats', '--store', url])).out, /^live sessions: \d+$/);
    });

    it('cleanup removes the expired sessions once and lists them; live ones stay', async () => {
      await json(['cleanup', '--store', url]);
      // The CLI reads the system clock; instead of waiting for a session to expire, one is created
      // two seconds in the past with an idle timeout of one second: it is already expired now.
      const then = Date.now() - 2000;
      const partition = hasSubjectPartitions(store) ? await store.subjectPartition('gina') : null;
      const short = makeRecord(then, { subject: 'gina', displayName: 'Gina', idleTimeout: 1 }, partition);
      assert.equal((await store.create(short.record, { now: then })).status, 'created');
      const live = await seed(store, 'gina', 'Gina');
      const swept = await json(['cleanup', '--store', url]);
      assert.deepEqual(swept, { removed: 1, sessions: [{ id: short.record.id, subject: 'gina' }] });
      assert.notEqual(await store.load(live.id, { now: Date.now() }), null);
      const again = await tessera(['cleanup', '--store', url]);
      assert.equal(again.code, 0, again.err);
      assert.equal(again.out, 'removed 0 expired session(s)');
    });

    it('usage errors exit 2 with the reason on stderr and nothing on stdout', async () => {
      for (const argv of [
        ['sessions', 'list', '--store', url, '--limit', '0'],
        ['sessions', 'list', '--store', url, '--bogus'],
        ['sessions', 'show', '--store', url],
        ['sessions', 'frobnicate', '--store', url],
        ['sessions', 'list'],
        ['stats', '--store', url, 'extra'],
        ['stats', '--store', url, '--subject'],
        ['cleanup', '--store', url, '--json=yes'],
        ['stats', '--store', 'memory:'],
        ['stats', '--store', 'mysql://x'],
      ]) {
        const result = await tessera(argv);
        assert.equal(result.code, 2, argv.join(' '));
        assert.equal(result.out, '');
        assert.match(result.err, /^tessera: /);
      }
      const helped = await tessera(['sessions', 'list', '--help']);
      assert.equal(helped.code, 0);
      assert.match(helped.out, /tessera sessions list/);
      for (const command of ['stats', 'cleanup']) {
        const h = await tessera([command, '--help']);
        assert.equal(h.code, 0);
        assert.match(h.out, new RegExp(`^usage: tessera ${command}`));
      }
    });
  });
}

if (targets[2]?.skip === false) {
  describe('tessera cli on postgres: revocations reach the other instances', () => {
    it('revoke and revoke-all publish NOTIFY, which a watching store receives', async () => {
      const { url, store, cleanup } = await (targets[2] as Target).open();
      try {
        const seen: string[] = [];
        const stop = await (store as PostgresStore).watch((change) => seen.push(`${change.type}:${change.id}`));
        const a = await seed(store, 'erin', 'Erin');
        const b = await seed(store, 'erin', 'Erin');
        assert.equal((await tessera(['sessions', 'revoke', a.id, '--store', url])).code, 0);
        assert.equal((await tessera(['sessions', 'revoke-all', 'erin', '--store', url])).code, 0);
        const deadline = Date.now() + 3000;
        while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen.sort(), [`revoked:${a.id}`, `revoked:${b.id}`].sort());
        await stop();
      } finally {
        await cleanup();
      }
    });
  });
}

describe('tessera cli on sqlite: ids that look like options, encrypted data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-edge-'));
  const path = join(dir, 's.db');
  const store = new SqliteStore({ path });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an id starting with "-" (base64url makes one in 32) is an argument, not an option', async () => {
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'hank', displayName: 'Hank' });
    record.id = `-${record.id.slice(1)}`;
    assert.equal((await store.create(record, { now })).status, 'created');
    const shown = await json(['sessions', 'show', record.id, '--store', `sqlite:${path}`]);
    assert.equal(shown.session.id, record.id);
    const listed = await json(['sessions', 'list', '--id', record.id, '--store', `sqlite:${path}`]);
    assert.equal(listed.sessions.length, 1);
    assert.deepEqual(await json(['sessions', 'revoke', record.id, '--store', `sqlite:${path}`]), { revoked: 1, id: record.id });
  });

  it('with TESSERA_ENCRYPTION_KEYS show gives decrypted sizes, never the values; a malformed key ring is a usage error', async () => {
    const keys = generateKey('k1');
    const codec = encryptionCodec(parseKeyRing(keys));
    const now = Date.now();
    const { record } = makeRecord(now, { subject: 'ivy', displayName: 'Ivy' });
    record.data = { note: codec.encode('twelve bytes', { sessionId: record.id, field: 'note' }) };
    assert.equal((await store.create(record, { now })).status, 'created');
    const stored = Buffer.byteLength(JSON.stringify(record.data.note));
    const plain = await json(['sessions', 'show', record.id, '--store', `sqlite:${path}`]);
    assert.deepEqual(plain.session.dataFields, [{ name: 'note', bytes: stored }]);
    const decrypted = await tessera(['sessions', 'show', record.id, '--store', `sqlite:${path}`, '--json'], {
      TESSERA_ENCRYPTION_KEYS: keys,
    });
    assert.deepEqual(JSON.parse(decrypted.out).session.dataFields, [{ name: 'note', bytes: 14 }]);
    assert.ok(!decrypted.out.includes('twelve'));
    const bad = await tessera(['stats', '--store', `sqlite:${path}`], { TESSERA_ENCRYPTION_KEYS: 'nonsense' });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^tessera: each encryption key is written keyId:base64key$/);
  });
});
