import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, SessionManager, type SessionEvent } from '../../core/index.js';
import { makeRecord, runStoreConformance } from '../../testing/index.js';
import { MemoryStore } from './index.js';

runStoreConformance({ name: 'memory', createStore: () => new MemoryStore() });
runStoreConformance({ name: 'memory', cache: true, createStore: () => new MemoryStore() });

describe('MemoryStore: the maxSessions cap and the expiry heap', () => {
  const setup = (maxSessions: number) => {
    const clock = new ManualClock();
    const store = new MemoryStore({ maxSessions });
    const manager = new SessionManager({ store, clock, cleanupInterval: false, idleTimeout: 600 });
    const events: SessionEvent[] = [];
    manager.subscribe((event) => {
      events.push(event);
    });
    const anonymous = async () => {
      const session = await manager.load({ secure: false });
      await session.set('n', 1);
      return session.id as string;
    };
    return { clock, store, manager, events, anonymous };
  };

  it('holds at most maxSessions: at the cap, expired sessions are freed first, then the soonest to expire is evicted, with an event', async () => {
    const { clock, store, manager, events, anonymous } = setup(5);
    const first = await anonymous();
    clock.advance(1000);
    const ids = [first];
    for (let i = 0; i < 4; i++) ids.push(await anonymous());
    assert.equal(store.size, 5);
    // A sixth evicts the one that expires first (the first created, a second older than the rest).
    const sixth = await anonymous();
    assert.equal(store.size, 5);
    const evictions = events.filter((e) => e.type === 'revoked');
    assert.deepEqual(
      evictions.map((e) => [e.type, e.type === 'revoked' && e.reason, e.type === 'revoked' && e.session.id]),
      [['revoked', 'evicted', first]],
    );
    assert.equal(await store.load(first, { now: clock.now() }), null);
    assert.ok(await store.load(sixth, { now: clock.now() }));
    // Once some have expired, the next one takes an expired session's room and evicts nobody.
    clock.advance(600_000);
    assert.equal(await store.load(ids[1] as string, { now: clock.now() }), null, 'expired');
    events.length = 0;
    await anonymous();
    assert.equal(store.size <= 5, true);
    assert.deepEqual(
      events.map((e) => e.type),
      ['created'],
    );
    manager.close();
  });

  it('a flood of anonymous writes at the cap evicts anonymous sessions only: every logged-in user stays', async () => {
    const { clock, store, manager, anonymous } = setup(100);
    const users: string[] = [];
    for (let i = 0; i < 60; i++) {
      const session = await manager.load({ secure: false });
      await session.login(`user${i}`);
      users.push(session.issuedToken as string);
    }
    // Spread over addresses and minutes, as a distributed flood would be, so the per-address bound does not stop it first.
    for (let i = 0; i < 1000; i++) {
      const session = await manager.load({ secure: false, ip: `203.0.113.${i % 250}` });
      await session.set('n', i);
      if (i % 200 === 199) clock.advance(60_000);
    }
    assert.equal(store.size, 100);
    for (const token of users) assert.ok((await manager.load({ cookie: `tessera=${token}`, secure: false })).isAuthenticated);
    void anonymous;
    manager.close();
  });

  it('a login at the cap evicts like an anonymous write does, and reports it', async () => {
    const { store, manager, events, anonymous } = setup(3);
    for (let i = 0; i < 3; i++) await anonymous();
    const session = await manager.load({ secure: false });
    await session.login('kay');
    assert.equal(store.size, 3);
    assert.deepEqual(
      events.filter((e) => e.type === 'revoked').map((e) => e.type === 'revoked' && e.reason),
      ['evicted'],
    );
    manager.close();
  });

  it("a full store, with no anonymous session left, makes a user who logs in again give up their own oldest session, not another user's", async () => {
    const clock = new ManualClock();
    const store = new MemoryStore({ maxSessions: 10 });
    const manager = new SessionManager({ store, clock, cleanupInterval: false, idleTimeout: 600, maxSessionsPerSubject: Infinity });
    const ended: Array<string | null> = [];
    manager.on('revoked', (event) => {
      ended.push(event.session.subject);
    });
    const login = async (subject: string) => {
      const session = await manager.load({ secure: false });
      await session.login(subject);
      clock.advance(1000);
      return session.id as string;
    };
    // The bystander logs in first, so theirs is the session closest to expiry.
    const bystander = await login('bystander');
    const heavy: string[] = [];
    for (let i = 0; i < 40; i++) heavy.push(await login('heavy'));
    assert.equal(store.size, 10);
    assert.ok(await store.load(bystander, { now: clock.now() }), 'the bystander is still logged in');
    assert.deepEqual(new Set(ended), new Set(['heavy']));
    assert.equal(ended.length, 31);
    // The heavy user keeps their nine newest.
    const kept = (await manager.list('heavy', { limit: 100 })).sessions.map((s) => s.id);
    assert.deepEqual(kept, heavy.slice(-9));
    // A new user at the cap, with nobody anonymous and none of their own, evicts the soonest to expire.
    await login('newcomer');
    assert.deepEqual(ended.slice(-1), ['bystander']);
    manager.close();
  });

  it('keeps its expiry heap within twice the sessions it holds under logins and logouts in a loop', async () => {
    const { clock, store } = setup(100_000);
    const now = clock.now();
    for (let i = 0; i < 20_000; i++) {
      const { record } = makeRecord(now);
      await store.create(record, { now });
      await store.delete(record.id);
    }
    for (let i = 0; i < 10; i++) {
      const { record } = makeRecord(now);
      await store.create(record, { now });
    }
    assert.equal(store.size, 10);
    assert.ok(store.heapSize <= 2 * store.size + 1024, `heap of ${store.heapSize} entries for ${store.size} sessions`);
    // Rebuilding loses no expiry: every session is still found expired and freed in time.
    const removed = await store.deleteExpired(now + 1800_000, 100);
    assert.equal(removed.length, 10);
    assert.equal(store.size, 0);
  });
});
