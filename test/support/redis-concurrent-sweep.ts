// Several instances (each a RedisStore and a SessionManager) sweeping the same expired sessions at
// the same moment, on one Redis node or a cluster: every expired session reported exactly once
// across them all, with its subject, and no live one touched.
import assert from 'node:assert/strict';
import { ManualClock, SessionManager, type RemovedSession, type SessionStore } from '../../src/core/index.js';
import { hasSubjectPartitions } from '../../src/core/store.js';
import { makeRecord } from '../../src/testing/index.js';

export interface ConcurrentSweepOptions {
  /** Instances on the same Redis (same prefix), one per sweeping process. */
  stores: SessionStore[];
  expired?: number;
  live?: number;
  /** Small, so that each sweep takes many batches and the instances' batches interleave. */
  batchSize?: number;
}

export async function sweepTogether(options: ConcurrentSweepOptions): Promise<void> {
  const { stores, expired = 3000, live = 200, batchSize = 25 } = options;
  const first = stores[0] as SessionStore;
  const clock = new ManualClock();
  const now = clock.now();
  const subjectOf = (i: number) => (i % 3 === 0 ? null : `user-${i % 97}`);
  const partitions = new Map<string, string>();
  const expectedSubject = new Map<string, string | null>();
  const liveIds: Array<{ id: string; secretHash: string }> = [];
  const create = async (i: number, idleTimeout: number) => {
    const subject = subjectOf(i);
    let partition: string | null = null;
    if (subject !== null && hasSubjectPartitions(first)) {
      partition = partitions.get(subject) ?? (await first.subjectPartition(subject));
      partitions.set(subject, partition);
    }
    const { record } = makeRecord(now, { subject, idleTimeout }, partition);
    const result = await first.create(record, { now });
    assert.equal(result.status, 'created');
    return record;
  };
  for (let i = 0; i < expired; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, expired - i) }, (_, k) => create(i + k, 60)));
    for (const record of batch) expectedSubject.set(record.id, record.subject);
  }
  for (let i = 0; i < live; i++) {
    const record = await create(i, 3600);
    liveIds.push({ id: record.id, secretHash: record.secretHash });
  }

  const managers = stores.map((store) => new SessionManager({ store, clock, cleanupInterval: false, cleanupBatchSize: batchSize }));
  const reported: RemovedSession[][] = managers.map(() => []);
  managers.forEach((m, i) => {
    m.on('expired', (event) => {
      (reported[i] as RemovedSession[]).push(event.session);
    });
  });
  try {
    clock.advance(61_000);
    const totals = await Promise.all(managers.map((m) => m.sweep()));
    const all = reported.flat();
    assert.equal(
      totals.reduce((a, b) => a + b, 0),
      expired,
      'the sweeps together removed every expired session',
    );
    assert.equal(all.length, expired);
    assert.equal(new Set(all.map((r) => r.id)).size, expired, 'none reported twice');
    for (const r of all) {
      assert.ok(expectedSubject.has(r.id), 'only expired sessions are reported');
      assert.equal(r.subject, expectedSubject.get(r.id), 'each with its subject');
    }
    // The sweeps overlapped: every instance took part.
    for (const [i, list] of reported.entries()) assert.ok(list.length > 0, `instance ${i} swept some`);
    console.log(
      `concurrent sweep: ${reported.map((list) => list.length).join(' + ')} = ${expired} expired sessions, batches of ${batchSize}`,
    );

    const loaded = await Promise.all(liveIds.map(({ id, secretHash }) => first.load(id, { now: clock.now(), secretHash })));
    assert.equal(loaded.filter((r) => r !== null).length, live, 'every live session is still there');
    assert.equal(await managers[0]!.count(), live);
    assert.deepEqual(await first.deleteExpired(clock.now(), 1000), []);
  } finally {
    for (const m of managers) m.close();
  }
}
