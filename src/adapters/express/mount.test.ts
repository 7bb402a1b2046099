import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { countingStore, faultyStore } from '../../testing/index.js';
import { errorHandler, requireAuth, session } from './index.js';

describe('express session() mounted only where sessions are used', () => {
  let broken = false;
  const counting = countingStore(new MemoryStore());
  const manager = new SessionManager({
    store: faultyStore(counting.store, () => broken),
    clock: new ManualClock(),
    cleanupInterval: false,
  });
  const app = express();
  app.use('/account', session(manager));
  // After the mount in the stack: only the path keeps the session's load off this route.
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/account/login', async (req, res) => {
    await req.session.login('alice');
    res.json({});
  });
  app.get('/account/me', requireAuth(), (req, res) => {
    res.json({ subject: req.session.subject });
  });
  app.get('/cart', session(manager), (req, res) => {
    res.json({ items: req.session.get('items') ?? 0 });
  });
  app.use(errorHandler());
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

  it('a route outside the mount costs no store call and is served while the store is down', async () => {
    const login = await fetch(`${base}/account/login`, { method: 'POST' });
    await login.arrayBuffer();
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    assert.deepEqual(await (await fetch(`${base}/account/me`, { headers: { cookie } })).json(), { subject: 'alice' });
    counting.reset();
    assert.deepEqual(await (await fetch(`${base}/health`, { headers: { cookie } })).json(), { ok: true });
    assert.equal(counting.total(), 0, 'no store call for /health');

    broken = true;
    try {
      const health = await fetch(`${base}/health`, { headers: { cookie } });
      assert.deepEqual([health.status, await health.json()], [200, { ok: true }]);
      const account = await fetch(`${base}/account/me`, { headers: { cookie } });
      assert.equal(account.status, 503, 'inside the mount the outage is a 503, never "no session"');
      const account503 = (await account.json()) as { error: { code: string } };
      assert.equal(account503.error.code, 'STORE_UNAVAILABLE');
      const cart = await fetch(`${base}/cart`, { headers: { cookie } });
      assert.deepEqual([cart.status, await cart.json()], [503, account503], 'mounted on one route');
    } finally {
      broken = false;
    }
    const cart = await fetch(`${base}/cart`, { headers: { cookie } });
    assert.deepEqual([cart.status, await cart.json()], [200, { items: 0 }]);
  });
});
