import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionEndedError, SessionManager, encryptionCodec, hasSessionIndex, type ValueCodec } from '../../core/index.js';
import { countingStore, opaqueTestCodec } from '../fixtures.js';
import type { ConformanceContext } from './context.js';

const TEST_KEY = { id: 'test1', key: Buffer.alloc(32, 1) };
const CODECS: Array<[string, ValueCodec | undefined]> = [
  ['plain JSON', undefined],
  ['AES-256-GCM encryption', encryptionCodec([TEST_KEY])],
];

/**
 * The store through the session manager, once per codec, because the codec decides the write path:
 * plain JSON lets the store add by itself, ciphertext (or any opaque value) needs compare-and-set,
 * and neither may lose an update. Then the store work a request costs, also seen through the manager.
 */
export function codecs(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, managers, concurrency } = ctx;
  for (const [label, codec] of CODECS)
    describe(`through the session manager (${label})`, () => {
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
        const { store } = ctx;
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
          const { store, clock } = ctx;
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
          const moved = store.apply(other.id as string, { set: { secret: raw.data.secret ?? null } }, { now: clock.now() });
          assert.equal((await moved).status, 'applied');
          const unreadable: string[] = [];
          m.on('unreadable', (event) => {
            unreadable.push(event.session.id);
          });
          assert.equal(
            (await request(m, other.issuedToken)).session.isStored,
            false,
            'a ciphertext moved to another session does not open',
          );
          const rotated = manager({ codec: encryptionCodec([{ id: 'test2', key: Buffer.alloc(32, 2) }, TEST_KEY]) });
          const reread = await request(rotated, session.issuedToken);
          assert.equal(reread.session.get('secret'), 'plaintext-marker-42');
          await reread.session.set('secret', 'rewritten');
          const afterWrite = await store.load(session.id as string, { now: clock.now() });
          assert.match(String(afterWrite?.data.secret), /^enc1\.test2\./, 'rewritten under the new primary key');
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
    it('a read-only request inside the touch window does one store operation; a changing one does two', async (t) => {
      if (ctx.cached) {
        t.skip('with the cache on, the cache case "store work per request" counts below the cache');
        return;
      }
      const { store, clock } = ctx;
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
}
