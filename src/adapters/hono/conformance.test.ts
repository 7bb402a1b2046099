import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { runAdapterConformance } from '../../testing/index.js';
import { session, type SessionEnv } from './index.js';

runAdapterConformance({
  name: 'hono',
  async start({ manager, trustProxy }) {
    const app = new Hono<SessionEnv>();
    app.use(session(manager, { ip: (c) => getConnInfo(c).remote.address, trustProxy: trustProxy ? 1 : false }));
    app.get('/session', (c) => c.json({ id: c.var.session.id, subject: c.var.session.subject, data: c.var.session.data() }));
    app.post('/increment', async (c) => c.json({ value: await c.var.session.increment('count') }));
    app.post('/set', async (c) => {
      await c.var.session.set(c.req.query('key') ?? '', c.req.query('value') ?? '');
      return c.json({ ok: true });
    });
    app.post('/login', async (c) => {
      await c.var.session.login(c.req.query('subject') ?? '');
      return c.json({ id: c.var.session.id, subject: c.var.session.subject });
    });
    app.post('/login-rotate', async (c) => {
      await c.var.session.login(c.req.query('subject') ?? '');
      await c.var.session.rotate();
      return c.json({ id: c.var.session.id });
    });
    app.post('/logout', async (c) => {
      await c.var.session.logout();
      return c.json({ ok: true });
    });
    app.get('/sessions', async (c) => c.json(await c.var.session.listSessions()));
    app.post('/revoke', async (c) => c.json({ revoked: await c.var.session.revokeSession(c.req.query('id') ?? '') }));
    app.post('/revoke-others', async (c) => c.json({ revoked: await c.var.session.revokeOtherSessions() }));
    // An app's own onError that knows nothing of tessera: session() answers tessera's errors over it.
    app.onError((_error, c) => c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500));
    const server = await new Promise<Server>((resolve) => {
      const listening = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(listening as Server));
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
