// express-session + connect-redis apps on the real Redis, then tessera with the migration, given
// their cookies: the same user and counter, the old cookie cleared and record deleted, one session
// for concurrent requests, the legacy lifetime kept, a legacy outage a 503.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { ManualClock, SessionManager, type SessionManagerOptions } from '../src/core/index.js';
import { adoptExpressSessions, connectRedisSource, signCookie, type LegacyRedisClient } from '../src/migrate/express-session/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { faultyStore } from '../src/testing/index.js';
import {
  LEGACY_MAX_AGE_MS,
  cookieOf,
  legacyLogin,
  send,
  startLegacyApp,
  startTesseraApp,
  OLD_SECRET,
  startAdoptingApp,
  type Running,
} from './support/legacy-apps.js';
import { loadConfig } from '../demo/config.js';
import { startDemoServer } from './support/demo-server.js';
import { deleteByPrefix, localSkip, localUrl, rawClient, type RawClient } from './support/redis-local.js';

const skip = await localSkip('the express-session migration tests on Redis');
const CLEARED = 'connect.sid=; Max-Age=0; Path=/';

describe('migrating from express-session + connect-redis', { skip }, () => {
  const prefix = `tessera-test-legacy-${randomBytes(4).toString('hex')}:`;
  let client: RawClient;
  let legacy: Running;
  let legacyUserId: Running;
  const running: Running[] = [];
  const managers: SessionManager[] = [];

  before(async () => {
    client = await rawClient();
    const store = new ConnectRedisStore({ client, prefix });
    legacy = await startLegacyApp(store, OLD_SECRET);
    legacyUserId = await startLegacyApp(store, OLD_SECRET, 'userId');
  });

  after(async () => {
    for (const manager of managers) manager.close();
    for (const app of [legacy, legacyUserId, ...running]) await app?.close();
    if (client !== undefined) {
      await deleteByPrefix(client, prefix);
      client.destroy();
    }
  });

  /** A tessera app with the migration on the legacy Redis; `client` may wrap the real one. */
  async function tessera(
    options: { client?: LegacyRedisClient; subject?: string; clock?: ManualClock; manager?: Partial<SessionManagerOptions> } = {},
  ) {
    const started = await startAdoptingApp(connectRedisSource({ client: options.client ?? client, prefix }), options);
    managers.push(started.manager);
    running.push(started.app);
    return started;
  }

  it('shows the same user and counter, clears the old cookie and deletes the old record', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'alice', 2);
    assert.ok((await client.pTTL(prefix + id)) > 0);
    const { app } = await tessera();
    const first = await send(`${app.url}/whoami`, { cookie });
    assert.equal(first.status, 200);
    assert.equal(first.body.subject, 'alice');
    assert.deepEqual(first.body.data, { views: 2 });
    assert.ok(first.setCookies.includes(CLEARED), first.setCookies.join(' | '));
    const tesseraCookie = cookieOf(first.setCookies, 'tessera');
    assert.ok(tesseraCookie !== null);
    assert.equal(await client.exists(prefix + id), 0);
    // The browser now sends the tessera cookie: the counter goes on from where express-session left it.
    const next = await send(`${app.url}/views`, { method: 'POST', cookie: tesseraCookie });
    assert.deepEqual(next.body, { views: 3 });
    assert.deepEqual(next.setCookies, []);
  });

  it('takes the subject from another field path (userId)', async () => {
    const { cookie } = await legacyLogin(legacyUserId, 'bob', 1);
    const { app } = await tessera({ subject: 'userId' });
    const answer = await send(`${app.url}/whoami`, { cookie });
    assert.equal(answer.body.subject, 'bob');
    assert.deepEqual(answer.body.data, { views: 1 });
  });

  it('ignores a forged, unsigned or unknown cookie, and one signed with a secret not in the list', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'carol', 1);
    const { app } = await tessera();
    const value = cookie.slice('connect.sid='.length);
    const forged = `connect.sid=${value.slice(0, -3)}${value.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    const unsigned = `connect.sid=${encodeURIComponent(id)}`;
    const unknown = `connect.sid=${signCookie('no-such-session-id-0123456789', OLD_SECRET)}`;
    const otherSecret = `connect.sid=${signCookie(id, 'a secret nobody listed')}`;
    for (const attempt of [forged, unsigned, unknown, otherSecret]) {
      const answer = await send(`${app.url}/whoami`, { cookie: attempt });
      assert.equal(answer.status, 200, attempt);
      assert.equal(answer.body.subject, null, attempt);
      assert.deepEqual(answer.setCookies, [], attempt);
    }
    assert.equal(await client.exists(prefix + id), 1, 'the real record is untouched');
  });

  it('keeps the legacy lifetime: a session ending in 10 minutes gives a tessera session that ends no later', async () => {
    const { cookie } = await legacyLogin(legacy, 'dave', 1);
    // Tessera sees the cookie after the login: the legacy session then has at most 10 minutes left.
    const clock = new ManualClock(Date.now());
    const { app } = await tessera({ clock });
    const adopted = await send(`${app.url}/whoami`, { cookie });
    assert.equal(adopted.body.subject, 'dave');
    const ends = adopted.body.absoluteExpiresAt as number;
    assert.ok(ends <= clock.now() + LEGACY_MAX_AGE_MS, `ends ${ends - clock.now()} ms from now`);
    assert.ok(ends > clock.now() + LEGACY_MAX_AGE_MS - 60_000, 'not much sooner either');
    const maxAge = Number(/Max-Age=(\d+)/.exec(adopted.setCookies.find((c) => c.startsWith('tessera=')) ?? '')?.[1]);
    assert.ok(maxAge <= LEGACY_MAX_AGE_MS / 1000, `cookie Max-Age ${maxAge}`);
    const tesseraCookie = cookieOf(adopted.setCookies, 'tessera') as string;
    clock.advance(LEGACY_MAX_AGE_MS - 60_000);
    assert.equal((await send(`${app.url}/whoami`, { cookie: tesseraCookie })).body.subject, 'dave');
    clock.advance(60_000);
    assert.equal((await send(`${app.url}/whoami`, { cookie: tesseraCookie })).body.subject, null);
  });

  it('makes one session for two concurrent requests in one process, both answered with it', async () => {
    const { cookie } = await legacyLogin(legacy, 'erin', 3);
    let claims = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let claimed!: () => void;
    const claimStarted = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    const holding: LegacyRedisClient = {
      async sendCommand(args) {
        if (args[0] === 'EVAL') {
          claims++;
          claimed();
          await held;
        }
        return client.sendCommand(args);
      },
    };
    const { app, manager, adopterCalled } = await tessera({ client: holding });
    const first = send(`${app.url}/whoami`, { cookie });
    await claimStarted;
    const second = send(`${app.url}/whoami`, { cookie });
    // The first claim is answered only once the second request has reached the adopter and joined it.
    await adopterCalled(2);
    assert.equal(claims, 1, 'the second request waits for the first claim rather than making its own');
    release();
    const answers = await Promise.all([first, second]);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.subject, 'erin');
      assert.deepEqual(answer.body.data, { views: 3 });
      assert.ok(answer.setCookies.includes(CLEARED));
    }
    assert.equal(claims, 1);
    assert.equal(cookieOf(answers[0]?.setCookies ?? [], 'tessera'), cookieOf(answers[1]?.setCookies ?? [], 'tessera'));
    assert.equal(await manager.count({ subject: 'erin' }), 1);
  });

  it('makes one session across two processes: the record is claimed atomically, the later claim finds nothing', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'frank', 1);
    const store = new MemoryStore();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let claimRan!: () => void;
    const claimed = new Promise<void>((resolve) => {
      claimRan = resolve;
    });
    // The first instance's claim runs in Redis, and its answer is held back until the second has claimed.
    const holding: LegacyRedisClient = {
      async sendCommand(args) {
        const reply = await client.sendCommand(args);
        if (args[0] === 'EVAL') {
          claimRan();
          await held;
        }
        return reply;
      },
    };
    const one = await tessera({ client: holding, manager: { store } });
    const two = await tessera({ manager: { store } });
    const first = send(`${one.app.url}/whoami`, { cookie });
    await claimed;
    assert.equal(await client.exists(prefix + id), 0, 'the first claim took the record');
    const second = await send(`${two.app.url}/whoami`, { cookie });
    release();
    const winner = await first;
    assert.equal(winner.body.subject, 'frank');
    assert.ok(cookieOf(winner.setCookies, 'tessera') !== null);
    assert.equal(second.status, 200);
    assert.equal(second.body.subject, null);
    assert.equal(cookieOf(second.setCookies, 'tessera'), null, 'the later request sets no cookie over the winner’s');
    assert.equal(await one.manager.count({ subject: 'frank' }), 1);
  });

  it('answers 503 while the legacy store is down, and adopts the session once it is back', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'grace', 1);
    let down = true;
    const flaky: LegacyRedisClient = {
      sendCommand: (args) => (down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : client.sendCommand(args)),
    };
    const { app } = await tessera({ client: flaky });
    const during = await send(`${app.url}/whoami`, { cookie });
    assert.equal(during.status, 503);
    assert.equal(during.headers.get('retry-after'), '1');
    assert.equal((during.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.ok(!during.setCookies.includes(CLEARED), 'the legacy cookie is kept');
    assert.equal(await client.exists(prefix + id), 1);
    down = false;
    assert.equal((await send(`${app.url}/whoami`, { cookie })).body.subject, 'grace');
  });

  it('gives the legacy record back when the tessera store is down, with its TTL', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'heidi', 1);
    let down = true;
    const { app } = await tessera({ manager: { store: faultyStore(new MemoryStore(), () => down), onStoreError: () => {} } });
    const during = await send(`${app.url}/whoami`, { cookie });
    assert.equal(during.status, 503);
    assert.equal(cookieOf(during.setCookies, 'tessera'), null);
    assert.equal(await client.exists(prefix + id), 1, 'restored');
    const ttl = await client.pTTL(prefix + id);
    assert.ok(ttl > 0 && ttl <= LEGACY_MAX_AGE_MS, `TTL ${ttl}`);
    down = false;
    const later = await send(`${app.url}/whoami`, { cookie });
    assert.equal(later.body.subject, 'heidi');
    assert.equal(await client.exists(prefix + id), 0);
  });

  it('the demo, started with TESSERA_LEGACY_* settings, shows the same user and counter', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'judy', 2);
    const demo = await startDemoServer({
      env: {
        TESSERA_STORE: 'memory:',
        TESSERA_LEGACY_STORE: localUrl,
        TESSERA_LEGACY_PREFIX: prefix,
        TESSERA_LEGACY_SECRETS: `the new secret,${OLD_SECRET}`,
      },
    });
    try {
      const answer = await send(`${demo.url}/api/session`, { cookie });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const shown = answer.body.session as { username: string; data: Record<string, unknown> };
      assert.equal(shown.username, 'judy');
      assert.deepEqual(shown.data, { views: 2 });
      assert.ok(answer.setCookies.includes(CLEARED));
      assert.equal(await client.exists(prefix + id), 0);
      const tesseraCookie = cookieOf(answer.setCookies, 'tessera') as string;
      assert.equal(
        ((await send(`${demo.url}/api/session`, { cookie: tesseraCookie })).body.session as { username: string }).username,
        'judy',
      );
      const forged = await send(`${demo.url}/api/session`, { cookie: `connect.sid=${signCookie(id, 'not the secret')}` });
      assert.equal(forged.status, 401);
      assert.match(demo.output, /tessera demo legacy sessions: redis:\/\/.*prefix tessera-test-legacy-/);
    } finally {
      await demo.dispose();
    }
  });

  it('the demo answers 503 while its legacy Redis is unreachable, and stops cleanly', async () => {
    const demo = await startDemoServer({
      env: { TESSERA_STORE: 'memory:', TESSERA_LEGACY_STORE: 'redis://127.0.0.1:1', TESSERA_LEGACY_SECRETS: OLD_SECRET },
    });
    try {
      const answer = await send(`${demo.url}/api/session`, { cookie: `connect.sid=${signCookie('some-session-id', OLD_SECRET)}` });
      assert.equal(answer.status, 503);
      assert.equal((answer.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
      assert.equal((await send(`${demo.url}/api/session`)).status, 401, 'requests without the legacy cookie go on');
    } finally {
      assert.deepEqual(await demo.stop(), { code: 0, signal: null });
      await demo.dispose();
    }
  });

  it('keeps the record and the cookie when told to', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'ivan', 1);
    const adopt = adoptExpressSessions({
      source: connectRedisSource({ client, prefix }),
      secrets: [OLD_SECRET],
      deleteRecord: false,
      clearCookie: false,
    });
    const manager = new SessionManager({ store: new MemoryStore(), adopt });
    managers.push(manager);
    const app = await startTesseraApp(manager);
    running.push(app);
    const answer = await send(`${app.url}/whoami`, { cookie });
    assert.equal(answer.body.subject, 'ivan');
    assert.ok(!answer.setCookies.some((value) => value.startsWith('connect.sid=')));
    assert.equal(await client.exists(prefix + id), 1);
    // express-session still serves it.
    assert.deepEqual((await send(`${legacy.url}/views`, { cookie })).body, { views: 2 });
  });
});

describe("the demo's TESSERA_LEGACY_* settings", () => {
  const base = { TESSERA_LEGACY_STORE: 'redis://127.0.0.1:6379', TESSERA_LEGACY_SECRETS: 'a,b' };

  it('reads nothing without TESSERA_LEGACY_STORE, and takes the defaults with it', () => {
    assert.equal(loadConfig({}).legacy, null);
    assert.deepEqual(loadConfig(base).legacy, {
      store: 'redis://127.0.0.1:6379',
      kind: 'redis',
      prefix: 'sess:',
      table: 'session',
      secrets: ['a', 'b'],
      cookie: 'connect.sid',
      subject: 'passport.user',
    });
    const pg = loadConfig({ ...base, TESSERA_LEGACY_STORE: 'postgres://127.0.0.1/test', TESSERA_LEGACY_TABLE: 'app.sessions' }).legacy;
    assert.equal(pg?.kind, 'postgres');
    assert.equal(pg?.table, 'app.sessions');
  });

  it('refuses bad combinations at start-up with a message naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ TESSERA_LEGACY_SECRETS: 'a' }, /^TESSERA_LEGACY_SECRETS is set but TESSERA_LEGACY_STORE is not/],
      [{ TESSERA_LEGACY_STORE: 'redis://127.0.0.1:6379' }, /^TESSERA_LEGACY_SECRETS is required/],
      [{ ...base, TESSERA_LEGACY_STORE: 'sqlite:./x.db' }, /^TESSERA_LEGACY_STORE must be a redis:\/\/… or postgres:\/\/… URL/],
      [{ ...base, TESSERA_LEGACY_TABLE: 'session' }, /^TESSERA_LEGACY_TABLE is for a PostgreSQL/],
      [{ ...base, TESSERA_LEGACY_STORE: 'postgres://h/db', TESSERA_LEGACY_PREFIX: 'x:' }, /^TESSERA_LEGACY_PREFIX is for a Redis/],
      [{ ...base, TESSERA_LEGACY_SECRETS: 'a,,b' }, /^TESSERA_LEGACY_SECRETS has an empty secret/],
      [{ ...base, TESSERA_LEGACY_COOKIE: 'a b' }, /^TESSERA_LEGACY_COOKIE is no cookie name/],
      [{ ...base, TESSERA_LEGACY_SUBJECT: 'passport..user' }, /^TESSERA_LEGACY_SUBJECT must be a dotted field path/],
      [{ ...base, TESSERA_LEGACY_STORE: 'postgres://h/db', TESSERA_LEGACY_TABLE: 'a;drop' }, /^TESSERA_LEGACY_TABLE must be a table name/],
    ];
    for (const [env, message] of cases) assert.throws(() => loadConfig(env), { name: 'ConfigError', message });
  });
});
