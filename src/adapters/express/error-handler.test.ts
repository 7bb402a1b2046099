import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type ErrorRequestHandler } from 'express';
import { InvalidOptionError, ManualClock, SessionManager, type SessionManagerOptions } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/index.js';
import { errorHandler, session } from './index.js';

// Well-formed, never issued.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
const CLEARING = /^tessera=; Max-Age=0; Path=\//;

/**
 * An app whose routes fail in the ways errorHandler() meets, with the app's own error handler
 * after it (the one that would log a bug), which records what reached it.
 */
async function startApp(options: Partial<SessionManagerOptions> = {}) {
  let broken = false;
  const manager = new SessionManager({
    store: faultyStore(new MemoryStore(), () => broken, 3),
    clock: new ManualClock(),
    cleanupInterval: false,
    ...options,
  });
  const reachedApp: unknown[] = [];
  const app = express();
  app.use(express.json({ limit: '1kb' }));
  app.use(session(manager));
  app.post('/login', async (req, res) => {
    await req.session.login('alice');
    res.json({});
  });
  app.get('/sessions', async (req, res) => {
    res.json(await req.session.listSessions());
  });
  app.post('/login-then-outage', async (req, res) => {
    await req.session.login('bob');
    broken = true;
    await req.session.set('x', 1);
    res.json({});
  });
  app.post('/first-write-then-outage', async (req, res) => {
    await req.session.set('cart', 1);
    broken = true;
    await req.session.set('x', 1);
    res.json({});
  });
  app.post('/logout-then-outage', async (req, res) => {
    await req.session.logout();
    broken = true;
    res.json({ live: await req.sessions.count() });
  });
  app.post('/revoked-meanwhile', async (req, res) => {
    // Another device revokes this session while the request runs; its next write finds it gone.
    await req.sessions.revoke(req.session.id as string);
    await req.session.set('x', 1);
    res.json({});
  });
  app.post('/own-cookie-then-outage', async (req, res) => {
    res.cookie('theme', 'dark');
    broken = true;
    await req.session.set('x', 1);
    res.json({});
  });
  app.post('/bug', () => {
    throw new Error('a bug at /srv/app.js:12');
  });
  app.post('/misconfigured', () => {
    throw new InvalidOptionError('a store without SessionIndex');
  });
  app.use(errorHandler());
  const appHandler: ErrorRequestHandler = (error: { status?: number }, _req, res, _next) => {
    reachedApp.push(error);
    const status = typeof error.status === 'number' && error.status < 500 ? error.status : 500;
    res.status(status).json({ error: { code: status === 500 ? 'INTERNAL' : 'BAD_REQUEST', message: 'answered by the app' } });
  };
  app.use(appHandler);
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    reachedApp,
    /** The store works again (each outage route breaks it). */
    repair: () => {
      broken = false;
    },
    breakStore: () => {
      broken = true;
    },
    port: (server.address() as AddressInfo).port,
    post: (path: string, headers: Record<string, string> = {}, body: string | null = null) =>
      fetch(`${base}${path}`, { method: 'POST', headers, body }),
    async cookie(): Promise<string> {
      const login = await fetch(`${base}/login`, { method: 'POST' });
      await login.arrayBuffer();
      return (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    },
    close() {
      server.close();
      manager.close();
    },
  };
}

describe('express errorHandler(): other errors go on to the app', () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it("a body parser's 400 stays a 400", async () => {
    const res = await app.post('/login', { 'content-type': 'application/json' }, '{"not json');
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: { code: 'BAD_REQUEST', message: 'answered by the app' } });
    assert.equal((app.reachedApp.at(-1) as { type?: string }).type, 'entity.parse.failed');
  });

  it("a body parser's 413 stays a 413", async () => {
    const res = await app.post('/login', { 'content-type': 'application/json' }, JSON.stringify({ pad: 'x'.repeat(2000) }));
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), { error: { code: 'BAD_REQUEST', message: 'answered by the app' } });
    assert.equal((app.reachedApp.at(-1) as { type?: string }).type, 'entity.too.large');
  });

  it('a bug reaches the handler that logs it, the error itself', async () => {
    const res = await app.post('/bug');
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: { code: 'INTERNAL', message: 'answered by the app' } });
    assert.equal((app.reachedApp.at(-1) as Error).message, 'a bug at /srv/app.js:12');
  });

  it('a configuration mistake (INVALID_OPTION) is a bug too', async () => {
    const res = await app.post('/misconfigured');
    assert.equal(res.status, 500);
    await res.arrayBuffer();
    assert.ok(app.reachedApp.at(-1) instanceof InvalidOptionError);
  });
});

describe("express errorHandler(): tessera's errors and the session cookie", () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('keeps the cookie that clears a stale token on a 401: listing with it is NO_SESSION', async () => {
    const res = await fetch(`${app.base}/sessions`, { headers: { cookie: `tessera=${UNKNOWN_TOKEN}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('set-cookie') ?? '', CLEARING);
    assert.deepEqual(await res.json(), { error: { code: 'NO_SESSION', message: 'the session is not logged in' } });
  });

  it('keeps the cookie that clears a session revoked while the request ran (401 SESSION_ENDED)', async () => {
    const res = await app.post('/revoked-meanwhile', { cookie: await app.cookie() });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'SESSION_ENDED');
    assert.match(res.headers.get('set-cookie') ?? '', CLEARING);
  });

  it('keeps the cookie of a logout that came before a store outage (503)', async () => {
    const cookie = await app.cookie();
    try {
      const res = await app.post('/logout-then-outage', { cookie });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '3');
      assert.match(res.headers.get('set-cookie') ?? '', CLEARING);
      await res.arrayBuffer();
    } finally {
      app.repair();
    }
  });

  it('drops a token issued before the error: a login, or a first write', async () => {
    for (const path of ['/login-then-outage', '/first-write-then-outage']) {
      try {
        const res = await app.post(path);
        assert.equal(res.status, 503, path);
        assert.equal(res.headers.get('set-cookie'), null, path);
        assert.equal(res.headers.get('cache-control'), 'no-store', path);
        await res.arrayBuffer();
      } finally {
        app.repair();
      }
    }
  });

  it("leaves the app's own cookies alone", async () => {
    try {
      const res = await app.post('/own-cookie-then-outage', { cookie: await app.cookie() });
      assert.equal(res.status, 503);
      assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; Path=/']);
      await res.arrayBuffer();
    } finally {
      app.repair();
    }
  });

  it('closes the connection when it answers before the body was read', async () => {
    app.breakStore();
    try {
      // text/plain: express.json() leaves the body unread, and the session's load fails first.
      const answer = await new Promise<{ status: number | undefined; connection: string | undefined }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: app.port,
            method: 'POST',
            path: '/login',
            headers: { 'content-type': 'text/plain', 'content-length': 100_000 },
          },
          (res) => {
            resolve({ status: res.statusCode, connection: res.headers.connection });
            req.destroy();
          },
        );
        req.on('error', reject);
        req.write('x'.repeat(10));
      });
      assert.deepEqual(answer, { status: 503, connection: 'close' });
    } finally {
      app.repair();
    }
  });
});

describe('express errorHandler(): a 429 carries its own clearing cookie', () => {
  it('answers a blocked unknown token with 429, Retry-After and the cookie cleared', async () => {
    const app = await startApp({ bruteForceLimit: 1, bruteForceAction: 'block' });
    try {
      const stale = { cookie: `tessera=${UNKNOWN_TOKEN}` };
      const first = await fetch(`${app.base}/sessions`, { headers: stale });
      assert.equal(first.status, 401);
      await first.arrayBuffer();
      const res = await fetch(`${app.base}/sessions`, { headers: stale });
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      assert.deepEqual(res.headers.getSetCookie().length, 1);
      assert.match(res.headers.get('set-cookie') ?? '', CLEARING);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TOO_MANY_REQUESTS');
    } finally {
      app.close();
    }
  });
});
