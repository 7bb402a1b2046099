import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { faultyStore } from '../testing/index.js';
import { ManualClock } from './clock.js';
import { BadRequestError, StoreUnavailableError, errorResponse } from './errors.js';
import { SessionManager } from './manager.js';
import type { SessionManagerOptions } from './options.js';
import type { StoreOperation } from './reporting-store.js';
import type { SessionStore } from './store.js';

/** What a driver says: internals a client must never see. */
const DRIVER_ERROR = 'a statement the client gave up on is still running on the PostgreSQL server (pid 4242, 10.0.0.7:5432)';

/** The store's calls throw what `failure()` returns, when it returns something. */
function failingStore(store: SessionStore, failure: () => unknown): SessionStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return async (...args: unknown[]) => {
        const error = failure();
        if (error !== undefined) throw error;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function outage(): StoreUnavailableError {
  return new StoreUnavailableError(DRIVER_ERROR, { cause: new Error('ECONNRESET 10.0.0.7:5432') });
}

type Report = { error: unknown; operation: StoreOperation };

const managers: SessionManager[] = [];
afterEach(() => {
  for (const manager of managers.splice(0)) manager.close();
});

function setup(options: Partial<SessionManagerOptions> = {}) {
  const memory = new MemoryStore();
  let failure: () => unknown = () => undefined;
  const reports: Report[] = [];
  const manager = new SessionManager({
    store: failingStore(memory, () => failure()),
    clock: new ManualClock(),
    cleanupInterval: false,
    onStoreError: (error, { operation }) => {
      reports.push({ error, operation });
    },
    ...options,
  });
  managers.push(manager);
  return { manager, reports, fail: (next: () => unknown) => (failure = next), heal: () => (failure = () => undefined) };
}

async function loggedIn(manager: SessionManager): Promise<string> {
  const session = await manager.load({ secure: false });
  await session.login('alice');
  return session.issuedToken as string;
}

describe('onStoreError: where a store failure and its cause go', () => {
  it('gets each failed store call once, with the error (message and cause intact) and the operation', async () => {
    const { manager, reports, fail } = setup();
    const token = await loggedIn(manager);
    assert.equal(reports.length, 0);
    const error = outage();
    fail(() => error);
    const thrown = await manager.load({ cookie: `tessera=${token}`, secure: false }).catch((e: unknown) => e);
    assert.equal(thrown, error, 'the request still gets the error itself');
    assert.equal(reports.length, 1);
    assert.equal(reports[0]?.operation, 'load');
    assert.equal(reports[0]?.error, error);
    assert.equal((reports[0]!.error as Error).message, DRIVER_ERROR);
    assert.match(String((reports[0]!.error as Error).cause), /ECONNRESET/);
  });

  it('a write that fails is reported as its operation', async () => {
    const { manager, reports, fail } = setup();
    const token = await loggedIn(manager);
    const session = await manager.load({ cookie: `tessera=${token}`, secure: false });
    fail(outage);
    await assert.rejects(session.set('cart', ['pear']), StoreUnavailableError);
    assert.deepEqual(
      reports.map((r) => r.operation),
      ['apply'],
    );
  });

  it('failures no request sees are reported too: the background sweep', async () => {
    const { manager, reports, fail } = setup();
    fail(outage);
    await assert.rejects(manager.sweep(), StoreUnavailableError);
    assert.deepEqual(
      reports.map((r) => r.operation),
      ['deleteExpired'],
    );
  });

  it('an unexpected error from a store (a bug, an unmapped driver error) is reported; an answer such as a refused cursor is not', async () => {
    const { manager, reports, fail } = setup();
    await loggedIn(manager);
    fail(() => new TypeError('cannot read properties of undefined'));
    await assert.rejects(manager.count(), TypeError);
    fail(() => new BadRequestError('not a listing cursor'));
    await assert.rejects(manager.list('alice', { cursor: 'junk' }), BadRequestError);
    assert.deepEqual(
      reports.map((r) => [r.operation, (r.error as Error).name]),
      [['count', 'TypeError']],
    );
  });

  it('a hook that throws changes nothing for the request; its error goes to onListenerError', async () => {
    const listenerErrors: unknown[] = [];
    const { manager, fail } = setup({
      onStoreError: () => {
        throw new Error('hook bug');
      },
      onListenerError: (e) => listenerErrors.push(e),
    });
    const token = await loggedIn(manager);
    fail(outage);
    await assert.rejects(manager.load({ cookie: `tessera=${token}`, secure: false }), StoreUnavailableError);
    assert.equal(listenerErrors.length, 1);
    assert.match(String(listenerErrors[0]), /hook bug/);
  });

  it('by default a failure goes to console.error; while an outage lasts, at most one line every ten seconds', async (t) => {
    const logged: unknown[][] = [];
    t.mock.method(console, 'error', (...args: unknown[]) => logged.push(args));
    const clock = new ManualClock();
    const manager = new SessionManager({ store: faultyStore(new MemoryStore(), () => true), clock, cleanupInterval: false });
    managers.push(manager);
    await assert.rejects(manager.count(), StoreUnavailableError);
    assert.equal(logged.length, 1);
    assert.match(String(logged[0]?.[0]), /^tessera: session store call count failed$/);
    assert.ok(logged[0]?.[1] instanceof StoreUnavailableError);
    for (let i = 0; i < 50; i++)
      await assert.rejects(manager.load({ cookie: `tessera=${'A'.repeat(28)}.${'B'.repeat(43)}`, secure: false }));
    clock.advance(9_999);
    await assert.rejects(manager.count());
    assert.equal(logged.length, 1, 'the same outage, within ten seconds');
    clock.advance(1);
    await assert.rejects(manager.get('x'));
    assert.equal(logged.length, 2);
    assert.equal(String(logged[1]?.[0]), 'tessera: session store call load failed (51 more store call(s) failed since the last report)');
  });
});

describe('what a client is told about a store outage', () => {
  it('only that the session store is unavailable: the message and cause stay with the app', () => {
    const error = outage();
    const response = errorResponse(error);
    assert.equal(response.status, 503);
    assert.equal(response.headers['retry-after'], '1');
    assert.deepEqual(response.body, { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
    assert.equal(error.message, DRIVER_ERROR);
  });
});
