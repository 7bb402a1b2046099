import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { InvalidOptionError, ManualClock, SessionManager, type SessionManagerOptions } from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { countingStore, faultyStore } from '../../testing/index.js';
import { requireAuth, session } from './index.js';

const SESSION_COOKIE = /^tessera=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/;

function newManager(options: Partial<SessionManagerOptions> = {}): SessionManager {
  return new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false, ...options });
}

function setCookies(res: LightMyRequestResponse): string[] {
  const value = res.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

const sessionCookiesOf = (res: LightMyRequestResponse) => setCookies(res).filter((value) => /^(__Host-)?tessera=/.test(value));
const cookieOf = (res: LightMyRequestResponse) => (sessionCookiesOf(res)[0] ?? '').split(';')[0] as string;

/** Routes that use the session, registered on `app` (or a scope of it). */
function sessionRoutes(app: FastifyInstance): void {
  app.get('/whoami', (request) => ({ id: request.session.id, subject: request.session.subject, data: request.session.data() }));
  app.post('/increment', async (request) => ({ value: await request.session.increment('count') }));
  app.post('/login-rotate', async (request) => {
    await request.session.login('alice');
    await request.session.rotate();
    return { id: request.session.id };
  });
  app.get('/manager', (request) => ({ same: request.sessions === manager(request) }));
}
const managers = new WeakMap<object, SessionManager>();
const manager = (request: { server: object }) => managers.get(request.server);

async function appWith(sessions: SessionManager, setup: (app: FastifyInstance) => void = sessionRoutes): Promise<FastifyInstance> {
  const app = Fastify();
  managers.set(app, sessions);
  await app.register(session, { manager: sessions });
  setup(app);
  await app.ready();
  return app;
}

describe('fastify adapter: the session and its cookie', () => {
  it('a read sets no cookie; a first write sets one session cookie with Cache-Control: no-store', async () => {
    const app = await appWith(newManager());
    const read = await app.inject({ method: 'GET', url: '/whoami' });
    assert.deepEqual(read.json(), { id: null, subject: null, data: {} });
    assert.deepEqual(setCookies(read), []);
    assert.equal(read.headers['cache-control'], undefined);

    const write = await app.inject({ method: 'POST', url: '/increment' });
    assert.deepEqual(write.json(), { value: 1 });
    assert.equal(setCookies(write).length, 1);
    assert.match(setCookies(write)[0] as string, SESSION_COOKIE);
    assert.equal(write.headers['cache-control'], 'no-store');

    const again = await app.inject({ method: 'POST', url: '/increment', headers: { cookie: cookieOf(write) } });
    assert.deepEqual(again.json(), { value: 2 });
    assert.deepEqual(setCookies(again), [], 'the same token: nothing to set');
    await app.close();
  });

  it('a login and a rotation in one request send only the last token, which opens the session', async () => {
    const app = await appWith(newManager());
    const res = await app.inject({ method: 'POST', url: '/login-rotate' });
    assert.equal(sessionCookiesOf(res).length, 1);
    const me = await app.inject({ method: 'GET', url: '/whoami', headers: { cookie: cookieOf(res) } });
    assert.deepEqual(me.json(), { id: (res.json() as { id: string }).id, subject: 'alice', data: {} });
    await app.close();
  });

  it("merges the session cookie with the app's own: reply.header and @fastify/cookie, in either registration order", async () => {
    for (const cookieFirst of [true, false]) {
      const sessions = newManager();
      const app = Fastify();
      if (cookieFirst) await app.register(fastifyCookie);
      await app.register(session, { manager: sessions });
      if (!cookieFirst) await app.register(fastifyCookie);
      app.post('/prefs', async (request, reply) => {
        reply.header('set-cookie', 'theme=dark; Path=/');
        reply.setCookie('lang', request.cookies.lang === 'fr' ? 'de' : 'fr', { path: '/' });
        await request.session.login('alice');
        await request.session.rotate();
        reply.header('set-cookie', 'layout=wide; Path=/');
        return { ok: true };
      });
      app.get('/whoami', (request) => ({ subject: request.session.subject }));
      await app.ready();
      const res = await app.inject({ method: 'POST', url: '/prefs', headers: { cookie: 'lang=fr' } });
      const values = setCookies(res);
      assert.equal(values.length, 4, values.join('\n'));
      assert.ok(values.includes('theme=dark; Path=/'));
      assert.ok(values.includes('layout=wide; Path=/'));
      assert.ok(values.includes('lang=de; Path=/; SameSite=Lax'), 'request.cookies read the cookie header beside tessera');
      assert.equal(sessionCookiesOf(res).length, 1);
      assert.equal(res.headers['cache-control'], 'no-store');
      const me = await app.inject({ method: 'GET', url: '/whoami', headers: { cookie: `lang=fr; ${cookieOf(res)}` } });
      assert.deepEqual(me.json(), { subject: 'alice' }, 'the session cookie is found among the others');
      await app.close();
    }
  });

  it("drops an app cookie that has the session cookie's name: the core's one session Set-Cookie", async () => {
    const app = await appWith(newManager(), (scope) => {
      scope.post('/clash', async (request, reply) => {
        reply.header('set-cookie', 'tessera=planted; Path=/');
        await request.session.set('x', 1);
        return {};
      });
    });
    const res = await app.inject({ method: 'POST', url: '/clash' });
    assert.equal(sessionCookiesOf(res).length, 1);
    assert.match(sessionCookiesOf(res)[0] as string, SESSION_COOKIE);
    await app.close();
  });

  it('request.sessions is the manager', async () => {
    const sessions = newManager();
    const app = await appWith(sessions);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/manager' })).json(), { same: true });
    await app.close();
  });

  it('refuses to register without a manager, and twice in one scope', async () => {
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(session, {} as never);
      await app.ready();
    }, InvalidOptionError);
    const twice = Fastify();
    await twice.register(session, { manager: newManager() });
    await assert.rejects(async () => {
      await twice.register(session, { manager: newManager() });
      await twice.ready();
    }, /session/);
  });
});

describe('fastify adapter: trustProxy decides the client address and HTTPS', () => {
  // The client wrote 6.6.6.6 itself; the one proxy in front of the app appended the address it saw.
  const forwarded = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https' };

  const secure = /^__Host-tessera=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;
  // A hop count (trustProxy: 1) fails closed in recent Fastify 5 (5.12.8 here): it trusts no peer. The proxy is named by its address.
  const oneHop = (address: string, hop: number) => address === '127.0.0.1' && hop === 0;
  for (const [trustProxy, ip, cookie] of [
    [false, '127.0.0.1', SESSION_COOKIE],
    ['127.0.0.1', '203.0.113.9', secure],
    [oneHop, '203.0.113.9', secure],
  ] as const) {
    it(`trustProxy: ${typeof trustProxy === 'function' ? 'one hop' : trustProxy}: the session records ${ip}`, async () => {
      const sessions = newManager();
      const app = Fastify({ trustProxy });
      await app.register(session, { manager: sessions });
      app.post('/login', async (request) => {
        await request.session.login('alice');
        return { ip: request.session.info?.lastDevice.ip, requestIp: request.ip };
      });
      await app.ready();
      const res = await app.inject({ method: 'POST', url: '/login', headers: forwarded, remoteAddress: '127.0.0.1' });
      assert.deepEqual(res.json(), { ip, requestIp: ip });
      assert.match(sessionCookiesOf(res)[0] ?? '', cookie);
      await app.close();
    });
  }
});

describe('fastify adapter: fastify-plugin, so the scope is the one it is registered in', () => {
  it('registered at the root, it serves routes in encapsulated child plugins', async () => {
    const sessions = newManager();
    const app = Fastify();
    await app.register(session, { manager: sessions });
    await app.register(
      async (child) => {
        child.post('/increment', async (request) => ({ value: await request.session.increment('count') }));
      },
      { prefix: '/account' },
    );
    const res = await app.inject({ method: 'POST', url: '/account/increment' });
    assert.deepEqual(res.json(), { value: 1 });
    assert.equal(sessionCookiesOf(res).length, 1);
    await app.close();
  });

  it('registered inside a child plugin, only its routes load a session: the others read no store and ignore its outage', async () => {
    let broken = false;
    const counting = countingStore(faultyStore(new MemoryStore(), () => broken, 2));
    const sessions = newManager({ store: counting.store });
    const app = Fastify();
    await app.register(
      async (account) => {
        await account.register(session, { manager: sessions });
        account.post('/increment', async (request) => ({ value: await request.session.increment('count') }));
      },
      { prefix: '/account' },
    );
    app.get('/public', (request) => ({ session: request.session ?? 'none', sessions: request.sessions ?? 'none' }));
    // A wiring mistake, not the client's: requireAuth() outside the plugin's scope is a 500 for the app to log.
    const reached: Error[] = [];
    app.setErrorHandler((error: Error, _request, reply) => {
      reached.push(error);
      return reply.code(500).send({ answeredBy: 'app' });
    });
    app.get('/guarded', { preHandler: requireAuth() }, () => ({}));
    await app.ready();

    const login = await app.inject({ method: 'POST', url: '/account/increment' });
    assert.deepEqual(login.json(), { value: 1 });
    counting.reset();
    broken = true;
    const outside = await app.inject({ method: 'GET', url: '/public', headers: { cookie: cookieOf(login) } });
    assert.equal(outside.statusCode, 200);
    assert.deepEqual(outside.json(), { session: 'none', sessions: 'none' });
    assert.deepEqual(setCookies(outside), []);
    assert.equal(counting.total(), 0);
    const guarded = await app.inject({ method: 'GET', url: '/guarded', headers: { cookie: cookieOf(login) } });
    assert.equal(guarded.statusCode, 500);
    assert.match(reached.at(-1)?.message ?? '', /requireAuth\(\) needs the tessera plugin registered in this route's scope/);
    const inside = await app.inject({ method: 'POST', url: '/account/increment', headers: { cookie: cookieOf(login) } });
    assert.equal(inside.statusCode, 503);
    assert.equal(inside.headers['retry-after'], '2');
    await app.close();
  });
});
