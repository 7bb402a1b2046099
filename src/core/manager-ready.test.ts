import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { faultyStore } from '../testing/index.js';
import { StoreUnavailableError } from './errors.js';
import { SessionManager } from './manager.js';
import type { SessionStore } from './store.js';

describe('SessionManager.ready()', () => {
  it("resolves when the store's ready() does", async () => {
    const manager = new SessionManager({ store: new MemoryStore(), cleanupInterval: false });
    await manager.ready();
    manager.close();
  });

  it("rejects with the store's own error, cause and all", async () => {
    const store = faultyStore(new MemoryStore(), () => true);
    const manager = new SessionManager({ store, cleanupInterval: false });
    await assert.rejects(manager.ready(), (error: unknown) => error instanceof StoreUnavailableError && error.message === 'store down');
    manager.close();
  });

  it('resolves for a store written before ready() existed', async () => {
    const memory = new MemoryStore();
    // A third-party store: every method of the contract but ready().
    const legacy: SessionStore = {
      capabilities: {},
      create: (record, options) => memory.create(record, options),
      load: (id, options) => memory.load(id, options),
      apply: (id, changes, options) => memory.apply(id, changes, options),
      delete: (id) => memory.delete(id),
      trimSubject: (subject, options) => memory.trimSubject(subject, options),
      isSuperseded: (id, options) => memory.isSuperseded(id, options),
      deleteExpired: (now, limit) => memory.deleteExpired(now, limit),
      close: () => memory.close(),
    };
    const manager = new SessionManager({ store: legacy, cleanupInterval: false });
    await manager.ready();
    manager.close();
  });
});
