import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type SessionBody } from './client.js';
import { COOKIE_NAME, type AdapterContext } from './context.js';

const ANONYMOUS: SessionBody = { id: null, subject: null, data: {} };

/** Login, rotation and logout over HTTP: a new token each time, the old one dead, the data kept or dropped as the core decides. */
export function loginCases(ctx: AdapterContext): void {
  describe('login and logout', () => {
    it('login issues a new token, keeps the anonymous session data, and the old token opens nothing', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/set?key=cart&value=apples'), 'POST /set');
      const before = await browser.session();
      const oldCookie = browser.cookie;
      const reply = await browser.post('/login?subject=alice');
      const body = ok<{ id: string; subject: string }>(reply, 'POST /login');
      assert.equal(body.subject, 'alice');
      assert.ok(reply.sessionCookie !== null && !reply.sessionCookie.clears, 'login sets the new token');
      assert.notEqual(browser.cookie, oldCookie, 'the token changed');
      assert.notEqual(body.id, before.id, 'the session id changed');
      assert.deepEqual(await browser.session(), { id: body.id, subject: 'alice', data: { cart: 'apples' } });
      const old = await ctx.direct.send('/session', { headers: { cookie: oldCookie ?? '' } });
      assert.deepEqual(ok(old, 'GET /session with the token login replaced'), ANONYMOUS);
      assert.equal(await ctx.manager.get(before.id ?? ''), null, 'the anonymous session is gone from the store');
    });

    it('logging in again as the same user keeps the data; as another user starts clean', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/login?subject=bob'), 'POST /login bob');
      ok(await browser.post('/set?key=secret&value=bobs'), 'POST /set');
      ok(await browser.post('/login?subject=bob'), 'POST /login bob again');
      assert.deepEqual((await browser.session()).data, { secret: 'bobs' });
      const bobs = browser.cookie;
      const { id } = ok<{ id: string }>(await browser.post('/login?subject=carol'), 'POST /login carol');
      assert.deepEqual(await browser.session(), { id, subject: 'carol', data: {} }, "nothing of bob's reaches carol");
      assert.deepEqual(ok(await ctx.direct.send('/session', { headers: { cookie: bobs ?? '' } }), 'GET /session'), ANONYMOUS);
    });

    it('logout ends the session and clears the cookie; the token opens nothing afterwards', async () => {
      for (const [app, headers] of [
        [ctx.direct, {}],
        [ctx.proxied, { 'x-forwarded-proto': 'https' }],
      ] as const) {
        const browser = ctx.browser(app, headers);
        const { id } = ok<{ id: string }>(await browser.post('/login?subject=dora'), 'POST /login');
        const token = browser.cookie;
        const reply = await browser.post('/logout');
        assert.deepEqual(ok(reply, 'POST /logout'), { ok: true });
        assert.ok(reply.sessionCookie?.clears, 'logout clears the cookie');
        assert.equal(reply.sessionCookie.name, token?.slice(0, token.indexOf('=')), 'the cookie cleared is the one set');
        assert.ok(reply.sessionCookie.name.endsWith(COOKIE_NAME));
        assert.equal(browser.cookie, null);
        assert.equal(await ctx.manager.get(id), null);
        const after = await app.send('/session', { headers: { ...headers, cookie: token ?? '' } });
        assert.deepEqual(ok(after, 'GET /session with the token logged out'), ANONYMOUS);
        assert.ok(after.sessionCookie?.clears, 'the stale cookie is cleared');
      }
    });
  });
}
