// The types of a manager given its session data type: get, set, delete and increment take only its
// keys and values, increment only its number fields. Type-checked by `npm run typecheck`; nothing
// here runs.
import { expectTypeOf } from 'expect-type';
import { Hono } from 'hono';
import { loadSession } from '../../src/adapters/fetch/index.js';
import { session as honoSession } from '../../src/adapters/hono/index.js';
import { type CounterKey, type Session, SessionManager } from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/memory/index.js';

interface Shop {
  cart: string[];
  views: number;
  coupon?: string;
  visits?: number;
}

const shop = new SessionManager<Shop>({ store: new MemoryStore() });
const s = await shop.load({ secure: false });
expectTypeOf(s).toEqualTypeOf<Session<Shop>>();

expectTypeOf(s.get('cart')).toEqualTypeOf<string[] | undefined>();
expectTypeOf(s.get('views')).toEqualTypeOf<number | undefined>();
expectTypeOf(s.get('coupon')).toEqualTypeOf<string | undefined>();
// @ts-expect-error: a key the data type does not have
s.get('basket');
// @ts-expect-error: a key the data type does not have
s.has('basket');

expectTypeOf(s.set('cart', ['sku-1'])).toEqualTypeOf<Promise<void>>();
// @ts-expect-error: a value of the wrong type for its key
s.set('views', 'many');
// @ts-expect-error: a key the data type does not have
s.set('basket', []);
// @ts-expect-error: undefined is not a value (delete() removes a field)
s.set('coupon', undefined);
expectTypeOf(s.delete('coupon')).toEqualTypeOf<Promise<void>>();

expectTypeOf(s.increment('views')).toEqualTypeOf<Promise<number>>();
expectTypeOf(s.increment('visits', 2)).toEqualTypeOf<Promise<number>>();
// @ts-expect-error: increment is for number fields only
s.increment('cart');
// @ts-expect-error: increment is for number fields only
s.increment('coupon');
expectTypeOf<CounterKey<Shop>>().toEqualTypeOf<'views' | 'visits'>();

expectTypeOf(s.data()).toEqualTypeOf<Partial<Shop>>();
s.login('user-1', { data: { views: 0 } });
// @ts-expect-error: login's data is checked against the data type too
s.login('user-1', { data: { views: 'none' } });

// A type alias works as an interface does.
type Prefs = { theme: 'light' | 'dark' };
const prefs = await new SessionManager<Prefs>({ store: new MemoryStore() }).load({ secure: false });
prefs.set('theme', 'dark');
// @ts-expect-error: not one of the literal values
prefs.set('theme', 'blue');

// Without a type (and no SessionData declared), any key and any JSON value, as before.
const plain = await new SessionManager({ store: new MemoryStore() }).load({ secure: false });
plain.set('anything', { nested: [1, 'two', null] });
expectTypeOf(plain.increment('counter')).toEqualTypeOf<Promise<number>>();
expectTypeOf<CounterKey<Record<string, unknown>>>().toEqualTypeOf<string>();

// The adapters that take the type from the manager: Hono and the Fetch API.
const honoApp = new Hono().use(honoSession(shop));
honoApp.get('/', (c) => {
  expectTypeOf(c.var.session).toEqualTypeOf<Session<Shop>>();
  expectTypeOf(c.get('session').get('views')).toEqualTypeOf<number | undefined>();
  // @ts-expect-error: increment is for number fields only
  c.var.session.increment('cart');
  return c.json({});
});
const loaded = await loadSession(shop, new Request('http://localhost/'));
expectTypeOf(loaded.session).toEqualTypeOf<Session<Shop>>();
// @ts-expect-error: a key the data type does not have
loaded.session.get('basket');
