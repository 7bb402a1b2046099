import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import { ManualClock, SessionManager } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { session } from './index.js';

const ISSUED = /^tessera=[^;]{20,}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/;

type Route = (ctx: Koa.Context) => Promise<unknown> | unknown;

/** A Koa app on 127.0.0.1 with `session(manager)` mounted, configured first by `configure` (its proxy settings). */
async function startApp(configure: (app: Koa) => void = () => {}) {
  const manager = new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false });
  const app = new Koa();
  configure(app);
  app.use(session(manager));
  const routes: Record<string, Route> = {
    'POST /login': async (ctx) => {
      await ctx.session.login('alice');
      return { id: ctx.session.id };
    },
    'POST /login-rotate': async (ctx) => {
      ctx.cookies.set('before', '1');
      await ctx.session.login('alice');
      await ctx.session.rotate();
      ctx.cookies.set('after', '2');
      return { id: ctx.session.id };
    },
    'GET /sessions': (ctx) => ctx.session.listSessions(),
    'GET /device': (ctx) => ({ ip: ctx.session.info?.lastDevice.ip ?? null, secure: ctx.secure, ctxIp: ctx.ip }),
    'POST /increment': async (ctx) => ({ value: await ctx.session.increment('count') }),
    'GET /count': (ctx) => ({ count: ctx.session.get('count') ?? null }),
    'POST /count-others': async (ctx) => ({ live: await ctx.sessions.count() }),
  };
  app.use(async (ctx) => {
    const route = routes[`${ctx.method} ${ctx.path}`];
    if (route === undefined) return;
    ctx.body = (await route(ctx)) ?? { ok: true };
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    manager,
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

describe('koa adapter: the session and its cookie', () => {
  let app: App;
  before(async () => {
    app = await startApp();
  });
  after(() => app.close());

  it('a login sets the session cookie once, with Cache-Control: no-store', async () => {
    const res = await app.post('/login');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const [cookie, ...others] = res.headers.getSetCookie();
    assert.match(cookie ?? '', ISSUED);
    assert.deepEqual(others, []);
    await res.arrayBuffer();
  });

  it("login then rotate sends the last token only, between the app's own cookies", async () => {
    const res = await app.post('/login-rotate');
    const { id } = (await res.json()) as { id: string };
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 3, cookies.join('\n'));
    assert.match(cookies[0] ?? '', /^before=1; path=\/; httponly$/);
    assert.match(cookies[1] ?? '', ISSUED);
    assert.match(cookies[2] ?? '', /^after=2; path=\/; httponly$/);
    // The cookie carries the rotated session: it opens it, under the id the route answered.
    const page = (await (await fetch(`${app.base}/sessions`, { headers: { cookie: cookies[1]!.split(';')[0]! } })).json()) as {
      sessions: Array<{ id: string; current: boolean }>;
    };
    assert.deepEqual(
      page.sessions.filter((s) => s.current).map((s) => s.id),
      [id],
    );
  });

  it('a read sets no cookie and leaves caching alone', async () => {
    const cookie = await app.cookie();
    const res = await fetch(`${app.base}/count`, { headers: { cookie } });
    assert.deepEqual(await res.json(), { count: null });
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(res.headers.get('cache-control'), null);
  });

  it('ctx.sessions is the manager', async () => {
    const res = await app.post('/count-others');
    assert.deepEqual(await res.json(), { live: await app.manager.count() });
  });

  it('a burst of 100 concurrent increments on one session ends at +100, each answer a distinct value', async () => {
    const cookie = await app.cookie();
    const answers = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const res = await app.post('/increment', { cookie });
        assert.equal(res.status, 200);
        return ((await res.json()) as { value: number }).value;
      }),
    );
    assert.deepEqual(
      answers.sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.deepEqual(await (await fetch(`${app.base}/count`, { headers: { cookie } })).json(), { count: 100 });
  });

  it('a malformed Idempotency-Key is a 400 in JSON', async () => {
    const res = await app.post('/increment', { 'idempotency-key': 'x'.repeat(201) });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  });
});

describe("koa adapter: the client's address and HTTPS follow app.proxy", () => {
  // The client wrote 6.6.6.6 itself; the one proxy in front of the app appended the address it saw.
  const forged = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https' };

  it('without app.proxy, forwarded headers change nothing', async () => {
    const app = await startApp();
    try {
      const login = await app.post('/login', forged);
      assert.match(login.headers.get('set-cookie') ?? '', ISSUED);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const seen = await (await fetch(`${app.base}/device`, { headers: { cookie, ...forged } })).json();
      assert.deepEqual(seen, { ip: '127.0.0.1', secure: false, ctxIp: '127.0.0.1' });
    } finally {
      app.close();
    }
  });

  it('with app.proxy and maxIpsCount 1, the last X-Forwarded-For entry and the proxy-given protocol', async () => {
    const app = await startApp((koa) => {
      koa.proxy = true;
      koa.maxIpsCount = 1;
    });
    try {
      const login = await app.post('/login', forged);
      const setCookie = login.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /^__Host-tessera=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      const cookie = setCookie.split(';')[0] as string;
      const seen = await (await fetch(`${app.base}/device`, { headers: { cookie, ...forged } })).json();
      assert.deepEqual(seen, { ip: '203.0.113.9', secure: true, ctxIp: '203.0.113.9' });
    } finally {
      app.close();
    }
  });

  it("with app.proxy and a proxyIpHeader, the address is that header's", async () => {
    const app = await startApp((koa) => {
      koa.proxy = true;
      koa.proxyIpHeader = 'x-real-ip';
    });
    try {
      const headers = { 'x-real-ip': '198.51.100.4', 'x-forwarded-for': forged['x-forwarded-for'] };
      const login = await app.post('/login', headers);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const seen = await (await fetch(`${app.base}/device`, { headers: { cookie, ...headers } })).json();
      assert.equal((seen as { ctxIp: string }).ctxIp, '198.51.100.4');
      assert.equal((seen as { ip: string }).ip, '198.51.100.4');
    } finally {
      app.close();
    }
  });
});
