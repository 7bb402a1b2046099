import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ManualClock, SessionManager, type SessionManagerOptions } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/index.js';
import { onError, session, type HonoSessionOptions, type SessionVariables } from './index.js';

function newManager(options: Partial<SessionManagerOptions> = {}): SessionManager {
  // Store failures reported elsewhere: console.error here is what Hono's onError logs.
  const quiet = { onStoreError: () => {} };
  return new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false, ...quiet, ...options });
}

/** The `name=value` pair of the response's one session cookie. */
function sessionCookie(response: Response): string {
  const values = response.headers.getSetCookie().filter((value) => /^(__Host-)?tessera=/.test(value));
  assert.equal(values.length, 1, `one session Set-Cookie, not ${JSON.stringify(values)}`);
  return (values[0] as string).slice(0, (values[0] as string).indexOf(';'));
}

/** An app with the routes these tests use; `broken` makes every store call fail from then on. */
function makeApp(options: HonoSessionOptions = {}) {
  const state = { broken: false };
  const manager = newManager({ store: faultyStore(new MemoryStore(), () => state.broken, 4) });
  const app = new Hono<{ Variables: SessionVariables }>();
  app.use(session(manager, options));
  app.get('/me', (c) =>
    c.json({ subject: c.get('session').subject, same: c.get('session') === c.var.session, data: c.var.session.data() }),
  );
  app.post('/login', async (c) => {
    await c.var.session.set('cart', ['apple']);
    await c.var.session.login(c.req.query('subject') ?? 'alice');
    await c.var.session.rotate();
    c.header('set-cookie', 'theme=dark; Path=/');
    c.header('cache-control', 'public, max-age=60');
    return c.json({ ip: c.var.session.info?.lastDevice.ip ?? null });
  });
  app.post('/logout', async (c) => {
    await c.var.session.logout();
    return c.body(null, 204);
  });
  app.post('/login-then-outage', async (c) => {
    await c.var.session.login('alice');
    state.broken = true;
    await c.var.session.set('after', 1);
    return c.json({ unreachable: true });
  });
  app.post('/logout-then-outage', async (c) => {
    await c.var.session.logout();
    state.broken = true;
    await c.var.session.set('after', 1);
    return c.json({ unreachable: true });
  });
  app.post('/redirect', async (c) => {
    await c.var.session.login('alice');
    return Response.redirect('http://app.test/home', 303);
  });
  app.post('/bug', async (c) => {
    await c.var.session.login('alice');
    throw new Error('boom');
  });
  app.get('/teapot', () => {
    throw new HTTPException(418, { message: 'short and stout' });
  });
  return { app, manager, state };
}

describe('hono adapter', () => {
  it("c.get('session') is c.var.session; a login sets the last token once, beside the app's cookie, with no-store", async () => {
    const { app } = makeApp();
    const login = await app.request('/login', { method: 'POST' });
    assert.equal(login.status, 200);
    const cookie = sessionCookie(login);
    assert.ok(login.headers.getSetCookie().includes('theme=dark; Path=/'));
    assert.equal(login.headers.get('cache-control'), 'no-store');
    const me = await app.request('/me', { headers: { cookie } });
    assert.deepEqual(await me.json(), { subject: 'alice', same: true, data: { cart: ['apple'] } });
    assert.deepEqual(me.headers.getSetCookie(), [], 'a read sets no cookie');
  });

  it('a route that returns a response with immutable headers (Response.redirect) still carries the cookie', async () => {
    const { app } = makeApp();
    const res = await app.request('/redirect', { method: 'POST' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), 'http://app.test/home');
    const me = await app.request('/me', { headers: { cookie: sessionCookie(res) } });
    assert.equal(((await me.json()) as { subject: string }).subject, 'alice');
  });

  it('a store outage while loading: 503 with Retry-After from the middleware, never "no session"', async () => {
    const { app, state } = makeApp();
    const cookie = sessionCookie(await app.request('/login', { method: 'POST' }));
    state.broken = true;
    const res = await app.request('/me', { headers: { cookie } });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '4');
    assert.deepEqual(await res.json(), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
    assert.deepEqual(res.headers.getSetCookie(), [], 'the cookie is not cleared');
  });

  it("a store outage in a route: 503 JSON in place of Hono's default 500, and no token from the failed login", async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const { app } = makeApp();
    const res = await app.request('/login-then-outage', { method: 'POST' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '4');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'STORE_UNAVAILABLE');
    assert.deepEqual(res.headers.getSetCookie(), []);
    assert.equal(logged.mock.callCount(), 1, "Hono's default onError logs it; the exported onError would not");

    const { app: custom } = makeApp();
    custom.onError((_error, c) => c.json({ mine: true }, 500, { 'cache-control': 'public, max-age=600', 'x-mine': 'yes' }));
    const answered = await custom.request('/login-then-outage', { method: 'POST' });
    assert.equal(answered.status, 503);
    assert.equal(answered.headers.get('cache-control'), 'no-store', "nothing of onError's answer is left on tessera's");
    assert.equal(answered.headers.get('x-mine'), null);
  });

  it('with the exported onError: the same answers, nothing logged; a logout before the outage still clears the cookie', async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const { app } = makeApp();
    app.onError(onError);
    const res = await app.request('/login-then-outage', { method: 'POST' });
    assert.equal(res.status, 503);
    assert.deepEqual(res.headers.getSetCookie(), []);
    assert.equal(logged.mock.callCount(), 0);

    const { app: other } = makeApp();
    other.onError(onError);
    const cookie = sessionCookie(await other.request('/login', { method: 'POST' }));
    const out = await other.request('/logout-then-outage', { method: 'POST', headers: { cookie } });
    assert.equal(out.status, 503);
    assert.match(out.headers.getSetCookie().join('\n'), /^tessera=; Max-Age=0;/);
  });

  it("any other error keeps the app's onError answer, without the session cookie; an HTTPException keeps its own", async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const { app } = makeApp();
    app.onError((_error, c) => c.json({ mine: true }, 500));
    const bug = await app.request('/bug', { method: 'POST' });
    assert.equal(bug.status, 500);
    assert.deepEqual(await bug.json(), { mine: true });
    assert.deepEqual(bug.headers.getSetCookie(), []);

    const { app: plain } = makeApp();
    plain.onError(onError);
    const teapot = await plain.request('/teapot');
    assert.equal(teapot.status, 418);
    assert.equal(await teapot.text(), 'short and stout');
    const crash = await plain.request('/bug', { method: 'POST' });
    assert.equal(crash.status, 500);
    assert.equal(await crash.text(), 'Internal Server Error');
    assert.equal(logged.mock.callCount(), 1, 'the bug is logged');
  });

  it('mounted on a path, it leaves the others alone (no store read, no outage)', async () => {
    const state = { broken: true };
    const app = new Hono();
    app.use('/account/*', session(newManager({ store: faultyStore(new MemoryStore(), () => state.broken) })));
    app.get('/public', (c) => c.text('fine'));
    app.get('/account/me', (c) => c.text('unreachable'));
    assert.equal((await app.request('/public', { headers: { cookie: 'tessera=AAAA.BBBB' } })).status, 200);
    assert.equal((await app.request('/account/me', { headers: { cookie: `tessera=${'A'.repeat(28)}.${'B'.repeat(43)}` } })).status, 503);
  });

  it('the client address from ip(c), the forwarded one only behind a trusted proxy; HTTPS from the URL, the proxy or secure(c)', async () => {
    const headers = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https' };
    const login = async (options: HonoSessionOptions, url = 'http://app.test/login') => {
      const res = await makeApp(options).app.request(url, { method: 'POST', headers });
      return { ip: ((await res.json()) as { ip: string | null }).ip, cookie: sessionCookie(res) };
    };
    const direct = await login({ ip: () => '198.51.100.7' });
    assert.deepEqual([direct.ip, direct.cookie.startsWith('tessera=')], ['198.51.100.7', true]);
    const proxied = await login({ ip: () => '10.0.0.2', trustProxy: 1 });
    assert.deepEqual([proxied.ip, proxied.cookie.startsWith('__Host-tessera=')], ['203.0.113.9', true]);
    assert.ok((await login({}, 'https://app.test/login')).cookie.startsWith('__Host-tessera='));
    assert.ok(
      (await login({ secure: (c) => c.req.header('x-test-tls') === 'yes' }, 'https://app.test/login')).cookie.startsWith('tessera='),
    );
  });
});
