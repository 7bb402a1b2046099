import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasSessionIndex } from '../../core/index.js';
import type { SessionPage } from '../../core/store.js';
import type { ConformanceContext } from './context.js';

/**
 * Cleanup, which every store does, and the `SessionIndex` extension (per-user listing, counting,
 * paging, queries), whose tests skip on stores that do not declare it.
 */
export function sessionIndex(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec, indexIt } = ctx;
  describe('cleanup and the index', () => {
    it('deletes expired sessions in bounded batches and keeps live ones', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const expired: string[] = [];
      for (let i = 0; i < 7; i++) {
        const { record: r } = await rec(now, { idleTimeout: 10, subject: i % 2 ? 'frank' : null });
        await store.create(r, { now });
        expired.push(r.id);
      }
      const { record: live } = await rec(now, { idleTimeout: 3600, subject: 'frank' });
      await store.create(live, { now });
      const later = now + 20_000;
      const first = await store.deleteExpired(later, 5);
      assert.ok(first.length <= 5);
      const removed = [...first];
      for (let i = 0; i < 5 && removed.length < 7; i++) removed.push(...(await store.deleteExpired(later, 5)));
      if (store.capabilities.nativeExpiry) {
        // The backend drops expired keys by its own clock; whatever the sweep reports must be expired ones.
        for (const r of removed) assert.ok(expired.includes(r.id));
      } else {
        assert.deepEqual(removed.map((r) => r.id).sort(), [...expired].sort());
        assert.deepEqual(await store.deleteExpired(later, 5), []);
      }
      for (const id of expired) assert.equal(await store.load(id, { now: later }), null);
      assert.ok(await store.load(live.id, { now: later }));
      if (hasSessionIndex(store)) assert.equal(await store.count({ now: later }), 1);
    });

    indexIt('lists, counts and revokes by subject, only live sessions, oldest first', async (idx) => {
      const { store, clock } = ctx;
      const now = clock.now();
      const grace: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { record: r } = await rec(now + i, { subject: 'grace', idleTimeout: i === 3 ? 5 : 3600 });
        await store.create(r, { now: now + i });
        grace.push(r.id);
      }
      const { record: other } = await rec(now, { subject: 'heidi' });
      await store.create(other, { now });
      const { record: anonymous } = await rec(now);
      await store.create(anonymous, { now });
      const later = now + 10_000;
      const listed = await idx.listBySubject('grace', { now: later, limit: 10 });
      assert.deepEqual(
        listed.sessions.map((r) => r.id),
        grace.slice(0, 3),
      );
      assert.equal(listed.nextCursor, null);
      assert.equal(await idx.count({ now: later, subject: 'grace' }), 3);
      assert.equal(await idx.count({ now: later }), 5);
      assert.deepEqual(await idx.listBySubject('nobody', { now: later, limit: 10 }), { sessions: [], nextCursor: null });
      const removed = await idx.deleteBySubject('grace', { now: later, except: grace[1] as string, limit: 10 });
      assert.deepEqual(removed.map((r) => r.id).sort(), [grace[0], grace[2]].sort());
      assert.deepEqual(
        (await idx.listBySubject('grace', { now: later, limit: 10 })).sessions.map((r) => r.id),
        [grace[1]],
      );
      assert.equal((await idx.deleteBySubject('grace', { now: later, limit: 10 })).length, 1);
      assert.equal(await idx.count({ now: later, subject: 'grace' }), 0);
      assert.ok(await store.load(other.id, { now: later }));
    });

    indexIt('revokeEverything ends every live session of every user, a page at a time, with an event each', async (idx) => {
      const { clock } = ctx;
      const m = manager();
      const tokens: string[] = [];
      for (let i = 0; i < 7; i++) tokens.push(await loggedIn(m, `user${i % 3}`));
      const { session: anonymous } = await request(m, null);
      await anonymous.set('a', 1);
      const revoked: string[] = [];
      m.on('revoked', (event) => {
        revoked.push(`${event.reason}:${event.session.id}`);
      });
      assert.equal(await m.revokeEverything({ pageSize: 3 }), 8);
      assert.equal(await idx.count({ now: clock.now() }), 0);
      for (const token of tokens) assert.equal((await request(m, token)).session.isStored, false);
      assert.deepEqual(revoked.sort(), [...tokens.map((t) => `admin:${t.slice(0, 28)}`), `admin:${anonymous.id}`].sort());
    });

    indexIt("pages through one subject's sessions, oldest first: no page larger than its limit, none missed or repeated", async (idx) => {
      const { store, clock } = ctx;
      const now = clock.now();
      const ids: string[] = [];
      // Several sessions share a createdAt (a rotation keeps it), so the cursor must order ties by id.
      for (let i = 0; i < 23; i++) {
        const { record: r } = await rec(now + Math.floor(i / 3), { subject: 'pat' });
        await store.create(r, { now: now + Math.floor(i / 3) });
        ids.push(r.id);
      }
      const { record: expired } = await rec(now, { subject: 'pat', idleTimeout: 1 });
      await store.create(expired, { now });
      const later = now + 5000;
      const expected = ids
        .map((id, i) => ({ id, createdAt: now + Math.floor(i / 3) }))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
        .map((r) => r.id);
      for (const limit of [1, 4, 23, 50]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 40; page++) {
          const result: SessionPage = await idx.listBySubject('pat', { now: later, cursor, limit });
          assert.ok(result.sessions.length <= limit, `a page of ${result.sessions.length} for a limit of ${limit}`);
          seen.push(...result.sessions.map((r) => r.id));
          cursor = result.nextCursor;
          if (cursor === null) break;
        }
        assert.deepEqual(seen, expected, `pages of ${limit}`);
      }
      // Deleting by subject goes a page at a time too.
      const first = await idx.deleteBySubject('pat', { now: later, limit: 10 });
      assert.equal(first.length, 10);
      assert.equal((await idx.deleteBySubject('pat', { now: later, limit: 10 })).length, 10);
      assert.equal((await idx.deleteBySubject('pat', { now: later, limit: 10 })).length, 3);
      assert.equal(await idx.count({ now: later, subject: 'pat' }), 0);
    });

    indexIt('queries by subject, display-name prefix and id, a page at a time', async (idx) => {
      const { store, clock } = ctx;
      const now = clock.now();
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const subject = i < 12 ? 'ivan' : `user${i}`;
        const { record: r } = await rec(now, { subject, displayName: i < 12 ? 'Ivan Petrov' : `Judy ${i}` });
        await store.create(r, { now });
        ids.push(r.id);
      }
      const { record: gone } = await rec(now, { subject: 'ivan', displayName: 'Ivan Petrov', idleTimeout: 1 });
      await store.create(gone, { now });
      const later = now + 5000;
      const collect = async (query: { subject?: string; displayNamePrefix?: string; id?: string }, limit: number) => {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 20; page++) {
          const result = await idx.query({ ...query, now: later, limit, cursor });
          assert.ok(result.sessions.length <= limit);
          seen.push(...result.sessions.map((r) => r.id));
          cursor = result.nextCursor;
          if (cursor === null) break;
        }
        return seen;
      };
      const all = await collect({}, 10);
      assert.deepEqual(all, [...ids].sort());
      assert.deepEqual(await collect({ subject: 'ivan' }, 5), ids.slice(0, 12).sort());
      assert.deepEqual(await collect({ displayNamePrefix: 'Judy' }, 4), ids.slice(12).sort());
      assert.deepEqual(await collect({ displayNamePrefix: 'Ivan P', subject: 'ivan' }, 100), ids.slice(0, 12).sort());
      assert.deepEqual(await collect({ id: ids[3] as string }, 10), [ids[3]]);
      assert.deepEqual(await collect({ id: gone.id }, 10), []);
      assert.deepEqual(await collect({ displayNamePrefix: '%' }, 10), []);
      // An empty prefix is no condition: a session without a display name matches it too.
      const { record: nameless } = await rec(now, { subject: 'nameless' });
      await store.create(nameless, { now });
      assert.deepEqual(await collect({ displayNamePrefix: '' }, 10), [...ids, nameless.id].sort());
    });
  });
}
