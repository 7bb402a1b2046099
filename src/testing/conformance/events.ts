import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConformanceContext } from './context.js';

/** The lifecycle events a manager sends for the sessions of this store. */
export function lifecycleEvents(ctx: ConformanceContext): void {
  const { manager, request, loggedIn } = ctx;
  describe('lifecycle events', () => {
    it('sends created, loggedIn, rotated, revoked (logout, evicted, user, admin) and expired, with ids and subjects', async () => {
      const { clock } = ctx;
      const m = manager({ maxSessionsPerSubject: 2, idleTimeout: 600 });
      const events: string[] = [];
      m.subscribe((event) => {
        if (!('session' in event)) return;
        const reason = event.type === 'revoked' ? `:${event.reason}` : '';
        events.push(`${event.type}${reason}:${event.session.subject ?? '-'}`);
      });
      const anonymous = await request(m, null);
      await anonymous.session.set('a', 1);
      const anonymousId = anonymous.session.id;
      await anonymous.session.login('fay');
      assert.notEqual(anonymous.session.id, anonymousId);
      await anonymous.session.rotate();
      await anonymous.session.logout();
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) {
        tokens.push(await loggedIn(m, 'fay'));
        clock.advance(1000);
      }
      const { session: third } = await request(m, tokens[2] as string);
      assert.equal(await third.revokeSession(tokens[1]?.slice(0, 28) as string), true);
      assert.equal(await m.revoke(third.id as string), true);
      const idle = await request(m, null);
      await idle.session.login('gus', { idleTimeout: 60 });
      clock.advance(61_000);
      assert.ok((await m.sweep()) >= 1);
      assert.deepEqual(events, [
        'created:-',
        'loggedIn:fay',
        'rotated:fay',
        'revoked:logout:fay',
        // A login straight from a request without a session stores no anonymous one first.
        'loggedIn:fay',
        'loggedIn:fay',
        'revoked:evicted:fay',
        'loggedIn:fay',
        'revoked:user:fay',
        'revoked:admin:fay',
        'loggedIn:gus',
        'expired:gus',
      ]);
    });
  });
}
