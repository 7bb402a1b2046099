/**
 * Hono middleware: `c.get('session')` / `c.var.session` is the request's tessera session, its
 * cookie is added to the response the route returns, and tessera's errors are answered as JSON.
 * A translation over the fetch adapter, so it runs wherever Hono does; it needs no
 * `@hono/node-server`, but on Node the client's address comes from it (see `ip`).
 *
 * @example
 * import { getConnInfo } from '@hono/node-server/conninfo';
 * const app = new Hono<{ Variables: SessionVariables }>();
 * app.use(session(manager, { ip: (c) => getConnInfo(c).remote.address }));
 * app.post('/cart', async (c) => c.json({ items: await c.var.session.increment('items') }));
 * app.onError(onError);
 *
 * @module tessera-session/adapters/hono
 */
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import type { DefaultSessionData, Session, SessionManager } from '../../core/index.js';
import {
  isSessionError,
  loadSession,
  sessionErrorResponse,
  withSession,
  type FetchSessionOptions,
  type LoadedSession,
} from '../fetch/index.js';

/**
 * The context variables `session()` sets, to type an app's `Variables` with:
 * `new Hono<{ Variables: SessionVariables }>()`, or `new Hono<{ Variables: SessionVariables & Yours }>()`.
 * An app that would rather type `c.get('session')` in every context, its own middleware's too,
 * can opt into Hono's global map once, in any file the compiler sees:
 *
 * @example
 * declare module 'hono' {
 *   interface ContextVariableMap extends SessionVariables {}
 * }
 */
export interface SessionVariables<T extends object = DefaultSessionData> {
  /** The request's tessera session. */
  session: Session<T>;
}

/** The Hono `Env` of the middleware `session()` gives: the routes after it see `SessionVariables`. */
export interface SessionEnv<T extends object = DefaultSessionData> {
  /** What `c.get()` and `c.var` hold. */
  Variables: SessionVariables<T>;
}

/** The options of `session()`. */
export interface HonoSessionOptions extends Omit<FetchSessionOptions, 'ip' | 'secure'> {
  /**
   * The client's address for a request. Hono's `getConnInfo(c).remote.address` from the helper
   * of your runtime: `@hono/node-server/conninfo` on Node, `hono/bun`, `hono/deno`,
   * `hono/cloudflare-workers`. Without it, and without `trustProxy`, sessions record no address
   * and the per-address limits count every client as one.
   * @default () => null
   * @example session(manager, { ip: (c) => getConnInfo(c).remote.address })
   */
  ip?: ((c: Context) => string | null | undefined) | undefined;
  /**
   * Whether the client's connection was HTTPS, when the app knows better than the request's URL.
   * On `@hono/node-server` the URL takes an absolute request target as the client sent it, where
   * the socket cannot lie: `(c) => c.env.incoming.socket.encrypted === true`.
   * @default the request URL is `https:` (or, with `trustProxy`, the trusted `X-Forwarded-Proto` says `https`)
   */
  secure?: boolean | ((c: Context) => boolean) | undefined;
}

/**
 * The middleware. It loads the session of every request it sees (a store read when the request
 * carries a token), and a store outage fails those with 503: mount it on the paths that use
 * sessions (`app.use('/account/*', session(manager))`) to keep the others free of both.
 *
 * A tessera error from a route reaches the app's `onError` first (Hono's own logs it with
 * `console.error`; the `onError` exported here does not), then this middleware answers it as
 * `{error:{code,message}}` with its status, 503 with `Retry-After` when the store is down, in place
 * of whatever `onError` returned, with no new token (the request failed), only the clearing of a
 * dead one. Any other error keeps `onError`'s answer, without a session cookie. The cookie is
 * added to the response a route returns: a write still running after that (a streamed body, a
 * promise not awaited) changes the store, but its cookie comes too late to be sent.
 */
export function session<T extends object = DefaultSessionData>(
  manager: SessionManager<T>,
  options: HonoSessionOptions = {},
): MiddlewareHandler<SessionEnv<T>> {
  const { ip, secure, ...rest } = options;
  return async (c, next) => {
    let loaded: LoadedSession<T>;
    try {
      const resolvedSecure = typeof secure === 'function' ? secure(c) : secure;
      loaded = await loadSession(manager, c.req.raw, { ...rest, ip: ip?.(c) ?? null, secure: resolvedSecure });
    } catch (error) {
      return sessionErrorResponse(error);
    }
    c.set('session', loaded.session);
    await next();
    if (c.error === undefined) {
      const response = withSession(c.res, loaded.headers);
      if (response !== c.res) replaceResponse(c, response);
    } else if (isSessionError(c.error)) {
      replaceResponse(c, sessionErrorResponse(c.error, loaded.headers));
    }
  };
}

/** Sets `c.res` to `response` as it is: assigned over another, Hono would copy the old one's headers onto it. */
function replaceResponse(c: Context, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/**
 * An `app.onError` for apps without one of their own: tessera's errors as JSON (as `session()`
 * answers them, without logging each store outage), an `HTTPException` by its own response, and
 * anything else logged with `console.error` and answered `500 Internal Server Error`, as Hono's
 * default does. An app with its own `onError` can answer tessera's errors first with
 * `isSessionError(error)` and `sessionErrorResponse(error)` from `tessera-session/adapters/fetch`.
 */
export const onError: ErrorHandler = (error, c) => {
  if (isSessionError(error)) return sessionErrorResponse(error);
  if ('getResponse' in error) {
    const response = error.getResponse();
    return c.newResponse(response.body, response);
  }
  console.error(error);
  return c.text('Internal Server Error', 500);
};
