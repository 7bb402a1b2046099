// README.md's "Testing your routes": a route tested as a logged-in user, on MemoryStore and
// ManualClock, with the cookie from loginCookie instead of a trip through the app's login route.
// The first test is the README's snippet, with its imports made relative.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it, test } from 'node:test';
import express from 'express';
import { NoSessionError, SessionManager } from '../core/index.js';
import { errorHandler, session } from '../adapters/express/index.js';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock, loginCookie } from './index.js';

// The app is built around the manager it is given, so a test can give it a MemoryStore and a ManualClock.
function createApp(sessions: SessionManager): express.Express {
  const app = express();
  app.use(session(sessions));
  app.get('/me', (req, res) => {
    if (!req.session.isAuthenticated) throw new NoSessionError();
    res.json({ subject: req.session.subject });
  });
  app.use(errorHandler());
  return app;
}

test('GET /me needs a live session', async (t) => {
  const clock = new ManualClock();
  const sessions = new SessionManager({ store: new MemoryStore(), clock, cleanupInterval: false });
  const server = createApp(sessions).listen(0, '127.0.0.1');
  t.after(() => {
    server.close();
    sessions.close();
  });
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const cookie = await loginCookie(sessions, 'user-1');
  const me = await fetch(`${base}/me`, { headers: { cookie } });
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { subject: 'user-1' });

  clock.advance(30 * 60 * 1000); // the idle timeout (30 minutes by default) passes without a request
  const late = await fetch(`${base}/me`, { headers: { cookie } });
  assert.equal(late.status, 401);
  assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'NO_SESSION');
});

describe('loginCookie', () => {
  it('gives a session whose idle timeout slides with each request on the ManualClock', async (t) => {
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MemoryStore(), clock, idleTimeout: 1800, cleanupInterval: false });
    const server = createApp(sessions).listen(0, '127.0.0.1');
    t.after(() => {
      server.close();
      sessions.close();
    });
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cookie = await loginCookie(sessions, 'user-1', { displayName: 'Alice' });
    assert.match(cookie, /^tessera=[^;\s]+$/);
    assert.equal((await sessions.load({ cookie, secure: false })).displayName, 'Alice');
    for (let i = 0; i < 3; i++) {
      clock.advance(1799 * 1000); // each request inside the idle timeout moves its end
      assert.equal((await fetch(`${base}/me`, { headers: { cookie } })).status, 200);
    }
    clock.advance(1800 * 1000);
    assert.equal((await fetch(`${base}/me`, { headers: { cookie } })).status, 401);
  });

  it('makes a session like any login: stored, listed, counted against the per-user limit', async () => {
    const sessions = new SessionManager({
      store: new MemoryStore(),
      clock: new ManualClock(),
      maxSessionsPerSubject: 1,
      cleanupInterval: false,
    });
    const loggedIn: string[] = [];
    sessions.on('loggedIn', (event) => void loggedIn.push(event.session.subject ?? ''));
    const first = await loginCookie(sessions, 'user-1');
    const second = await loginCookie(sessions, 'user-1');
    assert.notEqual(first, second);
    assert.deepEqual(loggedIn, ['user-1', 'user-1']);
    const page = await sessions.list('user-1');
    assert.equal(page.sessions.length, 1, 'the second login evicted the first (maxSessionsPerSubject: 1)');
    const opened = await sessions.load({ cookie: second, secure: false });
    assert.equal(opened.subject, 'user-1');
    assert.equal((await sessions.load({ cookie: first, secure: false })).isAuthenticated, false);
    sessions.close();
  });

  it('names the cookie as an HTTPS request would see it when secure is set', async () => {
    const sessions = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
    const cookie = await loginCookie(sessions, 'user-1', { secure: true });
    assert.match(cookie, /^__Host-tessera=/);
    assert.equal((await sessions.load({ cookie, secure: true })).subject, 'user-1');
    sessions.close();
  });
});
