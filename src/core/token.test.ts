import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import { hashesEqual } from './record-ops.js';
import { ID_SHARDS, SHARD_LENGTH, hashSecret, isSessionId, issueToken, parseToken, partitionOf, partitionOfId, secretMatches } from './token.js';

describe('tokens', () => {
  it('are <28-char id>.<43-char secret>, unique, and carry the subject partition', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const issued = issueToken(i % 2 ? 'alice' : null);
      assert.match(issued.token, /^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/);
      assert.ok(isSessionId(issued.id));
      assert.ok(!seen.has(issued.token));
      seen.add(issued.token);
      const parsed = parseToken(issued.token);
      assert.ok(parsed);
      assert.equal(parsed.id, issued.id);
      assert.equal(hashSecret(parsed.secret), issued.secretHash);
      assert.ok(!issued.token.includes(issued.secretHash));
      if (i % 2) assert.equal(partitionOfId(issued.id), partitionOf('alice'));
    }
    assert.equal(new Set(ID_SHARDS).size, 1024);
    const shards = new Set(ID_SHARDS);
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 40 }), { nil: null }), (subject) => {
        assert.ok(shards.has(issueToken(subject).id.slice(0, SHARD_LENGTH)), 'every id starts with one of the 1,024 shards');
      }),
      { numRuns: 5_000 },
    );
    // 256 bits of secret: 32 random bytes encode to 43 base64url characters.
    assert.equal(Buffer.from((parseToken(issueToken(null).token) as { secret: string }).secret, 'base64url').length, 32);
  });

  it('rejects anything that is not exactly a token', () => {
    const { token } = issueToken('bob');
    for (const bad of [token.slice(0, -1), token + 'A', token + token, `${token} `, token.replace('.', ''), token.replace('.', '..'), token.toUpperCase().replace(/\./, ','), 'ü' + token.slice(1), '%' + token.slice(1), token.slice(0, 10) + '\n' + token.slice(11), '', 'x'.repeat(8192)]) {
      if (bad === token) continue;
      assert.equal(parseToken(bad), null, JSON.stringify(bad.slice(0, 40)));
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (value) => {
        const parsed = parseToken(value);
        if (parsed !== null) assert.equal(`${parsed.id}.${parsed.secret}`, value);
      }),
      { numRuns: 20_000 },
    );
  });

  it('matches a secret only against its own hash', () => {
    const a = issueToken(null);
    const b = issueToken(null);
    const secretA = (parseToken(a.token) as { secret: string }).secret;
    assert.ok(secretMatches(secretA, a.secretHash));
    assert.ok(!secretMatches(secretA, b.secretHash));
    assert.ok(!secretMatches(secretA, ''));
    assert.ok(!secretMatches(secretA, 'not base64 at all!'));
  });

  it('stores 128 bits of the SHA-256: the first 16 bytes, and nothing shorter or longer matches', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const secret = Buffer.from(bytes).toString('base64url');
        const full = crypto.createHash('sha256').update(secret).digest();
        const stored = hashSecret(secret);
        assert.equal(stored, full.subarray(0, 16).toString('base64url'));
        assert.equal(stored.length, 22);
        assert.ok(secretMatches(secret, stored));
        assert.ok(!secretMatches(secret, full.toString('base64url')));
        assert.ok(!secretMatches(secret, full.subarray(0, 15).toString('base64url')));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the token check', () => {
  it('compares stored hashes (hashesEqual) exactly as ===, differing anywhere or in length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.nat(29), fc.string({ minLength: 1, maxLength: 1 }), (a, at, c) => {
        assert.equal(hashesEqual(a, a), true);
        const changed = a.slice(0, at) + c + a.slice(at + 1);
        assert.equal(hashesEqual(a, changed), a === changed);
        assert.equal(hashesEqual(a, a + c), false);
        assert.equal(hashesEqual(a + c, a), false);
      }),
      { numRuns: 1000 },
    );
  });

  it('is constant-time in the secret: it compares fixed-length SHA-256 prefixes with crypto.timingSafeEqual, never the secret itself', () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    try {
      const issued = issueToken(null);
      const secret = (parseToken(issued.token) as { secret: string }).secret;
      const early = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
      const late = secret.slice(0, -1) + (secret.at(-1) === 'A' ? 'B' : 'A');
      for (const candidate of [secret, early, late]) secretMatches(candidate, issued.secretHash);
      assert.equal(spy.mock.callCount(), 3);
      for (const call of spy.mock.calls) {
        const [a, b] = call.arguments as unknown as [Buffer, Buffer];
        assert.equal(a.length, 16);
        assert.equal(b.length, 16);
        assert.ok(!a.toString('latin1').includes(secret) && !b.toString('latin1').includes(secret));
      }
      assert.deepEqual(spy.mock.calls.map((c) => c.result), [true, false, false]);
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  });
});
