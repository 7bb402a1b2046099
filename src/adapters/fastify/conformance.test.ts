import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { runAdapterConformance } from '../../testing/index.js';
import { session } from './index.js';

/** The query of `AdapterApp`'s routes: strings, empty when absent or repeated. */
interface Query {
  Querystring: { key?: string; value?: string; subject?: string; id?: string };
}
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

runAdapterConformance({
  name: 'fastify',
  async start({ manager, trustProxy }) {
    // The proxy by its address, as Fastify's documentation asks: a hop count (trustProxy: 1) fails
    // closed in recent Fastify 5 (5.12.8 here): it trusts no peer, as it cannot tell the proxy from a direct client.
    const app = Fastify(trustProxy ? { trustProxy: '127.0.0.1' } : {});
    await app.register(session, { manager });
    app.get('/session', (request) => ({ id: request.session.id, subject: request.session.subject, data: request.session.data() }));
    app.post('/increment', async (request) => ({ value: await request.session.increment('count') }));
    app.post<Query>('/set', async (request) => {
      await request.session.set(text(request.query.key), text(request.query.value));
      return { ok: true };
    });
    app.post<Query>('/login', async (request) => {
      await request.session.login(text(request.query.subject));
      return { id: request.session.id, subject: request.session.subject };
    });
    app.post<Query>('/login-rotate', async (request) => {
      await request.session.login(text(request.query.subject));
      await request.session.rotate();
      return { id: request.session.id };
    });
    app.post('/logout', async (request) => {
      await request.session.logout();
      return { ok: true };
    });
    app.get('/sessions', (request) => request.session.listSessions());
    app.post<Query>('/revoke', async (request) => ({ revoked: await request.session.revokeSession(text(request.query.id)) }));
    app.post('/revoke-others', async (request) => ({ revoked: await request.session.revokeOtherSessions() }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
});
