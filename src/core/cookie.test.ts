import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readBearer, readCookies, serializeCookie } from './cookie.js';

const cookieName = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
const cookieValue = fc.stringMatching(/^[A-Za-z0-9._~!#$&'()*+\-/:<=>?@[\]^`{|}]{0,80}$/);
const attributes = { maxAge: 60, secure: false, sameSite: 'lax' as const, httpOnly: true, path: '/' };

describe('cookie parser', () => {
  it('never throws and returns only strings, whatever the header', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ maxLength: 400 })), cookieName, (header, name) => {
        const values = readCookies(header, name);
        assert.ok(Array.isArray(values));
        for (const v of values) assert.equal(typeof v, 'string');
      }),
      { numRuns: 5000 },
    );
  });

  it('finds a cookie among others, in order, whatever surrounds it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(cookieName, cookieValue), { maxLength: 6 }),
        cookieName,
        cookieValue,
        fc.array(fc.tuple(cookieName, cookieValue), { maxLength: 6 }),
        (before, name, value, after) => {
          const others = (pairs: [string, string][]) => pairs.filter(([n]) => n !== name);
          const header = [...others(before), [name, value], ...others(after)].map(([n, v]) => `${n}=${v}`).join('; ');
          assert.deepEqual(readCookies(header, name), [value]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads what it wrote (Set-Cookie name=value round-trips through a Cookie header)', () => {
    fc.assert(
      fc.property(cookieName, cookieValue, (name, value) => {
        const setCookie = serializeCookie(name, value, attributes);
        const pair = setCookie.split(';')[0] as string;
        assert.deepEqual(readCookies(`o.1=b; ${pair}; o.2=d`, name), [value]);
      }),
    );
  });

  it('returns duplicates and strips quotes', () => {
    assert.deepEqual(readCookies('t=1; t=2;t="3"', 't'), ['1', '2', '3']);
    assert.deepEqual(readCookies('xt=1; t =2', 't'), ['2']);
    assert.deepEqual(readCookies(undefined, 't'), []);
    assert.deepEqual(readCookies('t', 't'), []);
  });

  it('writes RFC 6265 attributes', () => {
    assert.equal(
      serializeCookie('__Host-tessera', 'abc', { ...attributes, secure: true, sameSite: 'strict', maxAge: 1800 }),
      '__Host-tessera=abc; Max-Age=1800; Path=/; HttpOnly; Secure; SameSite=Strict',
    );
    assert.equal(
      serializeCookie('tessera', '', { ...attributes, maxAge: 0 }),
      'tessera=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
    assert.throws(() => serializeCookie('bad name', 'x', attributes), TypeError);
    assert.throws(() => serializeCookie('n', 'a;b', attributes), TypeError);
    assert.throws(() => serializeCookie('n', 'x', { ...attributes, maxAge: -1 }), TypeError);
    assert.throws(() => serializeCookie('n', 'x', { ...attributes, maxAge: 1.5 }), TypeError);
  });
});

describe('bearer header', () => {
  it('accepts only the Bearer scheme with one token', () => {
    assert.equal(readBearer('Bearer abc.def'), 'abc.def');
    assert.equal(readBearer('bearer   abc'), 'abc');
    assert.equal(readBearer('Basic abc'), null);
    assert.equal(readBearer('Bearer a b'), null);
    assert.equal(readBearer('Bearer '), null);
    assert.equal(readBearer(undefined), null);
    assert.equal(readBearer(`Bearer ${'a'.repeat(5000)}`), null);
  });
});
