import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { faultyStore } from '../testing/fixtures.js';
import type { AdoptedSession, SessionAdopter } from './adopt.js';
import { ManualClock } from './clock.js';
import { SessionTooLargeError, StoreUnavailableError } from './errors.js';
import { SessionManager } from './manager.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function setup(adopt: SessionAdopter, store = new MemoryStore()) {
  const clock = new ManualClock(NOW);
  const manager = new SessionManager({ store, adopt, clock, cleanupInterval: false, bearer: true, onStoreError: () => {} });
  const load = (cookie?: string, authorization?: string) => {
    const cookies: string[] = [];
    const loaded = manager.load({ cookie, authorization, secure: false, setCookie: (value) => cookies.push(value) });
    return loaded.then((session) => ({ session, cookies }));
  };
  return { manager, clock, load };
}

const alice = (fields: Partial<AdoptedSession> = {}): AdoptedSession => ({
  subject: 'alice',
  data: { views: 2 },
  expiresAt: NOW + 600_000,
  setCookies: ['old=; Max-Age=0; Path=/'],
  ...fields,
});

describe('adopting a session another library wrote', () => {
  it('makes a logged-in session with the data, its cookie and the adopter’s, ending no later than the old one', async () => {
    const { load } = setup(async () => alice());
    const { session, cookies } = await load('other=1');
    assert.equal(session.subject, 'alice');
    assert.deepEqual({ ...session.data() }, { views: 2 });
    assert.equal(session.info?.absoluteExpiresAt, NOW + 600_000);
    assert.equal(cookies[0], 'old=; Max-Age=0; Path=/');
    assert.match(cookies[1] ?? '', /^tessera=[^;]+; Max-Age=600;/);
  });

  it('is asked only for requests without a tessera token, and never for bearer requests', async () => {
    let asked = 0;
    const { load } = setup(async () => {
      asked++;
      return alice();
    });
    const { cookies } = await load();
    await load(cookies[1]?.split(';')[0]);
    await load(undefined, 'Bearer x');
    assert.equal(asked, 1);
  });

  it('makes one session for the requests given one object, each answered with it', async () => {
    const shared = alice();
    const { load, manager } = setup(async () => shared);
    const [one, two] = await Promise.all([load(), load()]);
    assert.equal(one.session.id, two.session.id);
    assert.equal(one.session.issuedToken, two.session.issuedToken);
    assert.equal(await manager.count({ subject: 'alice' }), 1);
    await one.session.increment('views');
    assert.equal((await load()).session.get('views'), 3, 'a later sharer sees the stored session, not a copy');
  });

  it('adopts nothing that has already ended, and an anonymous one as anonymous', async () => {
    assert.equal((await setup(async () => alice({ expiresAt: NOW })).load()).session.isStored, false);
    const anonymous = await setup(async () => alice({ subject: null })).load();
    assert.equal(anonymous.session.isAuthenticated, false);
    assert.deepEqual({ ...anonymous.session.data() }, { views: 2 });
  });

  it('fails the request when the adopter’s store is down, and gives the old session back when tessera’s is', async () => {
    const down = setup(async () => {
      throw new StoreUnavailableError('legacy down');
    });
    await assert.rejects(down.load(), StoreUnavailableError);
    let restored = 0;
    let failing = true;
    const shared = alice({ restore: async () => void restored++ });
    const { load } = setup(
      async () => shared,
      faultyStore(new MemoryStore(), () => failing),
    );
    await assert.rejects(load(), StoreUnavailableError);
    assert.equal(restored, 1);
    failing = false;
    assert.equal((await load()).session.subject, 'alice', 'a failed adoption is tried again');
  });

  it('refuses data past the size caps or a subject login() would refuse, giving the old session back', async () => {
    let restored = 0;
    const restore = async () => void restored++;
    await assert.rejects(setup(async () => alice({ data: { big: 'x'.repeat(70_000) }, restore })).load(), SessionTooLargeError);
    await assert.rejects(setup(async () => alice({ subject: 'x'.repeat(300), restore })).load(), { code: 'BAD_REQUEST' });
    assert.equal(restored, 2);
  });
});
