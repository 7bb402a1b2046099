import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok } from './client.js';
import type { AdapterContext } from './context.js';

/** What a client wrote itself, then what the one proxy in front of the app appended: the address it saw. */
const FORGED = '6.6.6.6';
const SEEN_BY_PROXY = '203.0.113.9';
const LOOPBACK = new Set(['127.0.0.1', '::ffff:127.0.0.1']);

/** The client address recorded on sessions: the socket's, unless the app trusts a proxy, and then the proxy's word only. */
export function proxyCases(ctx: AdapterContext): void {
  async function devices(id: string) {
    const info = await ctx.manager.get(id);
    assert.ok(info !== null, 'the session is stored');
    return { created: info.createdDevice.ip, last: info.lastDevice.ip };
  }

  describe('the client address', () => {
    it('is the socket’s when the app trusts no proxy, whatever X-Forwarded-For says', async () => {
      const browser = ctx.browser(ctx.direct, { 'x-forwarded-for': `${FORGED}, ${SEEN_BY_PROXY}` });
      ok(await browser.post('/set?key=k&value=v'), 'POST /set');
      const { id: anonymousId } = await browser.session();
      const created = await devices(anonymousId ?? '');
      assert.ok(LOOPBACK.has(created.created ?? ''), `recorded ${created.created}, not the socket's address`);
      const { id } = ok<{ id: string }>(await browser.post('/login?subject=forger', { 'x-forwarded-for': FORGED }), 'POST /login');
      const logged = await devices(id);
      assert.ok(LOOPBACK.has(logged.created ?? '') && LOOPBACK.has(logged.last ?? ''), `recorded ${JSON.stringify(logged)}`);
    });

    it('is the last X-Forwarded-For entry when the app trusts one proxy', async () => {
      const browser = ctx.browser(ctx.proxied);
      ok(await browser.post('/set?key=k&value=v', { 'x-forwarded-for': `${FORGED}, ${SEEN_BY_PROXY}` }), 'POST /set');
      const { id: anonymousId } = await browser.session();
      assert.deepEqual(await devices(anonymousId ?? ''), { created: SEEN_BY_PROXY, last: SEEN_BY_PROXY });
      // A login records where it came from as the session's last device, and keeps where it began.
      const { id } = ok<{ id: string }>(await browser.post('/login?subject=proxied', { 'x-forwarded-for': '198.51.100.4' }), 'POST /login');
      assert.deepEqual(await devices(id), { created: SEEN_BY_PROXY, last: '198.51.100.4' });
    });

    it('is the socket’s behind the trusted proxy when no X-Forwarded-For came', async () => {
      const browser = ctx.browser(ctx.proxied);
      const { id } = ok<{ id: string }>(await browser.post('/login?subject=unproxied'), 'POST /login');
      const seen = await devices(id);
      assert.ok(LOOPBACK.has(seen.created ?? ''), `recorded ${seen.created}`);
    });
  });
}
