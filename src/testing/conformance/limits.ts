import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionLimitError, hasSessionIndex } from '../../core/index.js';
import type { ConformanceContext } from './context.js';

/** Atomic replacement, trimming a subject to its limit, and the limit held under concurrent logins. */
export function limits(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec } = ctx;
  describe('create, replace and limits', () => {
    it('replaces a session atomically, only at the version it was read', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record: old } = await rec(now);
      await store.create(old, { now });
      const { record: stale } = await rec(now, { subject: 'bob' });
      assert.deepEqual(
        await store.create(stale, { now, replaces: { id: old.id, version: old.version + 1, supersededUntil: now + 30_000 } }),
        { status: 'gone' },
      );
      assert.equal(await store.load(stale.id, { now }), null, 'a refused replacement creates nothing');
      const { record: next } = await rec(now, { subject: 'bob' });
      assert.equal(
        (await store.create(next, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } })).status,
        'created',
      );
      assert.equal(await store.load(old.id, { now }), null);
      assert.ok(await store.load(next.id, { now }));
      const { record: orphan } = await rec(now, { subject: 'bob' });
      assert.deepEqual(await store.create(orphan, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } }), {
        status: 'gone',
      });
      if (hasSessionIndex(store)) assert.equal(await store.count({ now }), 1, 'the replaced session leaves every index');
      const swept = await store.deleteExpired(next.absoluteExpiresAt + 1, 100);
      assert.ok(!swept.some((r) => r.id === old.id), 'a replaced session is never reported as expired');
    });

    it('trims a subject to its limit, oldest first, never the one kept, a batch at a time', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { record: r } = await rec(now + i, { subject: 'carol' });
        await store.create(r, { now: now + i });
        ids.push(r.id);
      }
      // An expired session, older than all of them, neither counts nor is reported.
      const { record: expired } = await rec(now - 1, { subject: 'carol', idleTimeout: 1 });
      await store.create(expired, { now });
      const { record: other } = await rec(now, { subject: 'carla' });
      await store.create(other, { now });
      const at = now + 5000;
      // The oldest is the one kept (a rotation keeps createdAt): the next oldest go instead.
      const first = await store.trimSubject('carol', { now: at, max: 2, keep: ids[0] as string, batch: 2 });
      assert.deepEqual(
        first,
        [ids[1], ids[2]].map((id) => ({ id, subject: 'carol' })),
        'oldest first, at most a batch',
      );
      const second = await store.trimSubject('carol', { now: at, max: 2, keep: ids[0] as string, batch: 2 });
      assert.deepEqual(second, [{ id: ids[3], subject: 'carol' }]);
      assert.deepEqual(
        await store.trimSubject('carol', { now: at, max: 2, keep: ids[0] as string, batch: 2 }),
        [],
        'at the limit: nothing more',
      );
      for (const id of ids.slice(1, 4)) assert.equal(await store.load(id, { now: at }), null);
      for (const id of [ids[0], ids[4], other.id]) assert.ok(await store.load(id as string, { now: at }));
      if (hasSessionIndex(store)) assert.equal(await store.count({ now: at, subject: 'carol' }), 2);
      assert.deepEqual(await store.trimSubject('nobody', { now: at, max: 1, keep: ids[0] as string, batch: 10 }), []);
    });

    it('rejects a login over the limit and changes nothing', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record: first } = await rec(now, { subject: 'dave' });
      await store.create(first, { now, limit: { max: 1 } });
      const { record: second } = await rec(now, { subject: 'dave' });
      assert.deepEqual(await store.create(second, { now, limit: { max: 1 } }), { status: 'limit' });
      assert.equal(await store.load(second.id, { now }), null);
      assert.ok(await store.load(first.id, { now }));
      if (hasSessionIndex(store)) assert.equal(await store.count({ now, subject: 'dave' }), 1);
      // An expired session does not count.
      const later = now + 2 * 86_400_000;
      const { record: third } = await rec(later, { subject: 'dave' });
      assert.equal((await store.create(third, { now: later, limit: { max: 1 } })).status, 'created');
      // The session a login replaces does not count.
      const current = await store.load(third.id, { now: later });
      const { record: again } = await rec(later, { subject: 'dave' });
      const replaced = await store.create(again, {
        now: later,
        limit: { max: 1 },
        replaces: { id: third.id, version: current!.version, supersededUntil: later + 30_000 },
      });
      assert.deepEqual(replaced, { status: 'created', evicted: [] });
    });

    for (const onLimit of ['evict-oldest', 'reject'] as const) {
      it(`holds a limit of 1 under 20 simultaneous logins (${onLimit})`, async () => {
        const { store } = ctx;
        const m = manager({ maxSessionsPerSubject: 1, onLimit });
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => loggedIn(m, 'erin')));
        const ok = results.filter((r) => r.status === 'fulfilled').length;
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof SessionLimitError);
        assert.ok(ok >= 1);
        if (onLimit === 'reject') assert.equal(ok, 1);
        const tokens = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const opened = await Promise.all(tokens.map(async (token) => (await request(m, token)).session.isStored));
        assert.equal(opened.filter(Boolean).length, 1, 'exactly one of the issued tokens still opens a session');
        if (hasSessionIndex(store)) {
          assert.equal(await m.count({ subject: 'erin' }), 1);
          assert.equal((await m.list('erin')).sessions.length, 1);
        }
      });
    }
  });
}
