import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorResponse, type Session } from '../../core/index.js';
import { runAdapterConformance } from '../../testing/index.js';
import { loadSession } from './index.js';

/** The routes of `AdapterApp`, on a session loaded by this adapter. */
async function route(session: Session, method: string | undefined, url: URL): Promise<unknown> {
  const query = (name: string): string => url.searchParams.get(name) ?? '';
  switch (`${method} ${url.pathname}`) {
    case 'GET /session':
      return { id: session.id, subject: session.subject, data: session.data() };
    case 'POST /increment':
      return { value: await session.increment('count') };
    case 'POST /set':
      await session.set(query('key'), query('value'));
      return { ok: true };
    case 'POST /login':
      await session.login(query('subject'));
      return { id: session.id, subject: session.subject };
    case 'POST /login-rotate':
      await session.login(query('subject'));
      await session.rotate();
      return { id: session.id };
    case 'POST /logout':
      await session.logout();
      return { ok: true };
    case 'GET /sessions':
      return session.listSessions();
    case 'POST /revoke':
      return { revoked: await session.revokeSession(query('id')) };
    case 'POST /revoke-others':
      return { revoked: await session.revokeOtherSessions() };
    default:
      return undefined;
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

runAdapterConformance({
  name: 'node:http',
  async start({ manager, trustProxy }) {
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      try {
        const session = await loadSession(manager, req, res, { trustProxy: trustProxy ? 1 : false });
        const body = await route(session, req.method, new URL(req.url ?? '/', 'http://app.invalid'));
        if (body === undefined) send(res, 404, {}, { error: { code: 'NOT_FOUND', message: 'no such route' } });
        else send(res, 200, {}, body);
      } catch (error) {
        const { status, headers, body } = errorResponse(error);
        send(res, status, headers, body);
      }
    };
    const server = createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
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
