import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Reply } from './client.js';
import type { AdapterContext } from './context.js';

function errorCode(reply: Reply): string | undefined {
  return (reply.json as { error?: { code?: string } }).error?.code;
}

/**
 * Requests of one browser that overlap a login, in the harmful order: one that carries the token
 * the login replaces must not set a cookie, which would land after the login's and replace (or
 * clear) the new token.
 */
export function raceCases(ctx: AdapterContext): void {
  describe('requests overlapping a login', () => {
    it('a request that loaded the session before a login and ends after it sets no cookie; the new token stays', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/increment'), 'POST /increment');
      const gate = ctx.holdLoads(1, 'when released');
      const late = browser.post('/increment');
      let lateReply: Reply;
      try {
        await gate.arrived;
        ok(await browser.post('/login?subject=racer'), 'POST /login');
      } finally {
        gate.release();
        lateReply = await late;
      }
      const newToken = browser.cookie;
      assert.equal(lateReply.sessionCookie, null, 'the late request set a session cookie over the login’s');
      // Its write went to the session the login replaced: refused as ended, never a 500.
      assert.equal(lateReply.status, 401, JSON.stringify(lateReply.json));
      assert.equal(errorCode(lateReply), 'SESSION_ENDED');
      assert.equal(browser.cookie, newToken);
      assert.deepEqual((await browser.session()).data, { count: 1 }, 'the login kept the data, and the late write was not applied');
      assert.equal((await browser.session()).subject, 'racer');
    });

    it('a request sent with the old token after the login answered sets no cookie: no clearing of the new token', async () => {
      const browser = ctx.browser(ctx.direct);
      ok(await browser.post('/set?key=k&value=v'), 'POST /set');
      const oldCookie = browser.cookie ?? '';
      ok(await browser.post('/login?subject=late-reader'), 'POST /login');
      for (const [method, path] of [
        ['GET', '/session'],
        ['POST', '/increment'],
      ] as const) {
        const reply = await ctx.direct.send(path, { method, headers: { cookie: oldCookie } });
        assert.equal(reply.sessionCookie, null, `${method} ${path} with the replaced token set a session cookie`);
        if (method === 'GET') assert.deepEqual(ok(reply, 'GET /session'), { id: null, subject: null, data: {} });
        else assert.equal(errorCode(reply), 'SESSION_ENDED', `${method} ${path}: ${reply.status}`);
      }
      assert.deepEqual((await browser.session()).data, { k: 'v' });
    });
  });
}
