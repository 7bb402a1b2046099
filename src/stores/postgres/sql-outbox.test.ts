/** The outbox's statements, and the notices the ending statements add, checked as text: no database needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveNames } from './migrations.js';
import { sqlContext, type Statement } from './params.js';
import {
  addNoticesStatement,
  claimNoticesStatement,
  countNoticesStatement,
  deferNoticeStatement,
  noticeFromRow,
  removeNoticesStatement,
  trimNoticesStatement,
} from './sql-outbox.js';
import { deleteStatement } from './sql-session.js';
import { deleteBySubjectStatement, deleteExpiredStatement, trimStatement } from './sql-subject.js';

const sql = sqlContext(resolveNames({ schema: 'app', table: 'web_sessions' }), 'web_channel', 'web_origin');
const NOW = Date.UTC(2030, 0, 1);
const NOTICE = { reason: 'admin', at: NOW - 5 } as const;
const NOTICES = '"app"."web_sessions_notices"';

function assertPlaceholders(statement: Statement): void {
  const used = new Set([...statement.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  assert.deepEqual(
    [...used].sort((a, b) => a - b),
    Array.from({ length: statement.values.length }, (_, i) => i + 1),
    statement.text,
  );
}

const trim = { now: NOW, max: 2, keep: 'k', batch: 10 };
const bySubject = { now: NOW, except: null, limit: 10 };
/** Each ending statement without and with a notice request. */
const ending: Array<[string, Statement, Statement]> = [
  ['delete', deleteStatement(sql, 'x'), deleteStatement(sql, 'x', NOTICE)],
  ['trim', trimStatement(sql, 'ann', trim), trimStatement(sql, 'ann', { ...trim, notice: NOTICE })],
  [
    'delete by subject',
    deleteBySubjectStatement(sql, 'ann', bySubject),
    deleteBySubjectStatement(sql, 'ann', { ...bySubject, notice: NOTICE }),
  ],
  ['delete expired', deleteExpiredStatement(sql, NOW, 100), deleteExpiredStatement(sql, NOW, 100, true)],
];
const outbox: Array<[string, Statement]> = [
  [
    'add',
    addNoticesStatement(sql, [{ id: 'session.created:x', type: 'session.created', sessionId: 'x', subject: null, reason: null, at: 1 }]),
  ],
  ['claim', claimNoticesStatement(sql, { now: NOW, limit: 20, leaseUntil: NOW + 30_000 })],
  ['remove', removeNoticesStatement(sql, ['a', 'b'])],
  ['defer', deferNoticeStatement(sql, 'a', NOW + 5000)],
  ['count', countNoticesStatement(sql)],
  ['trim notices', trimNoticesStatement(sql, 1000)],
];

describe('PostgreSQL outbox statements', () => {
  it('use every parameter they pass, numbered from $1 without gaps, and name only the configured tables', () => {
    const tables = new Set([
      '"app"."web_sessions"',
      '"app"."web_sessions_superseded"',
      '"app"."web_sessions_applied"',
      '"app"."web_sessions_counters"',
      NOTICES,
    ]);
    const statements = [
      ...ending.flatMap(
        ([name, plain, noticed]) =>
          [
            [name, plain],
            [`${name}, noticed`, noticed],
          ] as const,
      ),
      ...outbox,
    ];
    for (const [name, statement] of statements) {
      assertPlaceholders(statement);
      assert.doesNotMatch(statement.text, /tessera_sessions|web_channel/, name);
      for (const [table] of statement.text.matchAll(/"[^"]*"\."[^"]*"/g)) assert.ok(tables.has(table), `${name}: ${table}`);
    }
    for (const [name, statement] of outbox) assert.ok(statement.text.includes(NOTICES), name);
  });

  it('an ending statement without a notice request names no notices table; with one, inserts from the removed rows in the same statement', () => {
    for (const [name, plain, noticed] of ending) {
      assert.ok(!plain.text.includes(NOTICES), `${name}: nothing recorded, nothing to pay`);
      assert.equal(noticed.text.match(/INSERT INTO "app"."web_sessions_notices"/g)?.length, 1, name);
      assert.match(
        noticed.text,
        /SELECT \S+, \S+, 0, 'session.ended:' \|\| id, 'session.ended', id, subject, \S+ FROM gone\s+ON CONFLICT \(id\) DO NOTHING\)/,
        name,
      );
      assert.ok(noticed.text.startsWith('WITH '), `${name}: one statement`);
      assert.deepEqual(noticed.values.slice(0, plain.values.length), plain.values, `${name}: the same values first`);
      // One origin guard per write of sessions, as without the notice.
      assert.equal(noticed.text.match(/set_config\('tessera.origin'/g)?.length, plain.text.match(/set_config\('tessera.origin'/g)?.length);
    }
  });

  it("a request-driven notice carries the request: reason and time as values, due at the time (delete) or the call's now", () => {
    const [, , deleted] = ending[0] as [string, Statement, Statement];
    assert.deepEqual(deleted.values.slice(3), ['admin', NOW - 5]);
    assert.match(deleted.text, /SELECT \$5::bigint, \$5::bigint, 0, .* subject, \$4::text FROM gone/);
    const [, , trimmed] = ending[1] as [string, Statement, Statement];
    assert.deepEqual(trimmed.values.slice(7), ['admin', NOW - 5]);
    assert.match(trimmed.text, /SELECT \$9::bigint, \$2::bigint, 0, .* subject, \$8::text FROM gone/);
    const [, , revoked] = ending[2] as [string, Statement, Statement];
    assert.deepEqual(revoked.values.slice(6), ['admin', NOW - 5]);
    assert.match(revoked.text, /SELECT \$8::bigint, \$2::bigint, 0, .* subject, \$7::text FROM gone/);
  });

  it("the sweep's notice: reason expired, at the session's own expires_at, due at the sweep's now", () => {
    const [, plain, noticed] = ending[3] as [string, Statement, Statement];
    assert.match(plain.text, /RETURNING id, subject\),/);
    assert.match(noticed.text, /RETURNING id, subject, expires_at\),/);
    assert.match(noticed.text, /SELECT expires_at, \$1::bigint, 0, .* subject, 'expired' FROM gone/);
    assert.deepEqual(noticed.values, plain.values);
  });

  it('claim: the earliest due, locked SKIP LOCKED, moved to the lease with one more attempt, in claim order', () => {
    const [, claim] = outbox[1] as [string, Statement];
    assert.deepEqual(claim.values, [NOW, 20, NOW + 30_000]);
    assert.match(claim.text, /WHERE due_at <= \$1 ORDER BY due_at LIMIT \$2 FOR UPDATE SKIP LOCKED/);
    assert.match(claim.text, /SET due_at = \$3, attempts = n.attempts \+ 1 FROM due WHERE n.id = due.id/);
    assert.match(claim.text, /ORDER BY was_due, id$/);
  });

  it('add: one row per notice from arrays, due at its time, ignoring ids held; trim keeps the most recent by at', () => {
    const [, add] = outbox[0] as [string, Statement];
    assert.deepEqual(add.values, [[1], ['session.created:x'], ['session.created'], ['x'], [null], [null]]);
    assert.match(add.text, /SELECT at, at, 0, id, type, session_id, subject, reason/);
    assert.match(add.text, /ON CONFLICT \(id\) DO NOTHING$/);
    const [, trimmed] = outbox[5] as [string, Statement];
    assert.match(trimmed.text, /ORDER BY at DESC OFFSET \$1/);
    assert.deepEqual(trimmed.values, [1000]);
  });

  it('reads a row with bigint columns as strings', () => {
    assert.deepEqual(
      noticeFromRow({
        id: 'session.ended:x',
        type: 'session.ended',
        session_id: 'x',
        subject: 'ann',
        reason: 'logout',
        at: '1893456000000',
        attempts: 2,
      }),
      { id: 'session.ended:x', type: 'session.ended', sessionId: 'x', subject: 'ann', reason: 'logout', at: 1893456000000, attempts: 2 },
    );
  });
});
