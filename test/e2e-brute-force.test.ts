/**
 * The brute-force limiter against the demo over HTTP, as people behind one shared address (an
 * office, a carrier NAT) meet it: all test clients come from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COOKIE_NAME, DemoClient, type ApiResponse } from './support/demo-client.js';
import { startDemoServer, type DemoServer } from './support/demo-server.js';

for (const action of ['detect', 'block'] as const) {
  describe(`brute-force ${action} over HTTP: a hundred browsers behind one address, each with a stale cookie, all log in`, () => {
    let server: DemoServer;
    before(async () => {
      server = await startDemoServer({ env: { TESSERA_BRUTE_FORCE_ACTION: action, TESSERA_BRUTE_FORCE_LIMIT: '50' } });
    });
    after(async () => {
      await server?.dispose();
    });

    it('clears every stale cookie (in the 429 itself when blocking), and every login succeeds within the minute', async () => {
      const browsers = Array.from({ length: 100 }, () => new DemoClient(() => server.url));
      const stale: string[] = [];
      for (const [i, browser] of browsers.entries()) {
        assert.equal((await browser.login(`user${i}`)).status, 200);
        stale.push(browser.token as string);
        // Revoked from another device: this browser's cookie is now stale.
        await new DemoClient(() => server.url).post('/api/logout', undefined, { headers: { cookie: `${COOKIE_NAME}=${browser.token}` } });
      }
      const answers: ApiResponse[] = [];
      await Promise.all(
        browsers.map(async (browser, i) => {
          // A page and its script at once, both with the stale cookie; then the login form.
          const [page, script] = await Promise.all([browser.get('/api/session'), browser.clone().get('/api/session')]);
          answers.push(page, script);
          assert.equal(browser.token, null, 'the stale cookie is cleared');
          const login = await browser.login(`user${i}`);
          assert.equal(login.status, 200, login.text);
          assert.notEqual(browser.token, stale[i]);
        }),
      );
      const refused = answers.filter((a) => a.status === 429);
      for (const answer of answers) {
        assert.ok(answer.status === 401 || answer.status === 429, answer.text);
        assert.match(answer.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0;/, 'every answer clears the stale cookie');
      }
      if (action === 'detect') assert.equal(refused.length, 0, 'detection refuses nobody');
      else {
        assert.equal(refused.length, 200 - 50, 'blocking refuses unknown tokens past the limit');
        for (const answer of refused) {
          assert.equal(answer.body.error.code, 'TOO_MANY_REQUESTS');
          assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/);
        }
      }
      for (const browser of browsers) assert.equal((await browser.get('/api/session')).status, 200);
    });
  });
}
