import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SessionLimitError, SessionManager, StoreUnavailableError, type SessionManagerOptions } from '../src/core/index.js';
import { PostgresStore, migrate } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const DEVICE = { ip: '198.51.100.20', userAgent: 'Ambiguous/1.0' };

/**
 * Another connection holding a row lock on one session (`SELECT … FOR UPDATE` in an open
 * transaction): a login replacing that session, or a change set to it, waits for it.
 */
async function lockRow(admin: pg.Pool, table: string, id: string): Promise<{ release(): Promise<void>; barrier(): Promise<void> }> {
  const client = await admin.connect();
  await client.query('BEGIN');
  const locked = await client.query(`SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
  assert.equal(locked.rowCount, 1);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('COMMIT');
      client.release();
    },
    /**
     * Waits until every statement that queued for the row lock before this call has finished:
     * it queues behind them for the same lock. A statement the client gave up on, if its
     * backend still runs, has committed or rolled back by then.
     */
    async barrier() {
      const other = await admin.connect();
      try {
        await other.query('BEGIN');
        await other.query(`SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
        await other.query('COMMIT');
      } finally {
        other.release();
      }
    },
  };
}

/**
 * The store's client gives up on a statement (its client-side timeout, `statementTimeout` + 1 s)
 * while the server keeps waiting for a row lock. Whether the server may still run it afterwards
 * depends on who gives up first; both orders are tested.
 */
for (const variant of [
  'the client gives up first (a pool without statement_timeout)',
  "the server's statement_timeout fires first (the store's own pool)",
] as const) {
  const serverFirst = variant.startsWith("the server's");
  describe(`postgres store: a write answered 503 while it waits for a lock: ${variant}`, { skip, timeout: 60_000 }, () => {
    const schema = randomSchema();
    const table = `"${schema}".tessera_sessions`;
    let admin: pg.Pool;
    let given: pg.Pool | null = null;
    let store: PostgresStore;
    const managers: SessionManager[] = [];

    before(async () => {
      admin = new pg.Pool({ connectionString: url as string, max: 4 });
      await migrate(admin, { schema });
      if (serverFirst) {
        // statement_timeout 300 ms on the server; the client gives up at 1.3 s.
        store = new PostgresStore({ connectionString: url as string, schema, statementTimeout: 300, poolSize: 6 });
      } else {
        // No statement_timeout on these connections: only the client-side limit (1.3 s) applies.
        given = new pg.Pool({ connectionString: url as string, max: 6 });
        given.on('error', () => {});
        store = new PostgresStore({ pool: given, schema, statementTimeout: 300 });
      }
    });
    after(async () => {
      for (const m of managers.splice(0)) m.close();
      await store?.close();
      await given?.end();
      await admin?.end();
      if (url) await dropSchema(url, schema);
    });

    const manager = (options: Partial<SessionManagerOptions> = {}) => {
      const m = new SessionManager({ store, cleanupInterval: false, ...options });
      managers.push(m);
      return m;
    };
    const request = (m: SessionManager, token: string | null, idempotencyKey: string | null = null) =>
      m.load({ cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`, secure: false, ...DEVICE, idempotencyKey });
    const loggedIn = async (m: SessionManager, subject: string) => {
      const session = await request(m, null);
      await session.login(subject);
      return session.issuedToken as string;
    };
    /** A browser with an anonymous session holding a cart. */
    const browser = async (m: SessionManager) => {
      const session = await request(m, null);
      await session.set('cart', ['pear']);
      return { id: session.id as string, token: session.issuedToken as string };
    };
    const unavailable = (error: unknown) => {
      assert.ok(error instanceof StoreUnavailableError, String(error));
      return true;
    };

    it('(a) reject, limit 1: the login answered 503 leaves no orphan once the store answers, and the retry logs in', async () => {
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'reject' });
      const cart = await browser(m);
      const lock = await lockRow(admin, table, cart.id);
      try {
        await assert.rejects((await request(m, cart.token)).login('ada'), unavailable);
      } finally {
        await lock.release();
      }
      await lock.barrier();
      await m.settled();
      assert.equal(await store.count({ now: Date.now(), subject: 'ada' }), 0, 'no orphan counts against the limit');
      const back = await request(m, cart.token);
      assert.deepEqual(back.get('cart'), ['pear'], 'the browser still has its session');
      await back.login('ada');
      assert.equal(back.subject, 'ada', 'the retry logs in (no 409)');
      await assert.rejects((await request(m, null)).login('ada'), SessionLimitError, 'and the limit still holds');
    });

    it('(b) evict-oldest: the login answered 503 logs the other device out nowhere, and leaves no orphan', async () => {
      const m = manager({ maxSessionsPerSubject: 1, onLimit: 'evict-oldest' });
      const device = await loggedIn(m, 'bea');
      const cart = await browser(m);
      const lock = await lockRow(admin, table, cart.id);
      try {
        await assert.rejects((await request(m, cart.token)).login('bea'), unavailable);
      } finally {
        await lock.release();
      }
      await lock.barrier();
      await m.settled();
      assert.equal((await request(m, device)).subject, 'bea', 'the other device is still logged in');
      assert.equal(await store.count({ now: Date.now(), subject: 'bea' }), 1, 'and no orphan');
      const back = await request(m, cart.token);
      assert.deepEqual(back.get('cart'), ['pear'], 'the browser keeps its session and its cart');
      await back.login('bea');
      assert.equal((await request(m, device)).isStored, false, 'a login that succeeds evicts the oldest');
    });

    it('(c) an increment answered 503 and retried with the same Idempotency-Key counts once', async () => {
      const m = manager();
      const token = await loggedIn(m, 'cy');
      const id = token.slice(0, 28);
      const send = async (key: string) => (await request(m, token, key)).increment('n');
      const lock = await lockRow(admin, table, id);
      try {
        await assert.rejects(send('inc-1'), unavailable);
      } finally {
        await lock.release();
      }
      await lock.barrier();
      assert.equal(await send('inc-1'), 1, 'the retry answers the value after one increment');
      assert.equal(await send('inc-1'), 1);
      assert.equal((await request(m, token)).get('n'), 1, 'counted once');
      assert.equal(await send('inc-2'), 2);
    });

    if (!serverFirst) {
      it('(d) an undo sent after the 503 is not overtaken by the write it undoes: the store ends the abandoned backend before its next write', async () => {
        const now = Date.now();
        const { record } = makeRecord(now, { subject: 'dan' });
        const columns =
          'id, secret_hash, created_at, last_seen_at, renewed_at, idle_timeout, absolute_expires_at, expires_at, version, data';
        /** An uncommitted row with the same id: the store's insert waits for this transaction to end. */
        const occupy = async () => {
          const client = await admin.connect();
          try {
            await client.query('BEGIN');
            await client.query(`INSERT INTO ${table} (${columns}) VALUES ($1, 'x', $2, $2, $2, 60, $3, $3, 1, '{}')`, [
              record.id,
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
        const holder = await occupy();
        try {
          // One INSERT outside a transaction (a first write, or a login from a request without a session).
          await assert.rejects(store.create(record, { now }), unavailable);
          // The undo the core sends at once: the insert has not happened, so nothing is removed.
          assert.equal(await store.delete(record.id), null);
        } finally {
          await holder.query('ROLLBACK');
          holder.release();
        }
        // Barrier: a second insert of that id waits for the abandoned one if it still runs, then
        // fails if it committed.
        const landed = await occupy().then(
          async (probe) => {
            await probe.query('ROLLBACK');
            probe.release();
            return false;
          },
          (error: unknown) => (error as { code?: string }).code === '23505' || Promise.reject(error),
        );
        assert.equal(landed, false, 'the abandoned insert landed after the undo: an orphan');
        assert.equal(await store.load(record.id, { now }), null);
      });
    }

    if (serverFirst) {
      it('the outcome is known: the server cancelled the statement (57014) and rolled it back, before any compensation', async () => {
        const now = Date.now();
        const { record: old } = makeRecord(now, { data: { n: 1 } });
        await store.create(old, { now });
        const { record: next } = makeRecord(now, { subject: 'dee' });
        const lock = await lockRow(admin, table, old.id);
        let login: unknown;
        let increment: unknown;
        try {
          login = await store
            .create(next, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } })
            .catch((e: unknown) => e);
          increment = await store.apply(old.id, { increment: { n: 1 } }, { now }).catch((e: unknown) => e);
        } finally {
          await lock.release();
        }
        await lock.barrier();
        for (const error of [login, increment]) {
          assert.ok(error instanceof StoreUnavailableError, String(error));
          assert.equal((error.cause as { code?: string }).code, '57014', 'cancelled by statement_timeout');
        }
        assert.equal(await store.load(next.id, { now }), null, 'the login was not written');
        assert.equal((await store.load(old.id, { now }))?.data.n, 1, 'the session it replaced is intact, the increment not applied');
      });
    }
  });
}
