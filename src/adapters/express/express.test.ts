import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type Request } from 'express';
import { ManualClock, SessionManager, type Session } from '../../core/index.js';
import { faultyStore } from '../../testing/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { errorHandler, session } from './index.js';

// Type test: the augmentation gives a typed req.session and req.sessions.
const typed = (req: Request): [Session, SessionManager] => [req.session, req.sessions];
void typed;

describe('express adapter', () => {
  const store = new MemoryStore();
  let broken = false;
  const failing = faultyStore(store, () => broken, 3);
  const manager = new SessionManager({ store: failing, clock: new ManualClock(), cleanupInterval: false });
  const app = express();
  app.use(session(manager));
  app.post('/login', async (req, res) => {
    await req.session.login('alice');
    res.json({ id: req.session.id });
  });
  app.post('/count', async (req, res) => {
    res.json({ value: await req.session.increment('n') });
  });
  app.get('/me', (req, res) => {
    res.json({ subject: req.session.subject, n: req.session.get('n') ?? null });
  });
  app.get('/others', async (req, res) => {
    res.json({ sessions: (await req.session.listSessions()).sessions.length, live: await req.sessions.count() });
  });
  app.post('/logout', async (req, res) => {
    await req.session.logout();
    res.status(204).end();
  });
  app.use(errorHandler());
  let base = '';
  const server = app.listen(0, '127.0.0.1');
  before(async () => {
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    manager.close();
  });

  it('loads, writes and ends sessions through req.session', async () => {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    assert.equal(login.status, 200);
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^tessera=[^;]+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.equal(login.headers.get('cache-control'), 'no-store');
    const cookie = setCookie.split(';')[0] as string;
    const counts = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${base}/count`, { method: 'POST', headers: { cookie } }).then((r) => r.json() as Promise<{ value: number }>),
      ),
    );
    assert.deepEqual(
      counts.map((c) => c.value).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(await (await fetch(`${base}/me`, { headers: { cookie } })).json(), { subject: 'alice', n: 20 });
    assert.deepEqual(await (await fetch(`${base}/others`, { headers: { cookie } })).json(), { sessions: 1, live: 1 });
    const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(logout.status, 204);
    assert.match(logout.headers.get('set-cookie') ?? '', /^tessera=; Max-Age=0; Path=\//);
    assert.deepEqual(await (await fetch(`${base}/me`, { headers: { cookie } })).json(), { subject: null, n: null });
  });

  it('answers a store outage with 503, Retry-After and a JSON error, not a logout', async () => {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    broken = true;
    try {
      const res = await fetch(`${base}/me`, { headers: { cookie } });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '3');
      assert.equal(res.headers.get('set-cookie'), null);
      assert.deepEqual(await res.json(), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
    } finally {
      broken = false;
    }
    assert.deepEqual(await (await fetch(`${base}/me`, { headers: { cookie } })).json(), { subject: 'alice', n: null });
  });

  it('answers an anonymous management call with 401 NO_SESSION JSON, no stack', async () => {
    const res = await fetch(`${base}/others`);
    assert.equal(res.status, 401);
    const body = await res.text();
    assert.deepEqual(JSON.parse(body), { error: { code: 'NO_SESSION', message: 'the session is not logged in' } });
  });
});
