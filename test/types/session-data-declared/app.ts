// The types of an app that declares its session data once, by declaration merging, as an app
// writes `declare module 'tessera-session' { interface SessionData { … } }`. Compiled on its own by
// test/types/session-data-declared.test.ts, because the declaration changes every session's type
// in the program. Nothing here runs. The imports are the sources an app gets by the package's names.
import { expectTypeOf } from 'expect-type';
import type { Request } from 'express';
import { session } from '../../../src/adapters/express/index.js';
import { type DefaultSessionData, type Session, SessionManager } from '../../../src/core/index.js';
import { MemoryStore } from '../../../src/stores/memory/index.js';

declare module '../../../src/core/index.js' {
  interface SessionData {
    cart: string[];
    views: number;
  }
}

expectTypeOf<DefaultSessionData>().toEqualTypeOf<{ cart: string[]; views: number }>();

const manager = new SessionManager({ store: new MemoryStore() });
const s = await manager.load({ secure: false });
expectTypeOf(s.get('cart')).toEqualTypeOf<string[] | undefined>();
// @ts-expect-error: not a declared key
s.get('basket');
// @ts-expect-error: increment is for number fields only
s.increment('cart');
s.increment('views');

// The Express adapter's req.session has the declared type.
session(manager);
declare const req: Request;
expectTypeOf(req.session).toEqualTypeOf<Session<{ cart: string[]; views: number }>>();
expectTypeOf(req.session.get('views')).toEqualTypeOf<number | undefined>();
// @ts-expect-error: a value of the wrong type for its key
req.session.set('views', 'many');
