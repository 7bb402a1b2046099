// Type-level tests of tessera-session/adapters/koa, as an app imports it (by the package's names).
// Nothing here runs: `npm run typecheck` compiles it, and a failed expectation or an unused
// `@ts-expect-error` fails the type check. Importing the adapter is what augments Koa's
// `DefaultContext`, so every Koa context of the app has `session` and `sessions`.
import { expectTypeOf } from 'expect-type';
import Koa, { type Context, type Middleware, type ParameterizedContext } from 'koa';
import type { Session, SessionManager } from 'tessera-session';
import { session } from 'tessera-session/adapters/koa';
import { MemoryStore } from 'tessera-session/stores/memory';

declare const manager: SessionManager;

// The middleware takes the manager and nothing else, and is a plain Koa middleware.
expectTypeOf(session(manager)).toEqualTypeOf<Middleware>();
expectTypeOf(session).parameters.toEqualTypeOf<[manager: SessionManager]>();
// @ts-expect-error: the middleware takes the manager, not a store
session(new MemoryStore());
// @ts-expect-error: it has no options
session(manager, { property: 'tessera' });

const app = new Koa();
app.use(session(manager));
app.use(async (ctx, next) => {
  expectTypeOf(ctx.session).toEqualTypeOf<Session>();
  expectTypeOf(ctx.sessions).toEqualTypeOf<SessionManager>();
  expectTypeOf(ctx.session.increment('views')).toEqualTypeOf<Promise<number>>();
  expectTypeOf(ctx.session.subject).toEqualTypeOf<string | null>();
  // Koa's own context is untouched.
  expectTypeOf(ctx.ip).toEqualTypeOf<string>();
  expectTypeOf(ctx.secure).toEqualTypeOf<boolean>();
  await next();
});

// The named context types carry it too, whatever state the app declares.
expectTypeOf<Context['session']>().toEqualTypeOf<Session>();
expectTypeOf<ParameterizedContext<{ user: string }>['session']>().toEqualTypeOf<Session>();
const typedState = new Koa<{ user: string }>();
typedState.use(session(manager));
typedState.use((ctx) => {
  expectTypeOf(ctx.state.user).toEqualTypeOf<string>();
  expectTypeOf(ctx.sessions).toEqualTypeOf<SessionManager>();
});

// @ts-expect-error: the session is not a string (what the augmentation gives is checked, not Koa's `any`)
const notAString: string = ({} as Context).session;
void notAString;
