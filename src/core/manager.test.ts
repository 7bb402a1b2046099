import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { MemoryStore } from '../stores/memory/index.js';
import { countingStore, faultyStore } from '../testing/index.js';
import { ManualClock } from './clock.js';
import { InvalidOptionError, NoSessionError, StoreUnavailableError, errorResponse } from './errors.js';
import type { SessionEvent } from './events.js';
import { SessionManager } from './manager.js';
import type { SessionManagerOptions } from './options.js';

let clock: ManualClock;
let store: MemoryStore;
let events: SessionEvent[];

function manager(options: Partial<SessionManagerOptions> = {}) {
  const m = new SessionManager({ store, clock, cleanupInterval: false, ...options });
  m.subscribe((event) => {
    events.push(event);
  });
  return m;
}

async function request(m: SessionManager, token: string | null, extra: { secure?: boolean; authorization?: string; cookie?: string } = {}) {
  const cookies: string[] = [];
  const session = await m.load({
    cookie: extra.cookie ?? (token === null ? undefined : `${m.cookieName(extra.secure ?? false)}=${token}`),
    authorization: extra.authorization,
    secure: extra.secure ?? false,
    ip: '192.0.2.1',
    userAgent: 'test-agent',
    setCookie: (value) => cookies.push(value),
  });
  return { session, cookies };
}

beforeEach(() => {
  clock = new ManualClock();
  store = new MemoryStore();
  events = [];
});

describe('cookies', () => {
  it('sets HttpOnly, SameSite=Lax, Path=/ and a Max-Age that ends at the absolute expiry; no Secure over http', async () => {
    const m = manager({ idleTimeout: 600, absoluteTimeout: 3600 });
    const { session, cookies } = await request(m, null);
    await session.login('alice');
    assert.equal(cookies.length, 1);
    assert.match(cookies[0] as string, /^tessera=[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('over https (or when configured) adds Secure and the __Host- prefix; SameSite=Strict is an option', async () => {
    const m = manager({ cookie: { sameSite: 'strict' } });
    const { session, cookies } = await request(m, null, { secure: true });
    await session.login('alice');
    assert.match(cookies[0] as string, /^__Host-tessera=.*; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    const forced = manager({ cookie: { secure: true } });
    const r = await request(forced, null, { secure: false });
    await r.session.set('x', 1);
    assert.match(r.cookies[0] as string, /^__Host-tessera=.*; Secure;/);
    // The plain-named cookie is not read once Secure is on.
    const token = session.issuedToken as string;
    assert.equal((await request(m, null, { secure: true, cookie: `tessera=${token}` })).session.isStored, false);
    assert.equal((await request(m, null, { secure: true, cookie: `__Host-tessera=${token}` })).session.subject, 'alice');
  });

  it('re-sends nothing when a touch moves the expiry (the Max-Age already covers it), and clears the cookie for a dead token', async () => {
    const m = manager({ idleTimeout: 100 });
    const { session } = await request(m, null);
    await session.login('bob');
    const token = session.issuedToken as string;
    clock.advance(5_000);
    assert.deepEqual((await request(m, token)).cookies, []);
    clock.advance(6_000);
    const touched = await request(m, token);
    assert.equal(touched.session.info?.lastSeenAt, clock.now(), 'touched');
    assert.equal(touched.cookies.length, 0, 'no Set-Cookie for a touch');
    await touched.session.logout();
    assert.match(touched.cookies.at(-1) as string, /^tessera=; Max-Age=0; Path=\/;/);
    const dead = await request(m, token);
    assert.equal(dead.session.isStored, false);
    assert.match(dead.cookies[0] as string, /Max-Age=0/);
  });

  it('refuses malformed tokens without a store round trip', async () => {
    const counting = countingStore(store);
    const m = new SessionManager({ store: counting.store, clock, cleanupInterval: false });
    for (const cookie of ['tessera=abc', `tessera=${'A'.repeat(72)}`, 'tessera=%00%ff', `tessera=${'x'.repeat(8192)}`, 'tessera=ü']) {
      const { session } = await request(m, null, { cookie });
      assert.equal(session.isStored, false);
    }
    assert.equal(counting.total(), 0);
  });

  it('accepts Authorization: Bearer only when enabled, and never sets cookies for it', async () => {
    const m = manager({ bearer: true });
    const { session } = await request(m, null);
    await session.login('carol');
    const token = session.issuedToken as string;
    const viaBearer = await request(m, null, { authorization: `Bearer ${token}` });
    assert.equal(viaBearer.session.subject, 'carol');
    await viaBearer.session.rotate();
    assert.deepEqual(viaBearer.cookies, []);
    assert.ok(viaBearer.session.issuedToken);
    const off = manager();
    assert.equal((await request(off, null, { authorization: `Bearer ${viaBearer.session.issuedToken}` })).session.isStored, false);
  });
});

describe('lifecycle', () => {
  it('stores nothing until something is written; a read-only session writes nothing', async () => {
    const m = manager();
    const { session, cookies } = await request(m, null);
    assert.equal(session.get('x'), undefined);
    await session.save();
    assert.equal(store.size, 0);
    assert.deepEqual(cookies, []);
    await session.set('x', 1);
    assert.equal(store.size, 1);
    assert.equal(events[0]?.type, 'created');
  });

  it("reads see the request's own writes before its save, while the store has it, and after; a failed save drops them", async () => {
    const m = manager();
    const first = await request(m, null);
    await first.session.login('erin');
    await first.session.set('keep', 'a');
    const token = first.session.issuedToken as string;
    // The store answers this request's saves only when the test lets it.
    let release: (() => void) | null = null;
    let failNext = false;
    const saveReached = async () => {
      while (release === null) await new Promise((resolve) => setImmediate(resolve));
    };
    const answerSave = () => {
      (release as () => void)();
      release = null;
    };
    const apply = store.apply.bind(store);
    store.apply = async (...args) => {
      await new Promise<void>((resolve) => (release = resolve));
      if (failNext) throw new StoreUnavailableError('down');
      return apply(...args);
    };
    try {
      const { session } = await request(m, token);
      const saved = Promise.all([session.increment('n', 2), session.set('s', 'x'), session.delete('keep')]);
      assert.equal(session.get('n'), 2, 'before the save');
      assert.equal(session.get('s'), 'x');
      assert.equal(session.has('keep'), false);
      await saveReached();
      assert.equal(session.get('n'), 2, 'while the store has it');
      assert.equal(session.get('s'), 'x');
      assert.equal(session.has('keep'), false);
      const later = session.increment('n', 5);
      assert.equal(session.get('n'), 7, 'a later write stacks on the one in flight');
      answerSave();
      assert.deepEqual(await saved, [2, undefined, undefined]);
      assert.equal(session.get('n'), 7);
      await saveReached();
      answerSave();
      assert.equal(await later, 7);
      assert.deepEqual({ ...session.data() }, { n: 7, s: 'x' });

      failNext = true;
      const failed = session.set('s', 'lost');
      assert.equal(session.get('s'), 'lost');
      await saveReached();
      answerSave();
      await assert.rejects(failed, StoreUnavailableError);
      assert.equal(session.get('s'), 'x', 'what the store never took is not shown as stored');
    } finally {
      store.apply = apply;
    }
  });

  it('expires on idle and on the absolute lifetime, which activity and rotation never move but login restarts', async () => {
    const m = manager({ idleTimeout: 60, absoluteTimeout: 300 });
    const { session } = await request(m, null);
    await session.login('dave');
    let token = session.issuedToken as string;
    for (let i = 0; i < 4; i++) {
      clock.advance(50_000);
      const r = await request(m, token);
      assert.equal(r.session.subject, 'dave');
      await r.session.rotate();
      token = r.session.issuedToken as string;
    }
    clock.advance(50_000); // 250 s since login
    const stillLive = await request(m, token);
    assert.equal(stillLive.session.info?.absoluteExpiresAt, stillLive.session.info!.authenticatedAt! + 300_000);
    clock.advance(50_000); // 300 s: absolute expiry
    assert.equal((await request(m, token)).session.isStored, false);

    const again = await request(m, null);
    await again.session.login('dave');
    token = again.session.issuedToken as string;
    clock.advance(59_999);
    assert.equal((await request(m, token)).session.isStored, true);
    clock.advance(60_000);
    assert.equal((await request(m, token)).session.isStored, false);
  });

  it('keeps a per-session idle timeout', async () => {
    const m = manager({ idleTimeout: 600 });
    const { session } = await request(m, null);
    await session.login('erin', { idleTimeout: 30 });
    const token = session.issuedToken as string;
    clock.advance(29_000);
    const r = await request(m, token);
    await r.session.setIdleTimeout(1000);
    clock.advance(900_000);
    assert.equal((await request(m, token)).session.info?.idleTimeout, 1000);
  });

  it('emits created, loggedIn, rotated, revoked (logout, user, admin, evicted) and expired', async () => {
    const m = manager({ idleTimeout: 60, maxSessionsPerSubject: 2 });
    const a = await request(m, null);
    await a.session.set('x', 1);
    await a.session.login('frank');
    await a.session.rotate();
    clock.advance(1);
    const b = await request(m, null);
    await b.session.login('frank');
    clock.advance(1);
    const c = await request(m, null);
    await c.session.login('frank'); // evicts a
    assert.equal(await c.session.revokeSession(b.session.id as string), true);
    const d = await request(m, null);
    await d.session.login('frank');
    assert.equal(await m.revoke(d.session.id as string), true);
    await c.session.logout();
    const e = await request(m, null);
    await e.session.login('gina');
    clock.advance(61_000);
    assert.equal(await m.sweep(), 1);
    const summary = events.map((ev) => (ev.type === 'revoked' ? `revoked:${ev.reason}` : ev.type));
    assert.deepEqual(summary, [
      'created',
      'loggedIn',
      'rotated',
      'loggedIn',
      'revoked:evicted',
      'loggedIn',
      'revoked:user',
      'loggedIn',
      'revoked:admin',
      'revoked:logout',
      'loggedIn',
      'expired',
    ]);
    const loggedIn = events.find((ev) => ev.type === 'loggedIn');
    assert.ok(loggedIn?.type === 'loggedIn' && loggedIn.previousId !== null);
    assert.doesNotMatch(JSON.stringify(events), /[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}/);
  });

  it('a failing listener does not break the request', async () => {
    const errors: unknown[] = [];
    const m = manager({ onListenerError: (e) => errors.push(e) });
    m.on('loggedIn', () => {
      throw new Error('listener bug');
    });
    m.on('loggedIn', async () => {
      throw new Error('async listener bug');
    });
    const { session } = await request(m, null);
    await session.login('hal');
    await new Promise((r) => setImmediate(r));
    assert.equal(errors.length, 2);
    assert.equal(session.subject, 'hal');
  });
});

describe('per-user management', () => {
  it('lists with the current one flagged, revokes own sessions only, and logs out other devices', async () => {
    const m = manager();
    const devices = [];
    for (let i = 0; i < 3; i++) {
      const r = await request(m, null);
      await r.session.login('ivy');
      devices.push(r.session);
      clock.advance(1000);
    }
    const stranger = await request(m, null);
    await stranger.session.login('jack');
    const [first, second, third] = devices as [(typeof devices)[0], (typeof devices)[0], (typeof devices)[0]];
    const { sessions: list } = await third.listSessions();
    assert.deepEqual(
      list.map((s) => s.id),
      devices.map((d) => d.id),
    );
    assert.deepEqual(
      list.map((s) => s.current),
      [false, false, true],
    );
    assert.equal(list[0]?.lastDevice.userAgent, 'test-agent');
    assert.equal(await third.revokeSession(stranger.session.id as string), false);
    assert.equal(await m.count({ subject: 'jack' }), 1);
    assert.equal(await third.revokeSession(first.id as string), true);
    assert.equal(await third.revokeOtherSessions(), 1);
    assert.deepEqual(
      (await m.list('ivy')).sessions.map((s) => s.id),
      [third.id],
    );
    assert.equal(second.isStored, true, 'a handle does not know until it next touches the store');
    assert.equal(await m.count(), 2);
    assert.equal(await m.revokeAll('ivy'), 1);
    assert.equal(await m.count(), 1);
    const page = await m.query({ subject: 'jack' });
    assert.deepEqual(
      page.sessions.map((s) => s.subject),
      ['jack'],
    );
    assert.equal(page.nextCursor, null);
  });

  it('management calls need a logged-in session: NO_SESSION when the request never had one', async () => {
    const m = manager();
    const { session } = await request(m, null);
    await assert.rejects(session.listSessions(), { code: 'NO_SESSION', status: 401 });
    await assert.rejects(session.revokeOtherSessions(), { code: 'NO_SESSION' });
    await assert.rejects(session.revokeSession('x'), { code: 'NO_SESSION' });
    await session.set('cart', 1);
    assert.equal(session.isStored, true);
    await assert.rejects(session.listSessions(), { code: 'NO_SESSION' }, 'a stored anonymous session is not logged in either');
  });

  it('management calls on a session revoked while the request ran: SESSION_ENDED, as for its writes', async () => {
    const m = manager();
    const { session } = await request(m, null);
    await session.login('alice');
    await m.revoke(session.id as string);
    await assert.rejects(session.set('x', 1), { code: 'SESSION_ENDED' });
    await assert.rejects(session.listSessions(), { code: 'SESSION_ENDED' });
  });

  it('management calls of a request whose token a login in another request replaced: SESSION_ENDED', async () => {
    const m = manager();
    const first = await request(m, null);
    await first.session.set('cart', 1);
    const anonymous = first.session.issuedToken as string;
    await (await request(m, anonymous)).session.login('alice');
    const { session: late } = await request(m, anonymous);
    assert.equal(late.superseded, true);
    await assert.rejects(late.listSessions(), { code: 'SESSION_ENDED' });
  });
});

describe('options and errors', () => {
  it('refuses bad options at construction with a clear message', () => {
    assert.throws(() => new SessionManager({ store, idleTimeout: 0 }), InvalidOptionError);
    assert.throws(() => new SessionManager({ store, absoluteTimeout: 1.5 }), /absoluteTimeout/);
    assert.throws(() => new SessionManager({ store, maxSessionsPerSubject: 0 }), /maxSessionsPerSubject/);
    assert.throws(() => new SessionManager({ store, onLimit: 'drop' as never }), /onLimit/);
    assert.throws(() => new SessionManager({ store, cookie: { name: '__Host-x' } }), /cookie.name/);
    assert.throws(() => new SessionManager({ store: {} as never }), /store/);
  });

  it('maps errors to safe responses: 503 with Retry-After for an outage, bare 500 for the unknown', () => {
    const outage = errorResponse(new StoreUnavailableError('down', { retryAfter: 2 }));
    assert.equal(outage.status, 503);
    assert.equal(outage.headers['retry-after'], '2');
    // The error's own message may quote the store's internals: a client is told only this.
    assert.deepEqual(outage.body, { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } });
    assert.equal(errorResponse(new NoSessionError()).status, 401);
    const unknown = errorResponse(new Error('secret internals at /srv/app.js:12'));
    assert.deepEqual(unknown, { status: 500, headers: unknown.headers, body: { error: { code: 'INTERNAL', message: 'internal error' } } });
  });

  it('a store outage is an error, never "no session"', async () => {
    const m = manager();
    const { session } = await request(m, null);
    await session.login('kay');
    const token = session.issuedToken as string;
    const broken = new SessionManager({
      store: faultyStore(store, () => true),
      clock,
      cleanupInterval: false,
    });
    await assert.rejects(request(broken, token), StoreUnavailableError);
  });
});

describe('the brute-force limiter under many addresses', () => {
  it('an attacker with 100,001 addresses in a minute does not reset the count of a blocked one', async () => {
    const m = manager({ bruteForceLimit: 5, bruteForceAction: 'block' });
    const guess = (ip: string) => m.load({ cookie: `tessera=${'A'.repeat(28)}.${'B'.repeat(43)}`, secure: false, ip });
    for (let i = 0; i < 5; i++) await guess('198.51.100.66');
    await assert.rejects(guess('198.51.100.66'), { code: 'TOO_MANY_REQUESTS' });
    for (let i = 0; i < 100_001; i++) {
      await guess(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      // The blocked address keeps trying, so it stays among the most recent.
      if (i % 1000 === 0) await assert.rejects(guess('198.51.100.66'), { code: 'TOO_MANY_REQUESTS' });
    }
    await assert.rejects(guess('198.51.100.66'), { code: 'TOO_MANY_REQUESTS' }, 'still blocked after the flood of addresses');
  });
});
