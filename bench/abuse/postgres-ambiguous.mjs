// Issue 20, "an ambiguous failure never locks a user out" (PostgreSQL): what happens to a write
// answered 503 while the server may still run it. Another connection holds a row lock that the
// write waits for (SELECT … FOR UPDATE on the session it replaces or changes), the store's client
// gives up (statementTimeout 300 ms: the client waits 1.3 s), then the lock is let go. Two setups:
//   client-first: a pool without statement_timeout, so the server keeps the statement waiting;
//   server-first: the store's own pool, whose statement_timeout (300 ms) cancels it first.
// Cases: (a) reject, limit 1, a login; (b) evict-oldest, limit 1, a login while another device is
// logged in; (c) an increment retried with the same Idempotency-Key (ignored where unsupported);
// (d) one INSERT (a login from a request without a session) waiting on a uniqueness conflict, then
// the undo the core sends (delete of the new id). Prints what each left behind. Uses only the
// public API, so it runs against 61cada9 as well. Run after `npm run build`:
//   node bench/abuse/postgres-ambiguous.mjs
import pg from 'pg';
import { SessionManager } from 'tessera-session';
import { PostgresStore } from 'tessera-session/stores/postgres';
import { DATABASE_URL, randomId } from './sqlite-postgres-common.mjs';

const DEVICE = { ip: '198.51.100.30', userAgent: 'ambiguous/1.0' };

async function lockRow(admin, table, id) {
  const client = await admin.connect();
  await client.query('BEGIN');
  await client.query(`SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
  return {
    async release() {
      await client.query('COMMIT');
      client.release();
    },
    /** Waits for every statement that queued for the lock before it (an abandoned one included). */
    async barrier() {
      const other = await admin.connect();
      await other.query('BEGIN');
      await other.query(`SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
      await other.query('COMMIT');
      other.release();
    },
  };
}

const outcome = (promise) =>
  promise.then(
    () => 'ok',
    (error) => `${error.status ?? ''} ${error.code ?? error.message}`.trim(),
  );

async function run(setup) {
  const schema = `tessera_abuse_${randomId(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const table = `"${schema}".tessera_sessions`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  const given = setup === 'client-first' ? new pg.Pool({ connectionString: DATABASE_URL, max: 6 }) : null;
  given?.on('error', () => {});
  const store =
    given !== null
      ? new PostgresStore({ pool: given, schema, statementTimeout: 300 })
      : new PostgresStore({ connectionString: DATABASE_URL, schema, statementTimeout: 300, poolSize: 6 });
  await store.count({ now: Date.now() });
  const managers = [];
  const manager = (options) => {
    const m = new SessionManager({ store, cleanupInterval: false, ...options });
    managers.push(m);
    return m;
  };
  const request = (m, token, idempotencyKey = null) =>
    m.load({ cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`, secure: false, ...DEVICE, idempotencyKey });
  const settle = async (m) => (typeof m.settled === 'function' ? m.settled() : undefined);
  const cart = async (m) => {
    const session = await request(m, null);
    await session.set('cart', ['pear']);
    return { id: session.id, token: session.issuedToken };
  };
  const result = {};
  try {
    {
      // (a)
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'reject' });
      const browser = await cart(m);
      const lock = await lockRow(admin, table, browser.id);
      const login = await outcome((await request(m, browser.token)).login('ada'));
      await lock.release();
      await lock.barrier();
      await settle(m);
      const orphans = await store.count({ now: Date.now(), subject: 'ada' });
      const back = await request(m, browser.token);
      const retry = await outcome(back.login('ada'));
      result.a = { login, sessionsOfUserAfter: orphans, browserKeptCart: JSON.stringify(back.get('cart')) === '["pear"]', retry };
    }
    {
      // (b)
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'evict-oldest' });
      const first = await request(m, null);
      await first.login('bea');
      const device = first.issuedToken;
      const browser = await cart(m);
      const lock = await lockRow(admin, table, browser.id);
      const login = await outcome((await request(m, browser.token)).login('bea'));
      await lock.release();
      await lock.barrier();
      await settle(m);
      const otherDevice = (await request(m, device)).subject === 'bea';
      const back = await request(m, browser.token);
      result.b = {
        login,
        otherDeviceStillLoggedIn: otherDevice,
        sessionsOfUserAfter: await store.count({ now: Date.now(), subject: 'bea' }),
        browserKeptCart: JSON.stringify(back.get('cart')) === '["pear"]',
      };
    }
    {
      // (c)
      const m = manager({});
      const first = await request(m, null);
      await first.login('cy');
      const token = first.issuedToken;
      const send = async () => (await request(m, token, 'inc-1')).increment('n');
      const lock = await lockRow(admin, table, first.id);
      const increment = await outcome(send());
      await lock.release();
      await lock.barrier();
      const retry = await send().catch((error) => String(error.code ?? error.message));
      result.c = { increment, retryWithSameKeyAnswered: retry, countAfterOneRetry: (await request(m, token)).get('n') };
    }
    {
      // (d)
      const now = Date.now();
      const id = randomId();
      const columns = 'id, secret_hash, created_at, last_seen_at, renewed_at, idle_timeout, absolute_expires_at, expires_at, version, data';
      const occupy = async () => {
        const client = await admin.connect();
        try {
          await client.query('BEGIN');
          await client.query(`INSERT INTO ${table} (${columns}) VALUES ($1, 'x', $2, $2, $2, 60, $3, $3, 1, '{}')`, [
            id,
            now,
            now + 60_000,
          ]);
          return client;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          client.release();
          throw error;
        }
      };
      const record = {
        id,
        secretHash: randomId(16),
        subject: 'dan',
        displayName: null,
        createdAt: now,
        lastSeenAt: now,
        idleTimeout: 1800,
        absoluteExpiresAt: now + 86_400_000,
        expiresAt: now + 1_800_000,
        authenticatedAt: now,
        version: 1,
        data: {},
        createdDevice: DEVICE,
        lastDevice: DEVICE,
        renewedAt: now,
        previousSecretHash: null,
        previousSecretExpiresAt: null,
      };
      const holder = await occupy();
      const create = await outcome(store.create(record, { now }));
      const undo = await store.delete(id).then(
        (r) => (r === null ? 'removed nothing' : 'removed it'),
        (error) => String(error.code ?? error.message),
      );
      await holder.query('ROLLBACK');
      holder.release();
      const landed = await occupy().then(
        async (probe) => {
          await probe.query('ROLLBACK');
          probe.release();
          return false;
        },
        (error) => error.code === '23505',
      );
      result.d = { create, undo, orphanLandedAfterUndo: landed };
    }
  } finally {
    for (const m of managers) m.close();
    await store.close();
    await given?.end();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
  return result;
}

for (const setup of ['client-first', 'server-first']) console.log(setup, JSON.stringify(await run(setup), null, 2));
