import assert from 'node:assert/strict';
import { it } from 'node:test';
import { opaqueTestCodec } from '../fixtures.js';
import { DEVICE, type ConformanceContext } from './context.js';

/**
 * A change set applied once per idempotency key, at the store and through the manager. Registered
 * inside 'bounded under abuse and faults', where these tests have always been, so their names stay.
 */
export function idempotency(ctx: ConformanceContext): void {
  const { manager, request, loggedIn, rec } = ctx;
  it('applies a change set with an idempotency key once, per session, until the key is forgotten', async () => {
    const { store, clock } = ctx;
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
    assert.equal(again.record.data.n, 2, 'and not applied again');
    assert.equal((await store.load(record.id, { now }))?.data.n, 2);
    const elsewhere = await store.apply(other.id, { set: { n: 5 } }, { now, idempotency: once });
    assert.ok(elsewhere.status === 'applied' && elsewhere.duplicate !== true, 'keys are per session');
    const stale = await store.apply(
      record.id,
      { set: { x: 1 } },
      { now, expectedVersion: 1, idempotency: { key: 'cas#1', until: now + 60_000 } },
    );
    assert.equal(stale.status, 'conflict');
    const retried = await store.apply(
      record.id,
      { set: { x: 1 } },
      { now, expectedVersion: 2, idempotency: { key: 'cas#1', until: now + 60_000 } },
    );
    assert.ok(retried.status === 'applied' && retried.duplicate !== true, 'a conflict remembers nothing');
    const late = await store.apply(record.id, { increment: { n: 1 } }, { now: now + 60_000, idempotency: once });
    assert.ok(late.status === 'applied' && late.duplicate !== true, 'forgotten at until');
    assert.equal(late.record.data.n, 3);
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
}
