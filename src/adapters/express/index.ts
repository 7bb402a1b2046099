/**
 * Express middleware: `req.session` is the request's tessera session. Nothing is patched; writes
 * go to the store when awaited (or at once, coalesced per tick), and cookie changes are set on
 * the response as they happen.
 *
 * @example
 * app.use(session(manager));
 * app.post('/login', async (req, res) => { await req.session.login(user.id); res.json({ ok: true }); });
 * app.use(errorHandler());
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { errorResponse, type Session, type SessionManager } from '../../core/index.js';
import { loadSession } from '../node/index.js';

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

export interface ExpressSessionOptions {
  /**
   * Trust `X-Forwarded-*` headers. By default, follows Express's own `trust proxy` setting.
   * @default app.get('trust proxy')
   */
  trustProxy?: boolean;
}

export function session(manager: SessionManager, options: ExpressSessionOptions = {}): RequestHandler {
  return (req, res, next) => {
    const trustProxy = options.trustProxy ?? Boolean((req as Request).app?.get('trust proxy'));
    loadSession(manager, req, res, { trustProxy }).then((loaded) => {
      req.session = loaded;
      req.sessions = manager;
      next();
    }, next);
  };
}

/**
 * Answers tessera errors as `{error:{code,message}}` with their status (503 with `Retry-After`
 * when the store is down) and any other error as a bare 500, never with a stack trace.
 */
export function errorHandler(): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const response = errorResponse(error);
    res.removeHeader('set-cookie');
    res.status(response.status).set(response.headers).json(response.body);
  };
}
