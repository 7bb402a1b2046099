import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ManualClock, SessionManager } from '../src/core/index.js';
import { PostgresStore, migrate, type PgPool, type PgPoolClient, type PgQueryConfig } from '../src/stores/postgres/index.js';
import { makeRecord } from '../src/testing/index.js';
import { databaseOrSkip, dropSchema, randomSchema } from './support/postgres-db.js';

const { url, skip } = await databaseOrSkip();
const HEAVY = 57_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/** A pool that records every statement with its parameters, for `EXPLAIN`. */
function recordingPool(pool: pg.Pool): { pool: PgPool; ran: PgQueryConfig[] } {
  const ran: PgQueryConfig[] = [];
  const wrapClient = (client: PgPoolClient): PgPoolClient =>
    new Proxy(client, {
      get(target, property) {
        if (property === 'query') {
          return (config: PgQueryConfig) => {
            ran.push(config);
            return target.query(config);
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  return {
    ran,
    pool: {
      query(config) {
        ran.push(config);
        return pool.query(config);
      },
      async connect() {
        return wrapClient(await pool.connect());
      },
      end: () => pool.end(),
    },
  };
}

describe('postgres store: one subject with 57,000 sessions', { skip }, () => {
  const schema = randomSchema();
  const now = Date.UTC(2030, 0, 1);
  let admin: pg.Pool;
  let store: PostgresStore;
  let ran: PgQueryConfig[];
  /** The heavy subject's live ids, oldest first (createdAt, then id), as every page must give them. */
  let expected: string[] = [];

  before(async () => {
    admin = new pg.Pool({ connectionString: url as string, max: 3 });
    await migrate(admin, { schema });
    const recording = recordingPool(new pg.Pool({ connectionString: url as string, max: 4 }));
    ran = recording.ran;
    store = new PostgresStore({ pool: recording.pool, schema });
    // Started (its migrations checked) before anything is recorded.
    await store.count({ now });
    // Rows as the store writes them, in one statement: three share each createdAt (a rotation
    // keeps it), every 100th has expired, and 500 belong to other subjects.
    const { record: template } = makeRecord(now, { subject: 'heavy' });
    await admin.query(
      `INSERT INTO "${schema}".tessera_sessions
         (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
          authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
       SELECT 'h' || lpad(g::text, 27, '0'), $1, 'heavy', NULL, $2::bigint - $3 + g / 3, $2::bigint - $3 + g / 3, 86400, $2::bigint + 86400000,
              CASE WHEN g % 100 = 7 THEN $2::bigint - 1 ELSE $2::bigint + 86400000 END,
              $2::bigint - $3 + g / 3, 1, '{"n":1}'::jsonb, '127.0.0.1', 'bench', '127.0.0.1', 'bench', $2::bigint - $3 + g / 3, NULL::text, NULL::bigint
       FROM generate_series(0, $3 - 1) AS g
       UNION ALL
       SELECT 'o' || lpad(g::text, 27, '0'), $1, 'other' || (g % 50), NULL, $2, $2, 1800, $2::bigint + 86400000, $2::bigint + 1800000,
              $2, 1, '{}'::jsonb, NULL, NULL, NULL, NULL, $2, NULL, NULL
       FROM generate_series(0, 499) AS g`,
      [template.secretHash, now, HEAVY],
    );
    await admin.query(`ANALYZE "${schema}".tessera_sessions`);
    const live: Array<{ id: string; createdAt: number }> = [];
    for (let g = 0; g < HEAVY; g++)
      if (g % 100 !== 7) live.push({ id: `h${String(g).padStart(27, '0')}`, createdAt: now - HEAVY + Math.floor(g / 3) });
    expected = live.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map((r) => r.id);
  });
  after(async () => {
    await store?.close();
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  /** The plan of `config` as the server runs it: with its values (a custom plan), or as a generic plan. */
  const explain = async (config: PgQueryConfig, generic: boolean): Promise<PlanNode> => {
    const client = await admin.connect();
    try {
      await client.query('BEGIN');
      try {
        if (!generic) {
          const result = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${config.text}`, config.values);
          return (result.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]?.Plan as PlanNode;
        }
        await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
        await client.query(`PREPARE tessera_explained AS ${config.text}`);
        const literals = (config.values ?? []).map((value) => {
          if (value === null) return 'NULL';
          if (typeof value === 'number' || typeof value === 'boolean') return String(value);
          if (typeof value === 'string') return client.escapeLiteral(value);
          throw new TypeError(`no literal for ${JSON.stringify(value)}`);
        });
        const args = literals.length > 0 ? `(${literals.join(', ')})` : '';
        const result = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE tessera_explained${args}`);
        return (result.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]?.Plan as PlanNode;
      } finally {
        // The plans of deletes ran them: nothing of it stays.
        await client.query('ROLLBACK');
        await client.query('DEALLOCATE ALL');
      }
    } finally {
      client.release();
    }
  };

  /**
   * Runs `work` and checks the plan of every statement it sent, custom and generic: no scan of the
   * sessions table or its indexes reads more than `bound` rows (a bitmap scan reads every match
   * first, so it fails too), and nothing larger is sorted. `index`: the sessions table must be
   * read in the order of that index.
   */
  const checkPlans = async <T>(work: () => Promise<T>, bound: number, index?: string): Promise<T> => {
    ran.length = 0;
    const result = await work();
    const statements = ran.filter((config) => !/^\s*(BEGIN|COMMIT|ROLLBACK)\b/i.test(config.text));
    assert.ok(statements.length > 0);
    for (const config of statements) {
      for (const generic of [false, true]) {
        const plan = await explain(config, generic);
        const where = `${generic ? 'generic' : 'custom'} plan of\n${config.text}\n${JSON.stringify(plan, null, 1).slice(0, 3000)}`;
        for (const node of nodesOf(plan)) {
          if (/Sort/.test(node['Node Type']))
            assert.ok((node['Actual Rows'] ?? 0) <= bound, `no sort of more than ${bound} rows: ${where}`);
          if (node['Relation Name'] === 'tessera_sessions' || node['Index Name']?.startsWith('tessera_sessions_') === true) {
            const read = (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) + (node['Rows Removed by Filter'] ?? 0);
            assert.ok(read <= bound, `${read} rows read, at most ${bound}: ${where}`);
          }
          if (index !== undefined && node['Relation Name'] === 'tessera_sessions') {
            assert.equal(node['Node Type'], 'Index Scan', `read through the index: ${where}`);
            assert.equal(node['Index Name'], index, where);
          }
        }
      }
    }
    return result;
  };

  it('a page of 50 reads at most a page of index entries, custom or generic plan, nothing sorted; the next page starts where it ended', async () => {
    const manager = new SessionManager({ store, clock: new ManualClock(now), cleanupInterval: false });
    // 51 rows (one more tells whether a page follows), and the one expired entry among them.
    const first = await checkPlans(() => manager.list('heavy', { limit: 50 }), 53, 'tessera_sessions_created_idx');
    assert.deepEqual(
      first.sessions.map((s) => s.id),
      expected.slice(0, 50),
    );
    assert.notEqual(first.nextCursor, null);
    const second = await checkPlans(
      () => manager.list('heavy', { limit: 50, cursor: first.nextCursor }),
      53,
      'tessera_sessions_created_idx',
    );
    assert.deepEqual(
      second.sessions.map((s) => s.id),
      expected.slice(50, 100),
    );
    manager.close();
  });

  it('pages of 1,000 give every live session once, oldest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result: Awaited<ReturnType<PostgresStore['listBySubject']>> = await store.listBySubject('heavy', { now, cursor, limit: 1000 });
      assert.ok(result.sessions.length <= 1000);
      seen.push(...result.sessions.map((s) => s.id));
      cursor = result.nextCursor;
      if (cursor === null) break;
    }
    assert.equal(seen.length, expected.length);
    assert.deepEqual(seen, expected);
  });

  it('a trim, a bounded revocation and a limited create read at most a batch (or the limit) of index entries', async () => {
    const newest = expected[expected.length - 1] as string;
    const trimmed = await checkPlans(() => store.trimSubject('heavy', { now, max: 100, keep: newest, batch: 500 }), 620);
    assert.deepEqual(
      trimmed.map((r) => r.id),
      expected.slice(0, 500),
      'the oldest 500',
    );
    const revoked = await checkPlans(() => store.deleteBySubject('heavy', { now, except: newest, limit: 500 }), 520);
    assert.equal(revoked.length, 500);
    assert.equal(await store.count({ now, subject: 'heavy' }), expected.length - 1000);
    const { record } = makeRecord(now, { subject: 'heavy' });
    const refused = await checkPlans(() => store.create(record, { now, limit: { max: 100 } }), 120);
    assert.deepEqual(refused, { status: 'limit' }, 'counting to the limit stops at the limit');
  });
});
