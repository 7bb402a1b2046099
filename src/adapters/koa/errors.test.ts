import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import {
  InvalidOptionError,
  InvalidValueError,
  ManualClock,
  SessionManager,
  type JsonValue,
  type SessionManagerOptions,
} from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/index.js';
import { session } from './index.js';

// Well-formed, never issued.
const UNKNOWN_TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
const CLEARING = /^tessera=; Max-Age=0; Path=\//;

type Route = (ctx: Koa.Context) => Promise<unknown> | unknown;

/**
 * A Koa app on 127.0.0.1 with `session(manager)` mounted and routes that fail in the ways the
 * middleware meets. An outer middleware (the app's own error handling) records what reached it
 * and answers it, as an app that logs its bugs would.
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
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      reachedApp.push(error);
      ctx.status = 500;
      ctx.body = { error: { code: 'INTERNAL', message: 'answered by the app' } };
    }
  });
  app.use(session(manager));
  const routes: Record<string, Route> = {
    'POST /login': async (ctx) => {
      await ctx.session.login('alice');
      return { id: ctx.session.id };
    },
    'GET /sessions': (ctx) => ctx.session.listSessions(),
    'POST /login-then-outage': async (ctx) => {
      await ctx.session.login('bob');
      broken = true;
      await ctx.session.set('x', 1);
    },
    'POST /first-write-then-outage': async (ctx) => {
      await ctx.session.set('cart', 1);
      broken = true;
      await ctx.session.set('x', 1);
    },
    'POST /logout-then-outage': async (ctx) => {
      await ctx.session.logout();
      broken = true;
      await ctx.session.set('x', 1);
    },
    'POST /own-cookie-then-outage': async (ctx) => {
      ctx.cookies.set('theme', 'dark');
      broken = true;
      await ctx.session.set('x', 1);
    },
    'POST /revoked-meanwhile': async (ctx) => {
      // Another device revokes this session while the request runs; its next write finds it gone.
      await ctx.sessions.revoke(ctx.session.id as string);
      await ctx.session.set('x', 1);
    },
    'POST /not-json': async (ctx) => {
      await ctx.session.set('since', new Date() as unknown as JsonValue);
    },
    'POST /bug': () => {
      throw new Error('a bug at /srv/app.js:12');
    },
    'POST /misconfigured': () => {
      throw new InvalidOptionError('a store without SessionIndex');
    },
  };
  app.use(async (ctx) => {
    const route = routes[`${ctx.method} ${ctx.path}`];
    if (route === undefined) return;
    ctx.body = (await route(ctx)) ?? { ok: true };
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    port,
    reachedApp,
    repair: () => {
      broken = false;
    },
    breakStore: () => {
      broken = true;
    },
    post: (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { method: 'POST', headers }),
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

type App = Awaited<ReturnType<typeof startApp>>;

describe('koa adapter: other errors go on to the app', () => {
  let app: App;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('a bug reaches the app, the error itself', async () => {
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

  it('a value that is not JSON is a bug of the app', async () => {
    const res = await app.post('/not-json');
    assert.equal(res.status, 500);
    await res.arrayBuffer();
    assert.ok(app.reachedApp.at(-1) instanceof InvalidValueError);
  });

  it('without an app handler, Koa answers a bug with its bare 500', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
    const koa = new Koa();
    const logged: unknown[] = [];
    koa.on('error', (error) => logged.push(error));
    koa.use(session(manager));
    koa.use(() => {
      throw new Error('a bug');
    });
    const server = koa.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      assert.equal(res.status, 500);
      assert.equal(await res.text(), 'Internal Server Error');
      assert.equal((logged[0] as Error).message, 'a bug');
    } finally {
      server.close();
      manager.close();
    }
  });

  it('mounted twice: INVALID_OPTION to the app, not a second session', async () => {
    const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
    const koa = new Koa();
    const reached: unknown[] = [];
    koa.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        reached.push(error);
        ctx.status = 500;
      }
    });
    koa.use(session(manager));
    koa.use(session(manager));
    const server = koa.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      assert.equal(res.status, 500);
      assert.ok(reached[0] instanceof InvalidOptionError);
    } finally {
      server.close();
      manager.close();
    }
  });
});

describe("koa adapter: tessera's errors and the session cookie", () => {
  let app: App;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('a store outage while loading: 503 with Retry-After, saying only that the store is unavailable', async () => {
    const cookie = await app.cookie();
    app.breakStore();
    try {
      const res = await fetch(`${app.base}/count`, { headers: { cookie } });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '3');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      // Never a logout: the cookie stays as it was.
      assert.equal(res.headers.get('set-cookie'), null);
      assert.deepEqual(await res.json(), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
    } finally {
      app.repair();
    }
    assert.deepEqual(app.reachedApp, []);
  });

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
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE', path);
      } finally {
        app.repair();
      }
    }
  });

  it("leaves the app's own cookies alone", async () => {
    try {
      const res = await app.post('/own-cookie-then-outage', { cookie: await app.cookie() });
      assert.equal(res.status, 503);
      assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; path=/; httponly']);
      await res.arrayBuffer();
    } finally {
      app.repair();
    }
  });

  it('closes the connection when it answers before the body was read', async () => {
    app.breakStore();
    try {
      const answer = await new Promise<{ status: number | undefined; connection: string | undefined }>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: app.port,
            method: 'POST',
            path: '/login',
            headers: { cookie: `tessera=${UNKNOWN_TOKEN}`, 'content-type': 'text/plain', 'content-length': 100_000 },
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

describe('koa adapter: a 429 carries its own clearing cookie', () => {
  it('answers a blocked unknown token with 429, Retry-After and the cookie cleared once', async () => {
    const app = await startApp({ bruteForceLimit: 1, bruteForceAction: 'block' });
    try {
      const stale = { cookie: `tessera=${UNKNOWN_TOKEN}` };
      const first = await fetch(`${app.base}/sessions`, { headers: stale });
      assert.equal(first.status, 401);
      await first.arrayBuffer();
      const res = await fetch(`${app.base}/sessions`, { headers: stale });
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      assert.equal(res.headers.getSetCookie().length, 1);
      assert.match(res.headers.get('set-cookie') ?? '', CLEARING);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TOO_MANY_REQUESTS');
    } finally {
      app.close();
    }
  });
});
