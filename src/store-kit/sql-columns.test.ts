import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issueToken } from '../core/token.js';
import {
  SESSION_COLUMNS,
  SESSION_COLUMN_LIST,
  matchesQuery,
  newRecord,
  querySql,
  recordFromRow,
  rowValues,
  type SessionRow,
} from './index.js';

const NOW = Date.UTC(2030, 0, 1);
const { id, secretHash } = issueToken();
const record = {
  ...newRecord({
    id,
    secretHash,
    now: NOW,
    idleTimeout: 1800,
    absoluteExpiresAt: NOW + 3_600_000,
    device: { ip: '192.0.2.1', userAgent: 'kit' },
    subject: 'ann',
    authenticatedAt: NOW,
  }),
  data: { n: 1, s: 'x', nested: { list: [1, null] } },
  previousSecretHash: 'old',
  previousSecretExpiresAt: NOW + 30_000,
};

/** A row as a driver gives it back: `values` under the column names, through `convert`. */
function rowOf(values: unknown[], convert: (value: unknown, type: string) => unknown = (value) => value): SessionRow {
  return Object.fromEntries(SESSION_COLUMNS.map((column, i) => [column.name, convert(values[i], column.type)])) as unknown as SessionRow;
}

describe('the SQL column map', () => {
  it('lists one column per value, in one order', () => {
    assert.equal(rowValues(record).length, SESSION_COLUMNS.length);
    assert.equal(SESSION_COLUMN_LIST.split(', ').length, SESSION_COLUMNS.length);
  });

  it('round-trips a record as SQLite returns it (numbers, data as text)', () => {
    assert.deepEqual(recordFromRow(rowOf(rowValues(record))), record);
  });

  it('round-trips a record as PostgreSQL returns it (bigints as text, jsonb parsed)', () => {
    const pg = rowOf(rowValues(record), (value, type) =>
      type === 'bigint' && value !== null ? String(value) : type === 'json' ? JSON.parse(value as string) : value,
    );
    assert.deepEqual(recordFromRow(pg), record);
  });

  it('reads a row from before renewals as renewed at creation, and refuses data that is not an object', () => {
    const old = rowOf(rowValues(record));
    assert.equal(recordFromRow({ ...old, renewed_at: null }).renewedAt, record.createdAt);
    assert.throws(() => recordFromRow({ ...old, data: '[1]' }), TypeError);
  });

  it('keeps "__proto__" in stored data as a plain key', () => {
    const data = recordFromRow({ ...rowOf(rowValues(record)), data: '{"__proto__":{"admin":true}}' }).data;
    assert.ok(Object.hasOwn(data, '__proto__'));
    assert.equal(({} as { admin?: boolean }).admin, undefined);
  });
});

describe('the query filter', () => {
  it('picks live sessions matching every filter given, after the cursor', () => {
    const query = { now: NOW, limit: 10 };
    assert.equal(matchesQuery(record, query), true);
    assert.equal(matchesQuery(record, { ...query, now: record.expiresAt }), false);
    assert.equal(matchesQuery(record, { ...query, subject: 'bo' }), false);
    assert.equal(matchesQuery(record, { ...query, displayNamePrefix: '' }), true, 'a missing display name starts with the empty prefix');
    assert.equal(matchesQuery(record, { ...query, displayNamePrefix: 'A' }), false);
    assert.equal(matchesQuery(record, { ...query, id: record.id, cursor: '' }), true);
    assert.equal(matchesQuery(record, { ...query, cursor: record.id }), false);
  });

  it('writes the same filters as SQL, in the same order, through the dialect', () => {
    const values: unknown[] = [];
    const text = querySql({ now: NOW, limit: 2, subject: 'ann', displayNamePrefix: 'A', id: 'i', cursor: 'c' }, 3, {
      table: 't',
      param: (value, type) => `${type}:${values.push(value)}`,
      startsWith: (prefix) => `name starts ${prefix}`,
    });
    assert.equal(
      text,
      `SELECT ${SESSION_COLUMN_LIST} FROM t WHERE expires_at > bigint:1 AND subject = text:2 AND name starts A AND id = text:3 AND id > text:4 ORDER BY id LIMIT integer:5`,
    );
    assert.deepEqual(values, [NOW, 'ann', 'i', 'c', 3]);
  });
});
