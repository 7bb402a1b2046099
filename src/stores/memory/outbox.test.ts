import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeRecord } from '../../testing/index.js';
import { MemoryStore } from './index.js';
import { MemoryOutbox } from './outbox.js';

const T = Date.UTC(2030, 0, 1);
const created = (n: number, at: number) => ({
  id: `session.created:s${n}`,
  type: 'session.created' as const,
  sessionId: `s${n}`,
  subject: null,
  reason: null,
  at,
});

describe('MemoryStore: the outbox', () => {
  it('a session freed on access before the sweep gets its notice when the sweep reports it, at its expiresAt', async () => {
    const store = new MemoryStore();
    const { record } = makeRecord(T, { subject: 'vera', idleTimeout: 10 });
    await store.create(record, { now: T });
    // A read after expiry frees it; only the sweep reports it, and records its notice if asked.
    const later = T + 60_000;
    assert.equal(await store.load(record.id, { now: later }), null);
    assert.equal(store.size, 0);
    assert.equal(await store.outbox.countNotices(), 0);
    assert.deepEqual(await store.deleteExpired(later, 10, { notice: true }), [{ id: record.id, subject: 'vera' }]);
    assert.deepEqual(await store.outbox.claimNotices({ now: later, limit: 10, leaseUntil: later + 1 }), [
      {
        id: `session.ended:${record.id}`,
        type: 'session.ended',
        sessionId: record.id,
        subject: 'vera',
        reason: 'expired',
        at: record.expiresAt,
        attempts: 1,
      },
    ]);
  });

  it('a notice recorded by a sweep is due at the sweep, not at its (earlier) expiry', async () => {
    const store = new MemoryStore();
    const { record } = makeRecord(T, { idleTimeout: 10 });
    await store.create(record, { now: T });
    await store.outbox.addNotices([created(1, T + 20_000)]);
    const later = T + 60_000;
    await store.deleteExpired(later, 10, { notice: true });
    // The added notice (due at its at) comes first although the ended one's at is earlier.
    const [first] = await store.outbox.claimNotices({ now: later, limit: 1, leaseUntil: later + 1 });
    assert.equal(first?.id, 'session.created:s1');
  });

  it('keeps its heaps within twice the notices it holds under claims, defers and removals in a loop, and loses no notice', async () => {
    const outbox = new MemoryOutbox();
    outbox.record([created(0, T), created(1, T + 1)]);
    for (let i = 0; i < 20_000; i++) {
      outbox.record([created(i + 2, T + 2)]);
      await outbox.deferNotice('session.created:s0', T + 10 + (i % 7));
      await outbox.claimNotices({ now: T + 1, limit: 1, leaseUntil: T + 1 });
      await outbox.removeNotices([`session.created:s${i + 2}`]);
    }
    assert.equal(await outbox.countNotices(), 2);
    assert.ok(outbox.heapSize <= 2 * (2 * 3 + 1024), `heaps of ${outbox.heapSize} entries for 2 notices`);
    const claimed = await outbox.claimNotices({ now: T + 100, limit: 10, leaseUntil: T + 200 });
    assert.deepEqual(claimed.map((n) => n.id).sort(), ['session.created:s0', 'session.created:s1']);
    assert.equal(await outbox.trimNotices(1), 1);
    assert.deepEqual(
      (await outbox.claimNotices({ now: T + 200, limit: 10, leaseUntil: T + 300 })).map((n) => n.id),
      ['session.created:s1'],
    );
  });

  it('a notice deferred away and back to the same time is claimed once', async () => {
    const outbox = new MemoryOutbox();
    outbox.record([created(0, T)]);
    await outbox.deferNotice('session.created:s0', T + 5);
    await outbox.deferNotice('session.created:s0', T);
    const claimed = await outbox.claimNotices({ now: T, limit: 10, leaseUntil: T });
    assert.equal(claimed.length, 1, 'even with a lease that ends at once');
    assert.equal(claimed[0]?.attempts, 1);
  });

  it('close forgets the notices', async () => {
    const store = new MemoryStore();
    await store.outbox.addNotices([created(0, T)]);
    await store.close();
    assert.equal(await store.outbox.countNotices(), 0);
  });
});
