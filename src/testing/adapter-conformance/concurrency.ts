import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Reply } from './client.js';
import type { AdapterContext } from './context.js';

/** Requests sent at once in the no-lost-update case. */
const BURST = 200;
/** How long the burst's loads may wait for each other before they are let go, and the case fails. */
const GATE_GUARD_MS = 20_000;

/** Concurrent writes to one session over HTTP: none lost, each answered. */
export function concurrencyCases(ctx: AdapterContext): void {
  describe('concurrent requests', () => {
    it(`${BURST} concurrent POST /increment on one session end at exactly +${BURST}, each answered 200 with its own value`, async () => {
      const browser = ctx.browser(ctx.direct);
      const { value: start } = ok<{ value: number }>(await browser.post('/increment'), 'the first POST /increment');
      assert.equal(start, 1);
      const cookie = browser.cookie;
      // Every request loads the session before any writes: a read-then-write would lose updates.
      const gate = ctx.holdLoads(BURST, 'together');
      const guard = setTimeout(() => gate.release(), GATE_GUARD_MS);
      let replies: Reply[];
      try {
        replies = await Promise.all(Array.from({ length: BURST }, () => browser.post('/increment')));
      } finally {
        clearTimeout(guard);
      }
      assert.ok(gate.filled, `fewer than ${BURST} requests reached the store at once: does the app serialize requests?`);
      const values: number[] = [];
      for (const [index, reply] of replies.entries()) {
        values.push(ok<{ value: number }>(reply, `POST /increment #${index}`).value);
        assert.equal(reply.sessionCookie, null, `POST /increment #${index} re-sent the session cookie`);
      }
      // Each increment is applied atomically by the store and answers the count right after it:
      // the burst's answers are start+1 … start+BURST, each once, in whatever order they landed.
      assert.deepEqual(
        values.sort((a, b) => a - b),
        Array.from({ length: BURST }, (_, i) => start + 1 + i),
      );
      assert.equal(browser.cookie, cookie);
      assert.deepEqual((await browser.session()).data, { count: start + BURST });
    });

    it('concurrent first writes of browsers with no cookie each get a session of their own', async () => {
      const browsers = Array.from({ length: 20 }, () => ctx.browser(ctx.direct));
      const replies = await Promise.all(browsers.map((browser) => browser.post('/increment')));
      for (const [index, reply] of replies.entries()) assert.deepEqual(ok(reply, `POST /increment #${index}`), { value: 1 });
      const ids = await Promise.all(browsers.map(async (browser) => (await browser.session()).id));
      assert.equal(new Set(ids).size, browsers.length, 'twenty distinct sessions');
      assert.ok(ids.every((id) => typeof id === 'string'));
    });
  });
}
