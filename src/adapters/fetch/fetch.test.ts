import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidOptionError,
  InvalidValueError,
  ManualClock,
  SessionManager,
  StoreUnavailableError,
  TooManyRequestsError,
  type SessionManagerOptions,
} from '../../core/index.js';
import { MemoryStore } from '../../stores/memory/index.js';
import { faultyStore } from '../../testing/index.js';
import { isSessionError, loadSession, sessionErrorResponse, withSession } from './index.js';

function newManager(options: Partial<SessionManagerOptions> = {}): SessionManager {
  return new SessionManager({ store: new MemoryStore(), clock: new ManualClock(), cleanupInterval: false, ...options });
}

/** The `name=value` pair of the one session cookie `headers` set. */
function cookiePair(headers: Headers): string {
  const [value, ...more] = headers.getSetCookie();
  assert.equal(more.length, 0, 'one session Set-Cookie');
  assert.ok(value !== undefined, 'a session Set-Cookie');
  return value.slice(0, value.indexOf(';'));
}

const get = (cookie?: string, init: RequestInit & { url?: string } = {}) =>
  new Request(init.url ?? 'http://app.test/', { ...init, headers: { ...(cookie === undefined ? {} : { cookie }), ...init.headers } });

describe('fetch adapter: the session and its headers', () => {
  it('an anonymous read sets nothing, and withSession leaves the response as it was', async () => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, get());
    assert.equal(session.id, null);
    assert.deepEqual([...headers], []);
    const response = new Response('hi', { headers: { 'cache-control': 'public, max-age=60' } });
    assert.equal(withSession(response, headers), response);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=60');
  });

  it("a write puts one Set-Cookie and Cache-Control: no-store on the response; the app's cookies stay", async () => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, get());
    await session.increment('views');
    assert.equal(headers.get('cache-control'), 'no-store');
    const response = new Response('ok', {
      headers: [
        ['set-cookie', 'theme=dark; Path=/'],
        ['cache-control', 'public, max-age=60'],
      ],
    });
    assert.equal(withSession(response, headers), response, 'changed in place');
    const cookies = response.headers.getSetCookie();
    assert.equal(cookies.length, 2);
    assert.equal(cookies[0], 'theme=dark; Path=/');
    assert.match(cookies[1] ?? '', /^tessera=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.equal(response.headers.get('cache-control'), 'no-store');

    const again = await loadSession(manager, get(cookiePair(headers)));
    assert.equal(again.session.get('views'), 1);
  });

  it('login then rotate in one request: the response carries only the last token, which opens the session', async () => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, get());
    await session.set('cart', ['apple']);
    const first = cookiePair(headers);
    await session.login('alice');
    await session.rotate();
    const last = cookiePair(headers);
    assert.notEqual(last, first);

    const response = withSession(new Response(null, { headers: { 'set-cookie': `${first}; Path=/` } }), headers);
    assert.deepEqual(
      response.headers.getSetCookie().map((value) => value.slice(0, value.indexOf(';'))),
      [last],
      'an earlier session cookie on the response is replaced',
    );
    const next = await loadSession(manager, get(last));
    assert.equal(next.session.subject, 'alice');
    assert.deepEqual(next.session.get('cart'), ['apple'], 'login kept the anonymous data');
    const stale = await loadSession(manager, get(first));
    assert.equal(stale.session.subject, null, 'the token before login opens nothing');
  });

  it('a response with immutable headers (Response.redirect, a fetch() response) comes back as a copy that carries the cookie', async () => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, get());
    await session.login('alice');

    const redirect = Response.redirect('http://app.test/home', 303);
    assert.throws(() => redirect.headers.set('x-probe', '1'), TypeError, 'the platform keeps these headers immutable');
    const redirected = withSession(redirect, headers);
    assert.notEqual(redirected, redirect);
    assert.equal(redirected.status, 303);
    assert.equal(redirected.headers.get('location'), 'http://app.test/home');
    assert.equal(cookiePair(redirected.headers), cookiePair(headers));

    const fetched = await fetch('data:text/plain,from-elsewhere');
    const proxied = withSession(fetched, headers);
    assert.equal(proxied.headers.get('cache-control'), 'no-store');
    assert.equal(await proxied.text(), 'from-elsewhere', 'the body goes with the copy');
  });

  it('forwards the Idempotency-Key: a retried increment applies once', async () => {
    const manager = newManager();
    const first = await loadSession(manager, get());
    await first.session.set('seen', true);
    const cookie = cookiePair(first.headers);
    const retry = () => get(cookie, { method: 'POST', headers: { 'idempotency-key': 'order-17' } });
    assert.equal(await (await loadSession(manager, retry())).session.increment('count'), 1);
    assert.equal(await (await loadSession(manager, retry())).session.increment('count'), 1);
    assert.equal((await loadSession(manager, get(cookie))).session.get('count'), 1);
  });
});

describe('fetch adapter: HTTPS and the client address', () => {
  const login = async (request: Request, options: Parameters<typeof loadSession>[2] = {}) => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, request, options);
    await session.login('alice');
    return {
      cookie: headers.getSetCookie()[0] ?? '',
      ip: session.info?.lastDevice.ip ?? null,
      userAgent: session.info?.lastDevice.userAgent,
    };
  };
  const forwarded = (url: string) =>
    get(undefined, { url, headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https', 'user-agent': 'probe/1' } });

  it('an https: URL gives a Secure __Host- cookie, an http: one a plain cookie', async () => {
    assert.match((await login(get(undefined, { url: 'https://app.test/' }))).cookie, /^__Host-tessera=[^;]+;.*; Secure/);
    assert.match((await login(get())).cookie, /^tessera=/);
    assert.doesNotMatch((await login(get())).cookie, /Secure/);
  });

  it('ignores X-Forwarded-For and X-Forwarded-Proto unless a proxy is trusted', async () => {
    const direct = await login(forwarded('http://app.test/'), { ip: '198.51.100.7' });
    assert.equal(direct.ip, '198.51.100.7');
    assert.match(direct.cookie, /^tessera=/);
    assert.equal(direct.userAgent, 'probe/1');
  });

  it('behind one trusted proxy, believes the entry that proxy appended (not the forged one before it)', async () => {
    const proxied = await login(forwarded('http://app.test/'), { ip: '10.0.0.2', trustProxy: 1 });
    assert.equal(proxied.ip, '203.0.113.9');
    assert.match(proxied.cookie, /^__Host-tessera=.*; Secure/);
    assert.equal((await login(forwarded('http://app.test/'), { ip: '10.0.0.2', trustProxy: true })).ip, '203.0.113.9');
    assert.equal((await login(forwarded('http://app.test/'), { ip: '10.0.0.2', trustProxy: 2 })).ip, '6.6.6.6');
  });

  it('the proxy that says http wins over an https: URL; `secure` wins over both', async () => {
    const plain = get(undefined, { url: 'https://app.test/', headers: { 'x-forwarded-proto': 'http' } });
    assert.match((await login(plain, { trustProxy: 1 })).cookie, /^tessera=/);
    assert.match((await login(get(), { secure: true })).cookie, /^__Host-tessera=/);
    assert.match((await login(forwarded('https://app.test/'), { trustProxy: 1, secure: false })).cookie, /^tessera=/);
  });

  it('refuses a trustProxy that is not a hop count', async () => {
    await assert.rejects(loadSession(newManager(), get(), { trustProxy: -1 }), InvalidOptionError);
    await assert.rejects(loadSession(newManager(), get(), { trustProxy: 1.5 }), InvalidOptionError);
  });
});

describe('fetch adapter: errors as responses', () => {
  it('a store outage while loading: 503 with Retry-After, saying only that the store is unavailable', async () => {
    let broken = false;
    const manager = newManager({ store: faultyStore(new MemoryStore(), () => broken, 7) });
    const first = await loadSession(manager, get());
    await first.session.login('alice');
    broken = true;
    const error = await loadSession(manager, get(cookiePair(first.headers))).then(
      () => assert.fail('a store outage is not "no session"'),
      (caught: unknown) => caught,
    );
    assert.ok(isSessionError(error));
    const response = sessionErrorResponse(error);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '7');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await response.json(), { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
  });

  it('throws again what is not for a client: a bug, or a value that is not JSON', () => {
    const bug = new Error('boom');
    assert.throws(
      () => sessionErrorResponse(bug),
      (thrown) => thrown === bug,
    );
    const notJson = new InvalidValueError('since', 'value', 'is a Date');
    assert.equal(isSessionError(notJson), false);
    assert.throws(
      () => sessionErrorResponse(notJson),
      (thrown) => thrown === notJson,
    );
  });

  it("keeps a cookie that clears the session and drops one that hands out a token; a 429's own clearing cookie stays", async () => {
    const manager = newManager();
    const { session, headers } = await loadSession(manager, get());
    await session.login('alice');
    const issued = sessionErrorResponse(new StoreUnavailableError(), headers);
    assert.deepEqual(issued.headers.getSetCookie(), [], 'a token from a request that failed is not handed out');

    await session.logout();
    const cleared = sessionErrorResponse(new StoreUnavailableError(), headers);
    assert.match(cleared.headers.getSetCookie().join('\n'), /^tessera=; Max-Age=0;/);

    const limited = sessionErrorResponse(new TooManyRequestsError(30, 'too many requests', { setCookie: 'tessera=; Max-Age=0; Path=/' }));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '30');
    assert.deepEqual(limited.headers.getSetCookie(), ['tessera=; Max-Age=0; Path=/']);
  });
});
