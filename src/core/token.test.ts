import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from './clock.js';
import { SessionManager } from './manager.js';
import { hashesEqual, secretAccepted } from './record-ops.js';
import type { SessionStore } from './store.js';
import {
  ID_SHARDS,
  SHARD_LENGTH,
  hashSecret,
  isSessionId,
  issueToken,
  keyedPartition,
  parseToken,
  partitionOfId,
  renewToken,
  unkeyedPartition,
} from './token.js';
import { MemoryStore } from '../stores/memory/index.js';
import { makeRecord } from '../testing/fixtures.js';

describe('tokens', () => {
  it('are <28-char id>.<43-char secret>, unique, and start with the partition given or a random one', () => {
    const seen = new Set<string>();
    const alice = keyedPartition(Buffer.alloc(32, 7), 'alice');
    const randomPartitions = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const issued = issueToken(i % 2 ? alice : null);
      assert.match(issued.token, /^[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{43}$/);
      assert.ok(isSessionId(issued.id));
      assert.ok(!seen.has(issued.token));
      seen.add(issued.token);
      const parsed = parseToken(issued.token);
      assert.ok(parsed);
      assert.equal(parsed.id, issued.id);
      assert.equal(hashSecret(parsed.secret), issued.secretHash);
      assert.ok(!issued.token.includes(issued.secretHash));
      if (i % 2) assert.equal(partitionOfId(issued.id), alice);
      else randomPartitions.add(partitionOfId(issued.id));
    }
    assert.ok(randomPartitions.size > 490, 'anonymous partitions are random');
    assert.throws(() => issueToken('alice'), TypeError);
    assert.equal(new Set(ID_SHARDS).size, 1024);
    const shards = new Set(ID_SHARDS);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ maxLength: 40 }), fc.boolean(), (key, subject, keyed) => {
        const partition = keyed ? keyedPartition(key, subject) : null;
        assert.ok(shards.has(issueToken(partition).id.slice(0, SHARD_LENGTH)), 'every id starts with one of the 1,024 shards');
      }),
      { numRuns: 5_000 },
    );
    // 256 bits of secret: 32 random bytes encode to 43 base64url characters.
    assert.equal(Buffer.from((parseToken(issueToken(null).token) as { secret: string }).secret, 'base64url').length, 32);
  });

  it('renewed keep their id and get a fresh 256-bit secret, whose hash is the stored one', () => {
    const issued = issueToken();
    const renewed = renewToken(issued.id);
    assert.equal(renewed.id, issued.id);
    assert.notEqual(renewed.token, issued.token);
    const parsed = parseToken(renewed.token);
    assert.ok(parsed);
    assert.equal(parsed.id, issued.id);
    assert.equal(hashSecret(parsed.secret), renewed.secretHash);
    assert.equal(Buffer.from(parsed.secret, 'base64url').length, 32);
    assert.throws(() => renewToken('not-an-id'), TypeError);
  });

  it('derive a subject partition only with the key: another key, or none, gives another partition', () => {
    const one = Buffer.alloc(32, 1);
    const two = Buffer.alloc(32, 2);
    let differ = 0;
    for (const subject of ['alice', 'bob', '42', 'carol@example.com', '']) {
      assert.equal(keyedPartition(one, subject), keyedPartition(Buffer.from(one), subject), 'the same under the same key');
      if (keyedPartition(one, subject) !== keyedPartition(two, subject)) differ++;
      assert.notEqual(keyedPartition(one, subject), unkeyedPartition(subject));
    }
    assert.equal(differ, 5);
  });

  it('rejects anything that is not exactly a token', () => {
    const { token } = issueToken();
    for (const bad of [
      token.slice(0, -1),
      `${token}A`,
      token + token,
      `${token} `,
      token.replace('.', ''),
      token.replace('.', '..'),
      token.toUpperCase().replace(/\./, ','),
      `ü${token.slice(1)}`,
      `%${token.slice(1)}`,
      `${token.slice(0, 10)}\n${token.slice(11)}`,
      '',
      'x'.repeat(8192),
    ]) {
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

  it('stores 128 bits of the SHA-256: the first 16 bytes, and nothing shorter or longer matches', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const secret = Buffer.from(bytes).toString('base64url');
        const full = crypto.createHash('sha256').update(secret).digest();
        const stored = hashSecret(secret);
        assert.equal(stored, full.subarray(0, 16).toString('base64url'));
        assert.equal(stored.length, 22);
        const record = { ...makeRecord(0).record, secretHash: stored };
        assert.ok(secretAccepted(record, hashSecret(secret), 0));
        assert.ok(!secretAccepted({ ...record, secretHash: full.toString('base64url') }, hashSecret(secret), 0));
        assert.ok(!secretAccepted({ ...record, secretHash: full.subarray(0, 15).toString('base64url') }, hashSecret(secret), 0));
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

  it('accepts the current hash, or the previous one only during its grace period (secretAccepted, the one check)', () => {
    const now = 1_000_000;
    const current = hashSecret('current');
    const previous = hashSecret('previous');
    const record = { ...makeRecord(now).record, secretHash: current, previousSecretHash: previous, previousSecretExpiresAt: now + 30_000 };
    assert.equal(secretAccepted(record, current, now), true);
    assert.equal(secretAccepted(record, previous, now + 29_999), true);
    assert.equal(secretAccepted(record, previous, now + 30_000), false);
    assert.equal(secretAccepted(record, hashSecret('other'), now), false);
    assert.equal(secretAccepted({ ...record, previousSecretHash: null }, previous, now), false);
  });

  it('is the check on the request path: a store that returns a record for any secret still opens it only for the right one', async () => {
    const clock = new ManualClock();
    const memory = new MemoryStore();
    // A store that ignores the presented hash: whatever opens a session here is the core's own check.
    const careless: SessionStore = {
      capabilities: memory.capabilities,
      create: (record, options) => memory.create(record, options),
      load: (id, options) => memory.load(id, { now: options.now }),
      apply: (id, changes, options) => memory.apply(id, changes, options),
      delete: (id) => memory.delete(id),
      trimSubject: (subject, options) => memory.trimSubject(subject, options),
      isSuperseded: (id, options) => memory.isSuperseded(id, options),
      deleteExpired: (now, limit) => memory.deleteExpired(now, limit),
      close: () => memory.close(),
    };
    const manager = new SessionManager({ store: careless, clock, cleanupInterval: false, renewalInterval: 60, renewalGracePeriod: 30 });
    const open = async (token: string) => (await manager.load({ cookie: `tessera=${token}`, secure: false })).subject;
    const login = await manager.load({ secure: false });
    await login.login('ivy');
    const token = login.issuedToken as string;
    const forged = `${token.slice(0, 29)}${'A'.repeat(43)}`;
    assert.equal(await open(token), 'ivy');
    assert.equal(await open(forged), null, 'a wrong secret opens nothing');
    clock.advance(61_000);
    const renewal = await manager.load({ cookie: `tessera=${token}`, secure: false });
    assert.ok(renewal.issuedToken);
    assert.equal(await open(token), 'ivy', 'the previous secret, in its grace period');
    clock.advance(30_000);
    assert.equal(await open(token), null, 'and not after it');
    assert.equal(await open(renewal.issuedToken), 'ivy');
    manager.close();
  });
});
