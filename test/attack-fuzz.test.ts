// 100,000 random Cookie headers through the parser and the token check: never a throw, never a session.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock, SessionManager, readCookies } from '../src/core/index.js';
import { parseToken } from '../src/core/token.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { countingStore } from '../src/testing/index.js';

const RUNS = 100_000;

describe('cookie fuzzing', () => {
  it(`${RUNS.toLocaleString('en')} random cookie headers: no exception, no session from anything but the intact token, store reached only by well-formed tokens`, async () => {
    const clock = new ManualClock();
    const counting = countingStore(new MemoryStore());
    const manager = new SessionManager({ store: counting.store, clock, cleanupInterval: false, bruteForceLimit: false });
    const login = await manager.load({ secure: false });
    await login.login('victim');
    const token = login.issuedToken as string;
    counting.reset();

    const alphabet = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=;,% "\\\t\r\n\u0000é€🙂'.split(''),
    );
    const mutated = fc
      .tuple(fc.nat({ max: token.length }), fc.nat({ max: 3 }), fc.string({ unit: alphabet, maxLength: 8 }))
      .map(([at, cut, insert]) => token.slice(0, at) + insert + token.slice(Math.min(token.length, at + cut)))
      .filter((value) => value !== token);
    const value = fc.oneof(
      mutated,
      fc.stringMatching(/^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/),
      fc.string({ unit: alphabet, maxLength: 120 }),
      fc.string({ unit: 'binary', maxLength: 120 }),
      fc.constantFrom('A'.repeat(8192), token + token, `${token},${token}`, `${token} ${token}`, '%'.repeat(100)),
    );
    const header = fc.oneof(
      value.map((v) => `tessera=${v}`),
      fc.tuple(fc.string({ maxLength: 20 }), value, fc.string({ maxLength: 20 })).map(([a, v, b]) => `${a}; tessera=${v}; ${b}`),
      fc.string({ unit: 'binary', maxLength: 300 }),
    );

    let wellFormed = 0;
    let exact = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(header, async (cookie) => {
        runs++;
        const before = counting.total();
        const session = await manager.load({ cookie, secure: false, ip: '203.0.113.1' });
        const candidates = readCookies(cookie, 'tessera').filter((v) => parseToken(v) !== null);
        // A mutation can leave the exact token as a cookie of its own (say, "<token>;x"): only then is it accepted.
        const carriesToken = candidates[0] === token;
        if (carriesToken) exact++;
        assert.equal(session.isStored, carriesToken);
        if (candidates.length > 0) wellFormed++;
        // A malformed token costs no store round trip; a well-formed one that opens nothing costs a
        // second one, which tells a superseded token (whose cookie is left alone) from a stale one.
        assert.equal(counting.total() - before, candidates.length === 0 ? 0 : carriesToken ? 1 : 2, 'store operations for this header');
      }),
      { numRuns: RUNS },
    );
    assert.equal(runs, RUNS);
    console.log(
      `# fuzz: ${runs} cookie headers, ${wellFormed} with a well-formed token, ${exact} carrying the real token intact, no other accepted`,
    );
    const still = await manager.load({ cookie: `tessera=${token}`, secure: false });
    assert.equal(still.subject, 'victim');
  });
});
