// Type-level tests of the Fastify adapter, as an app imports it (by the package's names). Nothing
// here runs: `npm run typecheck` compiles it, and a failed expectation or an unused
// `@ts-expect-error` fails the type check.
import { expectTypeOf } from 'expect-type';
import Fastify, { type FastifyRequest, type preHandlerHookHandler } from 'fastify';
import type { Session, SessionManager } from 'tessera-session';
import { errorHandler, requireAuth, session, type FastifySessionOptions } from 'tessera-session/adapters/fastify';

declare const manager: SessionManager;
const app = Fastify();

// --- The plugin and its options ------------------------------------------------------------------

expectTypeOf<FastifySessionOptions>().toEqualTypeOf<{ manager: SessionManager; errorHandler?: boolean }>();
app.register(session, { manager });
app.register(session, { manager, errorHandler: false });
// @ts-expect-error: the manager is required
app.register(session, {});
// @ts-expect-error: errorHandler is a boolean
app.register(session, { manager, errorHandler: 'off' });

// --- request.session and request.sessions, by declaration merging on 'fastify' -------------------

expectTypeOf<FastifyRequest['session']>().toEqualTypeOf<Session>();
expectTypeOf<FastifyRequest['sessions']>().toEqualTypeOf<SessionManager>();
app.post('/cart', async (request) => {
  expectTypeOf(await request.session.increment('items')).toEqualTypeOf<number>();
  expectTypeOf(request.session.subject).toEqualTypeOf<string | null>();
  expectTypeOf(await request.sessions.revokeAll('alice')).toEqualTypeOf<number>();
  // @ts-expect-error: a session value is JSON
  await request.session.set('since', new Date());
  return { items: request.session.get('items') };
});

// --- requireAuth() as a route hook, errorHandler as Fastify's error handler ----------------------

expectTypeOf(requireAuth()).toEqualTypeOf<preHandlerHookHandler>();
app.get('/me/sessions', { preHandler: requireAuth() }, (request) => request.session.listSessions());
app.get('/me/sessions/first', { preHandler: [requireAuth()] }, (request) => request.session.listSessions({ limit: 1 }));
app.setErrorHandler(errorHandler);
app.setErrorHandler(function (error, request, reply) {
  if (error instanceof Error && 'code' in error) return errorHandler.call(this, error, request, reply);
  return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
});
