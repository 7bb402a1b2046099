import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryStore } from '../stores/memory/index.js';
import { ManualClock } from './clock.js';
import { SessionManager } from './manager.js';
import {
  createBlankSessionCookie,
  createSessionCookie,
  isBlankCookie,
  sessionCookieHeaders,
  setCookiesAfterError,
  sessionCookieName,
  type SessionCookieOptions,
} from './session-cookie.js';

const TOKEN = `${'A'.repeat(28)}.${'B'.repeat(43)}`;
const plain: SessionCookieOptions = { name: 'tessera', secure: false, sameSite: 'lax' };
const secure: SessionCookieOptions = { name: 'tessera', secure: true, sameSite: 'strict' };

/** The attributes of a `Set-Cookie` value, by lower-cased name, as a browser splits them (RFC 6265 §5.2). */
function attributes(setCookie: string): Map<string, string> {
  const [, ...rest] = setCookie.split(';');
  return new Map(
    rest.map((part) => part.trim()).map((part) => [part.split('=')[0]?.toLowerCase() as string, part.slice(part.indexOf('=') + 1)]),
  );
}

describe('the session cookie', () => {
  it('is HttpOnly, Path=/, SameSite, with a Max-Age (RFC 6265 spelling) and no Domain', () => {
    assert.equal(createSessionCookie(plain, TOKEN, 3600), `tessera=${TOKEN}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax`);
    assert.equal(createSessionCookie(secure, TOKEN, 60), `__Host-tessera=${TOKEN}; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Strict`);
    const attrs = attributes(createSessionCookie(plain, TOKEN, 3600));
    assert.equal(attrs.get('max-age'), '3600');
    assert.ok(!createSessionCookie(plain, TOKEN, 3600).includes('MaxAge'));
    assert.ok(!attrs.has('domain'), 'host-only');
    assert.ok(!attrs.has('expires'), 'a live cookie ends by Max-Age alone');
  });

  it('has the __Host- prefix exactly when it is Secure', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
        fc.boolean(),
        fc.constantFrom('lax' as const, 'strict' as const),
        (name, isSecure, sameSite) => {
          const options = { name, secure: isSecure, sameSite };
          for (const setCookie of [createSessionCookie(options, TOKEN, 10), createBlankSessionCookie(options)]) {
            assert.equal(setCookie.startsWith(`__Host-${name}=`), isSecure);
            assert.equal(attributes(setCookie).has('secure'), isSecure);
            // What __Host- requires of the cookie, whenever it is there.
            assert.equal(attributes(setCookie).get('path'), '/');
            assert.ok(!attributes(setCookie).has('domain'));
          }
          assert.equal(sessionCookieName(name, isSecure), isSecure ? `__Host-${name}` : name);
        },
      ),
    );
  });

  it('clears with an empty value, Max-Age=0 and an Expires in the past, under the same name and attributes', () => {
    assert.equal(
      createBlankSessionCookie(plain),
      'tessera=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
    assert.equal(
      createBlankSessionCookie(secure),
      '__Host-tessera=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict',
    );
  });

  it('refuses a token a browser would mangle, and a negative or fractional Max-Age', () => {
    assert.throws(() => createSessionCookie(plain, 'a;b', 10), TypeError);
    assert.throws(() => createSessionCookie(plain, TOKEN, -1), TypeError);
    assert.throws(() => createSessionCookie(plain, TOKEN, 1.5), TypeError);
  });

  it("is the one the manager writes, and its blank one is what a session's logout sends", async () => {
    for (const [setting, overHttps, isSecure] of [
      ['auto', false, false],
      ['auto', true, true],
      [true, false, true],
      [false, true, false],
    ] as const) {
      const clock = new ManualClock();
      const m = new SessionManager({
        store: new MemoryStore(),
        clock,
        cleanupInterval: false,
        cookie: { secure: setting, sameSite: 'strict' },
        absoluteTimeout: 7200,
      });
      const options = { name: 'tessera', secure: isSecure, sameSite: 'strict' as const };
      const cookies: string[] = [];
      const session = await m.load({ secure: overHttps, setCookie: (value) => cookies.push(value) });
      await session.login('alice');
      await session.logout();
      assert.deepEqual(cookies, [createSessionCookie(options, session.issuedToken as string, 7200), createBlankSessionCookie(options)]);
      assert.equal(m.createBlankSessionCookie(overHttps), createBlankSessionCookie(options));
      assert.equal(m.cookieName(overHttps), sessionCookieName('tessera', isSecure));
      m.close();
    }
  });
});

describe('a response that sets the session cookie', () => {
  const other = 'theme=dark; Path=/';

  it('carries it once, after the cookies set before it, and Cache-Control: no-store', () => {
    const first = createSessionCookie(plain, TOKEN, 100);
    assert.deepEqual(sessionCookieHeaders(undefined, first), { 'set-cookie': [first], 'cache-control': 'no-store' });
    assert.deepEqual(sessionCookieHeaders(null, first), { 'set-cookie': [first], 'cache-control': 'no-store' });
    assert.deepEqual(sessionCookieHeaders(other, first)['set-cookie'], [other, first]);
    const second = createSessionCookie(plain, `${'C'.repeat(28)}.${'D'.repeat(43)}`, 100);
    assert.deepEqual(
      sessionCookieHeaders([first, other], second)['set-cookie'],
      [other, second],
      'a later session cookie replaces the earlier one',
    );
    assert.deepEqual(sessionCookieHeaders([first, other], createBlankSessionCookie(plain))['set-cookie'], [
      other,
      createBlankSessionCookie(plain),
    ]);
  });

  it('leaves cookies alone whose names only begin like the session cookie', () => {
    const lookalikes = ['tessera2=x; Path=/', 'tesser=y; Path=/'];
    assert.deepEqual(sessionCookieHeaders(lookalikes, createSessionCookie(plain, TOKEN, 1))['set-cookie'], [
      ...lookalikes,
      createSessionCookie(plain, TOKEN, 1),
    ]);
  });

  it('never carries two session cookies, whatever the request set and in what order', () => {
    const values = fc.oneof(fc.constant(TOKEN), fc.constant(''), fc.stringMatching(/^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            values.map((v) => createSessionCookie(plain, v, 5)),
            fc.constant(other),
          ),
          { maxLength: 8 },
        ),
        (writes) => {
          let headers: string[] | undefined;
          for (const setCookie of writes) {
            headers = setCookie === other ? [...(headers ?? []), other] : sessionCookieHeaders(headers, setCookie)['set-cookie'];
          }
          const sessionCookies = (headers ?? []).filter((value) => value.startsWith('tessera='));
          const last = writes.filter((value) => value !== other).at(-1);
          assert.deepEqual(sessionCookies, last === undefined ? [] : [last]);
          assert.equal((headers ?? []).filter((value) => value === other).length, writes.filter((value) => value === other).length);
        },
      ),
    );
  });
});

describe('the session cookies of an error answer', () => {
  const other = 'theme=dark; Path=/';
  const issued = createSessionCookie(plain, TOKEN, 100);
  const blank = createBlankSessionCookie(plain);
  const isSession = (value: string): boolean => value.startsWith('tessera=');

  it('recognises a cookie that deletes itself, and no other', () => {
    assert.ok(isBlankCookie(blank));
    assert.ok(isBlankCookie(createBlankSessionCookie(secure)));
    assert.ok(!isBlankCookie(issued));
    assert.ok(!isBlankCookie(createSessionCookie(plain, '', 5)), 'empty but alive');
    assert.ok(!isBlankCookie(createSessionCookie(plain, TOKEN, 0).replace(TOKEN, 'x; Max-Age=0')), 'a value that only looks so');
    assert.ok(!isBlankCookie(other));
  });

  it('drops a session cookie that hands out a token, and keeps one that clears it and the app cookies', () => {
    assert.deepEqual(setCookiesAfterError([issued], undefined), []);
    assert.deepEqual(setCookiesAfterError([blank], undefined), [blank]);
    assert.deepEqual(setCookiesAfterError([other, issued], undefined, isSession), [other]);
    assert.deepEqual(setCookiesAfterError([other, blank], undefined, isSession), [other, blank]);
    assert.deepEqual(setCookiesAfterError([], undefined), []);
  });

  it("adds the error's own cookie, in place of a session cookie of the same name", () => {
    const errorCookie = createBlankSessionCookie(plain);
    assert.deepEqual(setCookiesAfterError([other, issued], errorCookie, isSession), [other, errorCookie]);
    assert.deepEqual(setCookiesAfterError([blank, other], errorCookie, isSession), [other, errorCookie]);
    assert.deepEqual(setCookiesAfterError([], errorCookie), [errorCookie]);
  });

  it('never sends a token, whatever was set before the error', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(issued, blank, other, createSessionCookie(plain, 'x', 3)), { maxLength: 6 }), (existing) => {
        const kept = setCookiesAfterError(existing, undefined, isSession);
        assert.ok(kept.every((value) => !isSession(value) || isBlankCookie(value)));
        assert.equal(kept.filter((value) => value === other).length, existing.filter((value) => value === other).length);
        assert.equal(kept.filter(isBlankCookie).length, existing.filter(isBlankCookie).length);
      }),
    );
  });
});
