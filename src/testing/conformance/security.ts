import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorResponse, hasSessionIndex, type SessionManager } from '../../core/index.js';
import { hasSubjectPartitions } from '../../core/store.js';
import { partitionOfId, unkeyedPartition } from '../../core/token.js';
import { makeRecord } from '../fixtures.js';
import { DEVICE, type ConformanceContext } from './context.js';

/**
 * What an attacker can learn or do: ids that reveal no user, tampered or guessed cookies all answered
 * alike, a brute-force limit that never locks an office out, prototype keys kept as plain data, and
 * secrets kept out of every output.
 */
export function security(ctx: ConformanceContext): void {
  const { manager, request, loggedIn } = ctx;
  describe('partitions', () => {
    it("an id says nothing about its user to whoever lacks the deployment's key", async () => {
      const { store } = ctx;
      const m = manager();
      for (const subject of ['alice', 'bob', '1', 'admin@example.com']) {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await loggedIn(m, subject)).slice(0, 28));
        for (const id of ids) assert.notEqual(partitionOfId(id), unkeyedPartition(subject), 'not the unkeyed SHA-256 of the subject');
        if (hasSubjectPartitions(store)) {
          // Sessions of one subject share a partition (a Redis Cluster slot), derived with the store's key.
          const partition = await store.subjectPartition(subject);
          for (const id of ids) assert.equal(partitionOfId(id), partition);
        } else assert.equal(new Set(ids.map(partitionOfId)).size, 3, 'random partitions');
      }
    });
  });

  describe('attack resistance', () => {
    /** What a client can observe of a request: whether it got a session, and the cookies set. */
    const observe = async (m: SessionManager, cookie: string, ip = DEVICE.ip) => {
      const cookies: string[] = [];
      const session = await m.load({ cookie, secure: false, ip, userAgent: DEVICE.userAgent, setCookie: (v) => cookies.push(v) });
      return { stored: session.isStored, subject: session.subject, cookies };
    };

    it('never accepts a tampered, truncated, extended, duplicated, oversized, non-ASCII or garbled cookie', async () => {
      const m = manager({ bruteForceLimit: false });
      const token = await loggedIn(m, 'quinn');
      const name = m.cookieName(false);
      const flip = (i: number) => token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      const variants = [
        ...Array.from({ length: token.length }, (_, i) => flip(i)).filter((t) => t !== token),
        token.slice(0, -1),
        token.slice(1),
        token.slice(0, 29),
        `${token}A`,
        token + token,
        `${token}.${token}`,
        token.replace('.', ''),
        token.replace('.', '%2E'),
        'A'.repeat(8192),
        token + 'A'.repeat(8192),
        `${token.slice(0, 40)}é${token.slice(41)}`,
        `${token.slice(0, 40)}\u0000${token.slice(41)}`,
        `${token.slice(0, 40)}\r\n${token.slice(41)}`,
        `%00%ff%${token}`,
        encodeURIComponent(`ü${token}`),
      ];
      for (const value of variants) {
        const seen = await observe(m, `${name}=${value}`);
        assert.equal(seen.stored, false, JSON.stringify(value.slice(0, 80)));
      }
      // Control: the real token still works, and a duplicate cookie header with a junk first value does not hide it.
      assert.equal((await observe(m, `${name}=${token}`)).subject, 'quinn');
      assert.equal((await observe(m, `${name}=junk; ${name}=${token}`)).subject, 'quinn');
    });

    it('answers bad, unknown, expired and revoked tokens identically (no oracle)', async () => {
      const { clock } = ctx;
      const m = manager({ idleTimeout: 60, bruteForceLimit: false });
      const name = m.cookieName(false);
      const expired = await loggedIn(m, 'rae');
      clock.advance(61_000);
      const revoked = await loggedIn(m, 'rae');
      const { session } = await request(m, revoked);
      await session.logout();
      const unknown = `${expired.slice(0, 28)}.${'A'.repeat(43)}`;
      const outcomes = await Promise.all(['not-a-token', unknown, expired, revoked].map((t) => observe(m, `${name}=${t}`)));
      for (const outcome of outcomes) assert.deepEqual(outcome, outcomes[0]);
      assert.equal(outcomes[0]?.stored, false);
    });

    it('by default, past the brute-force limit an address gets an event and nothing else changes: stale cookies are cleared, nobody is refused', async () => {
      const { clock } = ctx;
      const m = manager({ bruteForceLimit: 5 });
      const name = m.cookieName(false);
      const valid = await loggedIn(m, 'sam');
      const alarms: string[] = [];
      m.on('bruteForce', (event) => {
        alarms.push(event.ip);
      });
      const guess = () => `${name}=${makeRecord(clock.now()).token}`;
      for (let i = 0; i < 20; i++) {
        const seen = await observe(m, guess(), '198.51.100.9');
        assert.equal(seen.stored, false);
        assert.equal(seen.cookies.length, 1);
        assert.match(seen.cookies[0] as string, /Max-Age=0/, 'the stale cookie is cleared, past the limit too');
      }
      assert.deepEqual(alarms, ['198.51.100.9'], 'one event per address and window');
      assert.equal((await observe(m, `${name}=${valid}`, '198.51.100.9')).subject, 'sam');
      clock.advance(60_000);
      for (let i = 0; i < 6; i++) await observe(m, guess(), '198.51.100.9');
      assert.deepEqual(alarms, ['198.51.100.9', '198.51.100.9'], 'and again in the next window');
    });

    it('a hundred browsers behind one address, each with a stale cookie, all log in within the minute (detect and block)', async () => {
      for (const bruteForceAction of ['detect', 'block'] as const) {
        const m = manager({ bruteForceAction });
        const name = m.cookieName(false);
        const stale: string[] = [];
        for (let i = 0; i < 100; i++) {
          const token = await loggedIn(m, `user${i}`);
          await (await request(m, token)).session.logout();
          stale.push(token);
        }
        // An address per round: a store that shares counts between instances (Redis, PostgreSQL) counts per store, not per manager.
        const office = bruteForceAction === 'detect' ? '192.0.2.1' : '192.0.2.2';
        let refusals = 0;
        const results = await Promise.all(
          stale.map(async (token, i) => {
            // Two requests at once with the stale cookie (a page and its script), then a login.
            const answers = await Promise.all(
              [0, 1].map(async () => {
                const cookies: string[] = [];
                try {
                  await m.load({ cookie: `${name}=${token}`, secure: false, ip: office, setCookie: (v) => cookies.push(v) });
                } catch (error) {
                  refusals++;
                  assert.equal(bruteForceAction, 'block');
                  assert.equal((error as { status?: number }).status, 429);
                  cookies.push((error as { setCookie: string }).setCookie);
                }
                return cookies;
              }),
            );
            for (const cookies of answers) assert.match(cookies.join(), /Max-Age=0/, 'every answer clears the stale cookie');
            const cookies: string[] = [];
            const session = await m.load({ cookie: undefined, secure: false, ip: office, setCookie: (v) => cookies.push(v) });
            await session.login(`user${i}`);
            return session.subject;
          }),
        );
        assert.deepEqual(
          results,
          stale.map((_, i) => `user${i}`),
        );
        assert.equal(refusals, bruteForceAction === 'block' ? 200 - 120 : 0, 'past the default limit of 120');
      }
    });

    it("with bruteForceAction 'block', past the limit unknown tokens get 429 with their stale cookie cleared in that response; valid tokens and none pass", async () => {
      const { clock } = ctx;
      const m = manager({ bruteForceLimit: 5, bruteForceAction: 'block' });
      const name = m.cookieName(false);
      const valid = await loggedIn(m, 'sam');
      const alarms: string[] = [];
      m.on('bruteForce', (event) => {
        alarms.push(event.ip);
      });
      const guess = () => `${name}=${makeRecord(clock.now()).token}`;
      for (let i = 0; i < 5; i++) assert.equal((await observe(m, guess(), '198.51.100.9')).stored, false);
      const refused = await observe(m, guess(), '198.51.100.9').then(
        () => assert.fail('expected a 429'),
        (error: unknown) => error as { code: string; status: number; setCookie: string | null },
      );
      assert.equal(refused.code, 'TOO_MANY_REQUESTS');
      assert.equal(refused.status, 429);
      assert.match(refused.setCookie ?? '', new RegExp(`^${name}=; Max-Age=0;`));
      const response = errorResponse(refused);
      assert.equal(response.status, 429);
      assert.equal(response.headers['set-cookie'], refused.setCookie, 'the error response carries the clearing cookie');
      await assert.rejects(observe(m, guess(), '198.51.100.9'), { code: 'TOO_MANY_REQUESTS' });
      assert.deepEqual(alarms, ['198.51.100.9']);
      assert.equal((await observe(m, `${name}=${valid}`, '198.51.100.9')).subject, 'sam');
      assert.equal((await observe(m, '', '198.51.100.9')).stored, false, 'a request without a token is never refused');
      assert.equal((await observe(m, guess(), '198.51.100.10')).stored, false, 'other addresses are not affected');
      clock.advance(60_000);
      assert.equal((await observe(m, guess(), '198.51.100.9')).stored, false, 'the window resets');
    });

    it('keeps keys such as __proto__, constructor and prototype as plain data', async () => {
      const m = manager();
      const token = await loggedIn(m, 'tess');
      const { session } = await request(m, token);
      await session.set('__proto__', { polluted: true });
      await session.set('constructor', 'c');
      await session.set('prototype', { x: 1 });
      await session.increment('hasOwnProperty');
      const { session: again } = await request(m, token);
      assert.deepEqual(again.get('__proto__'), { polluted: true });
      assert.equal(again.get('constructor'), 'c');
      assert.deepEqual(again.get('prototype'), { x: 1 });
      assert.equal(again.get('hasOwnProperty'), 1);
      assert.deepEqual(Object.keys(again.data()).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'prototype']);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.getPrototypeOf(again.data()), null);
    });

    it('keeps issued tokens and their secrets out of events, session info and the stored records', async () => {
      const { store, clock } = ctx;
      const m = manager({ maxSessionsPerSubject: 2 });
      const seen: unknown[] = [];
      m.subscribe((event) => {
        seen.push(event);
      });
      const tokens: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { session } = await request(m, null);
        await session.set('i', i);
        tokens.push(session.issuedToken as string);
        await session.login('uma');
        tokens.push(session.issuedToken as string);
        await session.rotate();
        tokens.push(session.issuedToken as string);
      }
      const listed = hasSessionIndex(store)
        ? [await m.list('uma'), await m.query({}), await store.listBySubject('uma', { now: clock.now(), limit: 100 })]
        : [];
      const stored = await Promise.all(tokens.map((token) => store.load(token.slice(0, 28), { now: clock.now() })));
      const output = JSON.stringify([seen, listed, stored]);
      for (const token of tokens) {
        const secret = token.split('.')[1] as string;
        assert.ok(!output.includes(secret), 'no secret in events, admin output or records');
      }
    });
  });
}
