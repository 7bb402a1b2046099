import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ok, type Browser } from './client.js';
import type { AdapterContext } from './context.js';

const NOT_PASSED = 'the adapter does not pass the Idempotency-Key header to the core';

/** Retried writes over HTTP, for adapters that pass `Idempotency-Key` on (the core refuses a malformed one with 400). */
export function idempotencyCases(ctx: AdapterContext): void {
  /** A browser with a session counting 1, or null (the test skipped) when the adapter drops the header. */
  async function counting(t: TestContext): Promise<Browser | null> {
    const browser = ctx.browser(ctx.direct);
    assert.deepEqual(ok(await browser.post('/increment'), 'POST /increment'), { value: 1 });
    const probe = await browser.get('/session', { 'idempotency-key': 'not printable ascii' });
    if (probe.status === 200) {
      t.skip(NOT_PASSED);
      return null;
    }
    assert.equal(probe.status, 400, 'a malformed Idempotency-Key is refused');
    return browser;
  }

  describe('the Idempotency-Key header', () => {
    it('applies a retried request once: the same key answers the same value, a new key counts again', async (t) => {
      const browser = await counting(t);
      if (browser === null) return;
      const headers = { 'idempotency-key': 'retry-1' };
      assert.deepEqual(ok(await browser.post('/increment', headers), 'POST /increment'), { value: 2 });
      assert.deepEqual(ok(await browser.post('/increment', headers), 'the retry'), { value: 2 });
      assert.deepEqual(ok(await browser.post('/increment', { 'idempotency-key': 'retry-2' }), 'a new key'), { value: 3 });
      assert.deepEqual((await browser.session()).data, { count: 3 });
    });

    it('applies once a write whose answer the store lost (503, outcome unknown) and which the client retried', async (t) => {
      const browser = await counting(t);
      if (browser === null) return;
      const headers = { 'idempotency-key': 'lost-answer' };
      ctx.loseApplyReplies(true);
      try {
        const lost = await browser.post('/increment', headers);
        assert.equal(lost.status, 503, 'the write whose answer was lost is a 503');
        assert.equal(lost.sessionCookie?.clears ?? false, false);
      } finally {
        ctx.loseApplyReplies(false);
      }
      assert.deepEqual(ok(await browser.post('/increment', headers), 'the retry'), { value: 2 });
      assert.deepEqual((await browser.session()).data, { count: 2 }, 'applied once');
    });
  });
}
