/**
 * Fastify 5 plugin: `request.session` is the request's tessera session, loaded in an `onRequest`
 * hook; its cookie is written in `onSend`, beside the app's own (`reply.header`, @fastify/cookie).
 * Through `fastify-plugin`, so it opens no scope of its own: registered at the root it serves every
 * route; registered inside one of the app's plugins (`app.register(async (account) => { … },
 * { prefix: '/account' })`), only that plugin's routes load a session (a store read) and meet its
 * 503s.
 *
 * @example
 * app.register(session, { manager });
 * app.post('/login', async (request) => { await request.session.login(user.id); return { ok: true }; });
 * app.get('/me/sessions', { preHandler: requireAuth() }, (request) => request.session.listSessions());
 *
 * @module tessera-session/adapters/fastify
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { InvalidOptionError, NoSessionError, errorResponse, sessionCookieHeaders, setCookiesAfterError } from '../../core/index.js';
import type { Session, SessionManager } from '../../core/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's tessera session (undefined in a scope the plugin was not registered in). */
    session: Session;
    /** The manager, for per-user and admin calls. */
    sessions: SessionManager;
  }
}

/** The options of the `session` plugin. */
export interface FastifySessionOptions {
  /** Where the sessions come from. */
  manager: SessionManager;
  /**
   * Whether the plugin sets `errorHandler` as the error handler of the scope it is registered in.
   * A handler the app sets in that scope afterwards sees errors first, and passes on those it
   * throws; but Fastify warns (FSTWRN004) when one scope sets two, so an app with its own may turn
   * this off and call `errorHandler` from its own. A handler in a child scope needs neither.
   * @default true
   */
  errorHandler?: boolean;
}

/** The session cookie each request's response gets: the last one the core asked for. */
const sessionCookies = new WeakMap<FastifyRequest, string>();

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// Async, so that avvio reports what it throws (a duplicate decorator) as a failed registration.
const plugin: FastifyPluginAsync<FastifySessionOptions> = async (fastify, options) => {
  const manager = options?.manager;
  if (typeof manager?.load !== 'function') throw new InvalidOptionError('the tessera plugin needs { manager }, a SessionManager');
  fastify.decorateRequest('session', null as unknown as Session);
  fastify.decorateRequest('sessions', { getter: () => manager });
  // request.ip and request.protocol follow Fastify's trustProxy, as for the rest of the app.
  fastify.addHook('onRequest', (request, _reply, next) => {
    const loading = manager.load({
      cookie: request.headers.cookie,
      authorization: request.headers.authorization,
      secure: request.protocol === 'https',
      ip: request.ip,
      userAgent: request.headers['user-agent'],
      setCookie: (value) => sessionCookies.set(request, value),
      idempotencyKey: header(request, 'idempotency-key'),
    });
    loading.then((loaded) => {
      request.session = loaded;
      next();
    }, next);
  });
  // Also on error replies: a logout before an outage still clears the cookie.
  fastify.addHook('onSend', (request, reply, payload, next) => {
    const setCookie = sessionCookies.get(request);
    if (setCookie !== undefined) {
      const headers = sessionCookieHeaders(reply.getHeader('set-cookie') as string | string[] | undefined, setCookie);
      // reply.header appends to Set-Cookie: remove first to replace.
      reply.removeHeader('set-cookie').header('set-cookie', headers['set-cookie']).header('cache-control', headers['cache-control']);
    }
    next(null, payload);
  });
  if (options.errorHandler !== false) fastify.setErrorHandler(errorHandler);
};

/**
 * The plugin: `app.register(session, { manager })`. The client address and HTTPS are Fastify's
 * `request.ip` and `request.protocol`, so its `trustProxy` decides which `X-Forwarded-*` entries
 * are believed. The `Idempotency-Key` header makes a request's writes apply once however often it
 * is retried. A store outage while loading fails the request with 503 before its body is read.
 */
export const session = fp(plugin, { fastify: '5.x', name: 'tessera-session' });

/**
 * A route guard, as a `preHandler` (or route-level `onRequest`): passes a request whose session
 * is logged in, and fails any other with `NoSessionError` (401 `NO_SESSION`).
 *
 * @example app.get('/me/sessions', { preHandler: requireAuth() }, (request) => request.session.listSessions());
 */
export function requireAuth(): preHandlerHookHandler {
  return (request, _reply, done) => {
    // A bug in the app's wiring, not a client's mistake: it goes on to the app's handlers as a 500.
    if (!request.session) done(new Error("requireAuth() needs the tessera plugin registered in this route's scope"));
    else if (request.session.isAuthenticated) done();
    else done(new NoSessionError('the session is not logged in'));
  };
}

/**
 * A Fastify error handler that answers tessera's errors as `{error:{code,message}}` with their
 * status (503 with `Retry-After` when the store is down; 429 with its own cookie), never with a
 * stack trace, and throws every other error on to the next handler up, as Fastify chains them
 * (the app's, or Fastify's default that logs it): a bug, tessera's `INVALID_OPTION` too. The
 * session cookie follows `setCookiesAfterError`. An error answered before the body was read closes the connection, which the client
 * could otherwise hold for as long as it keeps sending.
 *
 * @example
 * app.register(session, { manager, errorHandler: false });
 * app.setErrorHandler(function (error, request, reply) {
 *   if (error instanceof TesseraError) return errorHandler.call(this, error, request, reply);
 *   // yours
 * });
 */
export function errorHandler(this: FastifyInstance, error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, headers, body } = errorResponse(error);
  if (body.error.code === 'INTERNAL' || reply.sent) throw error;
  const { 'set-cookie': errorCookie, ...rest } = headers;
  const issued = sessionCookies.get(request);
  const kept = setCookiesAfterError(issued === undefined ? [] : [issued], errorCookie).at(-1);
  if (kept === undefined) sessionCookies.delete(request);
  else sessionCookies.set(request, kept);
  if (!request.raw.complete) rest.connection = 'close';
  return reply.code(status).headers(rest).send(body);
}
