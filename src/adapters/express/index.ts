/**
 * Express 5 middleware: `req.session` is the request's tessera session. Nothing is patched; writes
 * go to the store when awaited (or at once, coalesced per tick), and cookie changes are set on
 * the response as they happen. Express 5, because it passes a rejected async route to the error
 * handlers, where Express 4 leaves the rejection unhandled and the process exits.
 *
 * @example
 * app.use(session(manager));
 * app.post('/login', async (req, res) => { await req.session.login(user.id); res.json({ ok: true }); });
 * app.get('/me/sessions', requireAuth(), async (req, res) => { res.json(await req.session.listSessions()); });
 * app.use(errorHandler());
 *
 * @module tessera-session/adapters/express
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { InvalidOptionError, NoSessionError, errorResponse, setCookiesAfterError } from '../../core/index.js';
import type { Session, SessionManager } from '../../core/index.js';
import { toSessionRequest } from '../node/index.js';

/**
 * Where the session goes on the request, for the types: `req.session`, unless the app declares
 * another property here to run tessera beside express-session (which owns `req.session`) meanwhile.
 *
 * @example
 * declare module 'tessera-session/adapters/express' {
 *   interface ExpressSessionTypes { property: 'tessera' }
 * }
 * app.use(session(manager, { property: 'tessera' })); // req.tessera
 */
// biome-ignore lint/suspicious/noEmptyInterface: empty until an app declares its property (declaration merging)
export interface ExpressSessionTypes {}

/** What `ExpressSessionTypes` holds once an app declares its property. */
export interface DeclaredSessionProperty {
  /** The request property the app gives `session()`, e.g. `'tessera'`. */
  property: string;
}

/** The request property the session is on: `'session'`, or the one declared in `ExpressSessionTypes`. */
export type SessionProperty = ExpressSessionTypes extends DeclaredSessionProperty ? ExpressSessionTypes['property'] : 'session';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    /** `req[SessionProperty]` is this request's tessera session. */
    interface Request extends Record<SessionProperty, Session> {
      /** The manager, for per-user and admin calls. */
      sessions: SessionManager;
    }
  }
}

/** The options of `session()`. */
export interface ExpressSessionOptions {
  /**
   * The request property the session goes on; another must be declared in `ExpressSessionTypes`
   * too, or this option does not compile. The manager is `req.sessions` either way.
   * @default 'session'
   * @example session(manager, { property: 'tessera' })
   */
  property?: SessionProperty;
}

/**
 * `session()`'s options after the manager: optional, unless the app declared another property in
 * `ExpressSessionTypes`, which `property` must then name, so that the types and the request agree.
 */
export type SessionArguments = SessionProperty extends 'session'
  ? [options?: ExpressSessionOptions]
  : [options: ExpressSessionOptions & Required<Pick<ExpressSessionOptions, 'property'>>];

/** The session each request got from `session()`, for `requireAuth()` whatever its property. */
const loaded = new WeakMap<Request, Session>();
/** The session cookie names tessera set on each response, for `errorHandler()` to tell them from the app's. */
const sessionCookies = new WeakMap<Response, Set<string>>();

/**
 * The middleware. The client address and HTTPS are Express's `req.ip` and `req.secure`, so its
 * `trust proxy` setting (a hop count, `'loopback'`, subnets or a function) decides which
 * `X-Forwarded-*` entries are believed, for tessera as for the rest of the app. `Idempotency-Key`
 * makes a request's writes apply once however often it is retried. Every request it sees loads
 * its session (a store read when it carries a token; 503 when the store is down): mount it on the
 * paths that use sessions (`app.use('/account', session(manager))`, or per route). Refuses a
 * request whose property is already set (express-session too, or this middleware twice) with `InvalidOptionError`.
 */
export function session(manager: SessionManager, ...[options]: SessionArguments): RequestHandler {
  const property: string = options?.property ?? 'session';
  if (typeof property !== 'string' || property === '' || property === 'sessions')
    throw new InvalidOptionError(`property must be a name other than sessions (the manager's), not ${JSON.stringify(property)}`);
  const target = property as SessionProperty;
  return (req, res, next) => {
    if (property in req)
      return next(new InvalidOptionError(`req.${property} is already set: give tessera another property, or mount session() once`));
    const request = toSessionRequest(req, res, { ip: req.ip, secure: req.secure });
    const setCookie = (value: string): void => {
      sessionCookies.set(res, (sessionCookies.get(res) ?? new Set<string>()).add(value.slice(0, value.indexOf('='))));
      request.setCookie?.(value);
    };
    manager.load({ ...request, setCookie }).then((loadedSession) => {
      loaded.set(req, loadedSession);
      req[target] = loadedSession;
      req.sessions = manager;
      next();
    }, next);
  };
}

/**
 * A route guard: passes a request whose session is logged in, and fails any other with
 * `NoSessionError` (401 `NO_SESSION`), which `errorHandler()` answers like every tessera error.
 * Mount it after `session()`. Express gives every handler of a route the same `req` type, so the
 * handlers after it still see `subject: string | null`, though it is a string at run time.
 *
 * @example app.get('/me/sessions', requireAuth(), async (req, res) => res.json(await req.session.listSessions()));
 */
export function requireAuth(): RequestHandler {
  return (req, _res, next) => {
    const current = loaded.get(req);
    // A bug in the app's wiring, not a client's mistake: it goes on to the app's handlers as a 500.
    if (current === undefined) next(new Error('requireAuth() needs session(manager) mounted before it on the same path'));
    else if (current.isAuthenticated) next();
    else next(new NoSessionError('the session is not logged in'));
  };
}

/**
 * Answers tessera's errors as `{error:{code,message}}` with their status (503 with `Retry-After`
 * when the store is down; 429 with its own cookie), never with a stack trace, and passes every
 * other error on with `next(error)`: a body parser's 400 or 413 keeps its status, and a bug
 * (tessera's `INVALID_OPTION` too) reaches the handler that logs it. The session cookies follow
 * `setCookiesAfterError`. An error answered before the body was read closes the connection,
 * which the client could otherwise hold for as long as it keeps sending.
 */
export function errorHandler(): ErrorRequestHandler {
  return (error, req, res, next) => {
    const { status, headers, body } = errorResponse(error);
    // What errorResponse can only answer as a bare 500 is the app's to answer and to log.
    if (body.error.code === 'INTERNAL' || res.headersSent) return next(error);
    const { 'set-cookie': errorCookie, ...rest } = headers;
    const names = sessionCookies.get(res);
    const current = res.getHeader('set-cookie') ?? [];
    const existing = Array.isArray(current) ? current : [String(current)];
    const cookies = setCookiesAfterError(existing, errorCookie, (value) => names?.has(value.slice(0, value.indexOf('='))) === true);
    res.removeHeader('set-cookie');
    if (cookies.length > 0) res.setHeader('set-cookie', cookies);
    if (!req.complete) res.set('connection', 'close');
    res.status(status).set(rest).json(body);
  };
}
