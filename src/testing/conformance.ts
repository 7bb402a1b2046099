import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  ManualClock,
  SessionEndedError,
  hasSubjectPartitions,
  unkeyedPartition,
  partitionOfId,
  SessionLimitError,
  SessionManager,
  encryptionCodec,
  errorResponse,
  hasSessionIndex,
  hashSecret,
  type DeviceInfo,
  type SessionIndex,
  type SessionManagerOptions,
  type SessionPage,
  type SessionStore,
  type ValueCodec,
} from '../core/index.js';
import { countingStore, lostReplyStore, makeRecord, opaqueTestCodec } from './fixtures.js';

export interface ConformanceOptions {
  /** Shown in test names. */
  name: string;
  /** A fresh, empty store for each test; it is closed after the test. */
  createStore(): Promise<SessionStore> | SessionStore;
  /** Runs once before the suite, for example to start or check a server. */
  setup?(): Promise<void> | void;
  teardown?(): Promise<void> | void;
  /** When set, the suite is skipped and this reason printed (for example, a service is not running). */
  skip?: string | false;
  /** Concurrent requests in the no-lost-update cases. @default 200 */
  concurrency?: number;
}

const HOUR = 3_600_000;
const TEST_KEY = { id: 'test1', key: Buffer.alloc(32, 1) };
const CODECS: Array<[string, ValueCodec | undefined]> = [
  ['plain JSON', undefined],
  ['AES-256-GCM encryption', encryptionCodec([TEST_KEY])],
];
const DEVICE = { ip: '203.0.113.7', userAgent: 'Conformance/1.0' };
const TOUCH = { maxIntervalMs: 60_000, idleFraction: 0.1 };

/**
 * The contract every store must meet, as node:test suites. Run it from a store's own test file:
 *
 * @example
 * runStoreConformance({ name: 'sqlite', createStore: () => new SqliteStore({ path: tmpFile() }) });
 */
export function runStoreConformance(options: ConformanceOptions): void {
  const concurrency = options.concurrency ?? 200;
  describe(`store conformance: ${options.name}`, { skip: options.skip || false }, () => {
    let store: SessionStore;
    let clock: ManualClock;
    const managers: SessionManager[] = [];
    const manager = (extra: Partial<SessionManagerOptions> = {}) => {
      const m = new SessionManager({ store, clock, cleanupInterval: false, ...extra });
      managers.push(m);
      return m;
    };
    /** A request with the given token's cookie, returning the session and what it set. */
    const request = async (m: SessionManager, token: string | null) => {
      const cookies: string[] = [];
      const session = await m.load({
        cookie: token === null ? undefined : `${m.cookieName(false)}=${token}`,
        secure: false,
        ...DEVICE,
        setCookie: (value) => cookies.push(value),
      });
      return { session, cookies };
    };
    const loggedIn = async (m: SessionManager, subject: string) => {
      const { session } = await request(m, null);
      await session.login(subject);
      return session.issuedToken as string;
    };
    /** A record as the core makes one; a logged-in one starts with the store's partition for its subject. */
    const rec = async (now: number, overrides: Parameters<typeof makeRecord>[1] = {}) => {
      const subject = overrides.subject ?? null;
      const partition = subject !== null && hasSubjectPartitions(store) ? await store.subjectPartition(subject) : null;
      return makeRecord(now, overrides, partition);
    };
    /** A test of the `SessionIndex` extension: it runs only on stores that declare it. */
    const indexIt = (name: string, fn: (index: SessionStore & SessionIndex) => Promise<void>) =>
      it(name, async (t) => {
        if (!hasSessionIndex(store)) {
          t.skip('the store does not declare capabilities.index');
          return;
        }
        await fn(store);
      });

    if (options.setup) before(options.setup);
    if (options.teardown) after(options.teardown);
    beforeEach(async () => {
      clock = new ManualClock();
      store = await options.createStore();
    });
    afterEach(async () => {
      for (const m of managers.splice(0)) m.close();
      await store.close();
    });

    describe('records', () => {
      it('stores and loads every field, with JSON data and odd keys', async () => {
        const now = clock.now();
        const data = JSON.parse('{"plain":"x","n":42,"nested":{"a":[1,"two",null,true]},"unicode":"zß水🙂","__proto__":{"polluted":1},"constructor":"c","prototype":"q"}') as Record<string, never>;
        const { record } = await rec(now, { subject: 'alice', displayName: 'Alice', data });
        assert.deepEqual(await store.create(record, { now }), { status: 'created', evicted: [] });
        const loaded = await store.load(record.id, { now, secretHash: record.secretHash });
        assert.ok(loaded);
        assert.deepEqual({ ...loaded, data: { ...loaded.data } }, { ...record, data: { ...record.data } });
        assert.equal(Object.getPrototypeOf({}), Object.prototype);
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      });

      it('shares no objects with its callers: changing a record given or returned changes nothing stored', async () => {
        const now = clock.now();
        const { record } = await rec(now, { data: { nested: { list: [1, 2] }, n: 1 } });
        await store.create(record, { now });
        const original = { nested: { list: [1, 2] }, n: 1 };
        (record.data['nested'] as { list: number[] }).list.push(3);
        record.createdDevice.ip = 'changed';
        const loaded = await store.load(record.id, { now });
        assert.deepEqual({ ...loaded?.data }, original);
        assert.notEqual(loaded?.createdDevice.ip, 'changed');
        (loaded?.data['nested'] as { list: number[] }).list.push(4);
        if (loaded) loaded.lastDevice.userAgent = 'changed';
        const applied = await store.apply(record.id, { increment: { n: 1 } }, { now });
        assert.equal(applied.status, 'applied');
        if (applied.status === 'applied') {
          assert.deepEqual({ ...applied.record.data }, { ...original, n: 2 });
          assert.notEqual(applied.record.lastDevice.userAgent, 'changed');
          (applied.record.data['nested'] as { list: number[] }).list.length = 0;
        }
        const again = await store.load(record.id, { now });
        assert.deepEqual({ ...again?.data }, { ...original, n: 2 });
        assert.deepEqual(again?.lastDevice, makeRecord(now).record.lastDevice);
      });

      it('loads nothing, and touches nothing, for a wrong secret', async () => {
        const now = clock.now();
        const { record } = await rec(now);
        await store.create(record, { now });
        assert.equal(await store.load(record.id, { now: now + HOUR / 2 - 1, secretHash: hashSecret('wrong'), touch: TOUCH, device: DEVICE }), null);
        const loaded = await store.load(record.id, { now: now + 1000, secretHash: record.secretHash });
        assert.equal(loaded?.lastSeenAt, now);
      });

      it('never returns an expired session, idle or absolute, before any cleanup', async () => {
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
        const now = clock.now();
        const { record } = await rec(now, { data: { keep: 'k', drop: 'd', count: 5, text: 'x' } });
        await store.create(record, { now });
        const result = await store.apply(
          record.id,
          { set: JSON.parse('{"added":{"deep":[1]},"__proto__":"plain"}') as Record<string, never>, delete: ['drop'], increment: { count: 3, fresh: 2, text: 1 } },
          { now },
        );
        assert.equal(result.status, 'applied');
        assert.ok(result.status === 'applied');
        assert.deepEqual({ ...result.record.data }, { keep: 'k', count: 8, fresh: 2, text: 1, added: { deep: [1] }, ['__proto__']: 'plain' });
        assert.equal(result.record.version, record.version + 1);
        const loaded = await store.load(record.id, { now });
        assert.deepEqual({ ...loaded?.data }, { ...result.record.data });
        assert.equal(({} as Record<string, unknown>)['deep'], undefined);
      });

      it('recomputes the expiry on a new idle timeout; lastSeenAt never moves back', async () => {
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
        const now = clock.now();
        const { record } = await rec(now);
        await store.create(record, { now });
        assert.deepEqual(await store.delete(record.id), { id: record.id, subject: null });
        assert.equal(await store.delete(record.id), null);
        assert.deepEqual(await store.apply(record.id, { set: { a: 1 }, increment: { n: 1 } }, { now }), { status: 'gone' });
        assert.equal(await store.load(record.id, { now }), null);
      });

      it('apply with a base record answers what is stored, whether or not another write came in between', async () => {
        const now = clock.now();
        const { record } = await rec(now, { data: { n: 1, note: 'a' } });
        await store.create(record, { now });
        const base = await store.load(record.id, { now });
        assert.ok(base);
        const plain = { ...base, data: { ...base.data } };
        const first = await store.apply(record.id, { increment: { n: 2 } }, { now, base });
        assert.ok(first.status === 'applied');
        assert.deepEqual({ ...first.record, data: { ...first.record.data } }, { ...plain, data: { n: 3, note: 'a' }, version: base.version + 1 });
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
        const now = clock.now();
        const { record } = await rec(now, { data: { v: 'a' } });
        await store.create(record, { now });
        const first = await store.apply(record.id, { set: { v: 'b' } }, { now, expectedVersion: record.version });
        assert.equal(first.status, 'applied');
        const stale = await store.apply(record.id, { set: { v: 'c' } }, { now, expectedVersion: record.version });
        assert.equal(stale.status, 'conflict');
        assert.ok(stale.status === 'conflict');
        assert.equal(stale.record.version, record.version + 1);
        assert.equal(stale.record.data['v'], 'b');
      });
    });

    describe('renewal', () => {
      it('replaces the secret in place and accepts the old one only during its grace period', async () => {
        const now = clock.now();
        const { record } = await rec(now, { data: { n: 1 } });
        await store.create(record, { now });
        const { record: fresh } = await rec(now);
        const renewed = await store.apply(
          record.id,
          { renewSecret: { secretHash: fresh.secretHash, renewedAt: now + 1000, previousSecretHash: record.secretHash, previousSecretExpiresAt: now + 31_000 } },
          { now: now + 1000, expectedVersion: record.version },
        );
        assert.ok(renewed.status === 'applied');
        assert.equal(renewed.record.secretHash, fresh.secretHash);
        assert.equal(renewed.record.renewedAt, now + 1000);
        assert.equal(renewed.record.previousSecretHash, record.secretHash);
        assert.equal(renewed.record.id, record.id);
        assert.equal(renewed.record.data['n'], 1);
        assert.ok(await store.load(record.id, { now: now + 30_999, secretHash: record.secretHash }));
        assert.ok(await store.load(record.id, { now: now + 30_999, secretHash: fresh.secretHash }));
        assert.equal(await store.load(record.id, { now: now + 31_000, secretHash: record.secretHash, touch: TOUCH, device: DEVICE }), null);
        const touchedByNew = await store.load(record.id, { now: now + 61_000, secretHash: fresh.secretHash, touch: TOUCH, device: DEVICE });
        assert.equal(touchedByNew?.lastSeenAt, now + 61_000);
        const again = await store.apply(record.id, { renewSecret: { secretHash: record.secretHash, renewedAt: now, previousSecretHash: '', previousSecretExpiresAt: 0 } }, { now, expectedVersion: record.version });
        assert.equal(again.status, 'conflict', 'a second renewal from the same read loses');
      });

      it('renews the token on the first request after the interval; the old token works only for the grace period', async () => {
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

    describe('create, replace and limits', () => {
      it('replaces a session atomically, only at the version it was read', async () => {
        const now = clock.now();
        const { record: old } = await rec(now);
        await store.create(old, { now });
        const { record: stale } = await rec(now, { subject: 'bob' });
        assert.deepEqual(await store.create(stale, { now, replaces: { id: old.id, version: old.version + 1, supersededUntil: now + 30_000 } }), { status: 'gone' });
        assert.equal(await store.load(stale.id, { now }), null, 'a refused replacement creates nothing');
        const { record: next } = await rec(now, { subject: 'bob' });
        assert.equal((await store.create(next, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } })).status, 'created');
        assert.equal(await store.load(old.id, { now }), null);
        assert.ok(await store.load(next.id, { now }));
        const { record: orphan } = await rec(now, { subject: 'bob' });
        assert.deepEqual(await store.create(orphan, { now, replaces: { id: old.id, version: old.version, supersededUntil: now + 30_000 } }), { status: 'gone' });
        if (hasSessionIndex(store)) assert.equal(await store.count({ now }), 1, 'the replaced session leaves every index');
        const swept = await store.deleteExpired(next.absoluteExpiresAt + 1, 100);
        assert.ok(!swept.some((r) => r.id === old.id), 'a replaced session is never reported as expired');
      });

      it('trims a subject to its limit, oldest first, never the one kept, a batch at a time', async () => {
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
        assert.deepEqual(first, [ids[1], ids[2]].map((id) => ({ id, subject: 'carol' })), 'oldest first, at most a batch');
        const second = await store.trimSubject('carol', { now: at, max: 2, keep: ids[0] as string, batch: 2 });
        assert.deepEqual(second, [{ id: ids[3], subject: 'carol' }]);
        assert.deepEqual(await store.trimSubject('carol', { now: at, max: 2, keep: ids[0] as string, batch: 2 }), [], 'at the limit: nothing more');
        for (const id of ids.slice(1, 4)) assert.equal(await store.load(id, { now: at }), null);
        for (const id of [ids[0], ids[4], other.id]) assert.ok(await store.load(id as string, { now: at }));
        if (hasSessionIndex(store)) assert.equal(await store.count({ now: at, subject: 'carol' }), 2);
        assert.deepEqual(await store.trimSubject('nobody', { now: at, max: 1, keep: ids[0] as string, batch: 10 }), []);
      });

      it('rejects a login over the limit and changes nothing', async () => {
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
        const replaced = await store.create(again, { now: later, limit: { max: 1 }, replaces: { id: third.id, version: current!.version, supersededUntil: later + 30_000 } });
        assert.deepEqual(replaced, { status: 'created', evicted: [] });
      });

      for (const onLimit of ['evict-oldest', 'reject'] as const) {
        it(`holds a limit of 1 under 20 simultaneous logins (${onLimit})`, async () => {
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

    describe('cleanup and the index', () => {
      it('deletes expired sessions in bounded batches and keeps live ones', async () => {
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
        assert.deepEqual(listed.sessions.map((r) => r.id), grace.slice(0, 3));
        assert.equal(listed.nextCursor, null);
        assert.equal(await idx.count({ now: later, subject: 'grace' }), 3);
        assert.equal(await idx.count({ now: later }), 5);
        assert.deepEqual(await idx.listBySubject('nobody', { now: later, limit: 10 }), { sessions: [], nextCursor: null });
        const removed = await idx.deleteBySubject('grace', { now: later, except: grace[1] as string, limit: 10 });
        assert.deepEqual(removed.map((r) => r.id).sort(), [grace[0], grace[2]].sort());
        assert.deepEqual((await idx.listBySubject('grace', { now: later, limit: 10 })).sessions.map((r) => r.id), [grace[1]]);
        assert.equal((await idx.deleteBySubject('grace', { now: later, limit: 10 })).length, 1);
        assert.equal(await idx.count({ now: later, subject: 'grace' }), 0);
        assert.ok(await store.load(other.id, { now: later }));
      });

      indexIt('revokeEverything ends every live session of every user, a page at a time, with an event each', async (idx) => {
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
        const expected = ids.map((id, i) => ({ id, createdAt: now + Math.floor(i / 3) })).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map((r) => r.id);
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
      });
    });

    for (const [label, codec] of CODECS) describe(`through the session manager (${label})`, () => {
      const increments = (incrementCodec: ValueCodec | undefined, how: string) =>
        it(`${concurrency} concurrent increments on one session leave exactly +${concurrency} (${how})`, async () => {
          const m = manager(incrementCodec ? { codec: incrementCodec } : {});
          const token = await loggedIn(m, 'kim');
          const { session } = await request(m, token);
          await session.increment('views', 7);
          const values = await Promise.all(
            Array.from({ length: concurrency }, async () => {
              const { session: s } = await request(m, token);
              return s.increment('views');
            }),
          );
          const { session: after } = await request(m, token);
          assert.equal(after.get('views'), 7 + concurrency);
          assert.deepEqual([...new Set(values)].length, concurrency, 'each request saw its own increment');
        });
      if (codec === undefined) {
        increments(undefined, 'server-side add');
        increments(opaqueTestCodec, 'compare-and-set with an opaque codec');
      } else increments(codec, 'compare-and-set on ciphertext');

      it('concurrent requests writing different keys all persist', async () => {
        const m = manager(codec ? { codec } : {});
        const token = await loggedIn(m, 'lee');
        await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const { session } = await request(m, token);
            await session.set(`key${i}`, i);
          }),
        );
        const { session } = await request(m, token);
        for (let i = 0; i < 50; i++) assert.equal(session.get(`key${i}`), i);
      });

      it('a request still running when the session is revoked does not bring it back', async () => {
        const m = manager(codec ? { codec } : {});
        const token = await loggedIn(m, 'mia');
        const { session: slow } = await request(m, token);
        const { session: other } = await request(m, token);
        await other.logout();
        await assert.rejects(slow.set('late', 1), SessionEndedError);
        await assert.rejects(slow.increment('n'), SessionEndedError);
        const { session: after } = await request(m, token);
        assert.equal(after.isStored, false);
        if (hasSessionIndex(store)) assert.equal(await m.count({ subject: 'mia' }), 0);
      });

      it('login issues a new token, kills the old one at once and keeps the data', async () => {
        const m = manager({ codec: codec ?? opaqueTestCodec });
        const { session } = await request(m, null);
        await session.set('cart', ['apple']);
        const anonymous = session.issuedToken as string;
        await session.login('noor', { displayName: 'Noor' });
        const token = session.issuedToken as string;
        assert.notEqual(token, anonymous);
        assert.equal((await request(m, anonymous)).session.isStored, false);
        const { session: again } = await request(m, token);
        assert.equal(again.subject, 'noor');
        assert.deepEqual(again.get('cart'), ['apple']);
        await again.rotate();
        assert.equal((await request(m, token)).session.isStored, false);
        assert.deepEqual((await request(m, again.issuedToken)).session.get('cart'), ['apple']);
      });

      if (codec !== undefined) {
        it('stores only ciphertext, bound to its session and field; a removed key means no session and an event', async () => {
          const m = manager({ codec });
          const { session } = await request(m, null);
          await session.login('pat');
          await session.set('secret', 'plaintext-marker-42');
          await session.increment('count', 5);
          const raw = await store.load(session.id as string, { now: clock.now() });
          assert.ok(raw);
          for (const value of Object.values(raw.data)) assert.match(String(value), /^enc1\.test1\./);
          assert.doesNotMatch(JSON.stringify(raw), /plaintext-marker-42/);
          const { session: other } = await request(m, null);
          await other.set('secret', 'x');
          const moved = store.apply(other.id as string, { set: { secret: raw.data['secret'] ?? null } }, { now: clock.now() });
          assert.equal((await moved).status, 'applied');
          const unreadable: string[] = [];
          m.on('unreadable', (event) => {
            unreadable.push(event.session.id);
          });
          assert.equal((await request(m, other.issuedToken)).session.isStored, false, 'a ciphertext moved to another session does not open');
          const rotated = manager({ codec: encryptionCodec([{ id: 'test2', key: Buffer.alloc(32, 2) }, TEST_KEY]) });
          const reread = await request(rotated, session.issuedToken);
          assert.equal(reread.session.get('secret'), 'plaintext-marker-42');
          await reread.session.set('secret', 'rewritten');
          const afterWrite = await store.load(session.id as string, { now: clock.now() });
          assert.match(String(afterWrite?.data['secret']), /^enc1\.test2\./, 'rewritten under the new primary key');
          const keyRemoved = manager({ codec: encryptionCodec([{ id: 'test3', key: Buffer.alloc(32, 3) }]) });
          keyRemoved.on('unreadable', (event) => {
            unreadable.push(event.session.id);
          });
          assert.equal((await request(keyRemoved, session.issuedToken)).session.isStored, false);
          assert.deepEqual(unreadable, [other.id, session.id]);
        });
      }
    });

    describe('through the session manager (store work per request)', () => {
      it('a read-only request inside the touch window does one store operation; a changing one does two', async () => {
        const counting = countingStore(store);
        const m = new SessionManager({ store: counting.store, clock, cleanupInterval: false });
        managers.push(m);
        const token = await loggedIn(m, 'omar');
        clock.advance(1000);
        counting.reset();
        const { session } = await request(m, token);
        session.get('anything');
        assert.equal(counting.total(), 1);
        counting.reset();
        const { session: writer } = await request(m, token);
        writer.set('a', 1);
        await writer.increment('n');
        assert.deepEqual(Object.fromEntries(counting.counts), { load: 1, apply: 1 });
      });
    });

    describe('superseded tokens (login, rotation, renewal)', () => {
      it('remembers a replaced session until supersededUntil, for its own secret hashes only', async () => {
        const now = clock.now();
        const { record: old } = await rec(now, { data: { n: 1 } });
        await store.create(old, { now });
        // Renewed once: its previous secret is still in its grace period when the login replaces it.
        const renewedHash = makeRecord(now).record.secretHash;
        const renewed = await store.apply(
          old.id,
          { renewSecret: { secretHash: renewedHash, renewedAt: now, previousSecretHash: old.secretHash, previousSecretExpiresAt: now + 20_000 } },
          { now, expectedVersion: old.version },
        );
        assert.ok(renewed.status === 'applied');
        const { record: next } = await rec(now, { subject: 'zoe' });
        const created = await store.create(next, { now: now + 1000, replaces: { id: old.id, version: renewed.record.version, supersededUntil: now + 31_000 } });
        assert.equal(created.status, 'created');
        assert.equal(await store.load(old.id, { now: now + 1000, secretHash: renewedHash }), null, 'the replaced token opens nothing');
        const superseded = (hash: string, at: number) => store.isSuperseded(old.id, { now: at, secretHash: hash });
        assert.equal(await superseded(renewedHash, now + 1000), true);
        assert.equal(await superseded(old.secretHash, now + 1000), true, 'the renewal’s previous secret, in its grace period when replaced');
        assert.equal(await superseded(renewedHash, now + 30_999), true);
        assert.equal(await superseded(renewedHash, now + 31_000), false, 'forgotten at supersededUntil');
        assert.equal(await superseded(hashSecret('wrong'), now + 1000), false, 'a wrong secret learns nothing');
        assert.equal(await store.isSuperseded(next.id, { now: now + 1000, secretHash: next.secretHash }), false, 'a live current token is not superseded');
        assert.equal(await store.isSuperseded(makeRecord(now).record.id, { now, secretHash: renewedHash }), false, 'an unknown id');
        const swept = await store.deleteExpired(now + 86_400_000 * 3, 100);
        assert.ok(!swept.some((r) => r.id === old.id), 'a superseded token is never reported as an expired session');
      });

      it('knows a renewed token as superseded after its grace period; a revoked or expired one is not', async () => {
        const now = clock.now();
        const { record } = await rec(now, { subject: 'yan', idleTimeout: 60 });
        await store.create(record, { now });
        const fresh = makeRecord(now).record.secretHash;
        const renewed = await store.apply(
          record.id,
          { renewSecret: { secretHash: fresh, renewedAt: now, previousSecretHash: record.secretHash, previousSecretExpiresAt: now + 30_000 } },
          { now, expectedVersion: record.version },
        );
        assert.ok(renewed.status === 'applied');
        assert.equal(await store.load(record.id, { now: now + 30_000, secretHash: record.secretHash }), null);
        assert.equal(await store.isSuperseded(record.id, { now: now + 30_000, secretHash: record.secretHash }), true);
        assert.equal(await store.isSuperseded(record.id, { now: now + 30_000, secretHash: fresh }), false);
        const { record: revoked } = await rec(now, { subject: 'yan' });
        await store.create(revoked, { now });
        await store.delete(revoked.id);
        assert.equal(await store.isSuperseded(revoked.id, { now, secretHash: revoked.secretHash }), false, 'revoked');
        assert.equal(await store.isSuperseded(record.id, { now: now + 60_000, secretHash: record.secretHash }), false, 'expired');
      });
    });

    describe('cookies around a login, rotation or renewal (responses in the harmful order)', () => {
      /** What a browser keeps of the session cookie, applying responses' Set-Cookie in the order they arrive. */
      const jar = (m: SessionManager) => {
        const name = m.cookieName(false);
        let value: string | null = null;
        return {
          receive(cookies: string[]) {
            for (const cookie of cookies) {
              const match = /^([^=]+)=([^;]*);.*Max-Age=(\d+)/.exec(cookie);
              assert.ok(match && match[1] === name, cookie);
              value = match[3] === '0' ? null : (match[2] as string);
            }
          },
          get token() {
            return value;
          },
        };
      };

      it('a request with the pre-login token, answered after the login, neither clears the new cookie nor starts a session', async () => {
        const m = manager();
        const created: string[] = [];
        m.on('created', (event) => {
          created.push(event.session.id);
        });
        const browser = jar(m);
        const first = await request(m, null);
        await first.session.set('cart', ['apple']);
        browser.receive(first.cookies);
        const anonymous = browser.token as string;
        const loadedBefore = await request(m, anonymous);
        const login = await request(m, anonymous);
        await login.session.login('ada');
        const loadedAfter = await request(m, anonymous);
        assert.deepEqual(loadedAfter.cookies, [], 'no Set-Cookie for the superseded token');
        await assert.rejects(loadedAfter.session.set('note', 'late'), SessionEndedError);
        await assert.rejects(loadedBefore.session.set('note', 'late'), SessionEndedError);
        assert.deepEqual(loadedAfter.cookies, [], 'no Set-Cookie for the superseded token');
        assert.deepEqual(loadedBefore.cookies, [], 'no Set-Cookie for the superseded token');
        assert.equal(created.length, 1, 'no new anonymous session was started');
        assert.equal(loadedAfter.session.isStored, false);
        assert.equal(loadedAfter.session.superseded, true);
        // The login's response arrives first, the late ones after it.
        browser.receive(login.cookies);
        browser.receive(loadedAfter.cookies);
        browser.receive(loadedBefore.cookies);
        assert.equal(browser.token, login.session.issuedToken);
        const after = await request(m, browser.token);
        assert.equal(after.session.subject, 'ada');
        assert.deepEqual(after.session.get('cart'), ['apple']);
        assert.equal(after.session.get('note'), undefined);
      });

      it('a request with the pre-rotation token, answered after the rotation, leaves the new cookie alone', async () => {
        const m = manager();
        const browser = jar(m);
        const token = await loggedIn(m, 'bea');
        browser.receive([`${m.cookieName(false)}=${token}; Max-Age=100; Path=/`]);
        const loadedBefore = await request(m, token);
        const rotation = await request(m, token);
        await rotation.session.rotate();
        const loadedAfter = await request(m, token);
        await assert.rejects(loadedBefore.session.increment('n'), SessionEndedError);
        await assert.rejects(loadedAfter.session.increment('n'), SessionEndedError);
        await loadedBefore.session.logout();
        browser.receive(rotation.cookies);
        for (const late of [loadedAfter, loadedBefore]) {
          assert.deepEqual(late.cookies, []);
          browser.receive(late.cookies);
        }
        assert.equal(browser.token, rotation.session.issuedToken);
        assert.equal((await request(m, browser.token)).session.subject, 'bea');
      });

      it('10 concurrent requests around a renewal: only the winner sets a cookie, and every order of their responses leaves the new token', async () => {
        const m = manager({ renewalInterval: 60, renewalGracePeriod: 30, idleTimeout: 600 });
        const first = await loggedIn(m, 'cy');
        clock.advance(61_000);
        // Every request's touch is due too (lastSeenAt is 61 s old), and half of them write.
        const burst = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const r = await request(m, first);
            if (i % 2 === 0) await r.session.increment('n');
            return r;
          }),
        );
        const winners = burst.filter((r) => r.session.issuedToken !== null);
        assert.equal(winners.length, 1);
        const renewed = winners[0]?.session.issuedToken as string;
        for (const r of burst) {
          if (r === winners[0]) assert.equal(r.cookies.length, 1);
          else assert.deepEqual(r.cookies, [], 'a request that lost the renewal sets no cookie');
        }
        const orders = [burst, [...burst].reverse(), [...burst.slice(5), ...burst.slice(0, 5)]];
        for (const order of orders) {
          const browser = jar(m);
          for (const r of order) browser.receive(r.cookies);
          assert.equal(browser.token, renewed);
        }
        // In the grace period, with its touch due and a write: still no cookie for the old token.
        clock.advance(20_000);
        const inGrace = await request(m, first);
        await inGrace.session.increment('n');
        assert.deepEqual(inGrace.cookies, []);
        // After it, the old token opens nothing, but it is not cleared either: it was replaced, not revoked.
        clock.advance(10_000);
        const late = await request(m, first);
        assert.equal(late.session.isStored, false);
        assert.deepEqual(late.cookies, []);
        await assert.rejects(late.session.set('x', 1), SessionEndedError);
        assert.equal((await request(m, renewed)).session.get('n'), 6);
      });

      it('a revoked or expired token still has its cookie cleared, also when a request in flight writes', async () => {
        const m = manager({ idleTimeout: 60 });
        const token = await loggedIn(m, 'dee');
        const inFlight = await request(m, token);
        await (await request(m, token)).session.logout();
        await assert.rejects(inFlight.session.set('a', 1), SessionEndedError);
        assert.equal(inFlight.cookies.length, 1);
        assert.match(inFlight.cookies[0] as string, /Max-Age=0/);
        assert.match((await request(m, token)).cookies[0] as string, /Max-Age=0/);
        const idle = await loggedIn(m, 'dee');
        clock.advance(61_000);
        assert.match((await request(m, idle)).cookies[0] as string, /Max-Age=0/);
      });

      it('sets the cookie only when a token is issued, with a Max-Age that ends at the absolute expiry', async () => {
        const m = manager({ idleTimeout: 600, absoluteTimeout: 7200 });
        const { session, cookies } = await request(m, null);
        await session.login('eli');
        assert.match(cookies[0] as string, /Max-Age=7200;/);
        clock.advance(120_000);
        const touched = await request(m, session.issuedToken);
        await touched.session.set('a', 1);
        assert.equal(touched.session.info?.lastSeenAt, clock.now(), 'the touch was due and written');
        assert.deepEqual(touched.cookies, [], 'a touch or a save re-sends nothing');
      });
    });

    describe('bounded under abuse and faults', () => {
      it('applies a change set with an idempotency key once, per session, until the key is forgotten', async () => {
        const now = clock.now();
        const { record } = await rec(now, { data: { n: 1 } });
        const { record: other } = await rec(now);
        await store.create(record, { now });
        await store.create(other, { now });
        const once = { key: 'retry-1#1', until: now + 60_000 };
        const first = await store.apply(record.id, { increment: { n: 1 } }, { now, idempotency: once });
        assert.ok(first.status === 'applied' && first.duplicate !== true);
        const again = await store.apply(record.id, { increment: { n: 1 } }, { now: now + 1000, idempotency: once });
        assert.ok(again.status === 'applied');
        assert.equal(again.duplicate, true, 'the retry is reported as a duplicate');
        assert.equal(again.record.data['n'], 2, 'and not applied again');
        assert.equal((await store.load(record.id, { now }))?.data['n'], 2);
        const elsewhere = await store.apply(other.id, { set: { n: 5 } }, { now, idempotency: once });
        assert.ok(elsewhere.status === 'applied' && elsewhere.duplicate !== true, 'keys are per session');
        const stale = await store.apply(record.id, { set: { x: 1 } }, { now, expectedVersion: 1, idempotency: { key: 'cas#1', until: now + 60_000 } });
        assert.equal(stale.status, 'conflict');
        const retried = await store.apply(record.id, { set: { x: 1 } }, { now, expectedVersion: 2, idempotency: { key: 'cas#1', until: now + 60_000 } });
        assert.ok(retried.status === 'applied' && retried.duplicate !== true, 'a conflict remembers nothing');
        const late = await store.apply(record.id, { increment: { n: 1 } }, { now: now + 60_000, idempotency: once });
        assert.ok(late.status === 'applied' && late.duplicate !== true, 'forgotten at until');
        assert.equal(late.record.data['n'], 3);
      });

      it('a request retried with the same Idempotency-Key increments once, and answers the stored value', async () => {
        for (const codec of [undefined, opaqueTestCodec]) {
          const m = manager(codec ? { codec } : {});
          const token = await loggedIn(m, 'ida');
          const send = async (key: string | null) => {
            const session = await m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false, ...DEVICE, idempotencyKey: key });
            const value = await session.increment('n');
            await session.set('last', key);
            return value;
          };
          assert.equal(await send('k-1'), 1);
          assert.equal(await send('k-1'), 1, 'the retry counts nothing');
          assert.equal(await send('k-2'), 2);
          assert.equal(await send(null), 3);
          assert.equal((await request(m, token)).session.get('n'), 3);
          await assert.rejects(m.load({ secure: false, idempotencyKey: 'bad key with spaces' }), { code: 'BAD_REQUEST', status: 400 });
        }
      });

      /** A manager whose store loses the answers of `create` while `lose` is on; and a browser with an anonymous cart. */
      const lossyLogin = async (options: Partial<SessionManagerOptions>) => {
        const state = { lose: false };
        const m = new SessionManager({ store: lostReplyStore(store, 'create', () => state.lose), clock, cleanupInterval: false, ...options });
        managers.push(m);
        const loggedInEvents: string[] = [];
        m.on('loggedIn', (event) => {
          loggedInEvents.push(event.session.id);
        });
        const browser = await request(m, null);
        await browser.session.set('cart', ['pear']);
        return { m, state, loggedInEvents, anonymous: browser.session.issuedToken as string };
      };

      it("a login whose answer is lost (reject) leaves no orphan once the store answers: the user's retry logs in, no 409", async () => {
        const { m, state, loggedInEvents, anonymous } = await lossyLogin({ maxSessionsPerSubject: 1, onLimit: 'reject' });
        state.lose = true;
        await assert.rejects((await request(m, anonymous)).session.login('rex'), { code: 'STORE_UNAVAILABLE', status: 503 });
        state.lose = false;
        await m.settled();
        if (hasSessionIndex(store)) assert.equal(await store.count({ now: clock.now(), subject: 'rex' }), 0, 'no orphan counts against the limit');
        const back = await request(m, anonymous);
        assert.deepEqual(back.session.get('cart'), ['pear'], 'the session the login replaced is back, with its data');
        await back.session.login('rex');
        assert.equal(back.session.subject, 'rex', 'the retry logs in');
        assert.deepEqual(loggedInEvents, [back.session.id], 'the lost login sent no event');
      });

      it('a login whose answer is lost (evict-oldest) logs no other device out; a login that succeeds does', async () => {
        const { m, state, anonymous } = await lossyLogin({ maxSessionsPerSubject: 1, onLimit: 'evict-oldest' });
        const device = await loggedIn(m, 'eve');
        state.lose = true;
        await assert.rejects((await request(m, anonymous)).session.login('eve'), { code: 'STORE_UNAVAILABLE' });
        state.lose = false;
        await m.settled();
        assert.equal((await request(m, device)).session.subject, 'eve', 'the other device is still logged in');
        if (hasSessionIndex(store)) assert.equal(await store.count({ now: clock.now(), subject: 'eve' }), 1, 'and no orphan');
        const back = await request(m, anonymous);
        assert.deepEqual(back.session.get('cart'), ['pear']);
        await back.session.login('eve');
        assert.equal((await request(m, device)).session.isStored, false, 'a login that succeeds evicts the oldest');
      });

      it('a first write whose answer is lost leaves no anonymous session behind', async () => {
        let lose = false;
        const lossy = lostReplyStore(store, 'create', () => lose);
        const m = new SessionManager({ store: lossy, clock, cleanupInterval: false });
        managers.push(m);
        lose = true;
        const { session } = await request(m, null);
        await assert.rejects(session.set('a', 1), { code: 'STORE_UNAVAILABLE' });
        lose = false;
        await m.settled();
        if (hasSessionIndex(store)) assert.equal(await store.count({ now: clock.now() }), 0);
        assert.deepEqual(await store.deleteExpired(clock.now() + 2 * 86_400_000, 100), [], 'nothing was left to expire');
      });

      it('refuses values, fields and sessions past their caps with 413 SESSION_TOO_LARGE, and writes nothing', async () => {
        const m = manager({ maxFields: 3, maxValueBytes: 100, maxSessionBytes: 200 });
        const token = await loggedIn(m, 'sid');
        const { session } = await request(m, token);
        await assert.rejects(session.set('big', 'x'.repeat(100)), { code: 'SESSION_TOO_LARGE', status: 413 });
        await session.set('a', 'x'.repeat(80));
        await session.set('b', 'x'.repeat(80));
        await assert.rejects(session.set('c', 'x'.repeat(80)), { code: 'SESSION_TOO_LARGE' }, 'past 200 bytes');
        await session.set('c', 1);
        await assert.rejects(session.set('d', 1), { code: 'SESSION_TOO_LARGE' }, 'a fourth field');
        await assert.rejects(session.increment('e'), { code: 'SESSION_TOO_LARGE' }, 'a fourth field by increment');
        await session.set('a', 'short');
        await session.delete('b');
        await session.set('d', 'x'.repeat(80));
        const stored = await store.load(session.id as string, { now: clock.now() });
        assert.deepEqual(Object.keys(stored?.data ?? {}).sort(), ['a', 'c', 'd']);
        assert.ok(JSON.stringify(stored?.data).length < 300);
      });

      it('refuses strings that are not well-formed Unicode with 400 before any store sees them', async () => {
        const m = manager();
        const counting = countingStore(store);
        const cm = new SessionManager({ store: counting.store, clock, cleanupInterval: false });
        managers.push(cm);
        const token = await loggedIn(m, 'uni');
        const { session } = await request(cm, token);
        counting.reset();
        for (const bad of ['\ud800', 'a\udfffb', { nested: ['ok', '\udc00'] }]) {
          await assert.rejects(async () => session.set('v', bad), { code: 'BAD_REQUEST', status: 400 });
        }
        await assert.rejects(async () => session.set('k\ud800', 1), { code: 'BAD_REQUEST' });
        await assert.rejects(async () => session.set('o', JSON.parse('{"\\ud800":1}')), { code: 'BAD_REQUEST' });
        await assert.rejects(async () => session.login('bad\ud800'), { code: 'BAD_REQUEST' });
        await assert.rejects(async () => session.login('good', { displayName: '\udbff' }), { code: 'BAD_REQUEST' });
        assert.equal(counting.total(), 0, 'no store call');
        await session.set('v', 'paired 🙂 surrogates are fine');
        assert.equal((await request(m, token)).session.get('v'), 'paired 🙂 surrogates are fine');
      });

      it('tries every well-formed value of a duplicated cookie; a planted one neither hides nor clears the real one', async () => {
        const m = manager();
        const name = m.cookieName(false);
        const token = await loggedIn(m, 'dup');
        const planted = makeRecord(clock.now()).token;
        const cookies: string[] = [];
        const both = await m.load({ cookie: `${name}=${planted}; ${name}=${token}`, secure: false, ...DEVICE, setCookie: (c) => cookies.push(c) });
        assert.equal(both.subject, 'dup');
        assert.deepEqual(cookies, []);
        const stale: string[] = [];
        const neither = await m.load({ cookie: `${name}=${planted}; ${name}=${makeRecord(clock.now()).token}`, secure: false, ...DEVICE, setCookie: (c) => stale.push(c) });
        assert.equal(neither.isStored, false);
        assert.deepEqual(stale, [], 'with several values the cookie is not cleared: the real one may be among them');
        const single: string[] = [];
        await m.load({ cookie: `${name}=${planted}`, secure: false, ...DEVICE, setCookie: (c) => single.push(c) });
        assert.match(single[0] ?? '', /Max-Age=0/, 'a single stale value is cleared');
      });

      it('removes an unreadable session when it is found, so it holds no place against the limit', async () => {
        const keyA = encryptionCodec([{ id: 'a', key: Buffer.alloc(32, 5) }]);
        const keyB = encryptionCodec([{ id: 'b', key: Buffer.alloc(32, 6) }]);
        const before = manager({ codec: keyA, maxSessionsPerSubject: 1, onLimit: 'reject' });
        const token = await loggedIn(before, 'una');
        await (await request(before, token)).session.set('secret', 's');
        const after = manager({ codec: keyB, maxSessionsPerSubject: 1, onLimit: 'reject' });
        const events: string[] = [];
        after.subscribe((event) => {
          events.push(event.type);
        });
        const found = await request(after, token);
        assert.equal(found.session.isStored, false);
        assert.deepEqual(events, ['unreadable']);
        assert.equal(await store.load(token.slice(0, 28), { now: clock.now() }), null, 'removed');
        await (await request(after, null)).session.login('una');
      });

      it('bounds the anonymous sessions one address creates per minute; others and logged-in users are unaffected', async () => {
        const m = manager({ anonymousSessionLimit: 5 });
        const token = await loggedIn(m, 'ann');
        const write = async (ip: string) => {
          const session = await m.load({ secure: false, ip });
          await session.set('a', 1);
        };
        for (let i = 0; i < 5; i++) await write('198.51.100.1');
        await assert.rejects(write('198.51.100.1'), { code: 'TOO_MANY_REQUESTS', status: 429 });
        await write('198.51.100.2');
        const logged = await m.load({ cookie: `${m.cookieName(false)}=${token}`, secure: false, ip: '198.51.100.1' });
        await logged.set('b', 2);
        clock.advance(60_000);
        await write('198.51.100.1');
      });

      it('a sweep of many batches lets the event loop run between them', async () => {
        const now = clock.now();
        for (let i = 0; i < 600; i++) {
          const { record: r } = await rec(now, { idleTimeout: 1, subject: i % 2 ? 'swept' : null });
          await store.create(r, { now });
        }
        clock.advance(2000);
        const m = manager({ cleanupBatchSize: 50 });
        let turns = 0;
        let running = true;
        const spin = () => {
          turns++;
          if (running) setImmediate(spin);
        };
        setImmediate(spin);
        let removed: number;
        try {
          removed = await m.sweep();
        } finally {
          running = false;
        }
        assert.ok(removed >= 1);
        if (!store.capabilities.nativeExpiry) assert.equal(removed, 600);
        assert.ok(turns >= Math.floor(removed / 50) - 1, `${turns} event-loop turns during ${Math.ceil(removed / 50)} batches`);
      });
    });

    describe('lifecycle events', () => {
      it('sends created, loggedIn, rotated, revoked (logout, evicted, user, admin) and expired, with ids and subjects', async () => {
        const m = manager({ maxSessionsPerSubject: 2, idleTimeout: 600 });
        const events: string[] = [];
        m.subscribe((event) => {
          if (event.type === 'bruteForce') return;
          const reason = event.type === 'revoked' ? `:${event.reason}` : '';
          events.push(`${event.type}${reason}:${event.session.subject ?? '-'}`);
        });
        const anonymous = await request(m, null);
        await anonymous.session.set('a', 1);
        const anonymousId = anonymous.session.id;
        await anonymous.session.login('fay');
        assert.notEqual(anonymous.session.id, anonymousId);
        await anonymous.session.rotate();
        await anonymous.session.logout();
        const tokens: string[] = [];
        for (let i = 0; i < 3; i++) {
          tokens.push(await loggedIn(m, 'fay'));
          clock.advance(1000);
        }
        const { session: third } = await request(m, tokens[2] as string);
        assert.equal(await third.revokeSession(tokens[1]?.slice(0, 28) as string), true);
        assert.equal(await m.revoke(third.id as string), true);
        const idle = await request(m, null);
        await idle.session.login('gus', { idleTimeout: 60 });
        clock.advance(61_000);
        assert.ok((await m.sweep()) >= 1);
        assert.deepEqual(events, [
          'created:-',
          'loggedIn:fay',
          'rotated:fay',
          'revoked:logout:fay',
          // A login straight from a request without a session stores no anonymous one first.
          'loggedIn:fay',
          'loggedIn:fay',
          'revoked:evicted:fay',
          'loggedIn:fay',
          'revoked:user:fay',
          'revoked:admin:fay',
          'loggedIn:gus',
          'expired:gus',
        ]);
      });
    });

    describe('partitions', () => {
      it("an id says nothing about its user to whoever lacks the deployment's key", async () => {
        const m = manager();
        for (const subject of ['alice', 'bob', '1', 'admin@example.com']) {
          const ids: string[] = [];
          for (let i = 0; i < 3; i++) ids.push((await loggedIn(m, subject)).slice(0, 28));
          for (const id of ids) assert.notEqual(partitionOfId(id), unkeyedPartition(subject), 'not the unkeyed SHA-256 of the subject');
          if (hasSubjectPartitions(store)) {
            // Sessions of one subject share a partition (a Redis Cluster slot), derived with the store's key.
            const partition = await store.subjectPartition(subject);
            for (const id of ids) assert.equal(partitionOfId(id), partition);
          } else assert.equal(new Set(ids.map(partitionOfId)).size, 3, 'random partitions');
        }
      });
    });

    describe('attack resistance', () => {
      /** What a client can observe of a request: whether it got a session, and the cookies set. */
      const observe = async (m: SessionManager, cookie: string, ip = DEVICE.ip) => {
        const cookies: string[] = [];
        const session = await m.load({ cookie, secure: false, ip, userAgent: DEVICE.userAgent, setCookie: (v) => cookies.push(v) });
        return { stored: session.isStored, subject: session.subject, cookies };
      };

      it('never accepts a tampered, truncated, extended, duplicated, oversized, non-ASCII or garbled cookie', async () => {
        const m = manager({ bruteForceLimit: false });
        const token = await loggedIn(m, 'quinn');
        const name = m.cookieName(false);
        const flip = (i: number) => token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
        const variants = [
          ...Array.from({ length: token.length }, (_, i) => flip(i)).filter((t) => t !== token),
          token.slice(0, -1),
          token.slice(1),
          token.slice(0, 29),
          token + 'A',
          token + token,
          `${token}.${token}`,
          token.replace('.', ''),
          token.replace('.', '%2E'),
          'A'.repeat(8192),
          token + 'A'.repeat(8192),
          token.slice(0, 40) + 'é' + token.slice(41),
          token.slice(0, 40) + '\u0000' + token.slice(41),
          token.slice(0, 40) + '\r\n' + token.slice(41),
          '%00%ff%' + token,
          encodeURIComponent('ü' + token),
        ];
        for (const value of variants) {
          const seen = await observe(m, `${name}=${value}`);
          assert.equal(seen.stored, false, JSON.stringify(value.slice(0, 80)));
        }
        // Control: the real token still works, and a duplicate cookie header with a junk first value does not hide it.
        assert.equal((await observe(m, `${name}=${token}`)).subject, 'quinn');
        assert.equal((await observe(m, `${name}=junk; ${name}=${token}`)).subject, 'quinn');
      });

      it('answers bad, unknown, expired and revoked tokens identically (no oracle)', async () => {
        const m = manager({ idleTimeout: 60, bruteForceLimit: false });
        const name = m.cookieName(false);
        const expired = await loggedIn(m, 'rae');
        clock.advance(61_000);
        const revoked = await loggedIn(m, 'rae');
        const { session } = await request(m, revoked);
        await session.logout();
        const unknown = `${expired.slice(0, 28)}.${'A'.repeat(43)}`;
        const outcomes = await Promise.all(['not-a-token', unknown, expired, revoked].map((t) => observe(m, `${name}=${t}`)));
        for (const outcome of outcomes) assert.deepEqual(outcome, outcomes[0]);
        assert.equal(outcomes[0]?.stored, false);
      });

      it('by default, past the brute-force limit an address gets an event and nothing else changes: stale cookies are cleared, nobody is refused', async () => {
        const m = manager({ bruteForceLimit: 5 });
        const name = m.cookieName(false);
        const valid = await loggedIn(m, 'sam');
        const alarms: string[] = [];
        m.on('bruteForce', (event) => {
          alarms.push(event.ip);
        });
        const guess = () => `${name}=${makeRecord(clock.now()).token}`;
        for (let i = 0; i < 20; i++) {
          const seen = await observe(m, guess(), '198.51.100.9');
          assert.equal(seen.stored, false);
          assert.equal(seen.cookies.length, 1);
          assert.match(seen.cookies[0] as string, /Max-Age=0/, 'the stale cookie is cleared, past the limit too');
        }
        assert.deepEqual(alarms, ['198.51.100.9'], 'one event per address and window');
        assert.equal((await observe(m, `${name}=${valid}`, '198.51.100.9')).subject, 'sam');
        clock.advance(60_000);
        for (let i = 0; i < 6; i++) await observe(m, guess(), '198.51.100.9');
        assert.deepEqual(alarms, ['198.51.100.9', '198.51.100.9'], 'and again in the next window');
      });

      it('a hundred browsers behind one address, each with a stale cookie, all log in within the minute (detect and block)', async () => {
        for (const bruteForceAction of ['detect', 'block'] as const) {
          const m = manager({ bruteForceAction });
          const name = m.cookieName(false);
          const stale: string[] = [];
          for (let i = 0; i < 100; i++) {
            const token = await loggedIn(m, `user${i}`);
            await (await request(m, token)).session.logout();
            stale.push(token);
          }
          const office = '192.0.2.1';
          let refusals = 0;
          const results = await Promise.all(
            stale.map(async (token, i) => {
              // Two requests at once with the stale cookie (a page and its script), then a login.
              const answers = await Promise.all(
                [0, 1].map(async () => {
                  const cookies: string[] = [];
                  try {
                    await m.load({ cookie: `${name}=${token}`, secure: false, ip: office, setCookie: (v) => cookies.push(v) });
                  } catch (error) {
                    refusals++;
                    assert.equal(bruteForceAction, 'block');
                    assert.equal((error as { status?: number }).status, 429);
                    cookies.push((error as { setCookie: string }).setCookie);
                  }
                  return cookies;
                }),
              );
              for (const cookies of answers) assert.match(cookies.join(), /Max-Age=0/, 'every answer clears the stale cookie');
              const cookies: string[] = [];
              const session = await m.load({ cookie: undefined, secure: false, ip: office, setCookie: (v) => cookies.push(v) });
              await session.login(`user${i}`);
              return session.subject;
            }),
          );
          assert.deepEqual(results, stale.map((_, i) => `user${i}`));
          assert.equal(refusals, bruteForceAction === 'block' ? 200 - 120 : 0, 'past the default limit of 120');
        }
      });

      it("with bruteForceAction 'block', past the limit unknown tokens get 429 with their stale cookie cleared in that response; valid tokens and none pass", async () => {
        const m = manager({ bruteForceLimit: 5, bruteForceAction: 'block' });
        const name = m.cookieName(false);
        const valid = await loggedIn(m, 'sam');
        const alarms: string[] = [];
        m.on('bruteForce', (event) => {
          alarms.push(event.ip);
        });
        const guess = () => `${name}=${makeRecord(clock.now()).token}`;
        for (let i = 0; i < 5; i++) assert.equal((await observe(m, guess(), '198.51.100.9')).stored, false);
        const refused = await observe(m, guess(), '198.51.100.9').then(
          () => assert.fail('expected a 429'),
          (error: unknown) => error as { code: string; status: number; setCookie: string | null },
        );
        assert.equal(refused.code, 'TOO_MANY_REQUESTS');
        assert.equal(refused.status, 429);
        assert.match(refused.setCookie ?? '', new RegExp(`^${name}=; Max-Age=0;`));
        const response = errorResponse(refused);
        assert.equal(response.status, 429);
        assert.equal(response.headers['set-cookie'], refused.setCookie, 'the error response carries the clearing cookie');
        await assert.rejects(observe(m, guess(), '198.51.100.9'), { code: 'TOO_MANY_REQUESTS' });
        assert.deepEqual(alarms, ['198.51.100.9']);
        assert.equal((await observe(m, `${name}=${valid}`, '198.51.100.9')).subject, 'sam');
        assert.equal((await observe(m, '', '198.51.100.9')).stored, false, 'a request without a token is never refused');
        assert.equal((await observe(m, guess(), '198.51.100.10')).stored, false, 'other addresses are not affected');
        clock.advance(60_000);
        assert.equal((await observe(m, guess(), '198.51.100.9')).stored, false, 'the window resets');
      });

      it('keeps keys such as __proto__, constructor and prototype as plain data', async () => {
        const m = manager();
        const token = await loggedIn(m, 'tess');
        const { session } = await request(m, token);
        await session.set('__proto__', { polluted: true });
        await session.set('constructor', 'c');
        await session.set('prototype', { x: 1 });
        await session.increment('hasOwnProperty');
        const { session: again } = await request(m, token);
        assert.deepEqual(again.get('__proto__'), { polluted: true });
        assert.equal(again.get('constructor'), 'c');
        assert.deepEqual(again.get('prototype'), { x: 1 });
        assert.equal(again.get('hasOwnProperty'), 1);
        assert.deepEqual(Object.keys(again.data()).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'prototype']);
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
        assert.equal(Object.getPrototypeOf(again.data()), null);
      });

      it('keeps issued tokens and their secrets out of events, session info and the stored records', async () => {
        const m = manager({ maxSessionsPerSubject: 2 });
        const seen: unknown[] = [];
        m.subscribe((event) => {
          seen.push(event);
        });
        const tokens: string[] = [];
        for (let i = 0; i < 4; i++) {
          const { session } = await request(m, null);
          await session.set('i', i);
          tokens.push(session.issuedToken as string);
          await session.login('uma');
          tokens.push(session.issuedToken as string);
          await session.rotate();
          tokens.push(session.issuedToken as string);
        }
        const listed = hasSessionIndex(store) ? [await m.list('uma'), await m.query({}), await store.listBySubject('uma', { now: clock.now(), limit: 100 })] : [];
        const stored = await Promise.all(tokens.map((token) => store.load(token.slice(0, 28), { now: clock.now() })));
        const output = JSON.stringify([seen, listed, stored]);
        for (const token of tokens) {
          const secret = token.split('.')[1] as string;
          assert.ok(!output.includes(secret), 'no secret in events, admin output or records');
        }
      });
    });
  });
}
