/**
 * Express middleware: `req.session` is the request's tessera session. Nothing is patched; writes
 * go to the store when awaited (or at once, coalesced per tick), and cookie changes are set on
 * the response as they happen.
 *
 * @example
 * app.use(session(manager));
 * app.post('/login', async (req, res) => { await req.session.login(user.id); res.json({ ok: true }); });
 * app.use(errorHandler());
 *
 * @module tessera-session/adapters/express
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { errorResponse, type Session, type SessionManager } from '../../core/index.js';
import { toSessionRequest } from '../node/index.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** This request's tessera session. */
      session: Session;
      /** The manager, for per-user and admin calls. */
      sessions: SessionManager;
    }
  }
}

/**
 * The middleware. The client address and HTTPS are Express's `req.ip` and `req.secure`, so
 * Express's `trust proxy` setting (a hop count, `'loopback'`, subnets or a function) decides
 * which `X-Forwarded-*` entries are believed, for tessera as for the rest of the app. The
 * `Idempotency-Key` header makes the request's writes apply once however often it is retried.
 */
export function session(manager: SessionManager): RequestHandler {
  return (req, res, next) => {
    manager.load(toSessionRequest(req, res, { ip: req.ip, secure: req.secure })).then((loaded) => {
      req.session = loaded;
      req.sessions = manager;
      next();
    }, next);
  };
}

/**
 * Answers tessera errors as `{error:{code,message}}` with their status (503 with `Retry-After`
 * when the store is down) and any other error as a bare 500, never with a stack trace. An error
 * answered before the body was read closes the connection: reading the rest of the body would
 * hold it for as long as the client cares to keep sending.
 */
export function errorHandler(): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) return next(error);
    const response = errorResponse(error);
    res.removeHeader('set-cookie');
    if (!req.complete) res.set('connection', 'close');
    res.status(response.status).set(response.headers).json(response.body);
  };
}
