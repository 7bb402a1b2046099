/** The PostgreSQL store's statement builders, checked as text: no database needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issueToken } from '../../core/token.js';
import { SESSION_COLUMN_LIST, newRecord, rowValues, type SessionRecord } from '../../store-kit/index.js';
import { countInWindowStatement } from './counters.js';
import { resolveNames } from './migrations.js';
import { sqlContext, type Statement } from './params.js';
import {
  applyStatement,
  createStatement,
  deleteStatement,
  insertStatement,
  isSupersededStatement,
  loadStatement,
  subjectLockStatement,
} from './sql-session.js';
import {
  countStatement,
  deleteBySubjectStatement,
  deleteExpiredStatement,
  likePrefix,
  listStatement,
  liveCountStatement,
  queryStatement,
  trimStatement,
} from './sql-subject.js';

const sql = sqlContext(resolveNames({ schema: 'app', table: 'web_sessions' }), 'web_channel', 'web_origin');
const NOW = Date.UTC(2030, 0, 1);

function record(subject: string | null = 'ann'): SessionRecord {
  const { id, secretHash } = issueToken();
  return newRecord({
    id,
    secretHash,
    now: NOW,
    idleTimeout: 1800,
    absoluteExpiresAt: NOW + 86_400_000,
    device: { ip: '192.0.2.1', userAgent: 'sql-test' },
    subject,
  });
}

/** Each `$n` the text uses, and checks they are exactly $1 … $values.length. */
function assertPlaceholders(statement: Statement): void {
  const used = new Set([...statement.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  assert.deepEqual(
    [...used].sort((a, b) => a - b),
    Array.from({ length: statement.values.length }, (_, i) => i + 1),
    statement.text,
  );
}

const TOUCH = { maxIntervalMs: 60_000, idleFraction: 0.1 };
const all: Array<[string, Statement]> = [
  ['insert', insertStatement(sql, record())],
  ['lock', subjectLockStatement(sql, 'ann')],
  ['create, replacing', createStatement(sql, record(null), { now: NOW, replaces: { id: 'x', version: 3, supersededUntil: NOW + 1 } })],
  ['create, limited', createStatement(sql, record(), { now: NOW, limit: { max: 5 } })],
  [
    'create, both',
    createStatement(sql, record(), { now: NOW, replaces: { id: 'x', version: 3, supersededUntil: NOW + 1 }, limit: { max: 5 } }),
  ],
  ['load', loadStatement(sql, 'x', { now: NOW, secretHash: 'h' })],
  ['load with touch', loadStatement(sql, 'x', { now: NOW, secretHash: 'h', touch: TOUCH, device: { ip: null, userAgent: null } })],
  ['apply, nothing', applyStatement(sql, 'x', {}, { now: NOW })],
  [
    'apply, everything',
    applyStatement(
      sql,
      'x',
      {
        set: { a: 1 },
        delete: ['b'],
        increment: { c: 2 },
        idleTimeout: 60,
        lastSeenAt: NOW,
        displayName: 'Ann',
        renewSecret: { secretHash: 'n', renewedAt: NOW, previousSecretHash: 'o', previousSecretExpiresAt: NOW + 5 },
      },
      { now: NOW },
    ),
  ],
  ['apply, compare-and-set', applyStatement(sql, 'x', { set: { a: 1 } }, { now: NOW, expectedVersion: 4 })],
  ['apply once', applyStatement(sql, 'x', { set: { a: 1 } }, { now: NOW, idempotency: { key: 'k', until: NOW + 9 } })],
  [
    'apply once, compare-and-set',
    applyStatement(sql, 'x', { set: { a: 1 } }, { now: NOW, expectedVersion: 4, idempotency: { key: 'k', until: NOW + 9 } }),
  ],
  ['delete', deleteStatement(sql, 'x')],
  ['isSuperseded', isSupersededStatement(sql, 'x', { now: NOW, secretHash: 'h' })],
  ['live count', liveCountStatement(sql, 'ann', { now: NOW, except: null, cap: 3 })],
  ['trim', trimStatement(sql, 'ann', { now: NOW, max: 2, keep: 'x', batch: 10 })],
  ['delete by subject', deleteBySubjectStatement(sql, 'ann', { now: NOW, except: null, limit: 10 })],
  ['list', listStatement(sql, 'ann', { now: NOW, after: null, rows: 11 })],
  ['list after', listStatement(sql, 'ann', { now: NOW, after: { createdAt: NOW, id: 'x' }, rows: 11 })],
  ['query', queryStatement(sql, { now: NOW, limit: 10 }, 11)],
  ['query, every filter', queryStatement(sql, { now: NOW, limit: 10, subject: 'ann', displayNamePrefix: 'A', id: 'x', cursor: 'w' }, 11)],
  ['count', countStatement(sql, { now: NOW })],
  ['count by subject', countStatement(sql, { now: NOW, subject: 'ann' })],
  ['delete expired', deleteExpiredStatement(sql, NOW, 100)],
  ['count in window', countInWindowStatement(sql, 'ip:203.0.113.9', { now: NOW, windowMs: 60_000 })],
];

describe('PostgreSQL statement builders', () => {
  it('use every parameter they pass, numbered from $1 without gaps', () => {
    for (const [, statement] of all) assertPlaceholders(statement);
  });

  it('name only the configured, quoted tables, and pass the channel as a value, never as text', () => {
    const tables = new Set([
      '"app"."web_sessions"',
      '"app"."web_sessions_superseded"',
      '"app"."web_sessions_applied"',
      '"app"."web_sessions_counters"',
    ]);
    for (const [name, statement] of all) {
      assert.doesNotMatch(statement.text, /tessera_sessions|web_channel/, name);
      for (const [table] of statement.text.matchAll(/"[^"]*"\."[^"]*"/g)) assert.ok(tables.has(table), `${name}: ${table}`);
      if (name !== 'lock') assert.ok(statement.text.includes('"app"."web_sessions'), name);
    }
    const notifying = all.filter(([, statement]) => statement.text.includes('pg_notify'));
    assert.deepEqual(
      notifying.map(([name]) => name),
      ['create, replacing', 'create, both', 'delete', 'trim', 'delete by subject'],
    );
    for (const [name, statement] of notifying) assert.ok(statement.values.includes('web_channel'), name);
  });

  it("every UPDATE or DELETE of sessions marks the transaction with the store's origin first, as a value", () => {
    const writing = all.filter(([, statement]) => /(UPDATE|DELETE FROM) "app"."web_sessions"(?!_)/.test(statement.text));
    assert.deepEqual(
      writing.map(([name]) => name),
      all.map(([name]) => name).filter((name) => /^(create, (replacing|both)|load with touch|apply|delete|trim)/.test(name)),
    );
    for (const [name, statement] of writing) {
      const guards =
        statement.text.match(
          /\(SELECT set_config\('tessera.origin', \$(\d+)::text, true\)\) IS NOT NULL|set_config\('tessera.origin', \$(\d+), true\)/g,
        ) ?? [];
      const writes = statement.text.match(/UPDATE "app"."web_sessions" SET|DELETE FROM "app"."web_sessions"(?!_)/g) ?? [];
      assert.equal(guards.length, writes.length, `${name}: one guard per write`);
      assert.ok(statement.values.includes('web_origin'), name);
    }
  });

  it('count in window: one upsert in the window holding now, forgetting a few windows that are over', () => {
    const [, statement] = all[all.length - 1] as [string, Statement];
    assert.deepEqual(statement.values, [NOW, Math.floor(NOW / 60_000) * 60_000, 60_000, 'ip:203.0.113.9']);
    assert.match(statement.text, /ON CONFLICT \(key, window_ms, window_start\) DO UPDATE SET count = c.count \+ 1\s+RETURNING count/);
    assert.match(statement.text, /WHERE until <= \$1\s+ORDER BY until LIMIT 2 FOR UPDATE SKIP LOCKED/);
    assert.throws(() => countInWindowStatement(sql, 'k', { now: NOW, windowMs: 0 }), /windowMs must be a positive integer/);
    assert.throws(() => countInWindowStatement(sql, 'k', { now: Number.NaN, windowMs: 1000 }), /now must be a finite number/);
  });

  it('insert every column of the shared map, data as jsonb, values in map order', () => {
    const r = record();
    const insert = insertStatement(sql, r);
    assert.ok(insert.text.includes(`(${SESSION_COLUMN_LIST})`));
    assert.ok(insert.text.includes('$12::jsonb'));
    assert.deepEqual(insert.values, rowValues(r));
  });

  it('create: the replaced session goes only when live at its version; a limit counts the subject without the replaced one', () => {
    const replacing = createStatement(sql, record(), {
      now: NOW,
      replaces: { id: 'old', version: 3, supersededUntil: NOW + 1 },
      limit: { max: 5 },
    });
    assert.match(
      replacing.text,
      /DELETE FROM "app"."web_sessions" WHERE id = \$2::text AND version = \$4::integer AND expires_at > \$1::bigint/,
    );
    assert.match(replacing.text, /id IS DISTINCT FROM \$2::text LIMIT \$7::integer/);
    assert.match(replacing.text, /WHERE EXISTS \(SELECT 1 FROM gone\) AND \(SELECT n FROM live\) < \$7::integer/);
    assert.deepEqual(replacing.values.slice(0, 8), [NOW, 'old', 'web_channel', 3, 'web_origin', NOW + 1, 5, 'ann']);
    const anonymous = createStatement(sql, record(null), { now: NOW, limit: { max: 5 } });
    assert.doesNotMatch(anonymous.text, /live AS/, 'an anonymous session counts against no limit');
  });

  it('load touches only with a touch policy, by the same rule as isTouchDue', () => {
    assert.doesNotMatch(all[5]![1].text, /UPDATE/);
    assert.match(
      all[6]![1].text,
      /\$2::bigint - last_seen_at >= least\(\$7::float8, floor\(idle_timeout::float8 \* 1000 \* \$8::float8\)\)/,
    );
    assert.equal(loadStatement(sql, 'x', { now: NOW }).values[2], null, 'no secret: any');
  });

  it('apply: deletes, then sets, then increments; every form says its outcome', () => {
    const everything = all[8]![1];
    assert.match(everything.text, /data = \(\(\(data - \$3::text\[\]\) \|\| \$4::jsonb\) \|\| coalesce/);
    assert.deepEqual(everything.values.slice(2, 5), [['b'], '{"a":1}', '{"c":2}']);
    assert.match(all[7]![1].text, /data = data,/);
    for (const [name, statement] of all.filter(([n]) => n.startsWith('apply'))) assert.match(statement.text, /'applied' AS outcome/, name);
    assert.match(all[9]![1].text, /'conflict' AS outcome/);
    assert.match(all[10]![1].text, /CASE WHEN true THEN 'duplicate' ELSE 'conflict' END/);
    assert.match(all[11]![1].text, /FROM target WHERE version = \$\d+::integer/);
  });

  it('query: the filters of matchesQuery in its order, a prefix as an escaped LIKE, one row beyond the page', () => {
    const statement = queryStatement(
      sql,
      { now: NOW, limit: 10, subject: 'ann', displayNamePrefix: '50%_off\\', id: 'x', cursor: 'w' },
      11,
    );
    assert.match(
      statement.text,
      /WHERE expires_at > \$1::bigint AND subject = \$2::text AND display_name LIKE \$3::text AND id = \$4::text AND id > \$5::text ORDER BY id LIMIT \$6::integer$/,
    );
    assert.deepEqual(statement.values, [NOW, 'ann', '50\\%\\_off\\\\%', 'x', 'w', 11]);
    assert.equal(likePrefix(''), '%');
  });

  it('query: planned for its own prefix every time, never from a cached generic plan', () => {
    // A generic plan cached after common prefixes walks the primary key for a rare one (issue 23).
    assert.equal(queryStatement(sql, { now: NOW, limit: 10, displayNamePrefix: 'A' }, 11).unprepared, true);
  });

  it('list: keyset paging from the cursor in listing order', () => {
    assert.deepEqual(all[18]![1].values, ['ann', NOW, 'x', NOW, 11]);
    assert.match(all[18]![1].text, /\(created_at, id\) > \(\$2::bigint, \$3::text\).*ORDER BY created_at, id LIMIT \$5/s);
  });
});
