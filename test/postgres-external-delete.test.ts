import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ManualClock, SessionManager } from '../src/core/index.js';
import { PostgresStore, migrate } from '../src/stores/postgres/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const DEVICE = { ip: '198.51.100.7', userAgent: 'ExternalDelete/1.0' };

describe('postgres store: a session row deleted in the database', { skip }, () => {
  const schema = randomSchema();
  let admin: pg.Pool;
  let store: PostgresStore;

  before(async () => {
    admin = new pg.Pool({ connectionString: url as string, max: 2 });
    await migrate(admin, { schema });
    store = new PostgresStore({ connectionString: url as string, schema, poolSize: 4 });
  });
  after(async () => {
    await store?.close();
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  it('logs its user out at once, and lists and counts drop it', async () => {
    const m = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false });
    const request = async (token: string | null) => {
      const cookies: string[] = [];
      const session = await m.load({
        cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`,
        secure: false,
        ...DEVICE,
        setCookie: (c) => cookies.push(c),
      });
      return { session, cookies };
    };
    const login = async (subject: string) => {
      const { session } = await request(null);
      await session.login(subject);
      return session;
    };
    const [victim, kept, other] = [await login('ann'), await login('ann'), await login('bob')];
    const { session: anonymous } = await request(null);
    await anonymous.set('cart', 1);
    assert.equal(await m.count({ subject: 'ann' }), 2);
    assert.equal(await m.count(), 4);

    // Another program on the same database: a plain DELETE through its own connection.
    const deleted = await admin.query(`DELETE FROM "${schema}".tessera_sessions WHERE id = $1`, [victim.id]);
    assert.equal(deleted.rowCount, 1);

    const { session: after, cookies } = await request(victim.issuedToken);
    assert.equal(after.isStored, false, 'the deleted session no longer opens');
    assert.equal(after.superseded, false);
    assert.equal(cookies.length, 1);
    assert.match(
      cookies[0] as string,
      new RegExp(`^${m.cookieName(false)}=;.*Max-Age=0`),
      'its cookie is cleared: nothing replaced the token',
    );
    assert.deepEqual(
      (await m.list('ann')).sessions.map((info) => info.id),
      [kept.id],
    );
    assert.equal(await m.count({ subject: 'ann' }), 1);
    assert.equal(await m.count(), 3);
    for (const session of [kept, other]) assert.equal((await request(session.issuedToken)).session.isStored, true);
    m.close();
  });
});
