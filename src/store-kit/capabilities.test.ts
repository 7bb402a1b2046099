import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, ManualClock, SessionManager } from '../core/index.js';
import { MemoryStore } from '../stores/memory/index.js';
import {
  CAPABILITY_DEFAULTS,
  defineCapabilities,
  hasSessionIndex,
  hasSubjectPartitions,
  type SessionIndex,
  type SessionStore,
  type StoreCapabilities,
} from './index.js';

const METHODS = [
  'create',
  'load',
  'apply',
  'delete',
  'trimSubject',
  'isSuperseded',
  'deleteExpired',
  'close',
  'listBySubject',
  'deleteBySubject',
  'query',
  'count',
] as const;

/** A store written elsewhere, against this contract, that declares `capabilities` as given. */
function thirdPartyStore(capabilities: StoreCapabilities): SessionStore & SessionIndex {
  const memory = new MemoryStore();
  const store: Record<string, unknown> = { capabilities };
  for (const name of METHODS) store[name] = memory[name].bind(memory);
  return store as unknown as SessionStore & SessionIndex;
}

describe('defineCapabilities', () => {
  const none = { index: false, nativeExpiry: false, subjectPartitions: false, invalidation: 'none', sharedCounters: false, outbox: false };
  it('gives every known capability, false (no invalidations) unless declared', () => {
    assert.deepEqual(defineCapabilities(), none);
    assert.deepEqual(defineCapabilities({ index: true }), { ...none, index: true });
    assert.deepEqual(defineCapabilities({ invalidation: 'everywhere', sharedCounters: true }), {
      ...none,
      invalidation: 'everywhere',
      sharedCounters: true,
    });
    assert.deepEqual(Object.keys(defineCapabilities()).sort(), Object.keys(CAPABILITY_DEFAULTS).sort());
    assert.ok(Object.isFrozen(defineCapabilities({ nativeExpiry: true })));
  });

  it('keeps only known names, each as true or false, and invalidation only as a value it knows', () => {
    const declared = { index: 1, later: true, invalidation: 'sometimes' } as unknown as StoreCapabilities;
    assert.deepEqual(defineCapabilities(declared), none);
  });
});

describe('a third-party store that declares some capabilities, or none', () => {
  it('declaring none: served by the manager as a base store', async () => {
    const store = thirdPartyStore({});
    assert.equal(hasSessionIndex(store), false);
    assert.equal(hasSubjectPartitions(store), false);
    const manager = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.login('ada');
    await session.set('theme', 'dark');
    await session.save();
    const again = await manager.load({ cookie: `tessera=${session.issuedToken}`, secure: false });
    assert.equal(again.subject, 'ada');
    assert.equal(again.get('theme'), 'dark');
    await assert.rejects(manager.list('ada'), InvalidOptionError);
    manager.close();
  });

  it('declaring only the index: per-user calls work, the rest default to off', async () => {
    const store = thirdPartyStore({ index: true });
    assert.equal(hasSessionIndex(store), true);
    assert.equal(hasSubjectPartitions(store), false);
    const manager = new SessionManager({ store, clock: new ManualClock(), cleanupInterval: false });
    const session = await manager.load({ secure: false });
    await session.login('bo');
    assert.equal((await manager.list('bo')).sessions.length, 1);
    assert.equal(await manager.count({ subject: 'bo' }), 1);
    manager.close();
  });
});
