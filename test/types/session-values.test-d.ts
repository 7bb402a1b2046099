// Type-level tests of what `Session.set` accepts: JSON only, as `JsonValue` says. Nothing here
// runs; `npm run typecheck` compiles it, and an unused `@ts-expect-error` fails the check.
import { expectTypeOf } from 'expect-type';
import type { JsonValue, Session, SessionManagerOptions, StoreOperation } from 'tessera-session';

declare const s: Session;

expectTypeOf(s.set).parameter(1).toEqualTypeOf<JsonValue>();
void s.set('cart', { items: [{ sku: 'A-1', qty: 2 }], coupon: null, total: 9.5, gift: false });
void s.set('when', new Date().toISOString());
// A type alias has the index signature JsonValue needs; an interface would not (see the README).
type Cart = { items: string[] };
const cart: Cart = { items: ['pear'] };
void s.set('cart', cart);

// @ts-expect-error: a function is not JSON
void s.set('callback', () => 1);
// @ts-expect-error: a Date is not JSON (store date.toISOString() or date.getTime())
void s.set('since', new Date());
// @ts-expect-error: a bigint is not JSON (store it as a string)
void s.set('id', 10n);
// @ts-expect-error: undefined is not JSON (to remove a key, use delete)
void s.set('gone', undefined);
// @ts-expect-error: a Map is not JSON
void s.set('index', new Map<string, number>());
// @ts-expect-error: nor is an object with an undefined property
void s.set('user', { name: 'Ann', nickname: undefined });

// The store-failure hook: the error and the store operation that failed.
expectTypeOf<NonNullable<SessionManagerOptions['onStoreError']>>().toEqualTypeOf<
  (error: unknown, context: { operation: StoreOperation }) => void | Promise<void>
>();
expectTypeOf<StoreOperation>().toExtend<string>();
