/**
 * Koa middleware (tested on Koa 3; Koa 2 has the same middleware API, not run here): `ctx.session`
 * is the request's tessera session and `ctx.sessions` its manager. Cookie changes are set on
 * `ctx.response` as they happen, beside the app's own `ctx.cookies`; tessera's errors thrown
 * downstream are answered here as JSON, and every other error goes on to Koa's (or the app's)
 * error handling.
 *
 * @example
 * app.use(session(manager));
 * app.use(async (ctx) => {
 *   if (ctx.path === '/login') { await ctx.session.login(user.id); ctx.body = { ok: true }; }
 * });
 *
 * @module tessera-session/adapters/koa
 */
import type { Middleware, ParameterizedContext } from 'koa';
import {
  InvalidOptionError,
  errorResponse,
  sessionCookieHeaders,
  setCookiesAfterError,
  type Session,
  type SessionManager,
  type SessionRequest,
} from '../../core/index.js';

declare module 'koa' {
  interface DefaultContext {
    /** This request's tessera session, once `session(manager)` has run. */
    session: Session;
    /** The manager, for per-user and admin calls. */
    sessions: SessionManager;
  }
}

type Context = ParameterizedContext;

/** A request header as one string, or undefined when absent (Koa answers `''` for those). */
function header(ctx: Context, name: string): string | undefined {
  return ctx.get(name) || undefined;
}

/** The response's `Set-Cookie` values: Koa 3 answers `getHeader`'s value, Koa 2 `''` when there is none. */
function setCookies(ctx: Context): string[] {
  const current: unknown = ctx.response.get('set-cookie');
  if (Array.isArray(current)) return current.map(String);
  return current === undefined || current === '' ? [] : [String(current)];
}

/**
 * The middleware. The client address and HTTPS are Koa's `ctx.ip` and `ctx.secure`, so
 * `app.proxy` (with `proxyIpHeader` and `maxIpsCount`) decides which forwarded headers are
 * believed, for tessera as for the rest of the app. The `Idempotency-Key` header makes the
 * request's writes apply once however often it is retried.
 *
 * It loads the session of every request that reaches it (a store read when the request carries a
 * token), and a store outage answers those 503: mount it where sessions are used (with a router,
 * on those routes) to keep the others free of both. It answers tessera's errors, its own and
 * those thrown by the middleware after it, as `{error:{code,message}}` with their status (503
 * with `Retry-After` when the store is down), and rethrows any other error (a bug, tessera's
 * `INVALID_OPTION` too) untouched. A request on which `ctx.session` is already defined (koa-session
 * mounted, or this middleware twice) fails with `InvalidOptionError`.
 */
export function session(manager: SessionManager): Middleware {
  return async (ctx, next) => {
    if (Reflect.has(ctx, 'session'))
      throw new InvalidOptionError('ctx.session is already defined: mount session() once, and not beside koa-session');
    const issued = new Set<string>();
    const request: SessionRequest = {
      cookie: header(ctx, 'cookie'),
      authorization: header(ctx, 'authorization'),
      secure: ctx.secure,
      ip: ctx.ip || null,
      userAgent: header(ctx, 'user-agent'),
      // Malformed keys are the core's to refuse (400), so an app sees one rule however it is reached.
      idempotencyKey: header(ctx, 'idempotency-key'),
      setCookie: (value) => {
        issued.add(value.slice(0, value.indexOf('=')));
        setSessionCookie(ctx, value);
      },
    };
    try {
      ctx.session = await manager.load(request);
      ctx.sessions = manager;
      await next();
    } catch (error) {
      const { status, headers, body } = errorResponse(error);
      // What errorResponse can only answer as a bare 500 (not tessera's, or a programming mistake
      // such as INVALID_OPTION) is the app's to answer and to log.
      if (body.error.code === 'INTERNAL' || ctx.headerSent) throw error;
      const { 'set-cookie': setCookie, ...rest } = headers;
      const cookies = setCookiesAfterError(setCookies(ctx), setCookie, (value) => issued.has(value.slice(0, value.indexOf('='))));
      if (cookies.length === 0) ctx.remove('set-cookie');
      else ctx.set('set-cookie', cookies);
      if (setCookie !== undefined) ctx.set('cache-control', 'no-store');
      // Reading the rest of an unread body would hold the connection for as long as the client sends.
      if (!ctx.req.complete) ctx.set('connection', 'close');
      ctx.set(rest);
      ctx.body = body;
      ctx.status = status;
    }
  };
}

/**
 * Sets the session cookie by the core's rules: it replaces one set earlier in the response and
 * keeps the app's own cookies, and comes with `Cache-Control: no-store`. Once the headers are sent
 * nothing can be set.
 */
function setSessionCookie(ctx: Context, value: string): void {
  if (ctx.headerSent) return;
  const headers = sessionCookieHeaders(setCookies(ctx), value);
  ctx.set('set-cookie', headers['set-cookie']);
  ctx.set('cache-control', headers['cache-control']);
}
