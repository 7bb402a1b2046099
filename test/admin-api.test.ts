// The admin HTTP API mounted in Express, every route on memory, SQLite, Redis and PostgreSQL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import pg from 'pg';
import { createAdminHandler } from '../src/admin/index.js';
import { InvalidOptionError, NoSessionError, type SessionEvent, SessionManager, type SessionStore } from '../src/core/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { PostgresStore, migrate } from '../src/stores/postgres/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { SqliteStore } from '../src/stores/sqlite/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';
import { deleteByPrefix, localSkip, localUrl, rawClient } from './support/redis-local.js';

const pgDb = await databaseOrSkip();
const redisSkip = await localSkip('the admin API on Redis');
const redisPrefix = `tessera-admin-test:${randomUUID()}:`;
const pgSchema = randomSchema('tessera_admin');

interface Target {
  name: string;
  skip: string | false;
  create(): Promise<SessionStore>;
  cleanup(): Promise<void>;
}

const targets: Target[] = [
  { name: 'memory', skip: false, create: async () => new MemoryStore(), cleanup: async () => {} },
  { name: 'sqlite', skip: false, create: async () => new SqliteStore({ path: ':memory:' }), cleanup: async () => {} },
  {
    name: 'redis',
    skip: redisSkip,
    create: async () => new RedisStore({ url: localUrl, prefix: redisPrefix, commandTimeout: 3000 }),
    async cleanup() {
      const client = await rawClient();
      await deleteByPrefix(client, redisPrefix);
      client.destroy();
    },
  },
  {
    name: 'postgres',
    skip: pgDb.skip,
    async create() {
      const pool = new pg.Pool({ connectionString: pgDb.url as string });
      await migrate(pool, { schema: pgSchema });
      await pool.end();
      return new PostgresStore({ connectionString: pgDb.url as string, schema: pgSchema });
    },
    cleanup: () => dropSchema(pgDb.url as string, pgSchema),
  },
];

/** The test app's rule: `x-test-user` names the user; "root" is the admin; none is no session. */
function authorize(req: IncomingMessage): boolean {
  const user = req.headers['x-test-user'];
  if (typeof user !== 'string') throw new NoSessionError();
  return user === 'root';
}

const ADMIN = { 'x-test-user': 'root' };
const SAME_ORIGIN = { ...ADMIN, 'sec-fetch-site': 'same-origin' };

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

for (const target of targets) {
  describe(`admin API on ${target.name}`, { skip: target.skip }, () => {
    let store: SessionStore;
    let manager: SessionManager;
    let handler: ReturnType<typeof createAdminHandler>;
    let server: ReturnType<ReturnType<typeof express>['listen']>;
    let base = '';
    const tokens: string[] = [];
    const events: SessionEvent[] = [];
    const answers: Answer[] = [];

    async function call(path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
      const res = await fetch(`${base}/admin/${path}`, {
        method: init.method ?? 'GET',
        headers: init.headers ?? ADMIN,
        redirect: 'manual',
      });
      const text = await res.text();
      let json: unknown = null;
      if (res.headers.get('content-type')?.startsWith('application/json')) json = JSON.parse(text);
      const answer = { status: res.status, headers: res.headers, text, json };
      answers.push(answer);
      return answer;
    }

    /** A logged-in session with data; returns its id. */
    async function login(subject: string, displayName: string, ip: string): Promise<string> {
      const session = await manager.load({ secure: false, ip, userAgent: `Agent/${subject}` });
      await session.login(subject, { displayName });
      await session.set('theme', 'dark');
      await session.set('cart', { items: [1, 2, 3] });
      tokens.push(session.issuedToken as string);
      return session.id as string;
    }

    const ids: Record<string, string[]> = {};

    before(async () => {
      store = await target.create();
      manager = new SessionManager({ store, cleanupInterval: false });
      manager.subscribe((event) => {
        events.push(event);
      });
      handler = createAdminHandler({ manager, authorize });
      const app = express();
      app.use('/admin', handler);
      server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const [subject, name, n] of [
        ['alice', 'Alice Liddell', 3],
        ['bob', 'Bob Dylan', 2],
        ['carol', 'Alicia Keys', 1],
      ] as const) {
        ids[subject] = [];
        for (let i = 0; i < n; i++) ids[subject].push(await login(subject, name, `198.51.100.${i + 1}`));
      }
    });

    after(async () => {
      handler?.close();
      await new Promise((resolve) => server?.close(resolve));
      manager?.close();
      await store?.close();
      await target.cleanup();
    });

    it('lists sessions with every field, ISO times and data field names and sizes only', async () => {
      const res = await call('api/sessions');
      assert.equal(res.status, 200);
      assert.equal(res.json.nextCursor, null);
      assert.equal(res.json.sessions.length, 6);
      const one = res.json.sessions.find((s: { id: string }) => s.id === ids.bob![0]);
      assert.deepEqual(Object.keys(one).sort(), [
        'absoluteExpiresAt',
        'createdAt',
        'createdIp',
        'createdUserAgent',
        'dataFields',
        'displayName',
        'expiresAt',
        'id',
        'ip',
        'lastSeenAt',
        'subject',
        'userAgent',
      ]);
      assert.equal(one.subject, 'bob');
      assert.equal(one.displayName, 'Bob Dylan');
      assert.equal(one.ip, '198.51.100.1');
      assert.equal(one.createdUserAgent, 'Agent/bob');
      for (const key of ['createdAt', 'lastSeenAt', 'expiresAt', 'absoluteExpiresAt']) {
        assert.match(one[key], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, key);
      }
      const fields = [...one.dataFields].sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name));
      assert.deepEqual(fields, [
        { name: 'cart', bytes: JSON.stringify({ items: [1, 2, 3] }).length },
        { name: 'theme', bytes: JSON.stringify('dark').length },
      ]);
      assert.ok(!res.text.includes('dark'), 'a data value is not shown by default');
    });

    it('filters by subject, display-name prefix and id, combined', async () => {
      const bySubject = await call('api/sessions?subject=alice');
      assert.deepEqual(bySubject.json.sessions.map((s: { id: string }) => s.id).sort(), [...ids.alice!].sort());
      const byName = await call(`api/sessions?q=${encodeURIComponent('Ali')}`);
      assert.deepEqual(byName.json.sessions.map((s: { subject: string }) => s.subject).sort(), ['alice', 'alice', 'alice', 'carol']);
      const both = await call('api/sessions?q=Ali&subject=carol');
      assert.deepEqual(
        both.json.sessions.map((s: { id: string }) => s.id),
        ids.carol,
      );
      const byId = await call(`api/sessions?id=${ids.bob![1]}`);
      assert.deepEqual(
        byId.json.sessions.map((s: { id: string }) => s.id),
        [ids.bob![1]],
      );
      const none = await call(`api/sessions?id=${ids.bob![1]}&subject=alice`);
      assert.deepEqual(none.json.sessions, []);
    });

    it('pages by an opaque cursor, every session once, in order', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: Answer = await call(`api/sessions?limit=4${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
        assert.equal(res.status, 200);
        assert.ok(res.json.sessions.length <= 4);
        seen.push(...res.json.sessions.map((s: { id: string }) => s.id));
        cursor = res.json.nextCursor;
        if (cursor !== null) assert.ok(!Object.values(ids).flat().includes(cursor), 'the cursor is not a bare session id');
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 2);
      assert.deepEqual(seen, Object.values(ids).flat().sort());
    });

    it('answers 400 for a bad limit or a cursor it did not issue', async () => {
      for (const limit of ['0', '201', '-1', 'abc', '1.5', '', '99999']) {
        const res = await call(`api/sessions?limit=${limit}`);
        assert.equal(res.status, 400, `limit=${limit}`);
        assert.equal(res.json.error.code, 'BAD_REQUEST');
      }
      for (const limit of ['1', '200']) assert.equal((await call(`api/sessions?limit=${limit}`)).status, 200);
      for (const cursor of ['bogus', ids.alice![0]!, 'tsa1.', 'tsa1.!!!', `tsa1.${Buffer.from('not an id').toString('base64url')}`]) {
        const res = await call(`api/sessions?cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.status, 400, `cursor=${cursor}`);
        assert.equal(res.json.error.code, 'BAD_REQUEST');
      }
      assert.equal((await call('api/sessions?limit=2&limit=3')).status, 400);
    });

    it('shows one session, 404 when none', async () => {
      const res = await call(`api/sessions/${ids.carol![0]}`);
      assert.equal(res.status, 200);
      assert.equal(res.json.session.id, ids.carol![0]);
      assert.equal(res.json.session.dataFields.length, 2);
      const missing = await call(`api/sessions/${ids.carol![0]!.slice(0, -2)}xx`);
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, 'NOT_FOUND');
      assert.equal((await call('api/sessions/%E0%A4%A')).status, 400);
    });

    it('authorizes: 401 without a session, 403 for a user who is not an admin', async () => {
      for (const path of ['api/sessions', 'api/stats', `api/sessions/${ids.bob![0]}`, '']) {
        const anonymous = await call(path, { headers: {} });
        assert.equal(anonymous.status, 401, path);
        assert.equal(anonymous.json.error.code, 'NO_SESSION');
        const user = await call(path, { headers: { 'x-test-user': 'bob' } });
        assert.equal(user.status, 403, path);
        assert.equal(user.json.error.code, 'FORBIDDEN');
      }
      const notAdmin = await call(`api/sessions/${ids.bob![0]}`, {
        method: 'DELETE',
        headers: { 'x-test-user': 'bob', 'sec-fetch-site': 'same-origin' },
      });
      assert.equal(notAdmin.status, 403);
      assert.equal((await call(`api/sessions/${ids.bob![0]}`)).status, 200, 'still there');
    });

    it('refuses every mutating route without same-origin proof', async () => {
      const origin = base;
      const refused = [
        ADMIN,
        { ...ADMIN, 'sec-fetch-site': 'cross-site' },
        { ...ADMIN, 'sec-fetch-site': 'same-site' },
        { ...ADMIN, origin: 'http://evil.example' },
        { ...ADMIN, origin: 'null' },
        { ...ADMIN, origin: origin.replace('http:', 'https:') },
        // A browser's Sec-Fetch-Site is believed over an Origin that looks right.
        { ...ADMIN, origin, 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of refused) {
        for (const path of [`api/sessions/${ids.bob![0]}`, 'api/subjects/bob/sessions']) {
          const res = await call(path, { method: 'DELETE', headers });
          assert.equal(res.status, 403, `${path} ${JSON.stringify(headers)}`);
          assert.equal(res.json.error.code, 'FORBIDDEN');
        }
      }
      assert.equal((await call('api/sessions?subject=bob')).json.sessions.length, 2, 'nothing was revoked');
    });

    it('revokes one session (204, then 404) with a revoked event of reason admin', async () => {
      const id = ids.bob![0]!;
      events.length = 0;
      const res = await call(`api/sessions/${id}`, { method: 'DELETE', headers: SAME_ORIGIN });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.deepEqual(
        events.filter((e) => e.type === 'revoked').map((e) => [e.session.id, e.type === 'revoked' && e.reason]),
        [[id, 'admin']],
      );
      assert.equal((await call(`api/sessions/${id}`)).status, 404);
      assert.equal((await call(`api/sessions/${id}`, { method: 'DELETE', headers: SAME_ORIGIN })).status, 404);
      // An Origin equal to the app's own is proof too (no Sec-Fetch-Site: an older browser).
      const second = await call(`api/sessions/${ids.bob![1]}`, { method: 'DELETE', headers: { ...ADMIN, origin: base } });
      assert.equal(second.status, 204);
    });

    it('revokes every session of a subject and says how many', async () => {
      events.length = 0;
      const res = await call('api/subjects/alice/sessions', { method: 'DELETE', headers: SAME_ORIGIN });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { revoked: 3 });
      assert.deepEqual(
        events.map((e) => e.type === 'revoked' && e.reason),
        ['admin', 'admin', 'admin'],
      );
      assert.deepEqual((await call('api/sessions?subject=alice')).json.sessions, []);
      assert.deepEqual((await call('api/subjects/alice/sessions', { method: 'DELETE', headers: SAME_ORIGIN })).json, { revoked: 0 });
    });

    it('counts live sessions and this process’s recent events', async () => {
      const res = await call('api/stats');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, {
        live: 1,
        subjects: null,
        recent: {
          created: 0,
          loggedIn: 6,
          revoked: { logout: 0, user: 0, admin: 5, evicted: 0 },
          expired: 0,
          windowSeconds: 3600,
        },
      });
      assert.equal(res.json.live, await manager.count());
    });

    it('answers 404 for unknown routes, 405 for a wrong method, and never a 500', async () => {
      for (const path of [
        'api',
        'api/',
        'api/nope',
        'api/sessions/a/b',
        'api/subjects/x',
        'api/subjects/x/other',
        'nope.txt',
        '..%2f..%2fpackage.json',
      ]) {
        const res = await call(path);
        assert.equal(res.status, 404, path);
        assert.equal(res.json.error.code, 'NOT_FOUND');
      }
      assert.equal((await call('api/sessions', { method: 'POST', headers: SAME_ORIGIN })).status, 405);
      assert.equal((await call('api/stats', { method: 'DELETE', headers: SAME_ORIGIN })).status, 405);
      const junk = [
        'api/sessions?q=%00',
        'api/sessions?subject=%F0%9F%98%80',
        `api/sessions?q=${'x'.repeat(5000)}`,
        'api/sessions?id=%27%3B--',
        'api/sessions/%27%3B--',
      ];
      const junkDeletes = [
        'api/sessions/%00',
        'api/subjects/%00/sessions',
        `api/subjects/${'x'.repeat(5000)}/sessions`,
        'api/subjects/%E0%A4%A/sessions',
      ];
      for (const path of junkDeletes) {
        const res = await call(path, { method: 'DELETE', headers: SAME_ORIGIN });
        assert.ok(res.status === 400 || res.status === 404, `DELETE ${path} → ${res.status}`);
      }
      for (const path of [...junk, 'api/sessions/%00', 'api/sessions?id=%00', 'api/sessions?subject=a%00b']) {
        const res = await call(path);
        assert.ok(res.status < 500, `${path} → ${res.status}`);
      }
    });

    it('every answer says Cache-Control: no-store and none carries a token or a secret hash', async () => {
      assert.ok(answers.length > 40);
      for (const answer of answers) {
        assert.equal(answer.headers.get('cache-control'), 'no-store', `${answer.status} ${answer.text.slice(0, 80)}`);
        assert.ok(!/secret|hash|token/i.test(answer.text), answer.text.slice(0, 200));
        for (const token of tokens) {
          assert.ok(!answer.text.includes(token), 'a token in an answer');
          assert.ok(!answer.text.includes(token.slice(-20)), 'a token secret in an answer');
        }
      }
    });
  });
}

describe('createAdminHandler options', () => {
  it('needs an authorize function', () => {
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    assert.throws(() => createAdminHandler({ manager } as never), InvalidOptionError);
    assert.throws(() => createAdminHandler({ manager, authorize: true } as never), InvalidOptionError);
    manager.close();
  });
});
