// Type-level tests of the Hono and Fetch API adapters, as an app imports them. Nothing here runs:
// `npm run typecheck` compiles it, and a failed expectation or an unused `@ts-expect-error` fails
// the check. The opt-in `ContextVariableMap` augmentation is compiled on its own
// (test/types/hono-augmentation.test.ts), as it would type every Hono context in this program.
import { expectTypeOf } from 'expect-type';
import { Hono, type Context, type ErrorHandler, type MiddlewareHandler } from 'hono';
import type { Session, SessionManager, TesseraError } from 'tessera-session';
import {
  isSessionError,
  loadSession,
  sessionErrorResponse,
  withSession,
  type FetchSessionOptions,
  type LoadedSession,
} from 'tessera-session/adapters/fetch';
import { onError, session, type HonoSessionOptions, type SessionVariables } from 'tessera-session/adapters/hono';

declare const manager: SessionManager;
declare const request: Request;

// --- Hono: typed through the app's Variables ---------------------------------------------------

expectTypeOf(session(manager)).toEqualTypeOf<MiddlewareHandler<{ Variables: SessionVariables }>>();
expectTypeOf(onError).toEqualTypeOf<ErrorHandler>();

const app = new Hono<{ Variables: SessionVariables & { requestId: string } }>();
app.use(session(manager));
app.onError(onError);
app.get('/me', (c) => {
  expectTypeOf(c.get('session')).toEqualTypeOf<Session>();
  expectTypeOf(c.var.session).toEqualTypeOf<Session>();
  expectTypeOf(c.var.requestId).toEqualTypeOf<string>();
  // @ts-expect-error: the session is set by the middleware, not replaced by a route
  c.set('session', 'alice');
  // @ts-expect-error: a misspelt variable is not there
  c.get('sesion');
  return c.json({ subject: c.var.session.subject });
});

// Chained, the middleware's Variables reach the routes after it without a type argument.
new Hono().use(session(manager)).get('/chained', (c) => {
  expectTypeOf(c.var.session).toEqualTypeOf<Session>();
  return c.text('ok');
});

// Without Variables (and without the opt-in augmentation) Hono does not know the session.
new Hono().get('/untyped', (c) => {
  // @ts-expect-error: this app never declared the session
  c.get('session');
  return c.text('ok');
});

// Options: the address and HTTPS per request; trustProxy a hop count.
session(manager, { ip: (c: Context) => c.req.header('x-real-ip'), trustProxy: 1, secure: (c) => c.req.url.startsWith('https:') });
session(manager, { secure: true, trustProxy: false });
// @ts-expect-error: the address is read per request, from the context
session(manager, { ip: '127.0.0.1' });
// @ts-expect-error: trustProxy counts proxies (Express's subnet strings are not understood)
session(manager, { trustProxy: 'loopback' });
expectTypeOf<HonoSessionOptions>().toExtend<Omit<FetchSessionOptions, 'ip' | 'secure'>>();

// --- Fetch API -----------------------------------------------------------------------------------

expectTypeOf(loadSession(manager, request)).toEqualTypeOf<Promise<LoadedSession>>();
expectTypeOf<LoadedSession>().toEqualTypeOf<{ session: Session; headers: Headers }>();
void loadSession(manager, request, { ip: null, trustProxy: 2, secure: undefined });
// @ts-expect-error: the address is the platform's string, not a function
void loadSession(manager, request, { ip: () => '127.0.0.1' });
expectTypeOf(withSession).toEqualTypeOf<(response: Response, headers: Headers) => Response>();
expectTypeOf(sessionErrorResponse).parameters.toEqualTypeOf<[error: unknown, headers?: Headers]>();
expectTypeOf(sessionErrorResponse).returns.toEqualTypeOf<Response>();

declare const caught: unknown;
if (isSessionError(caught)) expectTypeOf(caught).toEqualTypeOf<TesseraError>();

// A route handler of a framework on the Fetch API (a Next.js App Router `route.ts`, as the README
// shows it): it compiles as `(request: Request) => Promise<Response>`.
export async function POST(incoming: Request): Promise<Response> {
  try {
    const { session: current, headers } = await loadSession(manager, incoming, { trustProxy: 1 });
    const items = await current.increment('items');
    return withSession(Response.json({ items }), headers);
  } catch (error) {
    return sessionErrorResponse(error);
  }
}
expectTypeOf(POST).toExtend<(request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>>();
