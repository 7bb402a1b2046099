import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type ErrorRequestHandler } from 'express';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, requireAuth, session } from './index.js';

describe('express requireAuth()', () => {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
  const ran: string[] = [];
  const reachedApp: unknown[] = [];
  const app = express();
  // Mounted before session(): a wiring mistake the guard must not take for "not logged in".
  app.get('/before-session', requireAuth(), (_req, res) => {
    res.json({});
  });
  app.use(session(manager));
  app.post('/login', async (req, res) => {
    await req.session.login('alice');
    res.json({});
  });
  app.post('/cart', async (req, res) => {
    res.json({ items: await req.session.increment('items') });
  });
  app.post('/logout', async (req, res) => {
    await req.session.logout();
    res.status(204).end();
  });
  app.get('/me', requireAuth(), (req, res) => {
    ran.push('/me');
    res.json({ subject: req.session.subject });
  });
  app.get('/sessions', async (req, res) => {
    res.json(await req.session.listSessions());
  });
  app.use(errorHandler());
  const appHandler: ErrorRequestHandler = (error: Error, _req, res, _next) => {
    reachedApp.push(error);
    res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
  };
  app.use(appHandler);
  let base = '';
  let server: Server;
  before(async () => {
    server = await new Promise((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    manager.close();
  });

  const post = async (path: string, cookie?: string) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: cookie ? { cookie } : {} });
    await res.arrayBuffer();
    return res;
  };
  const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0] as string;

  it('passes a logged-in request', async () => {
    const cookie = cookieOf(await post('/login'));
    const res = await fetch(`${base}/me`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { subject: 'alice' });
  });

  it('answers any other with 401 NO_SESSION, in the JSON shape of every tessera error, and runs no route', async () => {
    ran.length = 0;
    const anonymous = await fetch(`${base}/me`);
    assert.equal(anonymous.status, 401);
    const body = await anonymous.json();
    assert.deepEqual(body, { error: { code: 'NO_SESSION', message: 'the session is not logged in' } });
    assert.deepEqual(await (await fetch(`${base}/sessions`)).json(), body, 'the same answer as an anonymous listSessions()');

    const stored = cookieOf(await post('/cart'));
    const withCart = await fetch(`${base}/me`, { headers: { cookie: stored } });
    assert.equal(withCart.status, 401, 'a stored anonymous session is not logged in');
    await withCart.arrayBuffer();
    assert.deepEqual(ran, []);
  });

  it('clears a stale cookie in its 401', async () => {
    const cookie = cookieOf(await post('/login'));
    assert.equal((await post('/logout', cookie)).status, 204);
    const res = await fetch(`${base}/me`, { headers: { cookie } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);
    await res.arrayBuffer();
  });

  it('without session() before it, passes a wiring error on to the app (a 500 it logs), not a 401', async () => {
    const res = await fetch(`${base}/before-session`);
    assert.equal(res.status, 500);
    await res.arrayBuffer();
    assert.match(String(reachedApp.at(-1)), /requireAuth\(\) needs session\(manager\) mounted before it/);
  });
});
