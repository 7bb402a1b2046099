/**
 * A store that implements only the base contract (no `SessionIndex`), as a third-party store may:
 * the conformance suite runs its base tests on it and leaves the index tests out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, ManualClock, SessionManager, hasSessionIndex, type SessionStore } from '../core/index.js';
import { MemoryStore } from '../stores/memory/index.js';
import { runStoreConformance } from './index.js';

/** The memory store seen through the base contract only. */
function baseOnlyStore(): SessionStore {
  const memory = new MemoryStore();
  return {
    capabilities: Object.freeze({ index: false, nativeExpiry: false }),
    create: (record, options) => memory.create(record, options),
    load: (id, options) => memory.load(id, options),
    apply: (id, changes, options) => memory.apply(id, changes, options),
    delete: (id) => memory.delete(id),
    trimSubject: (subject, options) => memory.trimSubject(subject, options),
    isSuperseded: (id, options) => memory.isSuperseded(id, options),
    deleteExpired: (now, limit) => memory.deleteExpired(now, limit),
    close: () => memory.close(),
  };
}

runStoreConformance({ name: 'a store with the base contract only', createStore: baseOnlyStore });

describe('a store with the base contract only', () => {
  it('serves sessions through the manager, and refuses per-user calls with a clear error', async () => {
    const store = baseOnlyStore();
    assert.equal(hasSessionIndex(store), false);
    const manager = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.login('lou');
    const again = await manager.load({ cookie: `tessera=${session.issuedToken}`, secure: false });
    assert.equal(again.subject, 'lou');
    await assert.rejects(manager.list('lou'), InvalidOptionError);
    await assert.rejects(manager.count(), InvalidOptionError);
    await assert.rejects(again.listSessions(), InvalidOptionError);
    manager.close();
  });
});
