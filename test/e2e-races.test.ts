/**
 * Responses delivered in the harmful order, over real HTTP through the Express adapter: a request
 * that still carries the token a login, rotation or renewal replaced must not undo the newer
 * cookie, whatever order its response reaches the browser in. A route can be held open (a gate)
 * so that it loads its session before the login and answers after it.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { ManualClock, SessionManager } from '../src/core/index.js';
import { errorHandler, session } from '../src/adapters/express/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { parseSetCookie } from './support/demo-client.js';

interface Answer {
  status: number;
  setCookies: string[];
  body: unknown;
}

/** The session cookie as a browser keeps it: each response's Set-Cookie applied when it arrives. */
class Jar {
  token: string | null = null;
  receive(answer: Answer): void {
    for (const raw of answer.setCookies) {
      const cookie = parseSetCookie(raw);
      if (cookie.name !== 'tessera') continue;
      this.token = cookie.attributes.get('max-age') === '0' ? null : cookie.value;
    }
  }
}

describe('cookies around a login, rotation or renewal, over HTTP, responses in the harmful order', () => {
  const clock = new ManualClock();
  const manager = new SessionManager({
    store: new MemoryStore(),
    clock,
    cleanupInterval: false,
    renewalInterval: 60,
    renewalGracePeriod: 30,
  });
  const gates = new Map<string, () => void>();
  const app = express();
  app.use(session(manager));
  app.post('/cart', async (req, res) => {
    await req.session.set('cart', ['apple']);
    res.json({ ok: true });
  });
  app.post('/login', async (req, res) => {
    await req.session.login('ann');
    res.json({ ok: true });
  });
  app.post('/rotate', async (req, res) => {
    await req.session.rotate();
    res.json({ ok: true });
  });
  app.post('/note/:gate', async (req, res) => {
    // Loaded already (by the middleware); held here until the test lets it go on.
    await new Promise<void>((resolve) => gates.set(req.params.gate, resolve));
    await req.session.set('note', req.params.gate);
    res.json({ ok: true });
  });
  app.post('/inc', async (req, res) => {
    res.json({ n: await req.session.increment('n') });
  });
  app.get('/me', (req, res) => {
    res.json({ subject: req.session.subject, cart: req.session.get('cart') ?? null, n: req.session.get('n') ?? null });
  });
  app.use(errorHandler());
  const server = app.listen(0, '127.0.0.1');
  let base = '';
  before(async () => {
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    manager.close();
  });

  const send = async (method: string, path: string, token: string | null): Promise<Answer> => {
    const response = await fetch(base + path, { method, headers: token === null ? {} : { cookie: `tessera=${token}` } });
    return { status: response.status, setCookies: response.headers.getSetCookie(), body: await response.json() };
  };
  /** Sends a request to a held route and waits until its session is loaded and it waits at the gate. */
  const held = async (token: string, name: string) => {
    const answer = send('POST', `/note/${name}`, token);
    while (!gates.has(name)) await new Promise((resolve) => setImmediate(resolve));
    return {
      release: async () => {
        gates.get(name)?.();
        return answer;
      },
    };
  };

  it('login: a request loaded before it and one sent after it, both answered last, leave the browser logged in', async () => {
    const jar = new Jar();
    jar.receive(await send('POST', '/cart', null));
    const anonymous = jar.token as string;
    const before = await held(anonymous, 'login-before');
    const login = await send('POST', '/login', anonymous);
    assert.equal(login.status, 200);
    // Another tab sent this with the old cookie before the login's answer arrived.
    const after = await send('GET', '/me', anonymous);
    const late = await before.release();
    jar.receive(login);
    for (const answer of [after, late]) {
      assert.deepEqual(answer.setCookies, [], 'no Set-Cookie on behalf of the replaced token');
      jar.receive(answer);
    }
    assert.equal(late.status, 401, 'the held write fails: its session was replaced');
    assert.equal((late.body as { error: { code: string } }).error.code, 'SESSION_ENDED');
    assert.deepEqual((await send('GET', '/me', jar.token)).body, { subject: 'ann', cart: ['apple'], n: null });
  });

  it('a write with the pre-login token, answered after the login, starts no anonymous session that would replace the new cookie', async () => {
    const jar = new Jar();
    jar.receive(await send('POST', '/cart', null));
    const anonymous = jar.token as string;
    const login = await send('POST', '/login', anonymous);
    const lateWrite = await send('POST', '/inc', anonymous);
    jar.receive(login);
    jar.receive(lateWrite);
    assert.equal(lateWrite.status, 401);
    assert.deepEqual(lateWrite.setCookies, []);
    assert.equal(
      (await send('GET', '/me', jar.token)).body && ((await send('GET', '/me', jar.token)).body as { subject: string }).subject,
      'ann',
    );
  });

  it('rotation: a request loaded before it, answered after it, leaves the new token', async () => {
    const jar = new Jar();
    jar.receive(await send('POST', '/login', null));
    const old = jar.token as string;
    const before = await held(old, 'rotate-before');
    const rotation = await send('POST', '/rotate', old);
    assert.equal(rotation.setCookies.length, 1);
    const late = await before.release();
    jar.receive(rotation);
    jar.receive(late);
    assert.deepEqual(late.setCookies, []);
    assert.notEqual(jar.token, old);
    assert.equal(((await send('GET', '/me', jar.token)).body as { subject: string }).subject, 'ann');
  });

  it('renewal: of 10 concurrent requests only the winner sets a cookie; every response is checked, and the browser ends with the new token', async () => {
    const jar = new Jar();
    jar.receive(await send('POST', '/login', null));
    const old = jar.token as string;
    clock.advance(61_000);
    const burst = await Promise.all(Array.from({ length: 10 }, () => send('POST', '/inc', old)));
    for (const answer of burst) assert.equal(answer.status, 200);
    const setting = burst.filter((answer) => answer.setCookies.length > 0);
    assert.equal(setting.length, 1, `exactly one response sets the cookie: ${JSON.stringify(setting.map((a) => a.setCookies))}`);
    const renewed = parseSetCookie(setting[0]?.setCookies[0] as string).value;
    assert.notEqual(renewed, old);
    assert.equal(renewed.slice(0, 28), old.slice(0, 28), 'renewal keeps the session id');
    // The winner's answer first, every loser's after it.
    jar.receive(setting[0] as Answer);
    for (const answer of burst) jar.receive(answer);
    assert.equal(jar.token, renewed);
    // A request with the old token in the grace period, and one after it: neither touches the cookie.
    clock.advance(20_000);
    const inGrace = await send('POST', '/inc', old);
    assert.equal(inGrace.status, 200);
    assert.deepEqual(inGrace.setCookies, []);
    clock.advance(10_000);
    const afterGrace = await send('GET', '/me', old);
    assert.deepEqual(afterGrace.setCookies, []);
    jar.receive(inGrace);
    jar.receive(afterGrace);
    assert.equal(jar.token, renewed);
    assert.deepEqual((await send('GET', '/me', jar.token)).body, { subject: 'ann', cart: null, n: 11 });
  });
});
