/**
 * End-to-end: the built demo server (`node dist/demo/server.js`) on a free port and a SQLite file,
 * driven over real HTTP the way the page and other clients use it. The API contract is issue 2's.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { COOKIE_NAME, DemoClient, issuedTokens, type ApiResponse } from './support/demo-client.js';
import { runDemoExpectingFailure, startDemoServer, type DemoServer } from './support/demo-server.js';

const SESSION_KEYS = ['absoluteExpiresAt', 'createdAt', 'data', 'expiresAt', 'id', 'lastSeenAt', 'ttl', 'username'];
const LIST_KEYS = ['createdAt', 'current', 'expiresAt', 'id', 'ip', 'lastSeenAt', 'userAgent'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A 4xx with the `{error:{code,message}}` body and nothing internal in it. */
function assertError(res: ApiResponse, status: number, code?: string): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.body?.error?.code, 'string', res.text);
  assert.equal(typeof res.body?.error?.message, 'string', res.text);
  assert.deepEqual(Object.keys(res.body), ['error']);
  if (code !== undefined) assert.equal(res.body.error.code, code);
  assert.doesNotMatch(res.text, /\n\s+at |node:internal|\.ts:\d+|\.js:\d+/, 'no stack trace in an error body');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
}

function assertSessionShape(session: any): void {
  assert.deepEqual(Object.keys(session).sort(), SESSION_KEYS);
  for (const key of ['createdAt', 'lastSeenAt', 'expiresAt', 'absoluteExpiresAt']) assert.match(session[key], ISO, key);
  assert.equal(typeof session.id, 'string');
  assert.equal(typeof session.ttl, 'number');
  assert.equal(typeof session.data, 'object');
}

function tokenCookie(res: ApiResponse) {
  const cookies = res.setCookies.filter((c) => c.name === COOKIE_NAME);
  assert.equal(cookies.length, 1, `exactly one ${COOKIE_NAME} cookie: ${res.headers.get('set-cookie')}`);
  return cookies[0]!;
}

describe('demo API (SQLite store)', () => {
  let server: DemoServer;
  const client = (userAgent?: string) => new DemoClient(() => server.url, userAgent);

  before(async () => {
    server = await startDemoServer();
  });
  after(async () => {
    await server?.dispose();
  });

  it('serves the page with a CSP that allows no inline script, nosniff and no-referrer', async () => {
    const res = await client().get('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    const scriptSrc = /(?:^|;)\s*script-src ([^;]*)/.exec(csp)?.[1] ?? '';
    assert.match(scriptSrc, /'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.doesNotMatch(res.text, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is external');
    const js = await client().get('/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    const css = await client().get('/app.css');
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  });

  it('logs in: S, and a token cookie that is HttpOnly, SameSite=Lax, Path=/, not Secure over http, Max-Age ending at the absolute expiry', async () => {
    const c = client();
    const before = Date.now();
    const res = await c.login('alice', 600);
    assert.equal(res.status, 200, res.text);
    const { session } = res.body;
    assertSessionShape(session);
    assert.equal(session.username, 'alice');
    assert.equal(session.ttl, 600);
    assert.deepEqual(session.data, {});
    const cookie = tokenCookie(res);
    assert.match(cookie.value, /^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(cookie.value.split('.')[0], session.id, 'the public id is the first half of the token');
    assert.ok(cookie.attributes.has('httponly'));
    assert.equal(cookie.attributes.get('samesite'), 'Lax');
    assert.equal(cookie.attributes.get('path'), '/');
    assert.ok(!cookie.attributes.has('secure'), 'no Secure over plain http');
    assert.ok(!cookie.attributes.has('domain'), 'host-only');
    assert.ok(!cookie.attributes.has('maxage'), 'Max-Age, not MaxAge');
    const maxAge = Number(cookie.attributes.get('max-age'));
    // The idle timeout (600 s) is enforced by the store; the cookie lives until the absolute expiry.
    const expiresIn = (Date.parse(session.absoluteExpiresAt) - before) / 1000;
    assert.ok(Math.abs(maxAge - expiresIn) <= 2, `Max-Age ${maxAge} vs absolute expiry in ${expiresIn}s`);
    assert.ok(maxAge >= 86_398 && maxAge <= 86_400);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.ok(Date.parse(session.absoluteExpiresAt) > Date.parse(session.expiresAt));
  });

  it('accepts the boundary values: a 64-character username and ttl 1 and 86400', async () => {
    const name = `${'a'.repeat(60)}.@_-`;
    const res = await client().login(name, 86400);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.session.username, name);
    assert.equal(res.body.session.ttl, 86400);
    const one = await client().login('b', 1);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.session.ttl, 1);
    const none = await client().login('c');
    assert.equal(none.status, 200, none.text);
    assert.equal(typeof none.body.session.ttl, 'number');
  });

  it('GET /api/session returns S for the cookie, and 401 without one', async () => {
    const c = client();
    const login = await c.login('bob', 300);
    const res = await c.get('/api/session');
    assert.equal(res.status, 200);
    assertSessionShape(res.body.session);
    assert.equal(res.body.session.id, login.body.session.id);
    assert.equal(res.body.session.username, 'bob');
    assertError(await client().get('/api/session'), 401, 'NO_SESSION');
  });

  it('GET /api/session/store shows the record as stored, with the secret hash shortened', async () => {
    const c = client();
    const login = await c.login('carol', 300);
    await c.post('/api/session/increment', { field: 'views' });
    const res = await c.get('/api/session/store');
    assert.equal(res.status, 200, res.text);
    assert.match(res.body.store, /^sqlite:/);
    assert.equal(res.body.cache, null, 'the cache is off unless TESSERA_CACHE=on');
    const { record } = res.body;
    assert.equal(record.id, login.body.session.id);
    assert.equal(record.subject, 'carol');
    assert.deepEqual(record.data, { views: 1 });
    assert.equal(record.idleTimeout, 300);
    assert.match(record.secretHash, /^[A-Za-z0-9_-]{8}…$/);
    for (const [key, value] of Object.entries(record)) {
      if (/secrethash$/i.test(key) && typeof value === 'string') assert.match(value, /^[A-Za-z0-9_-]{8}…$/, key);
    }
    assert.ok(!res.text.includes(c.token!.split('.')[1]!), 'no secret in the answer');
    assertError(await client().get('/api/session/store'), 401);
  });

  it('increments a field and returns {field, value}; S.data follows', async () => {
    const c = client();
    await c.login('dave', 300);
    for (let i = 1; i <= 3; i++) {
      const res = await c.post('/api/session/increment', { field: 'views' });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { field: 'views', value: i });
    }
    const other = await c.post('/api/session/increment', { field: 'Other_1' });
    assert.deepEqual(other.body, { field: 'Other_1', value: 1 });
    const res = await c.get('/api/session');
    assert.deepEqual(res.body.session.data, { views: 3, Other_1: 1 });
  });

  it('200 concurrent increments on one session add exactly 200', async () => {
    const c = client();
    await c.login('counter', 3600);
    assert.equal((await c.post('/api/session/increment', { field: 'hits' })).body.value, 1);
    const results = await Promise.all(Array.from({ length: 200 }, () => c.clone().post('/api/session/increment', { field: 'hits' })));
    for (const res of results) assert.equal(res.status, 200, res.text);
    const values = results.map((res) => res.body.value as number);
    assert.equal(new Set(values).size, 200, 'every increment saw its own value');
    assert.equal(Math.max(...values), 201);
    const after = await c.get('/api/session');
    assert.equal(after.body.session.data.hits, 201);
  });

  it('login from an anonymous session with data issues a new token, keeps the data and kills the old token (fixation)', async () => {
    const c = client();
    const anon = await c.post('/api/session/increment', { field: 'views' });
    assert.equal(anon.status, 200, anon.text);
    const anonToken = tokenCookie(anon).value;
    const anonSession = await c.get('/api/session');
    assert.equal(anonSession.body.session.username, null);
    assert.deepEqual(anonSession.body.session.data, { views: 1 });
    const planted = c.clone(); // an attacker who planted or knows the anonymous token

    const login = await c.login('erin', 300);
    assert.equal(login.status, 200, login.text);
    const newToken = tokenCookie(login).value;
    assert.notEqual(newToken, anonToken);
    assert.notEqual(login.body.session.id, anonSession.body.session.id, 'new public id too');
    assert.deepEqual(login.body.session.data, { views: 1 }, 'data kept across login');

    assertError(await planted.get('/api/session'), 401, 'NO_SESSION');
    assert.equal((await c.get('/api/session')).status, 200);

    // Re-authenticating a logged-in session rotates the token again.
    const again = await c.login('erin', 300);
    assert.equal(again.status, 200);
    assert.notEqual(tokenCookie(again).value, newToken);
    assert.deepEqual(again.body.session.data, { views: 1 });
    const stale = new DemoClient(() => server.url);
    stale.token = newToken;
    assertError(await stale.get('/api/session'), 401);
  });

  it('logout answers 204, clears the cookie (Max-Age=0, same name and path) and kills the token', async () => {
    const c = client();
    await c.login('frank', 300);
    const old = c.clone();
    const res = await c.post('/api/logout');
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const cookie = tokenCookie(res);
    assert.equal(cookie.value, '');
    assert.equal(cookie.attributes.get('max-age'), '0');
    assert.equal(cookie.attributes.get('path'), '/');
    assert.ok(cookie.attributes.has('httponly'));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(c.token, null);
    assertError(await old.get('/api/session'), 401);
    // Logging out without a session is not an error.
    const anonymous = await client().post('/api/logout');
    assert.equal(anonymous.status, 204);
    assert.deepEqual(tokenCookie(anonymous), cookie, "the same clearing cookie as a session's logout sends");
  });

  it('PUT /api/session/ttl changes the idle timeout and the expiry; the cookie, which lasts to the absolute expiry, is not re-sent', async () => {
    const c = client();
    await c.login('grace', 60);
    const before = Date.now();
    const res = await c.put('/api/session/ttl', { ttl: 1200 });
    assert.equal(res.status, 200, res.text);
    assertSessionShape(res.body.session);
    assert.equal(res.body.session.ttl, 1200);
    const expiresIn = (Date.parse(res.body.session.expiresAt) - before) / 1000;
    assert.ok(expiresIn > 1197 && expiresIn <= 1201, `expires in ${expiresIn}s`);
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal((await c.get('/api/session')).body.session.ttl, 1200);
    assertError(await client().put('/api/session/ttl', { ttl: 60 }), 401);
  });

  it("lists the user's sessions with the current one flagged and the other device's agent and IP", async () => {
    const laptop = client(FIREFOX);
    const desktop = client(CHROME);
    const a = await laptop.login('ivy', 600);
    const b = await desktop.login('ivy', 600);
    await client().login('someone-else', 600);
    const res = await laptop.get('/api/sessions');
    assert.equal(res.status, 200, res.text);
    const { sessions } = res.body;
    assert.equal(sessions.length, 2);
    for (const s of sessions) {
      assert.deepEqual(Object.keys(s).sort(), LIST_KEYS);
      for (const key of ['createdAt', 'lastSeenAt', 'expiresAt']) assert.match(s[key], ISO);
      assert.equal(s.ip, '127.0.0.1');
    }
    const current = sessions.filter((s: any) => s.current);
    assert.equal(current.length, 1);
    assert.equal(current[0].id, a.body.session.id);
    assert.equal(current[0].userAgent, FIREFOX);
    const other = sessions.find((s: any) => !s.current);
    assert.equal(other.id, b.body.session.id);
    assert.equal(other.userAgent, CHROME);
    assert.equal(res.body.nextCursor, null, 'one page holds them all');
    const fromDesktop = await desktop.get('/api/sessions');
    assert.equal(fromDesktop.body.sessions.find((s: any) => s.current).id, b.body.session.id);
    assertError(await client().get('/api/sessions'), 401);
  });

  it('GET /api/sessions is paged: 20 by default, ?limit= up to 100, ?cursor= from nextCursor, oldest first, each session once', async () => {
    const devices = Array.from({ length: 25 }, (_, i) => client(`device-${i}`));
    const ids: string[] = [];
    for (const device of devices) ids.push((await device.login('paula', 600)).body.session.id);
    const viewer = devices[24] as DemoClient;
    const first = await viewer.get('/api/sessions');
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(Object.keys(first.body).sort(), ['nextCursor', 'sessions']);
    assert.equal(first.body.sessions.length, 20);
    for (const s of first.body.sessions) assert.deepEqual(Object.keys(s).sort(), LIST_KEYS);
    assert.equal(typeof first.body.nextCursor, 'string');
    const second = await viewer.get(`/api/sessions?cursor=${encodeURIComponent(first.body.nextCursor)}`);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.sessions.length, 5);
    assert.equal(second.body.nextCursor, null);
    const listed = [...first.body.sessions, ...second.body.sessions];
    assert.deepEqual(listed.map((s: any) => s.id).sort(), [...ids].sort(), 'every session once');
    const created = listed.map((s: any) => Date.parse(s.createdAt));
    assert.deepEqual(
      created,
      [...created].sort((x, y) => x - y),
      'oldest first',
    );
    assert.deepEqual(
      listed.filter((s: any) => s.current).map((s: any) => s.id),
      [ids[24]],
    );

    const all = await viewer.get('/api/sessions?limit=100');
    assert.equal(all.body.sessions.length, 25);
    assert.equal(all.body.nextCursor, null);
    const one = await viewer.get('/api/sessions?limit=1&cursor=');
    assert.equal(one.status, 200, 'an empty cursor is the first page');
    assert.deepEqual(
      one.body.sessions.map((s: any) => s.id),
      [listed[0].id],
    );
    const next = await viewer.get(`/api/sessions?limit=1&cursor=${encodeURIComponent(one.body.nextCursor)}`);
    assert.deepEqual(
      next.body.sessions.map((s: any) => s.id),
      [listed[1].id],
    );
  });

  it('GET /api/sessions answers a bad limit or cursor with 400', async () => {
    const c = client();
    await c.login('quinn', 600);
    const bad = [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=1.5',
      'limit=-1',
      'limit=1e1',
      'limit=%2010',
      'limit=5&limit=6',
      'cursor=a&cursor=b',
      `cursor=${'x'.repeat(600)}`,
      'cursor=%00',
      'cursor=not-a-cursor',
    ];
    for (const query of bad) assertError(await c.get(`/api/sessions?${query}`), 400, 'BAD_REQUEST');
    assert.equal((await c.get('/api/sessions?limit=100')).status, 200);
  });

  it('POST /api/session/increment with an Idempotency-Key: a retry answers the same value and counts once; a new key counts again', async () => {
    const c = client();
    await c.login('rita', 600);
    const send = (key: string) => c.post('/api/session/increment', { field: 'views' }, { headers: { 'idempotency-key': key } });
    assert.deepEqual((await send('click-1')).body, { field: 'views', value: 1 });
    const retry = await send('click-1');
    assert.equal(retry.status, 200, retry.text);
    assert.deepEqual(retry.body, { field: 'views', value: 1 }, 'the retry is answered, not applied again');
    assert.deepEqual((await send('click-2')).body, { field: 'views', value: 2 });
    assert.equal((await c.get('/api/session')).body.session.data.views, 2);
    assertError(await send('not a key'), 400, 'BAD_REQUEST');
    assert.equal((await c.get('/api/session')).body.session.data.views, 2);
  });

  it("DELETE /api/sessions/:id: 404 for another user's session, 204 for one's own and that client is out", async () => {
    const phone = client(CHROME);
    const tablet = client(FIREFOX);
    const mallory = client();
    const p = await phone.login('judy', 600);
    const t = await tablet.login('judy', 600);
    await mallory.login('mallory', 600);

    assertError(await mallory.delete(`/api/sessions/${p.body.session.id}`), 404, 'NOT_FOUND');
    assert.equal((await phone.get('/api/session')).status, 200, 'still alive');
    assertError(await phone.delete(`/api/sessions/${'A'.repeat(28)}`), 404);
    assertError(await client().delete(`/api/sessions/${t.body.session.id}`), 401);

    const res = await phone.delete(`/api/sessions/${t.body.session.id}`);
    assert.equal(res.status, 204, res.text);
    assertError(await tablet.get('/api/session'), 401);
    assert.equal((await phone.get('/api/session')).status, 200);
    assertError(await phone.delete(`/api/sessions/${t.body.session.id}`), 404, 'NOT_FOUND'); // already gone

    // Revoking the current session is a logout.
    const own = await phone.delete(`/api/sessions/${p.body.session.id}`);
    assert.equal(own.status, 204);
    assert.equal(tokenCookie(own).attributes.get('max-age'), '0');
    assertError(await phone.get('/api/session'), 401);
  });

  it('POST /api/sessions/revoke-others ends every other session of the user and reports how many', async () => {
    const devices = [client(FIREFOX), client(CHROME), client('curl/8.5.0')];
    for (const d of devices) assert.equal((await d.login('kate', 600)).status, 200);
    const bystander = client();
    await bystander.login('leo', 600);
    const [keep, ...others] = devices as [DemoClient, ...DemoClient[]];
    const res = await keep.post('/api/sessions/revoke-others');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { revoked: 2 });
    for (const d of others) assertError(await d.get('/api/session'), 401);
    assert.equal((await keep.get('/api/session')).status, 200);
    assert.equal((await bystander.get('/api/session')).status, 200, 'other users untouched');
    assert.deepEqual((await keep.post('/api/sessions/revoke-others')).body, { revoked: 0 });
    assertError(await client().post('/api/sessions/revoke-others'), 401);
  });

  describe('bad input answers 4xx {error:{code,message}}, never a 500', () => {
    const json = 'application/json';
    const loginCases: Array<[string, { raw?: string; contentType?: string; json?: unknown }]> = [
      ['invalid JSON', { raw: '{"username":', contentType: json }],
      ['trailing garbage', { raw: '{"username":"a"} x', contentType: json }],
      ['form encoding', { raw: 'username=alice', contentType: 'application/x-www-form-urlencoded' }],
      ['JSON without a content type', { raw: '{"username":"alice"}', contentType: 'text/plain' }],
      ['empty body', {}],
      ['array', { json: ['alice'] }],
      ['null', { raw: 'null', contentType: json }],
      ['string', { json: 'alice' }],
      ['number', { json: 42 }],
      ['missing username', { json: { ttl: 60 } }],
      ['empty username', { json: { username: '' } }],
      ['65-character username', { json: { username: 'a'.repeat(65) } }],
      ['username with a space', { json: { username: 'al ice' } }],
      ['username with a slash', { json: { username: 'a/b' } }],
      ['non-ASCII username', { json: { username: 'ålice' } }],
      ['username with a NUL', { json: { username: 'a\u0000b' } }],
      ['numeric username', { json: { username: 42 } }],
      ['null username', { json: { username: null } }],
      ['object username', { json: { username: { $ne: 1 } } }],
      ['ttl 0', { json: { username: 'a', ttl: 0 } }],
      ['ttl 86401', { json: { username: 'a', ttl: 86401 } }],
      ['negative ttl', { json: { username: 'a', ttl: -60 } }],
      ['fractional ttl', { json: { username: 'a', ttl: 1.5 } }],
      ['ttl as a string', { json: { username: 'a', ttl: '60' } }],
      ['null ttl', { json: { username: 'a', ttl: null } }],
      ['huge ttl', { raw: '{"username":"a","ttl":1e400}', contentType: json }],
      ['unknown field', { json: { username: 'a', admin: true } }],
      ['__proto__ field', { raw: '{"username":"a","__proto__":{"admin":true}}', contentType: json }],
      ['oversized body', { json: { username: 'a', pad: 'x'.repeat(64 * 1024) } }],
    ];
    for (const [name, options] of loginCases) {
      it(`POST /api/login: ${name} → 400`, async () => {
        const c = client();
        const res = await c.request('POST', '/api/login', options);
        assertError(res, 400, 'BAD_REQUEST');
        assert.equal(c.token, null, 'no cookie for a refused login');
      });
    }

    const reserved = [
      'id',
      'username',
      'data',
      'createdAt',
      'lastSeenAt',
      'expiresAt',
      'absoluteExpiresAt',
      'ttl',
      'CreatedAt',
      'TTL',
      'secretHash',
      'renewedAt',
    ];
    const fieldCases: Array<[string, unknown]> = [
      ['missing field', {}],
      ['empty field', { field: '' }],
      ['65-character field', { field: 'f'.repeat(65) }],
      ['field with a dash', { field: 'a-b' }],
      ['field with a dot', { field: 'a.b' }],
      ['field with a space', { field: 'a b' }],
      ['numeric field', { field: 5 }],
      ['null field', { field: null }],
      ['array field', { field: ['views'] }],
      ['unknown extra key', { field: 'views', by: 100 }],
      ...reserved.map((name): [string, unknown] => [`reserved field ${name}`, { field: name }]),
    ];
    const ttlCases: Array<[string, unknown]> = [
      ['missing ttl', {}],
      ['ttl 0', { ttl: 0 }],
      ['ttl 86401', { ttl: 86401 }],
      ['negative ttl', { ttl: -5 }],
      ['fractional ttl', { ttl: 2.5 }],
      ['ttl as a string', { ttl: '60' }],
      ['boolean ttl', { ttl: true }],
      ['null ttl', { ttl: null }],
      ['unknown extra key', { ttl: 60, absolute: 1 }],
    ];

    let user: DemoClient;
    before(async () => {
      user = client();
      assert.equal((await user.login('validator', 600)).status, 200);
      assert.equal((await user.post('/api/session/increment', { field: 'views' })).status, 200);
    });

    for (const [name, body] of fieldCases) {
      it(`POST /api/session/increment: ${name} → 400`, async () => {
        assertError(await user.post('/api/session/increment', body), 400, 'BAD_REQUEST');
      });
    }
    it('POST /api/session/increment: invalid JSON and a missing body → 400', async () => {
      assertError(await user.request('POST', '/api/session/increment', { raw: '{field', contentType: 'application/json' }), 400);
      assertError(await user.request('POST', '/api/session/increment'), 400);
    });
    for (const [name, body] of ttlCases) {
      it(`PUT /api/session/ttl: ${name} → 400`, async () => {
        assertError(await user.put('/api/session/ttl', body), 400, 'BAD_REQUEST');
      });
    }
    it('DELETE /api/sessions/:id with a malformed id → 400', async () => {
      for (const id of ['nope', 'x'.repeat(300), '%00', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA!']) {
        assertError(await user.delete(`/api/sessions/${id}`), 400);
      }
    });

    it('none of the refused requests changed the session', async () => {
      const res = await user.get('/api/session');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.session.data, { views: 1 });
      assert.equal(res.body.session.ttl, 600);
    });

    it('unknown routes → 404 JSON; wrong methods → 405 JSON with Allow', async () => {
      for (const path of [
        '/api/unknown',
        '/api',
        '/api/session/',
        '/api/sessions/a/b',
        '/nope',
        '/dist/demo/server.js',
        '/../package.json',
      ]) {
        assertError(await user.get(path), 404, 'NOT_FOUND');
      }
      const wrong: Array<[string, string, string]> = [
        ['POST', '/api/session', 'GET'],
        ['GET', '/api/login', 'POST'],
        ['DELETE', '/api/session/ttl', 'PUT'],
        ['PATCH', '/api/session/ttl', 'PUT'],
        ['GET', '/api/logout', 'POST'],
        ['DELETE', '/api/sessions', 'GET'],
        ['GET', '/api/sessions/revoke-others', 'POST'],
        ['POST', `/api/sessions/${'A'.repeat(28)}`, 'DELETE'],
        ['POST', '/', 'GET, HEAD'],
      ];
      for (const [method, path, allow] of wrong) {
        const res = await user.request(method, path);
        assertError(res, 405);
        assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
      }
    });

    it('a token in the URL query or as a bearer token is not accepted', async () => {
      const token = user.token!;
      const anonymous = client();
      assertError(await anonymous.get(`/api/session?tessera=${encodeURIComponent(token)}`), 401);
      assertError(await anonymous.get(`/api/session?token=${encodeURIComponent(token)}`), 401);
      assertError(await anonymous.get('/api/session', { headers: { authorization: `Bearer ${token}` } }), 401);
      assertError(await anonymous.get('/api/sessions', { headers: { authorization: `Bearer ${token}` } }), 401);
    });

    it('malformed, unknown and oversized cookies are "no session", not errors', async () => {
      const cookies = [
        `${COOKIE_NAME}=garbage`,
        `${COOKIE_NAME}=`,
        `${COOKIE_NAME}=${'A'.repeat(28)}.${'B'.repeat(43)}`,
        `${COOKIE_NAME}="${'x'.repeat(70)}"`,
        `${COOKIE_NAME}=${'%'.repeat(5000)}`,
        `a=b; ${COOKIE_NAME}; c`,
        // The last character changed (to another that a 32-byte secret can end with): one in 16 tokens ends with A.
        `${COOKIE_NAME}=${user.token!.slice(0, -1)}${user.token!.endsWith('A') ? 'E' : 'A'}`,
      ];
      for (const cookie of cookies) {
        const res = await client().get('/api/session', { headers: { cookie } });
        assertError(res, 401);
      }
    });

    it('state changes from another origin are refused', async () => {
      const res = await user.post('/api/session/increment', { field: 'views' }, { headers: { origin: 'http://evil.example' } });
      assertError(res, 403);
      assert.equal((await user.get('/api/session')).body.session.data.views, 1);
      const sameOrigin = await user.post('/api/session/increment', { field: 'views' }, { headers: { origin: server.url } });
      assert.equal(sameOrigin.status, 200);
    });
  });

  it('sessions survive a restart of the server on the same SQLite file', async () => {
    const c = client(FIREFOX);
    const login = await c.login('persistent', 3600);
    for (let i = 0; i < 3; i++) await c.post('/api/session/increment', { field: 'views' });
    const revoked = client();
    await revoked.login('persistent-gone', 3600);
    await revoked.post('/api/logout');
    const oldUrl = server.url;
    await server.restart();
    assert.notEqual(server.url, '', `restarted (was ${oldUrl}, now ${server.url})`);
    const res = await c.get('/api/session');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.session.id, login.body.session.id);
    assert.deepEqual(res.body.session.data, { views: 3 });
    assert.equal(res.body.session.ttl, 3600);
    assert.equal((await c.post('/api/session/increment', { field: 'views' })).body.value, 4);
    const list = await c.get('/api/sessions');
    assert.equal(list.body.sessions.length, 1);
  });

  it('the SQLite file (and its WAL) holds none of the tokens or secrets that were issued', async () => {
    const path = server.sqlitePath;
    assert.ok(path !== null && existsSync(path), `SQLite file at ${path}`);
    const files = () => [path, `${path}-wal`, `${path}-shm`].filter((p) => existsSync(p)).map((p) => readFileSync(p));
    const check = (label: string) => {
      const contents = files();
      assert.ok(issuedTokens.size > 20, `tokens were collected (${issuedTokens.size})`);
      for (const token of issuedTokens) {
        const [, secret = ''] = token.split('.');
        assert.equal(secret.length, 43);
        const secretBytes = Buffer.from(secret, 'base64url');
        for (const bytes of contents) {
          assert.equal(bytes.includes(token), false, `${label}: a token is stored`);
          assert.equal(bytes.includes(secret), false, `${label}: a token secret is stored`);
          assert.equal(bytes.includes(secretBytes), false, `${label}: a token secret's bytes are stored`);
        }
      }
      return contents;
    };
    // The live sessions are in there (so this is the right file), but only by public id.
    const live = client();
    const res = await live.login('needle-user', 600);
    const contents = check('while running');
    assert.ok(
      contents.some((bytes) => bytes.includes(res.body.session.id)),
      'the public id of a live session is in the file, so the grep looks at the right bytes',
    );
    assert.deepEqual(await server.stop(), { code: 0, signal: null }, 'SIGTERM shuts down cleanly');
    check('after shutdown');
  });
});

describe('demo API defaults (memory store)', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_STORE: 'memory:' } });
  });
  after(async () => {
    await server?.dispose();
  });

  it("keeps the library's per-user limit when TESSERA_MAX_SESSIONS is unset: 100 live sessions, the oldest evicted", async () => {
    const devices = Array.from({ length: 101 }, (_, i) => new DemoClient(() => server.url, `device-${i}`));
    for (const device of devices) assert.equal((await device.login('prolific', 600)).status, 200);
    const list = await (devices[100] as DemoClient).get('/api/sessions?limit=100');
    assert.equal(list.body.sessions.length, 100);
    assert.equal(list.body.nextCursor, null);
    assertError(await (devices[0] as DemoClient).get('/api/session'), 401);
    assert.equal((await (devices[1] as DemoClient).get('/api/session')).status, 200);
  });
});

describe('demo API with TESSERA_MAX_SESSIONS=1 (evict-oldest)', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_MAX_SESSIONS: '1' } });
  });
  after(async () => {
    await server?.dispose();
  });

  it('a second login evicts the first device', async () => {
    const first = new DemoClient(() => server.url, FIREFOX);
    const second = new DemoClient(() => server.url, CHROME);
    assert.equal((await first.login('solo', 600)).status, 200);
    assert.equal((await second.login('solo', 600)).status, 200);
    assertError(await first.get('/api/session'), 401);
    assert.equal((await second.get('/api/session')).status, 200);
    const list = await second.get('/api/sessions');
    assert.equal(list.body.sessions.length, 1);
    assert.equal(list.body.sessions[0].current, true);
    // Re-authenticating the surviving session is not an overflow.
    assert.equal((await second.login('solo', 600)).status, 200);
    assert.equal((await second.get('/api/session')).status, 200);
  });

  it('20 simultaneous logins of one user leave exactly one live session', async () => {
    const clients = Array.from({ length: 20 }, (_, i) => new DemoClient(() => server.url, `device-${i}`));
    const logins = await Promise.all(clients.map((c) => c.login('crowd', 600)));
    for (const res of logins) assert.equal(res.status, 200, res.text);
    const checks = await Promise.all(clients.map((c) => c.get('/api/session')));
    assert.equal(checks.filter((res) => res.status === 200).length, 1);
  });
});

describe('demo API with TESSERA_MAX_SESSIONS=1 and TESSERA_ON_LIMIT=reject', () => {
  let server: DemoServer;
  before(async () => {
    server = await startDemoServer({ env: { TESSERA_MAX_SESSIONS: '1', TESSERA_ON_LIMIT: 'reject' } });
  });
  after(async () => {
    await server?.dispose();
  });

  it('a login beyond the limit is refused with 409 and the first device keeps its session', async () => {
    const first = new DemoClient(() => server.url, FIREFOX);
    const second = new DemoClient(() => server.url, CHROME);
    assert.equal((await first.login('single', 600)).status, 200);
    const refused = await second.login('single', 600);
    assertError(refused, 409, 'SESSION_LIMIT');
    assert.equal(second.token, null, 'no token for a refused login');
    assert.equal((await first.get('/api/session')).status, 200);
    assert.equal((await first.login('single', 600)).status, 200, 're-authentication replaces, does not add');
    assert.equal((await new DemoClient(() => server.url).login('someone', 600)).status, 200, 'other users unaffected');
    assert.equal((await first.post('/api/logout')).status, 204);
    assert.equal((await second.login('single', 600)).status, 200, 'room again after logout');
  });
});

describe('demo configuration errors stop the server with a clear message', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ TESSERA_STORE: 'foo:bar' }, /TESSERA_STORE.*unknown store/],
    [{ TESSERA_STORE: 'nonsense' }, /TESSERA_STORE/],
    [{ TESSERA_STORE: 'sqlite:' }, /TESSERA_STORE: sqlite needs a file path/],
    [{ TESSERA_STORE: 'memory:extra' }, /TESSERA_STORE: memory takes no argument/],
    [{ TESSERA_STORE: 'redis-cluster://' }, /TESSERA_STORE: redis-cluster:\/\/ needs host:port/],
    [{ TESSERA_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' }, /TESSERA_ENCRYPTION_KEYS: .*at least 32 bytes/],
    [{ TESSERA_ENCRYPTION_KEYS: 'no-colon' }, /TESSERA_ENCRYPTION_KEYS: .*keyId:base64key/],
    [{ TESSERA_RENEWAL_INTERVAL: '0' }, /TESSERA_RENEWAL_INTERVAL must be/],
    [{ TESSERA_BRUTE_FORCE_LIMIT: 'lots' }, /TESSERA_BRUTE_FORCE_LIMIT must be/],
    [{ TESSERA_MAX_SESSIONS: '0' }, /TESSERA_MAX_SESSIONS must be/],
    [{ TESSERA_MAX_SESSIONS: 'many' }, /TESSERA_MAX_SESSIONS must be/],
    [{ TESSERA_MAX_SESSIONS: '-1' }, /TESSERA_MAX_SESSIONS must be/],
    [{ TESSERA_ON_LIMIT: 'sometimes' }, /TESSERA_ON_LIMIT must be "evict-oldest" or "reject"/],
    [{ TESSERA_IDLE_TIMEOUT: '0' }, /TESSERA_IDLE_TIMEOUT must be/],
    [{ TESSERA_IDLE_TIMEOUT: '1.5' }, /TESSERA_IDLE_TIMEOUT must be/],
    [{ TESSERA_ABSOLUTE_TIMEOUT: 'forever' }, /TESSERA_ABSOLUTE_TIMEOUT must be/],
    [{ TESSERA_ANONYMOUS_LIMIT: 'none' }, /TESSERA_ANONYMOUS_LIMIT must be/],
    [{ TESSERA_TRUST_PROXY: 'yes' }, /TESSERA_TRUST_PROXY must be/],
    [{ TESSERA_REQUEST_TIMEOUT: '0' }, /TESSERA_REQUEST_TIMEOUT must be/],
    [{ TESSERA_HEADERS_TIMEOUT: '20', TESSERA_REQUEST_TIMEOUT: '10' }, /TESSERA_HEADERS_TIMEOUT .*at most TESSERA_REQUEST_TIMEOUT/],
    [{ TESSERA_KEEP_ALIVE_TIMEOUT: '1.5' }, /TESSERA_KEEP_ALIVE_TIMEOUT must be/],
    [{ TESSERA_MAX_CONNECTIONS: '0' }, /TESSERA_MAX_CONNECTIONS must be/],
    [{ TESSERA_MAX_CONNECTIONS_PER_ADDRESS: 'many' }, /TESSERA_MAX_CONNECTIONS_PER_ADDRESS must be/],
    [{ TESSERA_CACHE: 'yes' }, /TESSERA_CACHE must be "on" or "off"/],
    [{ TESSERA_CACHE: 'on', TESSERA_CACHE_MAX_STALENESS_MS: '5' }, /TESSERA_CACHE_MAX_STALENESS_MS must be/],
    [{ TESSERA_CACHE_MAX_ENTRIES: '100' }, /TESSERA_CACHE_MAX_ENTRIES is set but the cache is off/],
    [{ PORT: '70000' }, /PORT must be/],
    [{ PORT: 'http' }, /PORT must be/],
  ];
  for (const [env, message] of cases) {
    it(`${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} → exit 1`, async () => {
      const { code, stdout, stderr } = await runDemoExpectingFailure(env);
      assert.equal(code, 1, `exit code; stdout: ${stdout} stderr: ${stderr}`);
      assert.match(stderr, message);
      assert.doesNotMatch(stderr, /\n\s+at /, 'a message, not a stack trace');
      assert.doesNotMatch(stdout, /listening/);
    });
  }

  it('TESSERA_CACHE=on: the store panel says which requests the in-process cache served', async () => {
    const server = await startDemoServer({
      env: { TESSERA_CACHE: 'on', TESSERA_CACHE_MAX_ENTRIES: '50', TESSERA_CACHE_MAX_STALENESS_MS: '2000' },
    });
    try {
      const c = new DemoClient(() => server.url);
      assert.equal((await c.login('cachy')).status, 200);
      let cache: { servedFromCache: boolean; maxStaleness: number; hits: number } | null = null;
      // The first read after the login may find the channel not yet probed; a bounded wait for a warm one.
      for (let i = 0; i < 200 && cache?.servedFromCache !== true; i++) {
        const res = await c.get('/api/session/store');
        assert.equal(res.status, 200);
        cache = res.body.cache;
        assert.equal(res.body.record.subject, 'cachy', 'the record shown is read from the store itself');
      }
      assert.equal(cache?.servedFromCache, true);
      assert.equal(cache?.maxStaleness, 2000);
      assert.ok((cache?.hits ?? 0) >= 1);
      await c.post('/api/logout', {});
      assertError(await c.get('/api/session/store'), 401);
    } finally {
      await server.dispose();
    }
  });

  it('TESSERA_STORE=memory: works, with the memory store named on the page', async () => {
    const server = await startDemoServer({
      env: { TESSERA_STORE: 'memory:', TESSERA_IDLE_TIMEOUT: '120', TESSERA_ABSOLUTE_TIMEOUT: '600' },
    });
    try {
      assert.match(server.output, /store: memory:/);
      const c = new DemoClient(() => server.url);
      const res = await c.login('memo');
      assert.equal(res.status, 200);
      assert.equal(res.body.session.ttl, 120, 'TESSERA_IDLE_TIMEOUT is the default ttl');
      const absoluteIn = Date.parse(res.body.session.absoluteExpiresAt) - Date.parse(res.body.session.createdAt);
      assert.ok(Math.abs(absoluteIn - 600_000) < 2000, 'TESSERA_ABSOLUTE_TIMEOUT sets the absolute lifetime');
      assert.equal((await c.get('/api/session/store')).body.store, 'memory:');
      assert.deepEqual(await server.stop('SIGINT'), { code: 0, signal: null }, 'Ctrl-C shuts down cleanly');
    } finally {
      await server.dispose();
    }
  });
});
