import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EndReason,
  hasSessionIndex,
  hasSessionOutbox,
  type RemovedSession,
  type SessionNotice,
  type OutboxHolder,
  type SessionRecord,
  type SessionStore,
} from '../../core/index.js';
import type { ConformanceContext } from './context.js';

type OutboxStore = SessionStore & OutboxHolder;

const LEASE = 60_000;

/** By id, so that lists compare whatever order a store returns them in. */
function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The `session.ended` notices a call should have recorded for what it removed, as their first claim returns them. */
function endedAsClaimed(removed: readonly RemovedSession[], reason: EndReason, at: (session: RemovedSession) => number): SessionNotice[] {
  return byId(
    removed.map((session) => ({
      id: `session.ended:${session.id}`,
      type: 'session.ended' as const,
      sessionId: session.id,
      subject: session.subject,
      reason,
      at: at(session),
      attempts: 1,
    })),
  );
}

/** A notice that ends no session, as `addNotices` takes it. */
function created(n: number, at: number, subject: string | null = 'ursula'): Omit<SessionNotice, 'attempts'> {
  return { id: `session.created:s${n}`, type: 'session.created', sessionId: `s${n}`, subject, reason: null, at };
}

/**
 * The `SessionOutbox` extension (`capabilities.outbox`): notices recorded by the ending calls in
 * the same step as the removal, and the queue's claim, lease, defer, remove, count and trim.
 * Skipped on stores that do not declare it (the caching store among them: its outbox is the store's).
 */
export function outboxCases(ctx: ConformanceContext): void {
  const { rec } = ctx;
  const outboxIt = (name: string, fn: (store: OutboxStore) => Promise<void>, needs: { index?: boolean } = {}) =>
    it(name, async (t) => {
      const { store } = ctx;
      if (!hasSessionOutbox(store)) {
        t.skip('the store does not declare capabilities.outbox');
        return;
      }
      if (needs.index === true && !hasSessionIndex(store)) {
        t.skip('the store does not declare capabilities.index');
        return;
      }
      await fn(store);
    });
  const stored = async (now: number, overrides: Partial<SessionRecord> = {}): Promise<SessionRecord> => {
    const { record } = await rec(now, overrides);
    assert.equal((await ctx.store.create(record, { now })).status, 'created');
    return record;
  };
  /** Every notice due at `now`, claimed (each with one attempt more than it had). */
  const claimAll = async (store: OutboxStore, now: number) =>
    byId(await store.outbox.claimNotices({ now, limit: 1000, leaseUntil: now + LEASE }));

  describe('the session-notice outbox', () => {
    outboxIt('delete with a notice records the session.ended notice; without one, or removing nothing, records none', async (store) => {
      const now = ctx.clock.now();
      const olga = await stored(now, { subject: 'olga' });
      const anonymous = await stored(now);
      const quiet = await stored(now, { subject: 'olga' });
      const { record: never } = await rec(now);
      const at = now + 1000;
      assert.deepEqual(await store.delete(olga.id, { notice: { reason: 'logout', at } }), { id: olga.id, subject: 'olga' });
      assert.equal(await store.outbox.countNotices(), 1, 'recorded with the removal, before the call returns');
      await store.delete(anonymous.id, { notice: { reason: 'admin', at } });
      assert.deepEqual(await store.delete(quiet.id), { id: quiet.id, subject: 'olga' });
      assert.equal(await store.delete(olga.id, { notice: { reason: 'logout', at } }), null);
      assert.equal(await store.delete(never.id, { notice: { reason: 'logout', at } }), null);
      assert.equal(await store.outbox.countNotices(), 2, 'no notice without the option, nor for a removal that removed nothing');
      assert.deepEqual(
        await claimAll(store, at),
        byId([
          ...endedAsClaimed([{ id: olga.id, subject: 'olga' }], 'logout', () => at),
          ...endedAsClaimed([{ id: anonymous.id, subject: null }], 'admin', () => at),
        ]),
      );
    });

    outboxIt(
      'trimSubject with a notice records one per session it evicts, and none when it evicts nothing or is not asked',
      async (store) => {
        const now = ctx.clock.now();
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push((await stored(now + i, { subject: 'pavel' })).id);
        await stored(now, { subject: 'pia' });
        const at = now + 5000;
        const keep = ids[3] as string;
        const evicted = await store.trimSubject('pavel', { now: at, max: 1, keep, batch: 10, notice: { reason: 'evicted', at } });
        assert.equal(evicted.length, 3);
        assert.equal(await store.outbox.countNotices(), 3);
        assert.deepEqual(await store.trimSubject('pavel', { now: at, max: 1, keep, batch: 10, notice: { reason: 'evicted', at } }), []);
        for (let i = 0; i < 2; i++) await stored(at + i, { subject: 'pavel' });
        assert.equal((await store.trimSubject('pavel', { now: at + 10, max: 1, keep, batch: 10 })).length, 2);
        assert.equal(await store.outbox.countNotices(), 3);
        assert.deepEqual(
          await claimAll(store, at + 10),
          endedAsClaimed(evicted, 'evicted', () => at),
        );
        assert.deepEqual(
          evicted.map((r) => r.subject),
          ['pavel', 'pavel', 'pavel'],
        );
      },
    );

    outboxIt(
      'deleteBySubject with a notice records one per session it removes (SessionIndex)',
      async (store) => {
        if (!hasSessionIndex(store)) throw new TypeError('checked above');
        const now = ctx.clock.now();
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) ids.push((await stored(now + i, { subject: 'quentin' })).id);
        for (let i = 0; i < 2; i++) await stored(now + i, { subject: 'rita' });
        const at = now + 100;
        const except = ids[0] as string;
        const removed = await store.deleteBySubject('quentin', { now: at, except, limit: 10, notice: { reason: 'user', at } });
        assert.deepEqual(byId(removed), byId(ids.slice(1).map((id) => ({ id, subject: 'quentin' }))));
        assert.deepEqual(await store.deleteBySubject('quentin', { now: at, except, limit: 10, notice: { reason: 'user', at } }), []);
        assert.equal((await store.deleteBySubject('rita', { now: at, limit: 10 })).length, 2);
        assert.equal(await store.outbox.countNotices(), 3);
        assert.deepEqual(
          await claimAll(store, at),
          endedAsClaimed(removed, 'user', () => at),
        );
      },
      { index: true },
    );

    outboxIt(
      'deleteExpired with notice: true records each removed session as expired, with its subject, at its expiresAt',
      async (store) => {
        const now = ctx.clock.now();
        const expiring = new Map<string, SessionRecord>();
        for (const [i, subject] of ['sven', null, 'sven', 'tove'].entries()) {
          const record = await stored(now + i * 1000, { subject, idleTimeout: 10 });
          expiring.set(record.id, record);
        }
        const live = await stored(now, { subject: 'sven', idleTimeout: 3600 });
        const later = now + 60_000;
        const removed: RemovedSession[] = [];
        for (let i = 0; i < 5; i++) {
          const batch = await store.deleteExpired(later, 3, { notice: true });
          removed.push(...batch);
          if (batch.length < 3) break;
        }
        if (store.capabilities.nativeExpiry) {
          // The backend drops expired keys by its own clock: the sweep reports (and notes) only what it removed.
          for (const r of removed) assert.ok(expiring.has(r.id));
        } else {
          assert.deepEqual(
            byId(removed).map((r) => r.id),
            [...expiring.keys()].sort(),
          );
        }
        for (const r of removed) assert.equal(r.subject, expiring.get(r.id)?.subject);
        assert.equal(await store.outbox.countNotices(), removed.length);
        const expected = endedAsClaimed(removed, 'expired', (r) => expiring.get(r.id)?.expiresAt as number);
        assert.deepEqual(await claimAll(store, later), expected);
        assert.ok(await store.load(live.id, { now: later }));
        // Without the option, a sweep records nothing.
        const quiet = await stored(later, { subject: 'sven', idleTimeout: 10 });
        const afterwards = later + 60_000;
        const swept = await store.deleteExpired(afterwards, 10);
        if (!store.capabilities.nativeExpiry) assert.deepEqual(swept, [{ id: quiet.id, subject: 'sven' }]);
        assert.equal(await store.outbox.countNotices(), removed.length);
        assert.deepEqual(await store.deleteExpired(afterwards, 10, { notice: true }), []);
        assert.equal(await store.outbox.countNotices(), removed.length, 'a sweep that removes nothing records nothing');
      },
    );

    outboxIt('addNotices ignores a notice whose id is held', async (store) => {
      const now = ctx.clock.now();
      await store.outbox.addNotices([created(1, now), created(2, now + 1, null)]);
      await store.outbox.addNotices([{ ...created(1, now + 500), subject: 'someone else' }, created(3, now + 2)]);
      await store.outbox.addNotices([]);
      assert.equal(await store.outbox.countNotices(), 3);
      assert.deepEqual(
        await claimAll(store, now + 1000),
        [created(1, now), created(2, now + 1, null), created(3, now + 2)].map((n) => ({ ...n, attempts: 1 })),
      );
    });

    outboxIt(
      'claims the earliest due first, up to the limit, each with one more attempt, hidden until its lease ends or it is deferred',
      async (store) => {
        const t = ctx.clock.now();
        const n = [0, 1, 2, 3].map((i) => created(i, t));
        await store.outbox.addNotices(n);
        const id = (i: number) => n[i]?.id as string;
        const first = await store.outbox.claimNotices({ now: t, limit: 10, leaseUntil: t + 100 });
        assert.deepEqual(
          byId(first),
          n.map((x) => ({ ...x, attempts: 1 })),
        );
        assert.deepEqual(await store.outbox.claimNotices({ now: t + 99, limit: 10, leaseUntil: t + 500 }), [], 'hidden while leased');
        assert.equal(await store.outbox.countNotices(), 4, 'claimed notices are counted');
        await store.outbox.deferNotice(id(0), t + 300);
        await store.outbox.deferNotice(id(1), t + 150);
        await store.outbox.deferNotice(id(2), t + 250);
        await store.outbox.deferNotice('session.created:unknown', t);
        assert.equal(await store.outbox.countNotices(), 4, 'deferring an id not held adds nothing');
        // The lease of the one not deferred is over; the deferred ones are not due yet.
        const second = await store.outbox.claimNotices({ now: t + 120, limit: 10, leaseUntil: t + 1000 });
        assert.deepEqual(second, [{ ...n[3], attempts: 2 }]);
        const third = await store.outbox.claimNotices({ now: t + 400, limit: 2, leaseUntil: t + 1000 });
        assert.deepEqual(
          byId(third),
          [1, 2].map((i) => ({ ...n[i], attempts: 2 })),
          'the earliest due first, at most the limit',
        );
        assert.deepEqual(await store.outbox.claimNotices({ now: t + 400, limit: 10, leaseUntil: t + 1000 }), [{ ...n[0], attempts: 2 }]);
        assert.deepEqual(await store.outbox.claimNotices({ now: t + 999, limit: 10, leaseUntil: t + 2000 }), []);
        assert.deepEqual(
          await claimAll(store, t + 1000),
          n.map((x) => ({ ...x, attempts: 3 })),
          'every lease over: all due again',
        );
        assert.deepEqual(
          await store.outbox.claimNotices({ now: t + 1000, limit: 0, leaseUntil: t + 2000 }),
          [],
          'a limit of 0 claims nothing',
        );
      },
    );

    outboxIt('removeNotices removes what it is given, claimed or not, and ignores ids not held', async (store) => {
      const t = ctx.clock.now();
      const n = [0, 1, 2, 3].map((i) => created(i, t + i));
      await store.outbox.addNotices(n);
      await store.outbox.claimNotices({ now: t + 10, limit: 2, leaseUntil: t + 100 });
      await store.outbox.removeNotices([n[0]?.id as string, n[2]?.id as string, 'session.created:unknown']);
      await store.outbox.removeNotices([]);
      assert.equal(await store.outbox.countNotices(), 2);
      assert.deepEqual(
        (await claimAll(store, t + 100)).map((x) => x.id),
        [n[1]?.id, n[3]?.id],
      );
      await store.outbox.removeNotices([n[1]?.id as string, n[3]?.id as string]);
      assert.equal(await store.outbox.countNotices(), 0);
      assert.deepEqual(await claimAll(store, t + 10_000), []);
    });

    outboxIt('trimNotices keeps the max most recent by at, claimed ones included, and returns how many it removed', async (store) => {
      const t = ctx.clock.now();
      const n = [5, 1, 4, 2, 6, 3].map((k) => created(k, t + k * 10));
      await store.outbox.addNotices(n);
      await store.outbox.claimNotices({ now: t + 100, limit: 2, leaseUntil: t + 1000 });
      assert.equal(await store.outbox.trimNotices(10), 0);
      assert.equal(await store.outbox.trimNotices(3), 3);
      assert.equal(await store.outbox.countNotices(), 3);
      assert.deepEqual(
        (await claimAll(store, t + 1000)).map((x) => x.id),
        [4, 5, 6].map((k) => `session.created:s${k}`),
      );
      assert.equal(await store.outbox.trimNotices(3), 0);
      assert.equal(await store.outbox.trimNotices(0), 3);
      assert.equal(await store.outbox.countNotices(), 0);
    });

    outboxIt('concurrent claims, on one store object and on two, return disjoint notices', async (store) => {
      const t = ctx.clock.now();
      const n = Array.from({ length: 20 }, (_, i) => created(i, t + i));
      await store.outbox.addNotices(n);
      const all = n.map((x) => x.id).sort();
      const disjoint = (a: SessionNotice[], b: SessionNotice[], message: string) => {
        const ids = [...a, ...b].map((x) => x.id).sort();
        assert.equal(new Set(ids).size, ids.length, `${message}: a notice claimed twice`);
        assert.deepEqual(ids, all, `${message}: together they claim every due notice`);
      };
      const now = t + 100;
      const [a, b] = await Promise.all([0, 1].map(() => store.outbox.claimNotices({ now, limit: 15, leaseUntil: now + LEASE })));
      disjoint(a ?? [], b ?? [], 'one store object');
      const peer = await ctx.peer();
      if (peer === null || !hasSessionOutbox(peer)) return;
      const later = now + LEASE;
      const [c, d] = await Promise.all(
        [store, peer].map((s) => s.outbox.claimNotices({ now: later, limit: 15, leaseUntil: later + LEASE })),
      );
      disjoint(c ?? [], d ?? [], 'two store objects');
      for (const x of [...(c ?? []), ...(d ?? [])]) assert.equal(x.attempts, 2);
    });
  });
}
