import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Reply, type SessionBody } from './client.js';
import { COOKIE_NAME, MAX_VALUE_BYTES, type AdapterContext } from './context.js';

const ANONYMOUS: SessionBody = { id: null, subject: null, data: {} };
// Well-formed (id.secret in base64url), never issued.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;

function errorCode(reply: Reply): string {
  return (reply.json as { error: { code: string } }).error.code;
}

/** What clients may send that is wrong: answered as the core decides (no session, or a 4xx), never a 500 or a stack trace. */
export function badInputCases(ctx: AdapterContext): void {
  describe('bad input', () => {
    it('a malformed session cookie is no session: answered 200, never 500, and a write starts a new session', async () => {
      const malformed = [
        `${COOKIE_NAME}=%%%garbage`,
        `${COOKIE_NAME}=`,
        `${COOKIE_NAME}="unterminated`,
        `${COOKIE_NAME}=a.b`,
        `${COOKIE_NAME}=${'x'.repeat(4000)}`,
        `${COOKIE_NAME}=${UNKNOWN_TOKEN}`,
        `${COOKIE_NAME}`,
        ';;;=;=',
        `__Host-${COOKIE_NAME}=%00%ff`,
        `other=1; ${COOKIE_NAME}=\u00e9\u00ff`,
      ];
      for (const cookie of malformed) {
        const read = await ctx.direct.send('/session', { headers: { cookie } });
        assert.deepEqual(ok(read, `GET /session with Cookie: ${cookie.slice(0, 60)}`), ANONYMOUS);
        const write = await ctx.direct.send('/increment', { method: 'POST', headers: { cookie } });
        assert.deepEqual(ok(write, `POST /increment with Cookie: ${cookie.slice(0, 60)}`), { value: 1 });
        assert.ok(write.sessionCookie !== null && !write.sessionCookie.clears, 'the write was given a new session');
      }
    });

    it('a planted cookie of the same name before the real one does not hide the session (the adapter passes the whole Cookie header)', async () => {
      const browser = ctx.browser(ctx.direct);
      const { id } = ok<{ id: string }>(await browser.post('/login?subject=planted'), 'POST /login');
      for (const cookie of [
        `${COOKIE_NAME}=${UNKNOWN_TOKEN}; ${browser.cookie}`,
        `${COOKIE_NAME}=garbage; ${browser.cookie}; theme=dark`,
      ]) {
        const reply = await ctx.direct.send('/session', { headers: { cookie } });
        assert.equal(ok<SessionBody>(reply, 'GET /session with a planted cookie first').id, id);
        assert.equal(reply.sessionCookie, null, 'two values: nothing is cleared, since the real one may be among them');
      }
    });

    it('an Idempotency-Key that is too long or not printable ASCII is 400 BAD_REQUEST (or ignored), never 500', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/increment'), 'POST /increment');
      for (const key of ['k'.repeat(201), 'has space', '\u00e9t\u00e9', 'k'.repeat(8000)]) {
        const reply = await browser.post('/increment', { 'idempotency-key': key });
        assert.ok(reply.status === 200 || reply.status === 400, `Idempotency-Key of ${key.length} characters: ${reply.status}`);
        if (reply.status === 400) assert.equal(errorCode(reply), 'BAD_REQUEST');
      }
      const { data } = await browser.session();
      assert.ok(typeof data.count === 'number' && data.count >= 1 && data.count <= 5);
    });

    it('a login with an empty or oversized subject is 400 BAD_REQUEST and changes nothing', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/set?key=cart&value=kept'), 'POST /set');
      const before = await browser.session();
      for (const subject of ['', 'u'.repeat(300)]) {
        const reply = await browser.post(`/login?subject=${subject}`);
        assert.equal(reply.status, 400, `login as ${subject.length} characters`);
        assert.equal(errorCode(reply), 'BAD_REQUEST');
        assert.equal(reply.sessionCookie, null);
      }
      assert.deepEqual(await browser.session(), before);
    });

    it(`a value past maxValueBytes is 413 SESSION_TOO_LARGE, and a new visitor's refused write hands out no token`, async () => {
      const browser = ctx.browser(ctx.direct);
      const reply = await browser.post(`/set?key=big&value=${'v'.repeat(MAX_VALUE_BYTES + 1)}`);
      assert.equal(reply.status, 413);
      assert.equal(errorCode(reply), 'SESSION_TOO_LARGE');
      assert.equal(reply.sessionCookie, null);
      assert.deepEqual(await browser.session(), ANONYMOUS);
    });

    it('a garbage session id to revoke is { revoked: false }; garbage X-Forwarded-For to the trusting app is no error', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/login?subject=garbage-revoker'), 'POST /login');
      for (const id of ['', 'nope', 'x'.repeat(2000), '../../etc', UNKNOWN_TOKEN]) {
        assert.deepEqual(ok(await browser.post(`/revoke?id=${encodeURIComponent(id)}`), `POST /revoke?id=${id.slice(0, 20)}`), {
          revoked: false,
        });
      }
      for (const forwarded of ['not-an-address', ',,,', 'x'.repeat(3000), '1.2.3.4, , ,']) {
        const proxied = ctx.browser(ctx.proxied, { 'x-forwarded-for': forwarded, 'x-forwarded-proto': 'gopher, ,' });
        const { id } = ok<{ id: string }>(
          await proxied.post('/login?subject=odd-proxy'),
          `POST /login via X-Forwarded-For: ${forwarded.slice(0, 20)}`,
        );
        const ip = (await ctx.manager.get(id))?.lastDevice.ip ?? '';
        assert.ok(ip.length <= 64, 'a recorded address is cut to 64 characters');
      }
    });
  });
}
