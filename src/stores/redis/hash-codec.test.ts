import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DeviceInfo, SessionRecord } from '../../core/index.js';
import { expiresAt } from '../../core/expiry.js';
import { decodeHash, encodeDevice, encodeHash } from './hash-codec.js';

const ID = `AbCdEf${'x'.repeat(22)}`;

/** A logged-in session as a login writes it: nothing optional differs from its default. */
function loggedIn(): SessionRecord {
  const createdAt = 1_700_000_000_000;
  const device = { ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  return {
    id: ID,
    secretHash: 'c2VjcmV0LWhhc2gtMTIzNA',
    subject: 'user-42',
    displayName: null,
    createdAt,
    lastSeenAt: createdAt,
    idleTimeout: 1800,
    absoluteExpiresAt: createdAt + 86_400_000,
    expiresAt: createdAt + 1_800_000,
    authenticatedAt: createdAt,
    version: 1,
    data: { n: 41 },
    createdDevice: device,
    lastDevice: device,
    renewedAt: createdAt,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
}

// Strings that sit on the encodings' edges: empty, a line feed, a leading bracket or brace.
const text = fc.oneof(
  fc.string(),
  fc.constantFrom('', '\n', 'a\nb', '[', '{', '[1]', '{"ip":"x"}'),
  fc.string().map((s) => `[${s}`),
);
const nullableText = fc.option(text, { nil: null });
const time = fc.integer({ min: 0, max: 4_000_000_000_000 });
const device: fc.Arbitrary<DeviceInfo> = fc.record({ ip: nullableText, userAgent: nullableText }, { noNullPrototype: true });
const record: fc.Arbitrary<SessionRecord> = fc
  .record(
    {
      secretHash: text,
      subject: nullableText,
      displayName: nullableText,
      createdAt: time,
      lastSeenAt: time,
      idleTimeout: fc.integer({ min: 1, max: 10_000_000 }),
      absoluteExpiresAt: time,
      authenticatedAt: fc.option(time, { nil: null }),
      version: fc.integer({ min: 0, max: 1_000_000_000 }),
      // Through JSON, as the core stores values: no -0, no undefined.
      data: fc.dictionary(
        fc.string(),
        fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as SessionRecord['data'][string]),
      ),
      createdDevice: device,
      lastDevice: device,
      renewedAt: time,
      // Empty is how the hash says none (as the scripts read it); a secret hash is never empty.
      previousSecretHash: fc.option(
        text.filter((s) => s !== ''),
        { nil: null },
      ),
      previousSecretExpiresAt: fc.option(time, { nil: null }),
      // The defaults the codec leaves out, hit often enough to matter.
      usual: fc.record({ device: fc.boolean(), authenticated: fc.boolean(), renewed: fc.boolean() }),
    },
    { noNullPrototype: true },
  )
  .map(({ usual, ...r }) => ({
    ...r,
    id: ID,
    expiresAt: expiresAt(r.lastSeenAt, r.idleTimeout, r.absoluteExpiresAt),
    lastDevice: usual.device ? r.createdDevice : r.lastDevice,
    authenticatedAt: usual.authenticated ? (r.subject === null ? null : r.createdAt) : r.authenticatedAt,
    renewedAt: usual.renewed ? r.createdAt : r.renewedAt,
  }));

/** The hash without `field`, as a flat list. */
function without(flat: string[], field: string): string[] {
  const at = flat.indexOf(field);
  return at % 2 === 0 ? [...flat.slice(0, at), ...flat.slice(at + 2)] : flat;
}

describe('redis store: the session hash codec', () => {
  it('reads back every record it writes', () => {
    fc.assert(
      fc.property(record, ({ data, ...rest }) => {
        const { data: read, ...readRest } = decodeHash(ID, encodeHash({ ...rest, data }));
        assert.deepStrictEqual(readRest, rest);
        // Without a prototype, so that a key like "__proto__" stays plain data.
        assert.equal(Object.getPrototypeOf(read), null);
        assert.deepStrictEqual({ ...read }, { ...data });
      }),
      { numRuns: 2000 },
    );
  });

  it('writes a usual logged-in session as eight reserved fields, leaving out what reads back without them', () => {
    const r = loggedIn();
    assert.deepEqual(encodeHash(r), [
      'sh',
      r.secretHash,
      'ca',
      '1700000000000',
      'ls',
      '1700000000000',
      'it',
      '1800',
      'ax',
      '1700086400000',
      'v',
      '1',
      'cd',
      '203.0.113.7\nMozilla/5.0',
      'sub',
      'user-42',
      'd:n',
      '41',
    ]);
    const decoded = decodeHash(ID, encodeHash(r));
    assert.equal(decoded.lastDevice, decoded.createdDevice, 'one device object serves as both');
  });

  it('reads an absent authenticatedAt as createdAt when logged in and null when anonymous, and an empty one as null', () => {
    const base = encodeHash({ ...loggedIn(), data: {} });
    assert.equal(decodeHash(ID, base).authenticatedAt, 1_700_000_000_000);
    assert.equal(decodeHash(ID, without(base, 'sub')).authenticatedAt, null);
    assert.equal(decodeHash(ID, [...base, 'au', '']).authenticatedAt, null);
  });

  it('reads values as any client gives them (Buffers), devices in the older JSON object form, and ignores fields it does not know', () => {
    const flat = [...encodeHash({ ...loggedIn(), data: {} }), 'zz', 'from a later version'];
    flat[flat.indexOf('cd') + 1] = '{"ip":"198.51.100.1","userAgent":"Old/1"}';
    const r = decodeHash(
      ID,
      flat.map((s) => Buffer.from(s)),
    );
    assert.deepEqual(r.createdDevice, { ip: '198.51.100.1', userAgent: 'Old/1' });
    assert.deepEqual(r.lastDevice, r.createdDevice);
  });

  it('encodes a device it cannot split on a line feed as a JSON array', () => {
    assert.equal(encodeDevice({ ip: '::1', userAgent: 'curl' }), '::1\ncurl');
    assert.equal(encodeDevice({ ip: null, userAgent: 'curl' }), '[null,"curl"]');
    assert.equal(encodeDevice({ ip: '[::1]', userAgent: 'x' }), '["[::1]","x"]');
  });

  it('fails clearly on a hash that lacks a required field, rather than giving NaN or an empty secret', () => {
    const flat = encodeHash(loggedIn());
    for (const [field, property] of [
      ['sh', 'secretHash'],
      ['ca', 'createdAt'],
      ['ls', 'lastSeenAt'],
      ['it', 'idleTimeout'],
      ['ax', 'absoluteExpiresAt'],
      ['v', 'version'],
      ['cd', 'createdDevice'],
    ]) {
      assert.throws(
        () => decodeHash(ID, without(flat, field as string)),
        (error: Error) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, new RegExp(`session ${ID} has no "${field}" field \\(${property}\\)`));
          return true;
        },
      );
    }
  });

  it('fails clearly on a malformed field or data value', () => {
    const flat = encodeHash(loggedIn());
    const set = (field: string, value: string) => flat.map((s, i) => (i > 0 && flat[i - 1] === field && i % 2 === 1 ? value : s));
    assert.throws(() => decodeHash(ID, set('ls', 'soon')), /holds "soon" in "ls" \(lastSeenAt\)/);
    assert.throws(() => decodeHash(ID, set('v', '')), /holds "" in "v" \(version\)/);
    assert.throws(
      () => decodeHash(ID, set('cd', '{not json')),
      (error: Error) => error instanceof TypeError && /in "cd" \(createdDevice\)/.test(error.message) && error.cause instanceof SyntaxError,
    );
    assert.throws(() => decodeHash(ID, set('d:n', '{')), /holds "\{", which is not JSON, in "d:n"/);
  });
});
