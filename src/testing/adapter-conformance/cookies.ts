import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Browser, type Reply } from './client.js';
import { COOKIE_NAME, type AdapterContext } from './context.js';

const HTTPS = { 'x-forwarded-proto': 'https' };

function setCookieOf(reply: Reply, what: string) {
  assert.ok(reply.sessionCookie !== null, `${what} set no session cookie`);
  return reply.sessionCookie;
}

/** The session cookie's attributes, the `__Host-` prefix over HTTPS, and the headers that go with it. */
export function cookieCases(ctx: AdapterContext): void {
  describe('the session cookie', () => {
    it('is set by a first write: HttpOnly, SameSite=Lax, Path=/, no Domain, Max-Age to the absolute expiry, not Secure over HTTP', async () => {
      const browser = ctx.browser(ctx.direct);
      const reply = await browser.post('/set?key=colour&value=blue');
      ok(reply, 'POST /set');
      const cookie = setCookieOf(reply, 'a first write');
      assert.equal(cookie.name, COOKIE_NAME);
      assert.match(cookie.value, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'the token is id.secret in base64url');
      assert.equal(cookie.attributes.get('httponly'), true);
      assert.equal(String(cookie.attributes.get('samesite')).toLowerCase(), 'lax');
      assert.equal(cookie.attributes.get('path'), '/');
      assert.equal(cookie.attributes.has('domain'), false);
      assert.equal(cookie.attributes.has('secure'), false);
      assert.equal(cookie.attributes.get('max-age'), String(ctx.manager.options.absoluteTimeout));
      assert.match(reply.headers.get('cache-control') ?? '', /\bno-store\b/);
      assert.deepEqual((await browser.session()).data, { colour: 'blue' });
    });

    it('is not set by a request that only reads, with or without a session', async () => {
      const stranger = await ctx.direct.send('/session');
      assert.deepEqual(ok(stranger, 'GET /session without a cookie'), { id: null, subject: null, data: {} });
      assert.equal(stranger.sessionCookie, null);
      assert.equal(stranger.headers.getSetCookie().length, 0, 'a visitor who stored nothing is given no cookie at all');
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/set?key=k&value=v'), 'POST /set');
      const read = await browser.get('/session');
      assert.deepEqual(ok<{ data: unknown }>(read, 'GET /session').data, { k: 'v' });
      assert.equal(read.sessionCookie, null, 'a read of a live session re-sends no token');
    });

    it('is __Host- prefixed and Secure over HTTPS (a trusted proxy says X-Forwarded-Proto: https), and opens the session again', async () => {
      const browser = ctx.browser(ctx.proxied, HTTPS);
      const reply = await browser.post('/set?key=colour&value=green');
      ok(reply, 'POST /set');
      const cookie = setCookieOf(reply, 'a first write over HTTPS');
      assert.equal(cookie.name, `__Host-${COOKIE_NAME}`);
      assert.equal(cookie.attributes.get('secure'), true);
      assert.equal(cookie.attributes.get('path'), '/');
      assert.equal(cookie.attributes.has('domain'), false);
      const again = await browser.session();
      assert.deepEqual(again.data, { colour: 'green' });
      assert.ok(again.id !== null);
    });

    it('is plain and not Secure when a client forges X-Forwarded-Proto: https to the app that trusts no proxy', async () => {
      const browser = ctx.browser(ctx.direct, HTTPS);
      const cookie = setCookieOf(await browser.post('/set?key=colour&value=red'), 'a first write');
      assert.equal(cookie.name, COOKIE_NAME);
      assert.equal(cookie.attributes.has('secure'), false);
      assert.deepEqual((await browser.session()).data, { colour: 'red' });
    });

    it('is plain and not Secure behind the trusted proxy when the proxy says nothing of HTTPS', async () => {
      const browser = ctx.browser(ctx.proxied);
      const cookie = setCookieOf(await browser.post('/set?key=colour&value=grey'), 'a first write');
      assert.equal(cookie.name, COOKIE_NAME);
      assert.equal(cookie.attributes.has('secure'), false);
    });

    it('comes with Cache-Control: no-store on every response that sets or clears it', async () => {
      for (const [app, headers] of [
        [ctx.direct, {}],
        [ctx.proxied, HTTPS],
      ] as const) {
        const browser: Browser = ctx.browser(app, headers);
        const replies: Array<[string, Reply]> = [];
        replies.push(['first write', await browser.post('/set?key=a&value=1')]);
        replies.push(['login', await browser.post('/login?subject=no-store-user')]);
        replies.push(['login and rotate', await browser.post('/login-rotate?subject=no-store-user')]);
        const ended = browser.cookie ?? '';
        replies.push(['logout', await browser.post('/logout')]);
        replies.push(['the token of an ended session cleared', await browser.get('/session', { cookie: ended })]);
        for (const [what, reply] of replies) {
          assert.equal(reply.status, 200, what);
          setCookieOf(reply, what);
          assert.match(reply.headers.get('cache-control') ?? '', /\bno-store\b/, what);
        }
      }
    });

    it('is set once per response, the last token, when a request logs in and then rotates', async () => {
      for (const [app, headers] of [
        [ctx.direct, {}],
        [ctx.proxied, HTTPS],
      ] as const) {
        const browser = ctx.browser(app, headers);
        ok(await browser.post('/set?key=cart&value=1'), 'POST /set');
        const reply = await browser.post('/login-rotate?subject=rotating-user');
        const { id } = ok<{ id: string }>(reply, 'POST /login-rotate');
        const names = reply.headers.getSetCookie().map((value) => value.slice(0, value.indexOf('=')));
        assert.equal(names.filter((name) => name.endsWith(COOKIE_NAME)).length, 1, `one session Set-Cookie: ${names.join(', ')}`);
        const after = await browser.session();
        assert.equal(after.id, id, 'the cookie sent is the token the rotation issued');
        assert.equal(after.subject, 'rotating-user');
        assert.deepEqual(after.data, { cart: '1' });
      }
    });
  });
}
