/**
 * The admin console and API at `/admin/`, for the usernames in `TESSERA_ADMINS`. The demo's own
 * session decides: a logged-in admin may use it, another user gets 403, no session 401.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NoSessionError, type Session, type SessionManager } from 'tessera-session';
import { createAdminHandler } from 'tessera-session/admin';
import { loadSession } from 'tessera-session/adapters/node';

export const ADMIN_PREFIX = '/admin';

/** Serves `/admin` and below; returns false for other paths. */
export type AdminMount = ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) & { close(): void };

export function mountAdmin(manager: SessionManager, admins: ReadonlySet<string>, trustProxy: number): AdminMount {
  // The session is loaded with the response at hand (a renewal must be able to set the cookie),
  // then handed to authorize, which sees only the request.
  const sessions = new WeakMap<IncomingMessage, Session>();
  const handler = createAdminHandler({
    manager,
    trustProxy: trustProxy > 0,
    authorize(req) {
      const session = sessions.get(req);
      const subject = session?.isAuthenticated === true ? session.info?.subject : null;
      if (subject == null) throw new NoSessionError('log in first');
      return admins.has(subject);
    },
  });
  const mount = (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    if (pathname !== ADMIN_PREFIX && !pathname.startsWith(`${ADMIN_PREFIX}/`)) return false;
    const original = req.url ?? '/';
    loadSession(manager, req, res, { trustProxy }).then(
      (session) => {
        sessions.set(req, session);
        // Mounted the way Express mounts: the handler sees the rest of the path, and the original
        // URL for the redirect of `/admin` to `/admin/`.
        Object.assign(req, { originalUrl: original, url: original.slice(ADMIN_PREFIX.length) || '/' });
        if (!req.url?.startsWith('/')) req.url = `/${req.url ?? ''}`;
        handler(req, res);
      },
      (error: unknown) => {
        console.error('tessera demo: admin request failed', error);
        if (!res.headersSent) {
          res.statusCode = 503;
          res.setHeader('cache-control', 'no-store');
          res.setHeader('content-type', 'application/json; charset=utf-8');
          res.end(JSON.stringify({ error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } }));
        } else res.destroy();
      },
    );
    return true;
  };
  return Object.assign(mount, { close: () => handler.close() });
}
