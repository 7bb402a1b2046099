import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionManager, encryptionCodec, hasSessionIndex, type SessionManagerOptions } from '../../core/index.js';
import { countingStore, lostReplyStore, makeRecord } from '../fixtures.js';
import { DEVICE, type ConformanceContext } from './context.js';
import { idempotency } from './idempotency.js';

/**
 * Bounded under abuse and faults: retried and lost writes, size and Unicode caps, duplicated
 * cookies, unreadable sessions, anonymous session bounds, and sweeps that yield.
 */
export function boundedUnderAbuse(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec, managers } = ctx;
  describe('bounded under abuse and faults', () => {
    idempotency(ctx);

    /** A manager whose store loses the answers of `create` while `lose` is on; and a browser with an anonymous cart. */
    const lossyLogin = async (options: Partial<SessionManagerOptions>) => {
      const { store, clock } = ctx;
      const state = { lose: false };
      const m = new SessionManager({ store: lostReplyStore(store, 'create', () => state.lose), clock, cleanupInterval: false, ...options });
      managers.push(m);
      const loggedInEvents: string[] = [];
      m.on('loggedIn', (event) => {
        loggedInEvents.push(event.session.id);
      });
      const browser = await request(m, null);
      await browser.session.set('cart', ['pear']);
      return { m, state, loggedInEvents, anonymous: browser.session.issuedToken as string };
    };

    it("a login whose answer is lost (reject) leaves no orphan once the store answers: the user's retry logs in, no 409", async () => {
      const { store, clock } = ctx;
      const { m, state, loggedInEvents, anonymous } = await lossyLogin({ maxSessionsPerSubject: 1, onLimit: 'reject' });
      state.lose = true;
      await assert.rejects((await request(m, anonymous)).session.login('rex'), { code: 'STORE_UNAVAILABLE', status: 503 });
      state.lose = false;
      await m.settled();
      if (hasSessionIndex(store))
        assert.equal(await store.count({ now: clock.now(), subject: 'rex' }), 0, 'no orphan counts against the limit');
      const back = await request(m, anonymous);
      assert.deepEqual(back.session.get('cart'), ['pear'], 'the session the login replaced is back, with its data');
      await back.session.login('rex');
      assert.equal(back.session.subject, 'rex', 'the retry logs in');
      assert.deepEqual(loggedInEvents, [back.session.id], 'the lost login sent no event');
    });

    it('a login whose answer is lost (evict-oldest) logs no other device out; a login that succeeds does', async () => {
      const { store, clock } = ctx;
      const { m, state, anonymous } = await lossyLogin({ maxSessionsPerSubject: 1, onLimit: 'evict-oldest' });
      const device = await loggedIn(m, 'eve');
      state.lose = true;
      await assert.rejects((await request(m, anonymous)).session.login('eve'), { code: 'STORE_UNAVAILABLE' });
      state.lose = false;
      await m.settled();
      assert.equal((await request(m, device)).session.subject, 'eve', 'the other device is still logged in');
      if (hasSessionIndex(store)) assert.equal(await store.count({ now: clock.now(), subject: 'eve' }), 1, 'and no orphan');
      const back = await request(m, anonymous);
      assert.deepEqual(back.session.get('cart'), ['pear']);
      await back.session.login('eve');
      assert.equal((await request(m, device)).session.isStored, false, 'a login that succeeds evicts the oldest');
    });

    it('a first write whose answer is lost leaves no anonymous session behind', async () => {
      const { store, clock } = ctx;
      let lose = false;
      const lossy = lostReplyStore(store, 'create', () => lose);
      const m = new SessionManager({ store: lossy, clock, cleanupInterval: false });
      managers.push(m);
      lose = true;
      const { session } = await request(m, null);
      await assert.rejects(session.set('a', 1), { code: 'STORE_UNAVAILABLE' });
      lose = false;
      await m.settled();
      if (hasSessionIndex(store)) assert.equal(await store.count({ now: clock.now() }), 0);
      assert.deepEqual(await store.deleteExpired(clock.now() + 2 * 86_400_000, 100), [], 'nothing was left to expire');
    });

    it('refuses values, fields and sessions past their caps with 413 SESSION_TOO_LARGE, and writes nothing', async () => {
      const { store, clock } = ctx;
      const m = manager({ maxFields: 3, maxValueBytes: 100, maxSessionBytes: 200 });
      const token = await loggedIn(m, 'sid');
      const { session } = await request(m, token);
      await assert.rejects(session.set('big', 'x'.repeat(100)), { code: 'SESSION_TOO_LARGE', status: 413 });
      await session.set('a', 'x'.repeat(80));
      await session.set('b', 'x'.repeat(80));
      await assert.rejects(session.set('c', 'x'.repeat(80)), { code: 'SESSION_TOO_LARGE' }, 'past 200 bytes');
      await session.set('c', 1);
      await assert.rejects(session.set('d', 1), { code: 'SESSION_TOO_LARGE' }, 'a fourth field');
      await assert.rejects(session.increment('e'), { code: 'SESSION_TOO_LARGE' }, 'a fourth field by increment');
      await session.set('a', 'short');
      await session.delete('b');
      await session.set('d', 'x'.repeat(80));
      const stored = await store.load(session.id as string, { now: clock.now() });
      assert.deepEqual(Object.keys(stored?.data ?? {}).sort(), ['a', 'c', 'd']);
      assert.ok(JSON.stringify(stored?.data).length < 300);
    });

    it('refuses strings that are not well-formed Unicode with 400 before any store sees them', async () => {
      const { store, clock } = ctx;
      const m = manager();
      const counting = countingStore(store);
      const cm = new SessionManager({ store: counting.store, clock, cleanupInterval: false });
      managers.push(cm);
      const token = await loggedIn(m, 'uni');
      const { session } = await request(cm, token);
      counting.reset();
      for (const bad of ['\ud800', 'a\udfffb', { nested: ['ok', '\udc00'] }]) {
        await assert.rejects(async () => session.set('v', bad), { code: 'BAD_REQUEST', status: 400 });
      }
      await assert.rejects(async () => session.set('k\ud800', 1), { code: 'BAD_REQUEST' });
      await assert.rejects(async () => session.set('o', JSON.parse('{"\\ud800":1}')), { code: 'BAD_REQUEST' });
      await assert.rejects(async () => session.login('bad\ud800'), { code: 'BAD_REQUEST' });
      await assert.rejects(async () => session.login('good', { displayName: '\udbff' }), { code: 'BAD_REQUEST' });
      assert.equal(counting.total(), 0, 'no store call');
      await session.set('v', 'paired 🙂 surrogates are fine');
      assert.equal((await request(m, token)).session.get('v'), 'paired 🙂 surrogates are fine');
    });

    it('tries every well-formed value of a duplicated cookie; a planted one neither hides nor clears the real one', async () => {
      const { clock } = ctx;
      const m = manager();
      const name = m.cookieName(false);
      const token = await loggedIn(m, 'dup');
      const planted = makeRecord(clock.now()).token;
      const cookies: string[] = [];
      const both = await m.load({
        cookie: `${name}=${planted}; ${name}=${token}`,
        secure: false,
        ...DEVICE,
        setCookie: (c) => cookies.push(c),
      });
      assert.equal(both.subject, 'dup');
      assert.deepEqual(cookies, []);
      const stale: string[] = [];
      const neither = await m.load({
        cookie: `${name}=${planted}; ${name}=${makeRecord(clock.now()).token}`,
        secure: false,
        ...DEVICE,
        setCookie: (c) => stale.push(c),
      });
      assert.equal(neither.isStored, false);
      assert.deepEqual(stale, [], 'with several values the cookie is not cleared: the real one may be among them');
      const single: string[] = [];
      await m.load({ cookie: `${name}=${planted}`, secure: false, ...DEVICE, setCookie: (c) => single.push(c) });
      assert.match(single[0] ?? '', /Max-Age=0/, 'a single stale value is cleared');
    });

    it('removes an unreadable session when it is found, so it holds no place against the limit', async () => {
      const { store, clock } = ctx;
      const keyA = encryptionCodec([{ id: 'a', key: Buffer.alloc(32, 5) }]);
      const keyB = encryptionCodec([{ id: 'b', key: Buffer.alloc(32, 6) }]);
      const before = manager({ codec: keyA, maxSessionsPerSubject: 1, onLimit: 'reject' });
      const token = await loggedIn(before, 'una');
      await (await request(before, token)).session.set('secret', 's');
      const after = manager({ codec: keyB, maxSessionsPerSubject: 1, onLimit: 'reject' });
      const events: string[] = [];
      after.subscribe((event) => {
        events.push(event.type);
      });
      const found = await request(after, token);
      assert.equal(found.session.isStored, false);
      assert.deepEqual(events, ['unreadable']);
      assert.equal(await store.load(token.slice(0, 28), { now: clock.now() }), null, 'removed');
      await (await request(after, null)).session.login('una');
    });

    it('bounds the anonymous sessions one address creates per minute; others and logged-in users are unaffected', async () => {
      const { clock } = ctx;
      const m = manager({ anonymousSessionLimit: 5 });
      const token = await loggedIn(m, 'ann');
      const write = async (ip: string) => {
        const session = await m.load({ secure: false, ip });
        await session.set('a', 1);
      };
      for (let i = 0; i < 5; i++) await write('198.51.100.1');
      await assert.rejects(write('198.51.100.1'), { code: 'TOO_MANY_REQUESTS', status: 429 });
      await write('198.51.100.2');
      const logged = await m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false, ip: '198.51.100.1' });
      await logged.set('b', 2);
      clock.advance(60_000);
      await write('198.51.100.1');
    });

    it('a sweep of many batches lets the event loop run between them', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      for (let i = 0; i < 600; i++) {
        const { record: r } = await rec(now, { idleTimeout: 1, subject: i % 2 ? 'swept' : null });
        await store.create(r, { now });
      }
      clock.advance(2000);
      const m = manager({ cleanupBatchSize: 50 });
      let turns = 0;
      let running = true;
      const spin = () => {
        turns++;
        if (running) setImmediate(spin);
      };
      setImmediate(spin);
      let removed: number;
      try {
        removed = await m.sweep();
      } finally {
        running = false;
      }
      assert.ok(removed >= 1);
      if (!store.capabilities.nativeExpiry) assert.equal(removed, 600);
      assert.ok(turns >= Math.floor(removed / 50) - 1, `${turns} event-loop turns during ${Math.ceil(removed / 50)} batches`);
    });
  });
}
