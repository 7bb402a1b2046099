import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Session, SessionManager } from '../../core/index.js';
import { runAdapterConformance } from '../../testing/index.js';
import { loadSession, sessionErrorResponse, withSession } from './index.js';

/** The routes of `AdapterApp`, on a session loaded by this adapter. */
async function route(session: Session, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const query = (name: string): string => url.searchParams.get(name) ?? '';
  switch (`${request.method} ${url.pathname}`) {
    case 'GET /session':
      return Response.json({ id: session.id, subject: session.subject, data: session.data() });
    case 'POST /increment':
      return Response.json({ value: await session.increment('count') });
    case 'POST /set':
      await session.set(query('key'), query('value'));
      return Response.json({ ok: true });
    case 'POST /login':
      await session.login(query('subject'));
      return Response.json({ id: session.id, subject: session.subject });
    case 'POST /login-rotate':
      await session.login(query('subject'));
      await session.rotate();
      return Response.json({ id: session.id });
    case 'POST /logout':
      await session.logout();
      return Response.json({ ok: true });
    case 'GET /sessions':
      return Response.json(await session.listSessions());
    case 'POST /revoke':
      return Response.json({ revoked: await session.revokeSession(query('id')) });
    case 'POST /revoke-others':
      return Response.json({ revoked: await session.revokeOtherSessions() });
    default:
      return Response.json({ error: { code: 'NOT_FOUND', message: 'no such route' } }, { status: 404 });
  }
}

/** A Fetch API handler as a framework on `Request`/`Response` would run it; `ip` is what the platform knows of the client. */
function handler(manager: SessionManager, trustProxy: boolean) {
  return async (request: Request, ip: string | null): Promise<Response> => {
    let headers: Headers | undefined;
    try {
      const loaded = await loadSession(manager, request, { ip, trustProxy: trustProxy ? 1 : false });
      headers = loaded.headers;
      return withSession(await route(loaded.session, request), loaded.headers);
    } catch (error) {
      return sessionErrorResponse(error, headers);
    }
  };
}

runAdapterConformance({
  name: 'fetch',
  async start({ manager, trustProxy }) {
    const handle = handler(manager, trustProxy);
    // @hono/node-server's serve({ fetch }) runs any Fetch API handler; the socket's address comes from env.incoming.
    const server = await new Promise<Server>((resolve) => {
      const listening = serve(
        { fetch: (request, env) => handle(request, env.incoming.socket.remoteAddress ?? null), port: 0, hostname: '127.0.0.1' },
        () => resolve(listening as Server),
      );
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        }),
    };
  },
});
