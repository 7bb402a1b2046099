import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { countingStore } from '../testing/index.js';
import { ManualClock } from './clock.js';
import { InvalidValueError, TesseraError, errorResponse } from './errors.js';
import { SessionManager } from './manager.js';
import type { JsonValue } from './store.js';

const managers: SessionManager[] = [];
afterEach(() => {
  for (const manager of managers.splice(0)) manager.close();
});

async function loggedIn() {
  const counting = countingStore(new MemoryStore());
  const manager = new SessionManager({ store: counting.store, clock: new ManualClock(), cleanupInterval: false });
  managers.push(manager);
  const session = await manager.load({ secure: false });
  await session.login('alice');
  await session.set('kept', { a: [1, 'two', null, true] });
  counting.reset();
  return { manager, session, counting };
}

class Cart {
  items: string[] = [];
}

const cyclic: Record<string, unknown> = { name: 'loop' };
cyclic.self = cyclic;
const sparse: unknown[] = [1];
sparse[2] = 3;

/** Values that are not JSON, anywhere in what is set, with what the error must say. */
const notJson: Array<[string, unknown, RegExp]> = [
  ['a function', () => 1, /^cannot set 'v': value is a function, which is not JSON$/],
  ['undefined', undefined, /^cannot set 'v': value is undefined, which is not JSON \(to remove a key, use delete\)$/],
  ['a BigInt', 10n, /^cannot set 'v': value is a BigInt, which is not JSON \(store it as a string\)$/],
  ['a Date', new Date(0), /^cannot set 'v': value is a Date, which is not JSON \(store its toISOString\(\) or getTime\(\)\)$/],
  ['a Map', new Map([['a', 1]]), /^cannot set 'v': value is a Map, which is not JSON \(store Object\.fromEntries\(map\)\)$/],
  ['a Set', new Set([1]), /^cannot set 'v': value is a Set, which is not JSON \(store \[\.\.\.set\]\)$/],
  ['a class instance', new Cart(), /^cannot set 'v': value is a Cart instance, which is not JSON \(store a plain object\)$/],
  ['NaN', Number.NaN, /^cannot set 'v': value is NaN, which is not JSON \(JSON numbers are finite\)$/],
  ['Infinity', Number.POSITIVE_INFINITY, /^cannot set 'v': value is Infinity, which is not JSON/],
  ['a symbol', Symbol('s'), /^cannot set 'v': value is a symbol, which is not JSON$/],
  ['a cyclic object', cyclic, /^cannot set 'v': value\.self refers back to value, which is not JSON \(a cycle\)$/],
  ['a nested Date', { user: { since: new Date(0) } }, /^cannot set 'v': value\.user\.since is a Date/],
  ['undefined in an object', { name: 'x', nickname: undefined }, /^cannot set 'v': value\.nickname is undefined/],
  ['a function in an array', [1, [2, () => 3]], /^cannot set 'v': value\[1\]\[1\] is a function/],
  ['a hole in an array', sparse, /^cannot set 'v': value\[1\] is undefined/],
  ['an odd property name', { 'first name': Number.NaN }, /^cannot set 'v': value\["first name"\] is NaN/],
  ['a symbol key', { [Symbol('k')]: 1 }, /^cannot set 'v': value has a symbol key, which is not JSON$/],
  ['a boxed string', new String('x'), /^cannot set 'v': value is a String instance/],
];

describe('set() refuses values that are not JSON', () => {
  for (const [what, value, message] of notJson) {
    it(`${what}: rejects with InvalidValueError naming the key and what is wrong; nothing is written`, async () => {
      const { session, counting } = await loggedIn();
      const error = await session.set('v', value as JsonValue).then(
        () => assert.fail('accepted'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof InvalidValueError, `InvalidValueError, got ${String(error)}`);
      assert.ok(error instanceof TesseraError);
      assert.equal(error.code, 'INVALID_VALUE');
      assert.equal(error.key, 'v');
      assert.match(error.message, message);
      await session.save();
      assert.equal(counting.total(), 0, 'no store call');
      assert.equal(session.has('v'), false);
      assert.deepEqual(session.get('kept'), { a: [1, 'two', null, true] });
    });
  }

  it('accepts JSON: nested plain and prototype-less objects, shared (acyclic) references, -0, big and tiny numbers', async () => {
    const { manager, session } = await loggedIn();
    const shared = { n: 1 };
    const bare = Object.assign(Object.create(null) as Record<string, JsonValue>, { x: 'y' });
    const value = { shared, again: shared, list: [shared, [[]]], bare, numbers: [0, -0, 1e308, 5e-324], text: 'paired 🙂', empty: {} };
    await session.set('v', value);
    const expected = {
      shared: { n: 1 },
      again: { n: 1 },
      list: [{ n: 1 }, [[]]],
      bare: { x: 'y' },
      numbers: [0, 0, 1e308, 5e-324],
      text: 'paired 🙂',
      empty: {},
    };
    assert.deepEqual(session.get('v'), expected);
    const again = await manager.load({ cookie: `tessera=${session.issuedToken}`, secure: false });
    assert.deepEqual(again.get('v'), expected);
  });

  it('a value nested past 100 levels is refused as too large (413), not a stack overflow', async () => {
    const { session } = await loggedIn();
    let deep: JsonValue = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    await assert.rejects(session.set('v', deep), { code: 'SESSION_TOO_LARGE', status: 413 });
    let fine: JsonValue = 1;
    for (let i = 0; i < 99; i++) fine = [fine];
    await session.set('v', fine);
  });

  it('an app that forwards the error gets a bare 500: the details are for its logs, not the client', () => {
    const response = errorResponse(new InvalidValueError('v', 'value', 'is a Date, which is not JSON'));
    assert.equal(response.status, 500);
    assert.deepEqual(response.body, { error: { code: 'INTERNAL', message: 'internal error' } });
  });
});
