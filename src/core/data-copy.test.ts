import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock } from './clock.js';
import { jsonSnapshot, snapshotChanges, writeChanges } from './data-copy.js';
import { InvalidOptionError } from './errors.js';
import { SessionManager } from './manager.js';
import { OptionWarnings, timeoutFromMs } from './option-checks.js';

describe('a copy of session data', () => {
  it('snapshots each key as JSON, leaving out what JSON leaves out and the skipped keys', () => {
    const snapshot = jsonSnapshot({ a: 1, at: new Date(0), gone: undefined, fn: () => 1, cookie: { x: 1 } }, ['cookie']);
    assert.deepEqual(
      [...snapshot],
      [
        ['a', '1'],
        ['at', '"1970-01-01T00:00:00.000Z"'],
      ],
    );
  });

  it('saves only the keys whose JSON changed, and the keys removed', () => {
    const data: Record<string, unknown> = { same: { n: 1 }, changed: [1], removed: true, toUndefined: 'x' };
    const before = jsonSnapshot(data);
    data.same = { n: 1 }; // a new object with the same JSON is no change
    (data.changed as number[]).push(2);
    delete data.removed;
    data.toUndefined = undefined;
    data.added = new Date(0);
    const changes = snapshotChanges(before, data);
    assert.deepEqual(
      [...changes.set],
      [
        ['changed', [1, 2]],
        ['added', '1970-01-01T00:00:00.000Z'],
      ],
    );
    assert.deepEqual(changes.removed, ['removed', 'toUndefined']);
    assert.deepEqual(snapshotChanges(changes.snapshot, data), { set: new Map(), removed: [], snapshot: changes.snapshot });
  });

  it('writes a change set and a new idle timeout to the session', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.set('keep', 1);
    await session.set('drop', 2);
    await writeChanges(session, { set: new Map([['keep', 3]]), removed: ['drop'], snapshot: new Map() }, 120);
    const token = session.issuedToken as string;
    const reloaded = await manager.load({ secure: false, cookie: `${manager.cookieName(false)}=${token}` });
    assert.deepEqual({ ...reloaded.data() }, { keep: 3 });
    assert.equal(reloaded.info?.idleTimeout, 120);
  });
});

describe('a timeout given in ms', () => {
  it('is whole seconds, rounded up', () => {
    assert.equal(timeoutFromMs('cookie.maxAge', 1), 1);
    assert.equal(timeoutFromMs('cookie.maxAge', 60_000), 60);
    assert.equal(timeoutFromMs('cookie.maxAge', 60_001), 61);
  });

  it('is refused unless a positive finite number', () => {
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60000', null]) {
      assert.throws(() => timeoutFromMs('cookie.maxAge', ms), InvalidOptionError, String(ms));
    }
  });
});

describe('a tessera warning', () => {
  it('is emitted once per code', async () => {
    const warnings = new OptionWarnings();
    const seen: Array<{ name: string; code: string | undefined }> = [];
    const onWarning = (warning: Error & { code?: string }) => seen.push({ name: warning.name, code: warning.code });
    process.on('warning', onWarning);
    warnings.warn('TESSERA_TEST_A', 'first');
    warnings.warn('TESSERA_TEST_A', 'again');
    warnings.warn('TESSERA_TEST_B', 'other');
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    assert.deepEqual(seen, [
      { name: 'TesseraWarning', code: 'TESSERA_TEST_A' },
      { name: 'TesseraWarning', code: 'TESSERA_TEST_B' },
    ]);
  });
});
