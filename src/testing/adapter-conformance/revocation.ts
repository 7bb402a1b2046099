import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Browser, type SessionBody } from './client.js';
import type { AdapterContext } from './context.js';

const ANONYMOUS: SessionBody = { id: null, subject: null, data: {} };

interface Listed {
  sessions: Array<{ id: string; subject: string; current: boolean }>;
  nextCursor: string | null;
}

/** Sessions ended from elsewhere, and a user's own devices listed and revoked over HTTP. */
export function revocationCases(ctx: AdapterContext): void {
  /** `count` browsers logged in as `subject` on the app that trusts no proxy, with their session ids. */
  async function devices(subject: string, count: number): Promise<Array<{ browser: Browser; id: string }>> {
    const out: Array<{ browser: Browser; id: string }> = [];
    for (let i = 0; i < count; i++) {
      const browser = ctx.browser(ctx.direct);
      const { id } = ok<{ id: string }>(await browser.post(`/login?subject=${subject}`), 'POST /login');
      out.push({ browser, id });
    }
    return out;
  }

  describe('revocation', () => {
    it('a session revoked through manager.revoke is refused on its next request: anonymous, cookie cleared', async () => {
      const [device] = await devices('revoked-user', 1);
      assert.ok(device);
      ok(await device.browser.post('/set?key=k&value=v'), 'POST /set');
      assert.equal(await ctx.manager.revoke(device.id), true);
      const token = device.browser.cookie;
      const reply = await device.browser.get('/session');
      assert.deepEqual(ok(reply, 'GET /session after revocation'), ANONYMOUS);
      assert.ok(reply.sessionCookie?.clears, 'the revoked token is cleared');
      assert.equal(reply.sessionCookie.name, token?.slice(0, token.indexOf('=')));
      // A write on the revoked token starts a new anonymous session; it never revives the old one.
      const write = await ctx.direct.send('/increment', { method: 'POST', headers: { cookie: token ?? '' } });
      assert.deepEqual(ok(write, 'POST /increment on the revoked token'), { value: 1 });
      assert.equal(await ctx.manager.get(device.id), null);
    });

    it('a session idle past its timeout is refused like a revoked one: anonymous, cookie cleared', async () => {
      const [idle, busy] = await devices('idle-user', 2);
      assert.ok(idle && busy);
      const idleTimeout = ctx.manager.options.idleTimeout * 1000;
      ctx.clock.advance(idleTimeout - 1000);
      assert.equal((await busy.browser.session()).id, busy.id, 'a request just before the timeout');
      // The touch interval is a tenth of the idle timeout at most: that request moved its deadline.
      ctx.clock.advance(2000);
      const reply = await idle.browser.get('/session');
      assert.deepEqual(ok(reply, 'GET /session past the idle timeout'), ANONYMOUS);
      assert.ok(reply.sessionCookie?.clears, 'the expired token is cleared');
      assert.equal((await busy.browser.session()).id, busy.id, 'the session used meanwhile lives on');
    });

    it('GET /sessions lists the user’s sessions with the current one flagged', async () => {
      const [first, second, third] = await devices('lister', 3);
      assert.ok(first && second && third);
      const page = ok<Listed>(await first.browser.get('/sessions'), 'GET /sessions');
      assert.deepEqual(page.sessions.map((s) => s.id).sort(), [first.id, second.id, third.id].sort());
      assert.deepEqual(
        page.sessions.filter((s) => s.current).map((s) => s.id),
        [first.id],
      );
      assert.ok(page.sessions.every((s) => s.subject === 'lister'));
      assert.equal(page.nextCursor, null);
    });

    it('POST /revoke ends one of the user’s own sessions, and no other user’s', async () => {
      const [mine, other] = await devices('reviser', 2);
      const [stranger] = await devices('stranger', 1);
      assert.ok(mine && other && stranger);
      assert.deepEqual(ok(await mine.browser.post(`/revoke?id=${stranger.id}`), 'POST /revoke of another user’s session'), {
        revoked: false,
      });
      assert.equal((await stranger.browser.session()).subject, 'stranger');
      assert.deepEqual(ok(await mine.browser.post(`/revoke?id=${other.id}`), 'POST /revoke'), { revoked: true });
      assert.deepEqual(await other.browser.session(), ANONYMOUS);
      assert.equal((await mine.browser.session()).id, mine.id);
      assert.deepEqual(ok(await mine.browser.post(`/revoke?id=${other.id}`), 'POST /revoke again'), { revoked: false });
    });

    it('POST /revoke of the current session logs it out and clears the cookie', async () => {
      const [device] = await devices('self-revoker', 1);
      assert.ok(device);
      const reply = await device.browser.post(`/revoke?id=${device.id}`);
      assert.deepEqual(ok(reply, 'POST /revoke of the current session'), { revoked: true });
      assert.ok(reply.sessionCookie?.clears, 'the cookie is cleared');
      assert.equal(await ctx.manager.get(device.id), null);
    });

    it('POST /revoke-others ends every other session of the user and keeps this one', async () => {
      const [keeper, ...others] = await devices('revoke-others', 4);
      const [bystander] = await devices('bystander', 1);
      assert.ok(keeper && bystander);
      const reply = await keeper.browser.post('/revoke-others');
      assert.deepEqual(ok(reply, 'POST /revoke-others'), { revoked: others.length });
      assert.equal(reply.sessionCookie, null, 'the current session keeps its cookie');
      for (const other of others) assert.deepEqual(await other.browser.session(), ANONYMOUS);
      assert.equal((await keeper.browser.session()).id, keeper.id);
      assert.equal((await bystander.browser.session()).subject, 'bystander');
      const page = ok<Listed>(await keeper.browser.get('/sessions'), 'GET /sessions');
      assert.deepEqual(
        page.sessions.map((s) => s.id),
        [keeper.id],
      );
    });

    it('the user routes refuse an anonymous session with 401 NO_SESSION', async () => {
      for (const [method, path] of [
        ['GET', '/sessions'],
        ['POST', '/revoke?id=whatever'],
        ['POST', '/revoke-others'],
      ] as const) {
        const reply = await ctx.direct.send(path, { method });
        assert.equal(reply.status, 401, `${method} ${path}`);
        assert.equal((reply.json as { error: { code: string } }).error.code, 'NO_SESSION', `${method} ${path}`);
      }
    });
  });
}
