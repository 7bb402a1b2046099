// express-session + connect-pg-simple apps on the real PostgreSQL, then tessera with the
// migration, given their cookies: the same user and counter, the old cookie cleared and row
// deleted, one session for concurrent requests, the legacy lifetime kept, a legacy outage a 503.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import connectPgSimple from 'connect-pg-simple';
import expressSession from 'express-session';
import pg from 'pg';
import { ManualClock, type SessionManager, type SessionManagerOptions } from '../src/core/index.js';
import { connectPgSimpleSource, signCookie, type LegacyPgPool } from '../src/migrate/express-session/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { faultyStore } from '../src/testing/index.js';
import {
  LEGACY_MAX_AGE_MS,
  cookieOf,
  legacyLogin,
  send,
  startLegacyApp,
  OLD_SECRET,
  startAdoptingApp,
  type Running,
} from './support/legacy-apps.js';
import { startDemoServer } from './support/demo-server.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const CLEARED = 'connect.sid=; Max-Age=0; Path=/';
const PgStore = connectPgSimple(expressSession);

describe('migrating from express-session + connect-pg-simple', { skip }, () => {
  const schema = randomSchema('tessera_legacy');
  const table = 'user_sessions';
  let pool: pg.Pool;
  let legacy: Running;
  let legacyUserId: Running;
  let legacyStore: InstanceType<typeof PgStore>;
  const running: Running[] = [];
  const managers: SessionManager[] = [];

  before(async () => {
    pool = new pg.Pool({ connectionString: url as string });
    await pool.query(`CREATE SCHEMA "${schema}"`);
    legacyStore = new PgStore({ pool, schemaName: schema, tableName: table, createTableIfMissing: true, pruneSessionInterval: false });
    legacy = await startLegacyApp(legacyStore, OLD_SECRET);
    legacyUserId = await startLegacyApp(legacyStore, OLD_SECRET, 'userId');
  });

  after(async () => {
    for (const manager of managers) manager.close();
    for (const app of [legacy, legacyUserId, ...running]) await app?.close();
    await legacyStore?.close();
    await pool?.end();
    if (url !== null) await dropSchema(url, schema);
  });

  async function rows(id: string): Promise<number> {
    return (await pool.query(`SELECT 1 FROM "${schema}"."${table}" WHERE sid = $1`, [id])).rowCount ?? 0;
  }

  async function tessera(
    options: { pool?: LegacyPgPool; subject?: string; clock?: ManualClock; manager?: Partial<SessionManagerOptions> } = {},
  ) {
    const started = await startAdoptingApp(connectPgSimpleSource({ pool: options.pool ?? pool, schema, table }), options);
    managers.push(started.manager);
    running.push(started.app);
    return started;
  }

  it('shows the same user and counter, clears the old cookie and deletes the old row', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'alice', 2);
    assert.equal(await rows(id), 1);
    const { app } = await tessera();
    const first = await send(`${app.url}/whoami`, { cookie });
    assert.equal(first.status, 200);
    assert.equal(first.body.subject, 'alice');
    assert.deepEqual(first.body.data, { views: 2 });
    assert.ok(first.setCookies.includes(CLEARED), first.setCookies.join(' | '));
    assert.equal(await rows(id), 0);
    const tesseraCookie = cookieOf(first.setCookies, 'tessera') as string;
    assert.deepEqual((await send(`${app.url}/views`, { method: 'POST', cookie: tesseraCookie })).body, { views: 3 });
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
    const attempts = [
      forged,
      `connect.sid=${encodeURIComponent(id)}`,
      `connect.sid=${signCookie('no-such-session-id-0123456789', OLD_SECRET)}`,
      `connect.sid=${signCookie(id, 'a secret nobody listed')}`,
    ];
    for (const attempt of attempts) {
      const answer = await send(`${app.url}/whoami`, { cookie: attempt });
      assert.equal(answer.status, 200, attempt);
      assert.equal(answer.body.subject, null, attempt);
      assert.deepEqual(answer.setCookies, [], attempt);
    }
    assert.equal(await rows(id), 1, 'the real row is untouched');
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
    const tesseraCookie = cookieOf(adopted.setCookies, 'tessera') as string;
    clock.advance(LEGACY_MAX_AGE_MS - 60_000);
    assert.equal((await send(`${app.url}/whoami`, { cookie: tesseraCookie })).body.subject, 'dave');
    clock.advance(60_000);
    assert.equal((await send(`${app.url}/whoami`, { cookie: tesseraCookie })).body.subject, null);
  });

  it('adopts nothing from a row past its expire', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'olga', 1);
    await pool.query(`UPDATE "${schema}"."${table}" SET expire = now() - interval '1 second' WHERE sid = $1`, [id]);
    const { app } = await tessera();
    const answer = await send(`${app.url}/whoami`, { cookie });
    assert.equal(answer.body.subject, null);
    assert.equal(cookieOf(answer.setCookies, 'tessera'), null);
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
    const holding: LegacyPgPool = {
      async query(text, values) {
        claims++;
        claimed();
        await held;
        return pool.query(text, values);
      },
    };
    const { app, manager, adopterCalled } = await tessera({ pool: holding });
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
    }
    assert.equal(claims, 1);
    assert.equal(cookieOf(answers[0]?.setCookies ?? [], 'tessera'), cookieOf(answers[1]?.setCookies ?? [], 'tessera'));
    assert.equal(await manager.count({ subject: 'erin' }), 1);
  });

  it('makes one session across two processes: DELETE … RETURNING claims the row, the later claim finds nothing', async () => {
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
    const holding: LegacyPgPool = {
      async query(text, values) {
        const result = await pool.query(text, values);
        claimRan();
        await held;
        return result;
      },
    };
    const one = await tessera({ pool: holding, manager: { store } });
    const two = await tessera({ manager: { store } });
    const first = send(`${one.app.url}/whoami`, { cookie });
    await claimed;
    assert.equal(await rows(id), 0, 'the first claim took the record');
    const second = await send(`${two.app.url}/whoami`, { cookie });
    release();
    const winner = await first;
    assert.equal(winner.body.subject, 'frank');
    assert.equal(second.status, 200);
    assert.equal(second.body.subject, null);
    assert.equal(cookieOf(second.setCookies, 'tessera'), null);
    assert.equal(await one.manager.count({ subject: 'frank' }), 1);
  });

  it('answers 503 while the legacy database is down, and adopts the session once it is back', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'grace', 1);
    const down = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    let outage = true;
    const flaky: LegacyPgPool = { query: (text, values) => (outage ? down : pool).query(text, values) };
    const { app } = await tessera({ pool: flaky });
    const during = await send(`${app.url}/whoami`, { cookie });
    assert.equal(during.status, 503);
    assert.equal((during.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.ok(!during.setCookies.includes(CLEARED));
    assert.equal(await rows(id), 1);
    outage = false;
    assert.equal((await send(`${app.url}/whoami`, { cookie })).body.subject, 'grace');
    await down.end();
  });

  it('the demo, started with TESSERA_LEGACY_* settings, shows the same user and counter', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'judy', 2);
    const demo = await startDemoServer({
      env: {
        TESSERA_STORE: 'memory:',
        TESSERA_LEGACY_STORE: url as string,
        TESSERA_LEGACY_TABLE: `${schema}.${table}`,
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
      assert.equal(await rows(id), 0);
    } finally {
      await demo.dispose();
    }
  });

  it('gives the legacy row back when the tessera store is down, with its expiry', async () => {
    const { cookie, id } = await legacyLogin(legacy, 'heidi', 1);
    let down = true;
    const { app } = await tessera({ manager: { store: faultyStore(new MemoryStore(), () => down), onStoreError: () => {} } });
    assert.equal((await send(`${app.url}/whoami`, { cookie })).status, 503);
    const restored = await pool.query(
      `SELECT extract(epoch from expire::timestamptz - now()) AS left FROM "${schema}"."${table}" WHERE sid = $1`,
      [id],
    );
    const left = Number(restored.rows[0]?.left);
    assert.ok(left > 0 && left <= LEGACY_MAX_AGE_MS / 1000 + 1, `expires in ${left} s`);
    // express-session still reads the row given back.
    assert.deepEqual((await send(`${legacy.url}/views`, { cookie })).body, { views: 2 });
    down = false;
    const later = await send(`${app.url}/whoami`, { cookie });
    assert.equal(later.body.subject, 'heidi');
    assert.deepEqual(later.body.data, { views: 2 });
    assert.equal(await rows(id), 0);
  });
});
