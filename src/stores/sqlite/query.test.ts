/** The SQLite form of a query against the store kit's predicate: one answer for every query. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { issueToken } from '../../core/token.js';
import {
  compareById,
  lookahead,
  matchesQuery,
  newRecord,
  querySql,
  recordFromRow,
  rowValues,
  type SessionQuery,
  type SessionRecord,
  type SessionRow,
} from '../../store-kit/index.js';
import { queryDialect, schemaSql, statementsSql } from './schema.js';

const NOW = Date.UTC(2030, 0, 1);
/** Names that sit on the edges of a prefix range: pattern characters, the last code point, a surrogate's neighbour. */
const NAMES = [null, '', 'a', 'ab', 'a%b', 'a_b', 'b', 'é', '\u{D7FF}x', '\u{E000}', '\u{10FFFF}', '\u{10FFFF}a'];
const PREFIXES = ['', 'a', 'a%', 'a_', 'é', '\u{D7FF}', '\u{10FFFF}', 'z'];

const recordArb = fc.record({
  subject: fc.constantFrom(null, 'ann', 'ben'),
  displayName: fc.constantFrom(...NAMES),
  lifetime: fc.integer({ min: -1, max: 3 }),
  data: fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), { maxKeys: 3 }),
});

function makeStoredRecords(specs: Array<typeof recordArb extends fc.Arbitrary<infer T> ? T : never>): SessionRecord[] {
  return specs.map(({ subject, displayName, lifetime, data }) => {
    const { id, secretHash } = issueToken();
    const device = { ip: '192.0.2.1', userAgent: 'query-test' };
    return newRecord({
      id,
      secretHash,
      now: NOW - 5000,
      idleTimeout: 60,
      absoluteExpiresAt: NOW + lifetime,
      device,
      subject,
      displayName,
      data: { ...data },
    });
  });
}

describe('SQLite query SQL', () => {
  it('returns what matchesQuery picks, in id order, round-tripping every record through the column map', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 12 }),
        fc.record({
          subject: fc.option(fc.constantFrom('ann', 'ben', 'cy'), { nil: undefined, freq: 2 }),
          displayNamePrefix: fc.option(fc.constantFrom(...PREFIXES), { nil: undefined, freq: 2 }),
          pick: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
          after: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
          limit: fc.integer({ min: 1, max: 5 }),
        }),
        (specs, q) => {
          const records = makeStoredRecords(specs);
          const ids = records.map((r) => r.id);
          const query: SessionQuery = {
            now: NOW,
            limit: q.limit,
            ...(q.subject !== undefined ? { subject: q.subject } : {}),
            ...(q.displayNamePrefix !== undefined ? { displayNamePrefix: q.displayNamePrefix } : {}),
            ...(q.pick !== undefined && ids.length > 0 ? { id: ids[q.pick % ids.length] as string } : {}),
            ...(q.after !== undefined && ids.length > 0 ? { cursor: ids[q.after % ids.length] as string } : {}),
          };
          const db = new Database(':memory:');
          try {
            db.exec(schemaSql('t'));
            const insert = db.prepare(statementsSql('t').insert);
            for (const record of records) insert.run(...rowValues(record));
            const values: unknown[] = [];
            const rows = db.prepare(querySql(query, lookahead(query.limit), queryDialect('t', values))).all(...values) as SessionRow[];
            const expected = records
              .filter((r) => matchesQuery(r, query))
              .sort(compareById)
              .slice(0, lookahead(query.limit));
            assert.deepEqual(rows.map(recordFromRow), expected);
          } finally {
            db.close();
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
