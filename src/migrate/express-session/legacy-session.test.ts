import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../core/errors.js';
import { fromLegacy, parseFieldPath } from './legacy-session.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const cookie = { originalMaxAge: 600_000, expires: new Date(NOW + 600_000).toISOString(), httpOnly: true, path: '/' };
const passport = parseFieldPath('passport.user');

describe('an express-session record taken over', () => {
  it('takes the subject from passport.user and keeps the other fields, dropping cookie and the emptied passport', () => {
    const adopted = fromLegacy(JSON.stringify({ cookie, passport: { user: 'alice' }, views: 3 }), passport, NOW, 700_000);
    assert.deepEqual(adopted, { subject: 'alice', data: { views: 3 }, expiresAt: NOW + 600_000 });
  });

  it('keeps what else the container held, and takes a numeric id as its decimal text', () => {
    const adopted = fromLegacy(JSON.stringify({ cookie, passport: { user: 42, role: 'x' } }), passport, NOW, null);
    assert.deepEqual(adopted, { subject: '42', data: { passport: { role: 'x' } }, expiresAt: NOW + 600_000 });
  });

  it('reads a top-level field path such as userId', () => {
    const adopted = fromLegacy(JSON.stringify({ cookie, userId: 'bob', cart: ['a'] }), parseFieldPath('userId'), NOW, null);
    assert.deepEqual(adopted, { subject: 'bob', data: { cart: ['a'] }, expiresAt: NOW + 600_000 });
  });

  it('ends at the earlier of the store TTL and cookie.expires, or the TTL when the cookie has none', () => {
    assert.equal(fromLegacy(JSON.stringify({ cookie, userId: 'b' }), parseFieldPath('userId'), NOW, 5_000)?.expiresAt, NOW + 5_000);
    const browserSession = { ...cookie, expires: null };
    assert.equal(
      fromLegacy(JSON.stringify({ cookie: browserSession, userId: 'b' }), parseFieldPath('userId'), NOW, 9_000)?.expiresAt,
      NOW + 9_000,
    );
    assert.equal(
      fromLegacy(JSON.stringify({ cookie: browserSession, userId: 'b' }), parseFieldPath('userId'), NOW, null)?.expiresAt,
      Number.POSITIVE_INFINITY,
    );
  });

  it('adopts nothing expired, unreadable, or anonymous and empty', () => {
    const expired = { ...cookie, expires: new Date(NOW - 1).toISOString() };
    assert.equal(fromLegacy(JSON.stringify({ cookie: expired, passport: { user: 'a' } }), passport, NOW, 10_000), null);
    assert.equal(fromLegacy(JSON.stringify({ cookie, passport: { user: 'a' } }), passport, NOW, 0), null);
    assert.equal(fromLegacy('{not json', passport, NOW, null), null);
    assert.equal(fromLegacy('[1,2]', passport, NOW, null), null);
    assert.equal(fromLegacy(JSON.stringify({ cookie }), passport, NOW, null), null);
  });

  it('adopts an anonymous session with data, and keeps a subject field that holds no id as data', () => {
    assert.deepEqual(fromLegacy(JSON.stringify({ cookie, cart: [1] }), passport, NOW, null), {
      subject: null,
      data: { cart: [1] },
      expiresAt: NOW + 600_000,
    });
    assert.deepEqual(fromLegacy(JSON.stringify({ cookie, passport: { user: { id: 1 } } }), passport, NOW, null)?.data, {
      passport: { user: { id: 1 } },
    });
  });

  it('keeps __proto__ as a plain field', () => {
    const adopted = fromLegacy('{"cookie":{},"userId":"a","__proto__":{"polluted":true}}', parseFieldPath('userId'), NOW, null);
    assert.deepEqual(Object.keys(adopted?.data ?? {}), ['__proto__']);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it('refuses a malformed field path at construction', () => {
    for (const path of ['', '.user', 'passport.', 'a b', 'a.b.c.d.e.f.g.h.i'])
      assert.throws(() => parseFieldPath(path), InvalidOptionError);
  });
});
