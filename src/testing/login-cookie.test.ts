// README.md's "Testing your routes": a route tested as a logged-in user, on MemoryStore and
// ManualClock, with the cookie from loginCookie instead of a trip through the app's login route.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { NoSessionError, SessionManager } from '../core/index.js';
import { errorHandler, session } from '../adapters/express/index.js';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock, loginCookie } from './index.js';

/** The app under test, built around the manager it is given (the README's `createApp`). */
function createApp(sessions: SessionManager): express.Express {
  const app = express();
  app.use(session(sessions));
  app.get('/me', (req, res) => {
    if (!req.session.isAuthenticated) throw new NoSessionError();
    res.json({ subject: req.session.subject, name: req.session.displayName });
  });
  app.use(errorHandler());
  return app;
}

/** Serves `app` on a free loopback port for the duration of `run`. */
async function serve(app: express.Express, run: (base: string) => Promise<void>): Promise<void> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
}

describe('loginCookie', () => {
  it('logs a test in, and the idle timeout ends it on the ManualClock', async () => {
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MemoryStore(), clock, idleTimeout: 1800, cleanupInterval: false });
    await serve(createApp(sessions), async (base) => {
      const cookie = await loginCookie(sessions, 'user-1', { displayName: 'Alice' });
      assert.match(cookie, /^tessera=[^;\s]+$/);

      const me = await fetch(`${base}/me`, { headers: { cookie } });
      assert.equal(me.status, 200);
      assert.deepEqual(await me.json(), { subject: 'user-1', name: 'Alice' });

      clock.advance(1799 * 1000); // a request inside the idle timeout slides it
      assert.equal((await fetch(`${base}/me`, { headers: { cookie } })).status, 200);

      clock.advance(1800 * 1000); // then 30 minutes without one end the session
      const late = await fetch(`${base}/me`, { headers: { cookie } });
      assert.equal(late.status, 401);
      assert.deepEqual(await late.json(), { error: { code: 'NO_SESSION', message: 'no valid session' } });
    });
    sessions.close();
  });

  it('makes a session like any login: stored, listed, counted against the per-user limit', async () => {
    const sessions = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), maxSessionsPerSubject: 1, cleanupInterval: false });
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
