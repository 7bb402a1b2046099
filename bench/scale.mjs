// Storage cost and admin-query time at many sessions, one store per process:
//   node bench/scale.mjs tessera-redis | tessera-redis-cluster | connect-redis | tessera-postgres | connect-pg-simple
// tessera-redis-cluster starts its own three-master Redis Cluster (redis-server and redis-cli on
// free loopback ports, in a temporary directory) and stops it by PID at the end.
// Creates BENCH_SCALE_SESSIONS (default 100,000) sessions, each holding two small fields
// (`theme: "dark"`, `n: 42`), logged in as one of N/2 users (two sessions per user), directly
// through the store with a bounded number of calls in flight. Then measures:
//   Redis: MEMORY USAGE (SAMPLES 0) of every key under this run's prefix, found with SCAN,
//          per-user indexes and expiry indexes included, divided by the number of sessions;
//   PostgreSQL: pg_total_relation_size (table + indexes + TOAST) of every table in this run's
//          schema, divided by the number of sessions;
//   tessera: median time of 50 calls each of manager.list(subject) and manager.count(), and of 20
//          calls of manager.query({ limit: 50 }) (the admin list's first page);
//   connect-redis: the same two questions answered the only way it can (SCAN / SCAN + MGET).
// Prints `result <json>` as its last line. run.mjs removes the prefix / schema afterwards.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { bounded } from './lib/async.mjs';
import { hasRedisClusterBinaries, startRedisCluster } from './lib/redis-cluster.mjs';
import { env, importOrSkip, redisClient, skip } from './lib/server-common.mjs';
import { openPostgresStore, openRedisStore } from './lib/stores.mjs';

const kind = process.argv[2];
const N = Number(process.env.BENCH_SCALE_SESSIONS ?? 100_000);
const USERS = Math.max(1, Math.ceil(N / 2));
const IN_FLIGHT = Number(process.env.BENCH_SCALE_IN_FLIGHT ?? (kind?.includes('redis') ? 200 : 16));
const IDLE_MS = 1800 * 1000;
const DEVICE = Object.freeze({ ip: '127.0.0.1', userAgent: 'bench/1.0' });
const FIELDS = Object.freeze({ theme: 'dark', n: 42 });
const PROBE_SUBJECT = 'user-7';

async function timeCalls(calls, fn, warmUp = 5) {
  for (let i = 0; i < warmUp; i++) await fn();
  const times = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { calls, medianMs: times[Math.floor(times.length / 2)], maxMs: times[times.length - 1] };
}

async function tesseraRecords(store) {
  // issueToken is the core's own (not exported), taken from the build as admin-scale.mjs does.
  const { hasSubjectPartitions } = await importOrSkip('tessera-session/store-kit');
  const { issueToken } = await import('../dist/src/core/token.js');
  const now = Date.now();
  // As the core issues them: a store that keeps a user's sessions together gives the partition.
  const partitions = new Map();
  for (let u = 0; u < USERS; u++) {
    const subject = `user-${u}`;
    partitions.set(subject, hasSubjectPartitions(store) ? await store.subjectPartition(subject) : null);
  }
  const started = performance.now();
  await bounded(N, IN_FLIGHT, async (i) => {
    const subject = `user-${i % USERS}`;
    const issued = issueToken(partitions.get(subject));
    const result = await store.create(
      {
        id: issued.id,
        secretHash: issued.secretHash,
        subject,
        displayName: null,
        createdAt: now,
        lastSeenAt: now,
        idleTimeout: IDLE_MS / 1000,
        absoluteExpiresAt: now + 86_400_000,
        expiresAt: now + IDLE_MS,
        authenticatedAt: now,
        version: 1,
        data: { ...FIELDS },
        // The rest as the core sets it at login (src/core/session.ts); keep in step with SessionRecord.
        createdDevice: { ...DEVICE },
        lastDevice: { ...DEVICE },
        renewedAt: now,
        previousSecretHash: null,
        previousSecretExpiresAt: null,
      },
      { now },
    );
    if (result.status !== 'created') throw new Error(`create ${i}: ${result.status}`);
  });
  return (performance.now() - started) / 1000;
}

/** The three-master Redis Cluster of bench/lib/redis-cluster.mjs; skips this run without its binaries. */
async function startCluster() {
  if (!hasRedisClusterBinaries()) skip('redis-server or redis-cli is not on PATH');
  return startRedisCluster();
}

async function tesseraQueries(store) {
  const { SessionManager } = await importOrSkip('tessera-session');
  const manager = new SessionManager({ store, cleanupInterval: false });
  const listed = (await manager.list(PROBE_SUBJECT)).sessions.length;
  const counted = await manager.count();
  const paged = (await manager.query({ limit: 50 })).sessions.length;
  return {
    list: { ...(await timeCalls(50, () => manager.list(PROBE_SUBJECT))), subject: PROBE_SUBJECT, sessions: listed },
    count: { ...(await timeCalls(50, () => manager.count())), result: counted },
    page: { ...(await timeCalls(20, () => manager.query({ limit: 50 }))), sessions: paged },
  };
}

/** MEMORY USAGE of every key under the prefix, by key type. */
async function redisMemory(client) {
  const byType = {};
  let keys = 0;
  let bytes = 0;
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const reply = await client.scan(cursor, { MATCH: `${env.prefix}*`, COUNT: 1000 });
    cursor = String(reply.cursor);
    await Promise.all(
      reply.keys.map(async (key) => {
        const [usage, type] = await Promise.all([client.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']), client.type(key)]);
        const size = Number(usage ?? 0);
        keys++;
        bytes += size;
        byType[type] ??= { keys: 0, bytes: 0 };
        byType[type].keys++;
        byType[type].bytes += size;
      }),
    );
    if (cursor === '0') break;
  }
  return { keys, bytes, bytesPerSession: bytes / N, byType };
}

async function pgSize(pool) {
  const { rows } = await pool.query(
    `SELECT c.relname AS table, pg_total_relation_size(c.oid)::bigint AS bytes,
            pg_relation_size(c.oid)::bigint AS heap, pg_indexes_size(c.oid)::bigint AS indexes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 2 DESC`,
    [env.schema],
  );
  const tables = rows.map((r) => ({ table: r.table, bytes: Number(r.bytes), heap: Number(r.heap), indexes: Number(r.indexes) }));
  const bytes = tables.reduce((sum, t) => sum + t.bytes, 0);
  return { bytes, bytesPerSession: bytes / N, tables };
}

async function pgPool() {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: env.databaseUrl, connectionTimeoutMillis: 2000, max: IN_FLIGHT });
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${env.schema}"`);
  } catch (error) {
    skip(`PostgreSQL at ${env.databaseUrl} unreachable: ${error?.message ?? error}`);
  }
  return pool;
}

async function run() {
  if (kind === 'tessera-redis') {
    const store = await openRedisStore();
    const createSeconds = await tesseraRecords(store);
    const client = await redisClient();
    const memory = await redisMemory(client);
    return { sessions: N, users: USERS, createSeconds, memory, ...(await tesseraQueries(store)) };
  }
  if (kind === 'tessera-redis-cluster') {
    const cluster = await startCluster();
    try {
      const mod = await importOrSkip('tessera-session/stores/redis');
      const store = new mod.RedisStore({
        cluster: { rootNodes: cluster.ports.map((p) => `redis://127.0.0.1:${p}`) },
        prefix: env.prefix,
        commandTimeout: 5000,
      });
      const createSeconds = await tesseraRecords(store);
      const { createClient } = await import('redis');
      const totals = { keys: 0, bytes: 0, bytesPerSession: 0, byType: {} };
      for (const port of cluster.ports) {
        const client = createClient({ url: `redis://127.0.0.1:${port}` });
        await client.connect();
        const m = await redisMemory(client);
        await client.close();
        totals.keys += m.keys;
        totals.bytes += m.bytes;
        for (const [type, x] of Object.entries(m.byType)) {
          totals.byType[type] ??= { keys: 0, bytes: 0 };
          totals.byType[type].keys += x.keys;
          totals.byType[type].bytes += x.bytes;
        }
      }
      totals.bytesPerSession = totals.bytes / N;
      const queries = await tesseraQueries(store);
      await store.close();
      return { sessions: N, users: USERS, masters: cluster.ports.length, createSeconds, memory: totals, ...queries };
    } finally {
      cluster.stop();
    }
  }
  if (kind === 'connect-redis') {
    const { RedisStore } = await import('connect-redis');
    const { Cookie } = (await import('express-session')).default;
    const client = await redisClient();
    const store = new RedisStore({ client, prefix: env.prefix });
    const started = performance.now();
    await bounded(N, IN_FLIGHT, async (i) => {
      const cookie = new Cookie({ maxAge: IDLE_MS, httpOnly: true, sameSite: 'lax' });
      await store.set(randomBytes(24).toString('base64url'), { cookie, user: `user-${i % USERS}`, ...FIELDS });
    });
    const createSeconds = (performance.now() - started) / 1000;
    const memory = await redisMemory(client);
    // connect-redis has no per-user index: listing a user's sessions means reading them all.
    const listed = (await store.all()).filter((s) => s.user === PROBE_SUBJECT).length;
    return {
      sessions: N,
      users: USERS,
      createSeconds,
      memory,
      list: {
        ...(await timeCalls(2, async () => (await store.all()).filter((s) => s.user === PROBE_SUBJECT), 0)),
        subject: PROBE_SUBJECT,
        sessions: listed,
        how: 'store.all() (SCAN + MGET) then filter',
      },
      count: { ...(await timeCalls(3, () => store.length(), 0)), result: await store.length(), how: 'store.length() (SCAN)' },
    };
  }
  if (kind === 'tessera-postgres') {
    const pool = await pgPool();
    const store = await openPostgresStore();
    const createSeconds = await tesseraRecords(store);
    const size = await pgSize(pool);
    return { sessions: N, users: USERS, createSeconds, size, ...(await tesseraQueries(store)) };
  }
  if (kind === 'connect-pg-simple') {
    const pool = await pgPool();
    const session = (await import('express-session')).default;
    const PgStore = (await import('connect-pg-simple')).default(session);
    const store = new PgStore({
      pool,
      schemaName: env.schema,
      tableName: 'session',
      createTableIfMissing: true,
      pruneSessionInterval: false,
    });
    const set = (sid, sess) => new Promise((resolve, reject) => store.set(sid, sess, (error) => (error ? reject(error) : resolve())));
    const started = performance.now();
    await bounded(N, IN_FLIGHT, async (i) => {
      const cookie = new session.Cookie({ maxAge: IDLE_MS, httpOnly: true, sameSite: 'lax' });
      await set(randomBytes(24).toString('base64url'), { cookie, user: `user-${i % USERS}`, ...FIELDS });
    });
    const createSeconds = (performance.now() - started) / 1000;
    return { sessions: N, users: USERS, createSeconds, size: await pgSize(pool) };
  }
  throw new Error(`unknown kind ${kind}`);
}

try {
  const result = await run();
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
}
