import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { signCookie, unsignCookie } from './signature.js';

// The code express-session itself runs: its cookie-signature and the cookie package that encodes the value.
const require = createRequire(import.meta.url);
const expressSessionRequire = createRequire(require.resolve('express-session'));
const signature = expressSessionRequire('cookie-signature') as { sign(value: string, secret: string): string };
const cookie = expressSessionRequire('cookie') as { serialize(name: string, value: string): string };

/** The `connect.sid` value express-session sets for `id` (what follows `connect.sid=` in its Set-Cookie). */
function expressSessionValue(id: string, secret: string): string {
  return cookie.serialize('connect.sid', `s:${signature.sign(id, secret)}`).slice('connect.sid='.length);
}

// express-session's ids are uid-safe's base64url; genid may make anything printable.
const sessionId = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{24,32}$/), fc.string({ minLength: 1, maxLength: 60 }));
const secret = fc.string({ minLength: 1, maxLength: 40 });

describe('express-session cookie signatures', () => {
  it('reads every id express-session signs, with the secret it signed with', () => {
    fc.assert(
      fc.property(sessionId, secret, (id, key) => {
        assert.equal(unsignCookie(expressSessionValue(id, key), [key]), id);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the value express-session writes', () => {
    fc.assert(
      fc.property(sessionId, secret, (id, key) => assert.equal(signCookie(id, key), expressSessionValue(id, key))),
      { numRuns: 1000 },
    );
  });

  it('accepts any secret of the list (rotation), whatever its place, and none outside it', () => {
    fc.assert(
      fc.property(sessionId, fc.uniqueArray(secret, { minLength: 2, maxLength: 5 }), fc.nat(), (id, keys, pick) => {
        const [outsider, ...list] = keys as [string, ...string[]];
        const signer = list[pick % list.length] as string;
        assert.equal(unsignCookie(expressSessionValue(id, signer), list), id);
        assert.equal(unsignCookie(expressSessionValue(id, outsider), list), null);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a value whose id or signature was changed in any one character', () => {
    fc.assert(
      fc.property(sessionId, secret, fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), (id, key, at, code) => {
        const text = `s:${signature.sign(id, key)}`;
        const index = 2 + (at % (text.length - 2));
        const changed = String.fromCharCode(code);
        const tampered = text.slice(0, index) + changed + text.slice(index + 1);
        fc.pre(tampered !== text);
        assert.equal(unsignCookie(encodeURIComponent(tampered), [key]), null);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses unsigned values (express-session ignores them too) and never throws on any input', () => {
    assert.equal(unsignCookie('abcdef', ['k']), null);
    assert.equal(unsignCookie(signCookie('abc', 'k').replace('s%3A', ''), ['k']), null);
    assert.equal(unsignCookie(`s%3A.${signatureOfEmpty()}`, ['k']), null);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), secret, (value, key) => {
        assert.equal(unsignCookie(value, [key]), null);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the value unencoded too, as a client that decoded it would send it', () => {
    assert.equal(unsignCookie(`s:${signature.sign('id-1', 'k')}`, ['k']), 'id-1');
    assert.equal(unsignCookie('s%3Aid%ZZ.x', ['k']), null);
  });
});

function signatureOfEmpty(): string {
  return signature.sign('', 'k').slice(1);
}
