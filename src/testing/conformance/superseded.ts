import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionEndedError, type SessionManager } from '../../core/index.js';
import { hashSecret } from '../../core/token.js';
import { makeRecord } from '../fixtures.js';
import type { ConformanceContext } from './context.js';

/**
 * Tokens replaced by a login, rotation or renewal: the store remembers them for a while, so that
 * a late response for an old token neither clears the new cookie nor starts a session.
 */
export function supersededTokens(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec } = ctx;
  describe('superseded tokens (login, rotation, renewal)', () => {
    it('remembers a replaced session until supersededUntil, for its own secret hashes only', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record: old } = await rec(now, { data: { n: 1 } });
      await store.create(old, { now });
      // Renewed once: its previous secret is still in its grace period when the login replaces it.
      const renewedHash = makeRecord(now).record.secretHash;
      const renewed = await store.apply(
        old.id,
        {
          renewSecret: {
            secretHash: renewedHash,
            renewedAt: now,
            previousSecretHash: old.secretHash,
            previousSecretExpiresAt: now + 20_000,
          },
        },
        { now, expectedVersion: old.version },
      );
      assert.ok(renewed.status === 'applied');
      const { record: next } = await rec(now, { subject: 'zoe' });
      const created = await store.create(next, {
        now: now + 1000,
        replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 31_000 },
      });
      assert.equal(created.status, 'created');
      assert.equal(await store.load(old.id, { now: now + 1000, secretHash: renewedHash }), null, 'the replaced token opens nothing');
      const superseded = (hash: string, at: number) => store.isSuperseded(old.id, { now: at, secretHash: hash });
      assert.equal(await superseded(renewedHash, now + 1000), true);
      assert.equal(await superseded(old.secretHash, now + 1000), true, 'the renewal’s previous secret, in its grace period when replaced');
      assert.equal(await superseded(renewedHash, now + 30_999), true);
      assert.equal(await superseded(renewedHash, now + 31_000), false, 'forgotten at supersededUntil');
      assert.equal(await superseded(hashSecret('wrong'), now + 1000), false, 'a wrong secret learns nothing');
      assert.equal(
        await store.isSuperseded(next.id, { now: now + 1000, secretHash: next.secretHash }),
        false,
        'a live current token is not superseded',
      );
      assert.equal(await store.isSuperseded(makeRecord(now).record.id, { now, secretHash: renewedHash }), false, 'an unknown id');
      const swept = await store.deleteExpired(now + 86_400_000 * 3, 100);
      assert.ok(!swept.some((r) => r.id === old.id), 'a superseded token is never reported as an expired session');
    });

    it('knows a renewed token as superseded after its grace period; a revoked or expired one is not', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { subject: 'yan', idleTimeout: 60 });
      await store.create(record, { now });
      const fresh = makeRecord(now).record.secretHash;
      const renewed = await store.apply(
        record.id,
        {
          renewSecret: { secretHash: fresh, renewedAt: now, previousSecretHash: record.secretHash, previousSecretExpiresAt: now + 30_000 },
        },
        { now, expectedVersion: record.version },
      );
      assert.ok(renewed.status === 'applied');
      assert.equal(await store.load(record.id, { now: now + 30_000, secretHash: record.secretHash }), null);
      assert.equal(await store.isSuperseded(record.id, { now: now + 30_000, secretHash: record.secretHash }), true);
      assert.equal(await store.isSuperseded(record.id, { now: now + 30_000, secretHash: fresh }), false);
      const { record: revoked } = await rec(now, { subject: 'yan' });
      await store.create(revoked, { now });
      await store.delete(revoked.id);
      assert.equal(await store.isSuperseded(revoked.id, { now, secretHash: revoked.secretHash }), false, 'revoked');
      assert.equal(await store.isSuperseded(record.id, { now: now + 60_000, secretHash: record.secretHash }), false, 'expired');
    });
  });

  describe('cookies around a login, rotation or renewal (responses in the harmful order)', () => {
    /** What a browser keeps of the session cookie, applying responses' Set-Cookie in the order they arrive. */
    const jar = (m: SessionManager) => {
      const name = m.cookieName(false);
      let value: string | null = null;
      return {
        receive(cookies: string[]) {
          for (const cookie of cookies) {
            const match = /^([^=]+)=([^;]*);.*Max-Age=(\d+)/.exec(cookie);
            assert.ok(match && match[1] === name, cookie);
            value = match[3] === '0' ? null : (match[2] as string);
          }
        },
        get token() {
          return value;
        },
      };
    };

    it('a request with the pre-login token, answered after the login, neither clears the new cookie nor starts a session', async () => {
      const m = manager();
      const created: string[] = [];
      m.on('created', (event) => {
        created.push(event.session.id);
      });
      const browser = jar(m);
      const first = await request(m, null);
      await first.session.set('cart', ['apple']);
      browser.receive(first.cookies);
      const anonymous = browser.token as string;
      const loadedBefore = await request(m, anonymous);
      const login = await request(m, anonymous);
      await login.session.login('ada');
      const loadedAfter = await request(m, anonymous);
      assert.deepEqual(loadedAfter.cookies, [], 'no Set-Cookie for the superseded token');
      await assert.rejects(loadedAfter.session.set('note', 'late'), SessionEndedError);
      await assert.rejects(loadedBefore.session.set('note', 'late'), SessionEndedError);
      assert.deepEqual(loadedAfter.cookies, [], 'no Set-Cookie for the superseded token');
      assert.deepEqual(loadedBefore.cookies, [], 'no Set-Cookie for the superseded token');
      assert.equal(created.length, 1, 'no new anonymous session was started');
      assert.equal(loadedAfter.session.isStored, false);
      assert.equal(loadedAfter.session.superseded, true);
      // The login's response arrives first, the late ones after it.
      browser.receive(login.cookies);
      browser.receive(loadedAfter.cookies);
      browser.receive(loadedBefore.cookies);
      assert.equal(browser.token, login.session.issuedToken);
      const after = await request(m, browser.token);
      assert.equal(after.session.subject, 'ada');
      assert.deepEqual(after.session.get('cart'), ['apple']);
      assert.equal(after.session.get('note'), undefined);
    });

    it('a request with the pre-rotation token, answered after the rotation, leaves the new cookie alone', async () => {
      const m = manager();
      const browser = jar(m);
      const token = await loggedIn(m, 'bea');
      browser.receive([`${m.cookieName(false)}=${token}; Max-Age=100; Path=/`]);
      const loadedBefore = await request(m, token);
      const rotation = await request(m, token);
      await rotation.session.rotate();
      const loadedAfter = await request(m, token);
      await assert.rejects(loadedBefore.session.increment('n'), SessionEndedError);
      await assert.rejects(loadedAfter.session.increment('n'), SessionEndedError);
      await loadedBefore.session.logout();
      browser.receive(rotation.cookies);
      for (const late of [loadedAfter, loadedBefore]) {
        assert.deepEqual(late.cookies, []);
        browser.receive(late.cookies);
      }
      assert.equal(browser.token, rotation.session.issuedToken);
      assert.equal((await request(m, browser.token)).session.subject, 'bea');
    });

    it('10 concurrent requests around a renewal: only the winner sets a cookie, and every order of their responses leaves the new token', async () => {
      const { clock } = ctx;
      const m = manager({ renewalInterval: 60, renewalGracePeriod: 30, idleTimeout: 600 });
      const first = await loggedIn(m, 'cy');
      clock.advance(61_000);
      // Every request's touch is due too (lastSeenAt is 61 s old), and half of them write.
      const burst = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const r = await request(m, first);
          if (i % 2 === 0) await r.session.increment('n');
          return r;
        }),
      );
      const winners = burst.filter((r) => r.session.issuedToken !== null);
      assert.equal(winners.length, 1);
      const renewed = winners[0]?.session.issuedToken as string;
      for (const r of burst) {
        if (r === winners[0]) assert.equal(r.cookies.length, 1);
        else assert.deepEqual(r.cookies, [], 'a request that lost the renewal sets no cookie');
      }
      const orders = [burst, [...burst].reverse(), [...burst.slice(5), ...burst.slice(0, 5)]];
      for (const order of orders) {
        const browser = jar(m);
        for (const r of order) browser.receive(r.cookies);
        assert.equal(browser.token, renewed);
      }
      // In the grace period, with its touch due and a write: still no cookie for the old token.
      clock.advance(20_000);
      const inGrace = await request(m, first);
      await inGrace.session.increment('n');
      assert.deepEqual(inGrace.cookies, []);
      // After it, the old token opens nothing, but it is not cleared either: it was replaced, not revoked.
      clock.advance(10_000);
      const late = await request(m, first);
      assert.equal(late.session.isStored, false);
      assert.deepEqual(late.cookies, []);
      await assert.rejects(late.session.set('x', 1), SessionEndedError);
      assert.equal((await request(m, renewed)).session.get('n'), 6);
    });

    it('a revoked or expired token still has its cookie cleared, also when a request in flight writes', async () => {
      const { clock } = ctx;
      const m = manager({ idleTimeout: 60 });
      const token = await loggedIn(m, 'dee');
      const inFlight = await request(m, token);
      await (await request(m, token)).session.logout();
      await assert.rejects(inFlight.session.set('a', 1), SessionEndedError);
      assert.equal(inFlight.cookies.length, 1);
      assert.match(inFlight.cookies[0] as string, /Max-Age=0/);
      assert.match((await request(m, token)).cookies[0] as string, /Max-Age=0/);
      const idle = await loggedIn(m, 'dee');
      clock.advance(61_000);
      assert.match((await request(m, idle)).cookies[0] as string, /Max-Age=0/);
    });

    it('sets the cookie only when a token is issued, with a Max-Age that ends at the absolute expiry', async () => {
      const { clock } = ctx;
      const m = manager({ idleTimeout: 600, absoluteTimeout: 7200 });
      const { session, cookies } = await request(m, null);
      await session.login('eli');
      assert.match(cookies[0] as string, /Max-Age=7200;/);
      clock.advance(120_000);
      const touched = await request(m, session.issuedToken);
      await touched.session.set('a', 1);
      assert.equal(touched.session.info?.lastSeenAt, clock.now(), 'the touch was due and written');
      assert.deepEqual(touched.cookies, [], 'a touch or a save re-sends nothing');
    });
  });
}
