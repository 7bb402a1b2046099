// Admin listings at scale: how long `manager.query` takes for a page of 50 at 100,000 and
// 1,000,000 sessions (SQLite, PostgreSQL) and 100,000 (Redis), and on Redis how many commands a
// page costs. Loopback only; every loop is bounded. Run after `npm run build`:
//   node bench/admin-scale.mjs
// Knobs: ADMIN_SCALE_STORES (sqlite,postgres,redis), ADMIN_SCALE_SQL (100000,1000000),
// ADMIN_SCALE_REDIS (100000), ADMIN_SCALE_RUNS (7), DATABASE_URL, EXPLAIN=1 (print the plans).
//
// The sessions are written where no one else looks and removed after: SQLite, a file in a
// temporary directory; PostgreSQL, a schema of this run's own filled with generate_series; Redis, a
// private redis-server (bench/abuse/redis-server.mjs) filled through store.create. One session in
// a hundred has a display name starting with "Alice" (the 1% search); no name starts with "Zed"
// (the search that matches nothing). Each query is timed after one unrecorded run; "deep" is the
// page after the median id, through the cursor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE_URL, randomId } from './abuse/sqlite-postgres-common.mjs';
import { bounded, commandCalls, loginRecord, startRedis } from './abuse/redis-server.mjs';

const tessera = await import('tessera-session');
// Not a public export: ids as the core issues them (shard, partition), for store.create.
const { issueToken } = await import('../dist/src/core/token.js');
const STORES = (process.env.ADMIN_SCALE_STORES ?? 'sqlite,postgres,redis').split(',');
const SQL_SIZES = (process.env.ADMIN_SCALE_SQL ?? '100000,1000000').split(',').map(Number);
const REDIS_SIZES = (process.env.ADMIN_SCALE_REDIS ?? '100000').split(',').map(Number);
const RUNS = Math.max(5, Number(process.env.ADMIN_SCALE_RUNS ?? 7));
const EXPLAIN = process.env.EXPLAIN === '1';
const LIMIT = 50;

/** The display name of the g-th session: one in a hundred starts with "Alice". */
const nameOf = (g) => (g % 100 === 7 ? `Alice ${g}` : `user ${g}`);

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const round = (x) => Math.round(x * 100) / 100;
  return { medianMs: round(sorted[Math.floor(sorted.length / 2)]), maxMs: round(sorted[sorted.length - 1]) };
}

/** Times each case RUNS times after one warm-up; `probe` (optional) counts what one run cost. */
async function measure(manager, deepCursor, probe) {
  const cases = {
    'prefix 1%': { displayNamePrefix: 'Alice', limit: LIMIT },
    'prefix none': { displayNamePrefix: 'Zed', limit: LIMIT },
    'first page': { limit: LIMIT },
    'deep page': { limit: LIMIT, cursor: deepCursor },
  };
  const rows = {};
  for (const [name, query] of Object.entries(cases)) {
    const first = await manager.query(query);
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await manager.query(query);
      times.push(performance.now() - started);
    }
    rows[name] = { ...stats(times), returned: first.sessions.length, ...(probe ? await probe(() => manager.query(query)) : {}) };
  }
  return rows;
}

function managerOf(store) {
  return new tessera.SessionManager({ store, cleanupInterval: false, maxSessionsPerSubject: Number.POSITIVE_INFINITY });
}

async function sqlite(n) {
  const { SqliteStore } = await import('tessera-session/stores/sqlite');
  const Database = (await import('better-sqlite3')).default;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-admin-scale-'));
  const path = join(dir, 'sessions.db');
  try {
    new SqliteStore({ path }).close();
    const db = new Database(path);
    const now = Date.now();
    const insert = db.prepare(
      `INSERT INTO tessera_sessions (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
         authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
       VALUES (?, ?, ?, ?, ?, ?, 3600, ?, ?, ?, 1, '{"cart":["pear"]}', '127.0.0.1', 'bench', '127.0.0.1', 'bench', ?, NULL, NULL)`,
    );
    const ids = [];
    db.transaction(() => {
      for (let g = 0; g < n; g++) {
        const id = randomId();
        ids.push(id);
        insert.run(id, randomId(16), `user${g % 10_000}`, nameOf(g), now, now, now + 86_400_000, now + 3_600_000, now, now);
      }
    })();
    db.exec('ANALYZE');
    if (EXPLAIN) {
      for (const sql of [
        `SELECT * FROM tessera_sessions WHERE expires_at > 1 AND display_name >= 'Alice' AND display_name < 'Alicf' ORDER BY id LIMIT 51`,
        `SELECT * FROM tessera_sessions WHERE expires_at > 1 AND display_name >= 'Zed' AND display_name < 'Zee' ORDER BY id LIMIT 51`,
        `SELECT * FROM tessera_sessions WHERE expires_at > 1 ORDER BY id LIMIT 51`,
        `SELECT * FROM tessera_sessions WHERE expires_at > 1 AND id > 'M' ORDER BY id LIMIT 51`,
      ]) {
        console.error(
          `sqlite ${n}: ${sql}\n  ${db
            .prepare(`EXPLAIN QUERY PLAN ${sql}`)
            .all()
            .map((r) => r.detail)
            .join('\n  ')}`,
        );
      }
    }
    db.close();
    ids.sort();
    const store = new SqliteStore({ path });
    const manager = managerOf(store);
    try {
      return await measure(manager, ids[Math.floor(n / 2)]);
    } finally {
      manager.close();
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres(n) {
  const { PostgresStore } = await import('tessera-session/stores/postgres');
  const pg = (await import('pg')).default;
  const schema = `tessera_admin_scale_${randomId(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  const store = new PostgresStore({ connectionString: DATABASE_URL, schema });
  const manager = managerOf(store);
  try {
    const now = Date.now();
    await store.count({ now });
    // Ids of the session alphabet and length (28), from a hash of g: base64url of SHA-256.
    await admin.query(
      `INSERT INTO "${schema}".tessera_sessions
         (id, secret_hash, subject, display_name, created_at, last_seen_at, idle_timeout, absolute_expires_at, expires_at,
          authenticated_at, version, data, created_ip, created_user_agent, last_ip, last_user_agent, renewed_at, previous_secret_hash, previous_secret_expires_at)
       SELECT translate(substr(encode(sha256(g::text::bytea), 'base64'), 1, 28), '+/', '-_'), md5('s' || g), 'user' || (g % 10000),
              CASE WHEN g % 100 = 7 THEN 'Alice ' ELSE 'user ' END || g,
              $1::bigint, $1::bigint, 3600, $1::bigint + 86400000, $1::bigint + 3600000,
              $1::bigint, 1, '{"cart":["pear"]}'::jsonb, '127.0.0.1', 'bench', '127.0.0.1', 'bench', $1::bigint, NULL, NULL
       FROM generate_series(0, $2 - 1) AS g`,
      [now, n],
    );
    await admin.query(`ANALYZE "${schema}".tessera_sessions`);
    const deep = (await admin.query(`SELECT id FROM "${schema}".tessera_sessions ORDER BY id OFFSET $1 LIMIT 1`, [Math.floor(n / 2)]))
      .rows[0].id;
    if (EXPLAIN) {
      const t = `"${schema}".tessera_sessions`;
      for (const sql of [
        `SELECT * FROM ${t} WHERE expires_at > 1 AND display_name LIKE 'Alice%' ORDER BY id LIMIT 51`,
        `SELECT * FROM ${t} WHERE expires_at > 1 AND display_name LIKE 'Zed%' ORDER BY id LIMIT 51`,
        `SELECT * FROM ${t} WHERE expires_at > 1 ORDER BY id LIMIT 51`,
        `SELECT * FROM ${t} WHERE expires_at > 1 AND id > '${deep}' ORDER BY id LIMIT 51`,
      ]) {
        const plan = (await admin.query(`EXPLAIN ANALYZE ${sql}`)).rows.map((r) => r['QUERY PLAN']);
        console.error(`postgres ${n}: ${sql}\n  ${plan.join('\n  ')}`);
      }
    }
    return await measure(manager, deep);
  } finally {
    manager.close();
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

async function redis(n) {
  const { RedisStore } = await import('tessera-session/stores/redis');
  const { createClient } = await import('redis');
  const server = await startRedis();
  const client = createClient({ url: server.url });
  await client.connect();
  const store = new RedisStore({ url: server.url, prefix: 'scale:' });
  const manager = managerOf(store);
  try {
    const now = Date.now();
    const ids = [];
    await bounded(n, 200, async (g) => {
      const record = { ...loginRecord({ issueToken }, null, null, now, 3600), displayName: nameOf(g) };
      ids.push(record.id);
      const result = await store.create(record, { now });
      if (result.status !== 'created') throw new Error(`create: ${result.status}`);
    });
    ids.sort();
    // One query between a stats reset and INFO: its scripts (evalsha) and the commands they ran.
    const probe = async (run) => {
      await client.sendCommand(['CONFIG', 'RESETSTAT']);
      await run();
      const calls = await commandCalls(client);
      let inner = 0;
      for (const [name, { n: count }] of Object.entries(calls)) {
        if (!['evalsha', 'eval', 'config|resetstat', 'config', 'info', 'script|load', 'script'].includes(name)) inner += count;
      }
      return { scripts: (calls.evalsha?.n ?? 0) + (calls.eval?.n ?? 0), commandsInScripts: inner };
    };
    return await measure(manager, ids[Math.floor(n / 2)], probe);
  } finally {
    manager.close();
    await store.close();
    await client.quit();
    server.stop();
  }
}

const results = [];
for (const kind of STORES) {
  const sizes = kind === 'redis' ? REDIS_SIZES : SQL_SIZES;
  for (const n of sizes) {
    const started = performance.now();
    const rows = await { sqlite, postgres, redis }[kind](n);
    console.error(`${kind} ${n}: ${Math.round((performance.now() - started) / 1000)} s`);
    for (const [name, row] of Object.entries(rows)) results.push({ store: kind, sessions: n, query: name, ...row });
  }
}
console.log('| store | sessions | query | returned | median ms | max ms | scripts | commands in scripts |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(
    `| ${r.store} | ${r.sessions.toLocaleString('en')} | ${r.query} | ${r.returned} | ${r.medianMs} | ${r.maxMs} | ${r.scripts ?? ''} | ${r.commandsInScripts ?? ''} |`,
  );
}
