import type { AddressInfo } from 'node:net';
import express from 'express';
import { runAdapterConformance } from '../../testing/index.js';
import { errorHandler, session } from './index.js';

/** A query parameter as the routes of `AdapterApp` take it: a string, empty when absent or repeated. */
function query(req: express.Request, name: string): string {
  const value = req.query[name];
  return typeof value === 'string' ? value : '';
}

runAdapterConformance({
  name: 'express',
  async start({ manager, trustProxy }) {
    const app = express();
    if (trustProxy) app.set('trust proxy', 1);
    app.use(session(manager));
    app.get('/session', (req, res) => {
      res.json({ id: req.session.id, subject: req.session.subject, data: req.session.data() });
    });
    app.post('/increment', async (req, res) => {
      res.json({ value: await req.session.increment('count') });
    });
    app.post('/set', async (req, res) => {
      await req.session.set(query(req, 'key'), query(req, 'value'));
      res.json({ ok: true });
    });
    app.post('/login', async (req, res) => {
      await req.session.login(query(req, 'subject'));
      res.json({ id: req.session.id, subject: req.session.subject });
    });
    app.post('/login-rotate', async (req, res) => {
      await req.session.login(query(req, 'subject'));
      await req.session.rotate();
      res.json({ id: req.session.id });
    });
    app.post('/logout', async (req, res) => {
      await req.session.logout();
      res.json({ ok: true });
    });
    app.get('/sessions', async (req, res) => {
      res.json(await req.session.listSessions());
    });
    app.post('/revoke', async (req, res) => {
      res.json({ revoked: await req.session.revokeSession(query(req, 'id')) });
    });
    app.post('/revoke-others', async (req, res) => {
      res.json({ revoked: await req.session.revokeOtherSessions() });
    });
    app.use(errorHandler());
    const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
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
