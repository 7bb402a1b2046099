import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceInfo } from '../../core/index.js';
import { hashSecret } from '../../core/token.js';
import { makeRecord } from '../fixtures.js';
import { DEVICE, TOUCH, type ConformanceContext } from './context.js';

const HOUR = 3_600_000;

/**
 * The base contract every store meets: what a record keeps, when it is touched and expires, how
 * changes apply, and renewal of the secret in place.
 */
export function baseContract(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec } = ctx;
  describe('records', () => {
    it('stores and loads every field, with JSON data and odd keys', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const data = JSON.parse(
        '{"plain":"x","n":42,"nested":{"a":[1,"two",null,true]},"unicode":"zß水🙂","__proto__":{"polluted":1},"constructor":"c","prototype":"q"}',
      ) as Record<string, never>;
      const { record } = await rec(now, { subject: 'alice', displayName: 'Alice', data });
      assert.deepEqual(await store.create(record, { now }), { status: 'created', evicted: [] });
      const loaded = await store.load(record.id, { now, secretHash: record.secretHash });
      assert.ok(loaded);
      assert.deepEqual({ ...loaded, data: { ...loaded.data } }, { ...record, data: { ...record.data } });
      assert.equal(Object.getPrototypeOf({}), Object.prototype);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('shares no objects with its callers: changing a record given or returned changes nothing stored', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { data: { nested: { list: [1, 2] }, n: 1 } });
      await store.create(record, { now });
      const original = { nested: { list: [1, 2] }, n: 1 };
      (record.data.nested as { list: number[] }).list.push(3);
      record.createdDevice.ip = 'changed';
      const loaded = await store.load(record.id, { now });
      assert.deepEqual({ ...loaded?.data }, original);
      assert.ok(loaded);
      assert.notEqual(loaded.createdDevice.ip, 'changed');
      (loaded.data.nested as { list: number[] }).list.push(4);
      loaded.lastDevice.userAgent = 'changed';
      const applied = await store.apply(record.id, { increment: { n: 1 } }, { now });
      assert.equal(applied.status, 'applied');
      if (applied.status === 'applied') {
        assert.deepEqual({ ...applied.record.data }, { ...original, n: 2 });
        assert.notEqual(applied.record.lastDevice.userAgent, 'changed');
        (applied.record.data.nested as { list: number[] }).list.length = 0;
      }
      const again = await store.load(record.id, { now });
      assert.deepEqual({ ...again?.data }, { ...original, n: 2 });
      assert.deepEqual(again?.lastDevice, makeRecord(now).record.lastDevice);
    });

    it('loads nothing, and touches nothing, for a wrong secret', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now);
      await store.create(record, { now });
      assert.equal(
        await store.load(record.id, { now: now + HOUR / 2 - 1, secretHash: hashSecret('wrong'), touch: TOUCH, device: DEVICE }),
        null,
      );
      const loaded = await store.load(record.id, { now: now + 1000, secretHash: record.secretHash });
      assert.equal(loaded?.lastSeenAt, now);
    });

    it('never returns an expired session, idle or absolute, before any cleanup', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record: idle } = await rec(now, { idleTimeout: 60 });
      const { record: absolute } = await rec(now, { idleTimeout: 3600, absoluteExpiresAt: now + 30_000 });
      await store.create(idle, { now });
      await store.create(absolute, { now });
      // Time only moves forward: a store may free what it has seen expire.
      assert.ok(await store.load(absolute.id, { now: now + 29_999 }));
      assert.equal(await store.load(absolute.id, { now: now + 30_000, touch: TOUCH }), null);
      assert.ok(await store.load(idle.id, { now: now + 59_999 }));
      assert.equal(await store.load(idle.id, { now: now + 60_000 }), null);
      assert.deepEqual(await store.apply(idle.id, { set: { a: 1 } }, { now: now + 60_000 }), { status: 'gone' });
    });

    it('touches only when due, never past the absolute expiry, without bumping the version', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { idleTimeout: 100, absoluteExpiresAt: now + 150_000 });
      await store.create(record, { now });
      // A tenth of 100 s is 10 s: inside it nothing is written.
      const early = await store.load(record.id, { now: now + 9_999, secretHash: record.secretHash, touch: TOUCH, device: DEVICE });
      assert.equal(early?.lastSeenAt, now);
      assert.equal(early?.expiresAt, now + 100_000);
      const due = await store.load(record.id, { now: now + 10_000, secretHash: record.secretHash, touch: TOUCH, device: DEVICE });
      assert.equal(due?.lastSeenAt, now + 10_000);
      assert.equal(due?.expiresAt, now + 110_000);
      assert.deepEqual(due?.lastDevice, DEVICE);
      assert.equal(due?.version, record.version);
      const again = await store.load(record.id, { now: now + 10_001 });
      assert.equal(again?.lastSeenAt, now + 10_000);
      const late = await store.load(record.id, { now: now + 100_000, touch: TOUCH, device: DEVICE });
      assert.equal(late?.expiresAt, now + 150_000, 'the absolute expiry caps the sliding one');
    });

    it('records the device of each touch as the last device, and the created one again when it comes back', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { idleTimeout: 100 });
      await store.create(record, { now });
      const other = { ip: '198.51.100.9', userAgent: 'Other/2.0' };
      const steps: [number, DeviceInfo][] = [
        [10_000, DEVICE],
        [20_000, DEVICE],
        [30_000, other],
        [40_000, record.createdDevice],
        [50_000, record.createdDevice],
      ];
      for (const [at, device] of steps) {
        const touched = await store.load(record.id, { now: now + at, secretHash: record.secretHash, touch: TOUCH, device });
        assert.equal(touched?.lastSeenAt, now + at);
        assert.deepEqual(touched?.lastDevice, device, `touch at +${at} ms`);
        assert.deepEqual(touched?.createdDevice, record.createdDevice);
        const reread = await store.load(record.id, { now: now + at + 1 });
        assert.deepEqual(reread?.lastDevice, device, `read back after the touch at +${at} ms`);
      }
    });

    it('keeps devices of every shape exactly: nulls, empty strings, line feeds, IPs that look like JSON', async () => {
      const { store, clock } = ctx;
      const devices: DeviceInfo[] = [
        { ip: null, userAgent: null },
        { ip: '', userAgent: '' },
        { ip: '203.0.113.7', userAgent: null },
        { ip: null, userAgent: 'UA' },
        { ip: '203.0.113.7', userAgent: 'two\nlines\n' },
        { ip: '[2001:db8::1]:443', userAgent: 'UA' },
        { ip: '{"ip":"x"}', userAgent: '["a","b"]' },
        { ip: 'a\nb', userAgent: 'UA' },
        { ip: '::1', userAgent: '' },
      ];
      let now = clock.now();
      for (const created of devices) {
        const { record } = await rec(now, { idleTimeout: 100, createdDevice: created, lastDevice: created });
        await store.create(record, { now });
        for (const last of devices) {
          now += 10_000;
          const touched = await store.load(record.id, { now, secretHash: record.secretHash, touch: TOUCH, device: last });
          assert.deepEqual([touched?.createdDevice, touched?.lastDevice], [created, last]);
          const reread = await store.load(record.id, { now: now + 1 });
          assert.deepEqual([reread?.createdDevice, reread?.lastDevice], [created, last]);
        }
        const applied = await store.apply(record.id, { lastDevice: created, set: { a: 1 } }, { now });
        assert.equal(applied.status, 'applied');
        if (applied.status === 'applied') assert.deepEqual([applied.record.createdDevice, applied.record.lastDevice], [created, created]);
        const reread = await store.load(record.id, { now: now + 1 });
        assert.deepEqual([reread?.createdDevice, reread?.lastDevice], [created, created]);
      }
    });

    it('applies sets, deletes and increments as one change and bumps the version', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { data: { keep: 'k', drop: 'd', count: 5, text: 'x' } });
      await store.create(record, { now });
      const result = await store.apply(
        record.id,
        {
          set: JSON.parse('{"added":{"deep":[1]},"__proto__":"plain"}') as Record<string, never>,
          delete: ['drop'],
          increment: { count: 3, fresh: 2, text: 1 },
        },
        { now },
      );
      assert.equal(result.status, 'applied');
      assert.ok(result.status === 'applied');
      assert.deepEqual({ ...result.record.data }, { keep: 'k', count: 8, fresh: 2, text: 1, added: { deep: [1] }, ['__proto__']: 'plain' });
      assert.equal(result.record.version, record.version + 1);
      const loaded = await store.load(record.id, { now });
      assert.deepEqual({ ...loaded?.data }, { ...result.record.data });
      assert.equal(({} as Record<string, unknown>).deep, undefined);
    });

    it('recomputes the expiry on a new idle timeout; lastSeenAt never moves back', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { idleTimeout: 600 });
      await store.create(record, { now });
      const r1 = await store.apply(record.id, { idleTimeout: 60, lastSeenAt: now + 5000, lastDevice: DEVICE }, { now: now + 5000 });
      assert.ok(r1.status === 'applied');
      assert.equal(r1.record.idleTimeout, 60);
      assert.equal(r1.record.expiresAt, now + 65_000);
      assert.deepEqual(r1.record.lastDevice, DEVICE);
      const r2 = await store.apply(record.id, { lastSeenAt: now }, { now: now + 6000 });
      assert.ok(r2.status === 'applied');
      assert.equal(r2.record.lastSeenAt, now + 5000);
      assert.equal(await store.load(record.id, { now: now + 65_000 }), null);
    });

    it('never recreates a deleted session', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now);
      await store.create(record, { now });
      assert.deepEqual(await store.delete(record.id), { id: record.id, subject: null });
      assert.equal(await store.delete(record.id), null);
      assert.deepEqual(await store.apply(record.id, { set: { a: 1 }, increment: { n: 1 } }, { now }), { status: 'gone' });
      assert.equal(await store.load(record.id, { now }), null);
    });

    it('apply with a base record answers what is stored, whether or not another write came in between', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { data: { n: 1, note: 'a' } });
      await store.create(record, { now });
      const base = await store.load(record.id, { now });
      assert.ok(base);
      const plain = { ...base, data: { ...base.data } };
      const first = await store.apply(record.id, { increment: { n: 2 } }, { now, base });
      assert.ok(first.status === 'applied');
      assert.deepEqual(
        { ...first.record, data: { ...first.record.data } },
        { ...plain, data: { n: 3, note: 'a' }, version: base.version + 1 },
      );
      // Another writer changes the session; the next change still starts from the old result.
      await store.apply(record.id, { set: { note: 'b' } }, { now });
      const second = await store.apply(record.id, { increment: { n: 1 } }, { now, base: first.record });
      assert.ok(second.status === 'applied');
      assert.deepEqual({ ...second.record.data }, { n: 4, note: 'b' }, 'the other write shows in the result');
      assert.equal(second.record.version, base.version + 3);
      await store.apply(record.id, { delete: ['note'] }, { now });
      const third = await store.apply(record.id, { set: { x: 1 } }, { now, base: second.record });
      assert.ok(third.status === 'applied');
      const stored = await store.load(record.id, { now });
      assert.ok(stored);
      assert.deepEqual({ ...third.record, data: { ...third.record.data } }, { ...stored, data: { ...stored.data } });
      assert.deepEqual({ ...stored.data }, { n: 4, x: 1 });
    });

    it('compare-and-set applies at the expected version and reports the current record otherwise', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { data: { v: 'a' } });
      await store.create(record, { now });
      const first = await store.apply(record.id, { set: { v: 'b' } }, { now, expectedVersion: record.version });
      assert.equal(first.status, 'applied');
      const stale = await store.apply(record.id, { set: { v: 'c' } }, { now, expectedVersion: record.version });
      assert.equal(stale.status, 'conflict');
      assert.ok(stale.status === 'conflict');
      assert.equal(stale.record.version, record.version + 1);
      assert.equal(stale.record.data.v, 'b');
    });
  });

  describe('renewal', () => {
    it('replaces the secret in place and accepts the old one only during its grace period', async () => {
      const { store, clock } = ctx;
      const now = clock.now();
      const { record } = await rec(now, { data: { n: 1 } });
      await store.create(record, { now });
      const { record: fresh } = await rec(now);
      const renewed = await store.apply(
        record.id,
        {
          renewSecret: {
            secretHash: fresh.secretHash,
            renewedAt: now + 1000,
            previousSecretHash: record.secretHash,
            previousSecretExpiresAt: now + 31_000,
          },
        },
        { now: now + 1000, expectedVersion: record.version },
      );
      assert.ok(renewed.status === 'applied');
      assert.equal(renewed.record.secretHash, fresh.secretHash);
      assert.equal(renewed.record.renewedAt, now + 1000);
      assert.equal(renewed.record.previousSecretHash, record.secretHash);
      assert.equal(renewed.record.id, record.id);
      assert.equal(renewed.record.data.n, 1);
      assert.ok(await store.load(record.id, { now: now + 30_999, secretHash: record.secretHash }));
      assert.ok(await store.load(record.id, { now: now + 30_999, secretHash: fresh.secretHash }));
      assert.equal(await store.load(record.id, { now: now + 31_000, secretHash: record.secretHash, touch: TOUCH, device: DEVICE }), null);
      const touchedByNew = await store.load(record.id, { now: now + 61_000, secretHash: fresh.secretHash, touch: TOUCH, device: DEVICE });
      assert.equal(touchedByNew?.lastSeenAt, now + 61_000);
      const again = await store.apply(
        record.id,
        { renewSecret: { secretHash: record.secretHash, renewedAt: now, previousSecretHash: '', previousSecretExpiresAt: 0 } },
        { now, expectedVersion: record.version },
      );
      assert.equal(again.status, 'conflict', 'a second renewal from the same read loses');
    });

    it('renews the token on the first request after the interval; the old token works only for the grace period', async () => {
      const { clock } = ctx;
      const m = manager({ renewalInterval: 60, renewalGracePeriod: 30, idleTimeout: 600 });
      const first = await loggedIn(m, 'vic');
      clock.advance(59_000);
      const early = await request(m, first);
      assert.equal(early.session.issuedToken, null);
      clock.advance(2_000);
      const burst = await Promise.all(Array.from({ length: 10 }, () => request(m, first)));
      const renewals = burst.filter((r) => r.session.issuedToken !== null);
      assert.equal(renewals.length, 1, 'exactly one of the concurrent requests renews');
      for (const r of burst) assert.equal(r.session.subject, 'vic');
      const second = renewals[0]?.session.issuedToken as string;
      assert.equal(second.split('.')[0], first.split('.')[0], 'the session keeps its id');
      assert.match(renewals[0]?.cookies[0] as string, new RegExp(`=${second.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};`));
      clock.advance(29_000);
      const inFlight = await request(m, first);
      assert.equal(inFlight.session.subject, 'vic');
      await inFlight.session.increment('n');
      clock.advance(1_000);
      assert.equal((await request(m, first)).session.isStored, false, 'after the grace period the old token is dead');
      const later = await request(m, second);
      assert.equal(later.session.get('n'), 1);
      assert.equal(later.session.issuedToken, null);
    });
  });
}
