// `npm run bench`: tessera side by side with its peers, on loopback only.
//
// Each variant is its own server process (bench/servers/<id>.mjs). This process starts them all,
// logs BENCH_SESSIONS users into each (1,000 live sessions per variant), then drives them with
// autocannon in round-robin rounds (every variant once per round and workload, order rotated
// between rounds) and reports the median of the rounds. Then: a short MONITOR probe per Redis
// variant (round trips vs commands run inside scripts), the lost-update test, and the storage /
// admin-query measurements at BENCH_SCALE_SESSIONS sessions (bench/scale.mjs). Results are
// printed and written to bench/results.md, with how each figure is measured from
// bench/METHODOLOGY.md. Every key, schema and file is named after this run
// and removed at the end.
//
// Environment (all optional):
//   REDIS_URL              default redis://127.0.0.1:6379
//   DATABASE_URL           default postgres://127.0.0.1:5432/test
//   BENCH_DURATION         seconds per measured run, default 2 (1 for a smoke test)
//   BENCH_ROUNDS           default 5 (the median of five shrugs off one disturbed round)
//   BENCH_WARMUP           seconds of unrecorded load before every measured run, default 1
//   BENCH_CONNECTIONS      autocannon connections, default 50
//   BENCH_SESSIONS         live sessions per variant, default 1000
//   BENCH_SCALE_SESSIONS   sessions for the memory / size / list / count figures, default 100000
//   BENCH_VARIANTS         comma-separated variant ids to run (default: all)
//   BENCH_RESULTS          output file, default bench/results.md
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { commandStats, commandsBetween, startMonitor } from './lib/redis-monitor.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const started = new Date();
const t0 = performance.now();
const loadBefore = os.loadavg();
/** Share of the machine's CPU time that the hypervisor gave elsewhere during the measured rounds (Linux only). */
let roundsStealShare = null;

function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

const cfg = Object.freeze({
  redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/test',
  duration: envNumber('BENCH_DURATION', 2),
  rounds: Math.round(envNumber('BENCH_ROUNDS', 5)),
  warmup: envNumber('BENCH_WARMUP', 1),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  sessions: Math.round(envNumber('BENCH_SESSIONS', 1000)),
  scaleSessions: Math.round(envNumber('BENCH_SCALE_SESSIONS', 100_000)),
  lostRequests: 200,
  probeRequests: 500,
  results: process.env.BENCH_RESULTS || join(BENCH_DIR, 'results.md'),
  only: (process.env.BENCH_VARIANTS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
});

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const redisPrefixRoot = `tessera-bench:${runId}:`;
/**
 * The storage figures count key names, so each scale run gets a prefix as long as the default
 * `tessera:` (8 characters) instead of the long names above; connect-redis gets one as long.
 */
const scalePrefixes = new Map();
const scalePrefix = (kind) => {
  if (!scalePrefixes.has(kind)) scalePrefixes.set(kind, `t${randomBytes(3).toString('hex').slice(0, 5)}${scalePrefixes.size}:`);
  return scalePrefixes.get(kind);
};
const pgSchemaRoot = `tessera_bench_${runId}`;
const sqlitePath = join(os.tmpdir(), `tessera-bench-${runId}.db`);

// node-postgres takes the user from PGUSER or USER; psql asks the OS. Match psql when neither is set.
const childEnv = { ...process.env, REDIS_URL: cfg.redisUrl, DATABASE_URL: cfg.databaseUrl, NODE_ENV: 'production' };
const databaseUser = URL.canParse(cfg.databaseUrl) ? new URL(cfg.databaseUrl).username : '';
if (!databaseUser && !process.env.PGUSER && !process.env.USER) childEnv.PGUSER = os.userInfo().username;
if (childEnv.PGUSER && !process.env.PGUSER) process.env.PGUSER = childEnv.PGUSER;

const REF_REDIS = 'express-session-redis';
const REF_PG = 'express-session-pg';

/** The variants, in the order of the tables. `backend` decides what is counted per request. */
const ALL_VARIANTS = [
  { id: 'node-bare', letter: 'a', label: 'node:http, no sessions (ceiling)', backend: null, sessions: false },
  { id: 'redis-floor', letter: 'b', label: 'node:http + pipelined HINCRBY+PEXPIRE (floor)', backend: 'redis', sessions: true },
  { id: 'express-session-redis', letter: 'c', label: 'express-session + connect-redis', backend: 'redis', sessions: true },
  { id: 'fastify-session-redis', letter: 'd', label: 'fastify + @fastify/session + connect-redis', backend: 'redis', sessions: true },
  { id: 'express-bare', letter: 'e', label: 'express, no sessions', backend: null, sessions: false },
  { id: 'tessera-express-redis', letter: 'f', label: 'tessera + Express + Redis', backend: 'redis', sessions: true, tessera: true },
  { id: 'tessera-node-redis', letter: 'g', label: 'tessera + node:http + Redis', backend: 'redis', sessions: true, tessera: true },
  { id: 'tessera-node-sqlite', letter: 'h', label: 'tessera + node:http + SQLite', backend: 'sqlite', sessions: true, tessera: true },
  { id: 'tessera-node-postgres', letter: 'i', label: 'tessera + node:http + PostgreSQL', backend: 'postgres', sessions: true, tessera: true },
  { id: 'express-session-pg', letter: 'j', label: 'express-session + connect-pg-simple', backend: 'postgres', sessions: true },
  { id: 'tessera-node-memory', letter: 'k', label: 'tessera + node:http + MemoryStore (extra)', backend: null, sessions: true, tessera: true },
  { id: 'redis-layout-floor', letter: 'l', label: "node:http + tessera's Redis layout and scripts, no library (extra)", backend: 'redis', sessions: true },
];
const WORKLOADS = [
  { id: 'increment', path: '/inc' },
  { id: 'read', path: '/read' },
];

const log = (...args) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Busy and total CPU time of the whole machine so far (Linux `/proc/stat`), or null elsewhere. */
function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    // guest and guest_nice (fields 8 and 9) are already counted in user and nice.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    // Time the hypervisor gave this VM's CPUs to someone else: it slows every variant, whatever
    // the load average says.
    return { busy: total - idle, total, steal: fields[7] ?? 0 };
  } catch {
    return null;
  }
}

/**
 * Waits, at most `maxMs`, for half a second in which the machine's CPUs were under 10 % busy: after
 * the load, PostgreSQL's autovacuum and checkpoints can take a core for seconds, and the admin
 * timings at scale last only milliseconds each. Returns the time waited and the last busy share.
 */
async function settle(maxMs = 30_000) {
  const started = performance.now();
  let busyShare = null;
  let before = machineCpu();
  while (before !== null && performance.now() - started < maxMs) {
    await sleep(500);
    const after = machineCpu();
    if (after === null) break;
    busyShare = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    before = after;
    if (busyShare < 0.1) break;
  }
  return { waitedMs: performance.now() - started, busyShare };
}

function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
async function bounded(count, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Backends

async function connectRedis() {
  const { createClient } = await import('redis');
  const client = createClient({ url: cfg.redisUrl, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    return { client, version: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' };
  } catch (error) {
    return { client: null, error: `Redis at ${cfg.redisUrl} unreachable: ${error?.message ?? error}` };
  }
}

async function connectPostgres() {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: cfg.databaseUrl, connectionTimeoutMillis: 2000, max: 2 });
  pool.on('error', () => {});
  try {
    const { rows } = await pool.query('SHOW server_version');
    return { pool, version: rows[0].server_version };
  } catch (error) {
    await pool.end().catch(() => {});
    return { pool: null, error: `PostgreSQL at ${cfg.databaseUrl} unreachable: ${error?.message ?? error}` };
  }
}

/** Whether any key starts with `prefix` (a full SCAN, stopping at the first). */
async function anyKey(client, prefix) {
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 1000 });
    if (reply.keys.length > 0) return true;
    cursor = String(reply.cursor);
    if (cursor === '0') return false;
  }
  return true;
}

async function cleanupRedis(client, prefix) {
  if (client === null) return 0;
  let removed = 0;
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 1000 });
    cursor = String(reply.cursor);
    if (reply.keys.length > 0) removed += Number(await client.unlink(reply.keys));
    if (cursor === '0') break;
  }
  return removed;
}

async function cleanupPostgres(pool) {
  if (pool === null) return [];
  const { rows } = await pool.query('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [pgSchemaRoot]);
  for (const { nspname } of rows) await pool.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
  return rows.map((r) => r.nspname);
}

// ---------------------------------------------------------------------------------------------
// Server processes

const children = new Set();

function startServer(variant) {
  return new Promise((resolve) => {
    const env = {
      ...childEnv,
      PORT: String(variant.port),
      BENCH_PREFIX: `${redisPrefixRoot}${variant.id}:`,
      BENCH_PG_SCHEMA: `${pgSchemaRoot}_${variant.id.replace(/-/g, '_')}`,
      BENCH_SQLITE_PATH: sqlitePath,
    };
    variant.prefix = env.BENCH_PREFIX;
    variant.schema = env.BENCH_PG_SCHEMA;
    const child = spawn(process.execPath, [join(BENCH_DIR, 'servers', `${variant.id}.mjs`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    variant.child = child;
    let stdout = '';
    let stderr = '';
    let settled = false;
    const settle = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => settle({ status: 'failed', reason: `no "ready" within 30 s. ${stderr.slice(-500)}` }), 30_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      for (const line of stdout.split('\n')) {
        if (line === 'ready') settle({ status: 'ready' });
        else if (line.startsWith('skip ')) settle({ status: 'skipped', reason: line.slice(5) });
      }
      if (stdout.length > 10_000) stdout = stdout.slice(-1000);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
      variant.stderr = stderr;
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      const reason = `exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-6).join(' | ').slice(0, 800)}`;
      if (settled && !child.stopping && variant.status?.status === 'ready') {
        // A server that dies mid-run is a finding, not noise: report it and stop driving it.
        variant.status = { status: 'crashed', reason };
        log(`${variant.id}: crashed: ${reason}`);
      }
      settle({ status: 'failed', reason });
    });
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function serverStats(variant) {
  const res = await fetch(`http://127.0.0.1:${variant.port}/__stats`, { signal: AbortSignal.timeout(5000) });
  return res.json();
}

/** Logs `count` users in and returns their cookies (`name=value`). */
async function createSessions(variant, count) {
  if (!variant.sessions) {
    // Same request size as a tessera cookie, ignored by the server.
    return Array.from({ length: count }, () => `tessera=${randomBytes(21).toString('base64url')}.${randomBytes(32).toString('base64url')}`);
  }
  const cookies = new Array(count);
  await bounded(count, 16, async (i) => {
    const res = await fetch(`http://127.0.0.1:${variant.port}/login?user=user-${i}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    const setCookie = res.headers.getSetCookie()[0];
    if (res.status !== 200 || !setCookie) throw new Error(`login of user-${i} answered ${res.status} without a cookie`);
    cookies[i] = setCookie.split(';')[0];
  });
  return cookies;
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * One autocannon run. The cookies are dealt out to the connections (with 1,000 cookies and 50
 * connections, 20 each) and every connection cycles through its own, so concurrent requests name
 * different sessions and each session gets the same share. The requests are built once, which
 * keeps the load generator's cost per request as low as with one static request. Latency is
 * kept at µs precision.
 */
function load(variant, workload, { duration, amount, connections = cfg.connections }) {
  const cookies = variant.cookies;
  const share = Math.max(1, Math.ceil(cookies.length / connections));
  const start = Math.floor(Math.random() * cookies.length);
  let clientIndex = 0;
  const latencies = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${variant.port}`,
        connections,
        pipelining: 1,
        ...(amount ? { amount } : { duration }),
        timeout: 10,
        requests: [{ method: 'GET', path: workload.path, headers: { cookie: cookies[start] } }],
        setupClient: (client) => {
          const offset = start + clientIndex++ * share;
          const requests = Array.from({ length: share }, (_, k) => ({ method: 'GET', path: workload.path, headers: { cookie: cookies[(offset + k) % cookies.length] } }));
          client.setRequests(requests);
        },
      },
      (error, result) => {
        if (error) return reject(error);
        latencies.sort((a, b) => a - b);
        resolve({
          rps: result.requests.average,
          total: result.requests.total,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300 && latencies.length < 5_000_000) latencies.push(responseTime);
    });
  });
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU seconds (user + system) a process has used so far, or null without Linux's /proc. */
function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** CPU seconds the Redis server has used so far (INFO cpu, main process and threads). */
async function redisCpuSeconds(redis) {
  const text = await redis.info('cpu');
  const value = (name) => Number(text.match(new RegExp(`^${name}:([0-9.]+)`, 'm'))?.[1] ?? NaN);
  return value('used_cpu_sys') + value('used_cpu_user');
}

/** Microseconds of CPU per request between two readings, or null when either is missing. */
function cpuPerRequest(before, after, served) {
  return before == null || after == null || !Number.isFinite(after - before) || served <= 0 ? null : ((after - before) * 1e6) / served;
}

/**
 * A load run, then a pause for its last in-flight requests to finish their store calls, so that
 * none of them lands in the next window of counted commands, statements or CPU.
 */
async function loadAndSettle(variant, workload, options) {
  const result = await load(variant, workload, options);
  await sleep(150);
  return result;
}

/** A measured run: autocannon plus what the variant sent to its backend, and the CPU it all took. */
async function measure(variant, workload, redis) {
  const statsBefore = await serverStats(variant);
  const cmdBefore = variant.backend === 'redis' ? await commandStats(redis) : null;
  const redisCpuBefore = variant.backend === 'redis' ? await redisCpuSeconds(redis) : null;
  const serverCpuBefore = processCpuSeconds(variant.child.pid);
  const generatorBefore = process.cpuUsage();
  const result = await loadAndSettle(variant, workload, { duration: cfg.duration });
  const generator = process.cpuUsage(generatorBefore);
  const serverCpuAfter = processCpuSeconds(variant.child.pid);
  const redisCpuAfter = variant.backend === 'redis' ? await redisCpuSeconds(redis) : null;
  const cmdAfter = variant.backend === 'redis' ? await commandStats(redis) : null;
  const statsAfter = await serverStats(variant);
  const served = statsAfter.requests - statsBefore.requests;
  const out = {
    ...result,
    served,
    cpu: {
      server: cpuPerRequest(serverCpuBefore, serverCpuAfter, served),
      redis: cpuPerRequest(redisCpuBefore, redisCpuAfter, served),
      generator: cpuPerRequest(0, (generator.user + generator.system) / 1e6, served),
    },
  };
  if (cmdBefore !== null && served > 0) {
    const diff = commandsBetween(cmdBefore, cmdAfter);
    out.redisCommands = diff.total / served;
    // Commands under 0.01 per request are other clients of the same Redis, not this variant.
    out.redisByCommand = Object.fromEntries(
      Object.entries(diff.byCommand)
        .map(([k, v]) => [k, +(v / served).toFixed(2)])
        .filter(([, v]) => v >= 0.01)
        .sort((a, b) => b[1] - a[1]),
    );
  }
  if (variant.backend === 'postgres' && served > 0) {
    out.pgStatements = (statsAfter.queries - statsBefore.queries) / served;
    out.pgByStatement = Object.fromEntries(
      Object.entries(statsAfter.statements ?? {})
        .map(([text, n]) => [text.replaceAll(`"${variant.schema}".`, ''), +((n - (statsBefore.statements?.[text] ?? 0)) / served).toFixed(2)])
        .filter(([, v]) => v >= 0.01)
        .sort((a, b) => b[1] - a[1]),
    );
  }
  return out;
}

/**
 * Short MONITOR probe: top-level commands (round trips' worth) and in-script commands per request.
 * The same warm-up as a measured run comes first: the probe's few requests visit each session
 * about once, so without it every session last touched more than a touch interval ago (in the
 * rounds, a minute or more back) would count its touch here.
 */
async function monitorProbe(variant, workload) {
  if (cfg.warmup > 0) await loadAndSettle(variant, workload, { duration: cfg.warmup });
  const monitor = await startMonitor(cfg.redisUrl);
  let before;
  let counts;
  try {
    before = await serverStats(variant);
    await load(variant, workload, { amount: cfg.probeRequests, connections: 10 });
  } finally {
    counts = await monitor.stop(variant.prefix); // always closes the MONITOR connection
  }
  const after = await serverStats(variant);
  const served = after.requests - before.requests;
  return {
    served,
    topLevel: counts.topLevel / served,
    inScripts: counts.inScripts / served,
    byCommand: Object.fromEntries(Object.entries(counts.byCommand).map(([k, v]) => [k, +(v / served).toFixed(3)])),
  };
}

/** 200 concurrent increments on one fresh session; lost = 200 - (final - initial). */
async function lostUpdates(variant) {
  const base = `http://127.0.0.1:${variant.port}`;
  const login = await fetch(`${base}/login?user=lost-${variant.id}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await login.arrayBuffer();
  const cookie = login.headers.getSetCookie()[0]?.split(';')[0];
  if (!cookie) throw new Error('login set no cookie');
  const read = async () => (await (await fetch(`${base}/read`, { headers: { cookie }, signal: AbortSignal.timeout(10_000) })).json()).n;
  const initial = await read();
  const statuses = await Promise.all(
    Array.from({ length: cfg.lostRequests }, async () => {
      try {
        const res = await fetch(`${base}/inc`, { headers: { cookie }, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    }),
  );
  const final = await read();
  const failed = statuses.filter((s) => s !== 200).length;
  return { initial, final, lost: cfg.lostRequests - (final - initial), failed };
}

/** Runs bench/scale.mjs for one store kind with its own prefix / schema. */
function runScale(kind) {
  return new Promise((resolve) => {
    const env = {
      ...childEnv,
      BENCH_SCALE_SESSIONS: String(cfg.scaleSessions),
      BENCH_PREFIX: scalePrefix(kind),
      BENCH_PG_SCHEMA: `${pgSchemaRoot}_scale_${kind.replace(/-/g, '_')}`,
      BENCH_SQLITE_PATH: sqlitePath,
    };
    const child = spawn(process.execPath, [join(BENCH_DIR, 'scale.mjs'), kind], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout = (stdout + c).slice(-200_000)));
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const lines = stdout.trim().split('\n');
      const result = lines.find((l) => l.startsWith('result '));
      const skipped = lines.find((l) => l.startsWith('skip '));
      if (result) resolve({ status: 'ok', ...JSON.parse(result.slice(7)) });
      else if (skipped) resolve({ status: 'skipped', reason: skipped.slice(5) });
      else resolve({ status: 'failed', reason: `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Main

let redis = null;
let pgPool = null;
let cleanedUp = false;

async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  await Promise.all([...children].map(stopChild));
  const notes = [];
  try {
    let removed = await cleanupRedis(redis, redisPrefixRoot);
    for (const prefix of scalePrefixes.values()) removed += await cleanupRedis(redis, prefix);
    notes.push(`${removed} Redis keys`);
  } catch (error) {
    notes.push(`Redis cleanup failed: ${error.message}`);
  }
  try {
    notes.push(`${(await cleanupPostgres(pgPool)).length} PostgreSQL schemas`);
  } catch (error) {
    notes.push(`PostgreSQL cleanup failed: ${error.message}`);
  }
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(sqlitePath + suffix, { force: true });
  log(`cleaned up: ${notes.join(', ')}, SQLite file`);
  await redis?.quit().catch(() => {});
  await pgPool?.end().catch(() => {});
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  log(`run ${runId}: ${cfg.rounds} rounds x ${cfg.duration} s, ${cfg.connections} connections, ${cfg.sessions} sessions per variant`);
  if (loadBefore[0] > 1.5) log(`warning: load average ${loadBefore[0].toFixed(2)} before the run; other work on this machine will depress and scatter the figures`);
  const redisConn = await connectRedis();
  const pgConn = await connectPostgres();
  redis = redisConn.client;
  pgPool = pgConn.pool;
  if (redisConn.error) log(redisConn.error);
  if (pgConn.error) log(pgConn.error);

  const variants = ALL_VARIANTS.filter((v) => cfg.only.length === 0 || cfg.only.includes(v.id)).map((v) => ({ ...v, runs: {} }));
  for (const v of variants) {
    if (v.backend === 'redis' && redis === null) v.status = { status: 'skipped', reason: redisConn.error };
    if (v.backend === 'postgres' && pgPool === null) v.status = { status: 'skipped', reason: pgConn.error };
  }

  // Start every server and give each its live sessions (in parallel: nothing is measured yet).
  const setUp = async (v) => {
    if (v.status) return;
    if (v.backend === 'postgres') await pgPool.query(`CREATE SCHEMA IF NOT EXISTS "${pgSchemaRoot}_${v.id.replace(/-/g, '_')}"`);
    for (let attempt = 0; attempt < 3; attempt++) {
      v.port = await freePort();
      v.status = await startServer(v);
      if (!/EADDRINUSE/.test(v.status.reason ?? '')) break; // another process took the port meanwhile
    }
    if (v.status.status !== 'ready') {
      log(`${v.id}: ${v.status.status}: ${v.status.reason}`);
      return;
    }
    try {
      v.cookies = await createSessions(v, cfg.sessions);
      log(`${v.id}: ready on ${v.port}, ${v.sessions ? `${cfg.sessions} users logged in` : 'no sessions'}`);
    } catch (error) {
      v.status = { status: 'failed', reason: `setup: ${error.message}. ${v.stderr ?? ''}`.slice(0, 600) };
      log(`${v.id}: failed: ${v.status.reason}`);
      await stopChild(v.child);
    }
  };
  await Promise.all(variants.map(setUp));
  const active = variants.filter((v) => v.status.status === 'ready');

  // The measured rounds, each in a rotated order. Every measured run follows an unrecorded
  // warm-up of the same variant and workload: while a variant idles (the others' turns, about a
  // minute), V8 shrinks its heap, and a run that started cold would measure the heap growing
  // back (a third more CPU per request for the variants that keep objects across a store round
  // trip) instead of the variant's steady state.
  const cpuBeforeRounds = machineCpu();
  for (let round = 0; round < cfg.rounds; round++) {
    for (const workload of WORKLOADS) {
      const offset = (round * 3 + (workload.id === 'read' ? 1 : 0)) % Math.max(1, active.length);
      const order = [...active.slice(offset), ...active.slice(0, offset)];
      for (const v of order) {
        if (v.status.status !== 'ready') continue;
        try {
          if (cfg.warmup > 0) await loadAndSettle(v, workload, { duration: cfg.warmup });
          const r = await measure(v, workload, redis);
          (v.runs[workload.id] ??= []).push(r);
          log(
            `round ${round + 1}/${cfg.rounds} ${workload.id.padEnd(9)} ${v.id.padEnd(22)} ${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50?.toFixed(2)} ms  p99 ${r.p99?.toFixed(2)} ms` +
              (r.redisCommands !== undefined ? `  redis ${r.redisCommands.toFixed(2)}/req` : '') +
              (r.pgStatements !== undefined ? `  pg ${r.pgStatements.toFixed(2)}/req` : '') +
              (r.non2xx || r.errors ? `  non-2xx ${r.non2xx} errors ${r.errors}` : ''),
          );
        } catch (error) {
          v.status = { status: 'failed', reason: `${workload.id} run: ${error.message}. ${v.stderr ?? ''}`.slice(0, 600) };
          log(`${v.id}: failed: ${v.status.reason}`);
        }
      }
    }
  }

  const cpuAfterRounds = machineCpu();
  if (cpuBeforeRounds !== null && cpuAfterRounds !== null) {
    roundsStealShare = (cpuAfterRounds.steal - cpuBeforeRounds.steal) / Math.max(1, cpuAfterRounds.total - cpuBeforeRounds.total);
    log(`CPU time stolen by the hypervisor during the rounds: ${(roundsStealShare * 100).toFixed(1)} %`);
  }

  // MONITOR probe: round trips vs in-script commands, per Redis variant.
  for (const v of active.filter((x) => x.backend === 'redis' && x.status.status === 'ready')) {
    v.probe = {};
    for (const workload of WORKLOADS) {
      try {
        v.probe[workload.id] = await monitorProbe(v, workload);
        log(`monitor   ${workload.id.padEnd(9)} ${v.id.padEnd(22)} top-level ${v.probe[workload.id].topLevel.toFixed(2)}/req, in scripts ${v.probe[workload.id].inScripts.toFixed(2)}/req ${JSON.stringify(v.probe[workload.id].byCommand)}`);
      } catch (error) {
        v.probe[workload.id] = { error: error.message };
        log(`monitor ${v.id} ${workload.id}: ${error.message}`);
      }
    }
  }

  // Lost updates.
  for (const v of active.filter((x) => x.sessions && x.status.status === 'ready')) {
    try {
      v.lost = await lostUpdates(v);
      log(`lost      ${v.id.padEnd(22)} ${v.lost.lost} of ${cfg.lostRequests} (counter ${v.lost.initial} -> ${v.lost.final}, ${v.lost.failed} non-200)`);
    } catch (error) {
      v.lost = { error: error.message };
      log(`lost ${v.id}: ${error.message}`);
    }
  }

  for (const v of active) await stopChild(v.child);

  // Storage and admin queries at scale, one store at a time, nothing else running.
  const scale = {};
  const scaleKinds = { 'tessera-redis': 'redis', 'tessera-redis-cluster': 'redis', 'connect-redis': 'redis', 'tessera-postgres': 'postgres', 'connect-pg-simple': 'postgres' };
  for (const [kind, backend] of Object.entries(scaleKinds)) {
    if (backend === 'redis' && redis === null) scale[kind] = { status: 'skipped', reason: redisConn.error };
    else if (backend === 'postgres' && pgPool === null) scale[kind] = { status: 'skipped', reason: pgConn.error };
    else {
      const startedAt = performance.now();
      // A short prefix could already be in use on a shared Redis: never measure (or clean up) another's keys.
      for (let attempt = 0; redis !== null && attempt < 20 && (await anyKey(redis, scalePrefix(kind))); attempt++) scalePrefixes.delete(kind);
      const settled = await settle();
      scale[kind] = { ...(await runScale(kind)), settled };
      await cleanupRedis(redis, scalePrefix(kind)).catch(() => {});
      log(`scale     ${kind.padEnd(18)} ${scale[kind].status} in ${((performance.now() - startedAt) / 1000).toFixed(0)} s (after ${(settled.waitedMs / 1000).toFixed(1)} s for the CPUs to settle, last ${settled.busyShare === null ? '?' : `${(settled.busyShare * 100).toFixed(0)} %`} busy) ${scale[kind].reason ?? ''}`);
    }
  }

  const machine = {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model ?? '?',
    memoryGb: (os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`,
  };
  const report = buildReport({ variants, scale, machine, redisVersion: redisConn.version ?? `unavailable (${redisConn.error})`, pgVersion: pgConn.version ?? `unavailable (${pgConn.error})` });
  console.log(`\n${report.console}`);
  writeFileSync(cfg.results, report.markdown);
  log(`wrote ${cfg.results}`);
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = {
  int: (v) => (v == null ? '–' : Math.round(v).toLocaleString('en-US')),
  ms: (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  per: (v) => (v == null ? '–' : v.toFixed(2)),
  ratio: (v) => (v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`),
};

function summarize(v, workload) {
  const runs = v.runs?.[workload] ?? [];
  if (runs.length === 0) return null;
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    redisCommands: median(runs.map((r) => r.redisCommands)),
    pgStatements: median(runs.map((r) => r.pgStatements)),
    roundTrips: v.probe?.[workload]?.topLevel ?? null,
    inScripts: v.probe?.[workload]?.inScripts ?? null,
    byCommand: v.probe?.[workload]?.byCommand ?? null,
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    rounds: runs.length,
    allRps: runs.map((r) => Math.round(r.rps)),
    cpuServer: median(runs.map((r) => r.cpu?.server)),
    cpuRedis: median(runs.map((r) => r.cpu?.redis)),
    cpuGenerator: median(runs.map((r) => r.cpu?.generator)),
  };
}

/** A Markdown table; the first `left` columns are left-aligned, the rest (numbers) right-aligned. */
function mdTable(header, rows, left = 1) {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < left ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function textTable(header, rows, left = 1) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i < left ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function buildReport({ variants, scale, machine, redisVersion, pgVersion }) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const s = (id, workload) => (byId[id] ? summarize(byId[id], workload) : null);
  const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);

  const loadTables = [];
  const consoleTables = [];
  for (const workload of WORKLOADS.map((w) => w.id)) {
    for (const [group, refId, ids] of [
      ['Redis, no sessions and other stores', REF_REDIS, variants.filter((v) => v.backend !== 'postgres').map((v) => v.id)],
      ['PostgreSQL', REF_PG, variants.filter((v) => v.backend === 'postgres').map((v) => v.id)],
    ]) {
      if (ids.length === 0) continue;
      const ref = s(refId, workload);
      const isPg = refId === REF_PG;
      const header = [
        'variant',
        'req/s',
        `× ${isPg ? 'cps' : 'ref'}`,
        'p50 ms',
        '×',
        'p99 ms',
        '×',
        ...(isPg ? ['SQL stmts/req', '×'] : ['Redis cmds/req (commandstats)', '×', 'round trips/req (MONITOR)', 'in scripts/req']),
        'non-2xx/err',
      ];
      const rows = [];
      for (const id of ids) {
        const v = byId[id];
        const m = s(id, workload);
        const name = `(${v.letter}) ${v.label}${id === refId ? ' **[ref]**' : ''}`;
        if (m === null) {
          rows.push([name, v.status?.status ?? 'not run', ...header.slice(2).map(() => '')]);
          continue;
        }
        const backendCells = isPg
          ? [fmt.per(m.pgStatements), fmt.ratio(ratio(m.pgStatements, ref?.pgStatements))]
          : v.backend === 'redis'
            ? [fmt.per(m.redisCommands), fmt.ratio(ratio(m.redisCommands, ref?.redisCommands)), fmt.per(m.roundTrips), fmt.per(m.inScripts)]
            : ['–', '', '–', '–'];
        rows.push([
          name,
          fmt.int(m.rps),
          fmt.ratio(ratio(m.rps, ref?.rps)),
          fmt.ms(m.p50),
          fmt.ratio(ratio(m.p50, ref?.p50)),
          fmt.ms(m.p99),
          fmt.ratio(ratio(m.p99, ref?.p99)),
          ...backendCells,
          `${m.non2xx}/${m.errors}`,
        ]);
      }
      const title = `${workload === 'increment' ? 'Increment' : 'Read-only'} workload: ${group} (ratios to ${isPg ? 'express-session + connect-pg-simple' : 'express-session + connect-redis'})`;
      loadTables.push(`### ${title}\n\n${mdTable(header, rows)}`);
      consoleTables.push(`${title}\n${textTable(header, rows.map((r) => r.map((c) => String(c).replace(/\*\*/g, ''))))}`);
    }
  }

  // CPU per request: steadier than req/s on a shared machine, and it shows where the time goes.
  const us = (v) => (v == null ? '–' : v.toFixed(0));
  const cpuRows = variants.map((v) => {
    const cells = [`(${v.letter}) ${v.label}`];
    for (const { id: workload } of WORKLOADS) {
      const m = s(v.id, workload);
      const total = m?.cpuServer == null ? null : m.cpuServer + (m.cpuRedis ?? 0);
      cells.push(us(m?.cpuServer), v.backend === 'redis' ? us(m?.cpuRedis) : '–', us(total), us(m?.cpuGenerator));
    }
    return cells;
  });
  const cpuHeader = WORKLOADS.flatMap(({ id }) => [`${id}: server µs`, 'Redis µs', 'server + Redis µs', 'load generator µs']);
  const cpuTable = mdTable(['variant', ...cpuHeader], cpuRows);

  // Lost updates.
  const lostRows = variants
    .filter((v) => v.sessions)
    .map((v) => [`(${v.letter}) ${v.label}`, v.lost?.lost ?? (v.lost?.error ? `error: ${v.lost.error}` : v.status?.status ?? '–'), v.lost ? `${v.lost.initial ?? '–'} → ${v.lost.final ?? '–'}` : '–', v.lost?.failed ?? '–']);
  const lostTable = mdTable(['variant', `lost of ${cfg.lostRequests}`, 'counter before → after', 'non-200 answers'], lostRows);

  // Scale.
  const scaleRows = [];
  for (const [kind, label] of [
    ['tessera-redis', 'tessera RedisStore'],
    ['tessera-redis-cluster', 'tessera RedisStore, Redis Cluster of 3 masters (extra)'],
    ['connect-redis', 'connect-redis'],
    ['tessera-postgres', 'tessera PostgresStore'],
    ['connect-pg-simple', 'connect-pg-simple'],
  ]) {
    const r = scale[kind];
    if (!r || r.status !== 'ok') {
      scaleRows.push([label, r?.status ?? 'not run', r?.reason ? r.reason.slice(0, 160) : '', '', '', '', '']);
      continue;
    }
    const bytes = r.memory ?? r.size;
    const detail = r.memory
      ? Object.entries(r.memory.byType).map(([t, x]) => `${t}: ${x.keys.toLocaleString('en-US')} keys, ${(x.bytes / r.sessions).toFixed(0)} B/session`).join('; ')
      : r.size.tables.map((t) => `${t.table}: heap ${(t.heap / r.sessions).toFixed(0)} + indexes ${(t.indexes / r.sessions).toFixed(0)} B/session`).join('; ');
    scaleRows.push([
      label,
      `${bytes.bytesPerSession.toFixed(0)} B`,
      detail,
      r.list ? `${fmt.ms(r.list.medianMs)} ms (${r.list.sessions} sessions${r.list.how ? `; ${r.list.how}` : ''})` : '–',
      r.count ? `${fmt.ms(r.count.medianMs)} ms (= ${r.count.result.toLocaleString('en-US')}${r.count.how ? `; ${r.count.how}` : ''})` : '–',
      r.page ? `${fmt.ms(r.page.medianMs)} ms (${r.page.sessions} sessions)` : '–',
      `${r.createSeconds.toFixed(1)} s`,
    ]);
  }
  const scaleTable = mdTable(
    ['store', `${cfg.scaleSessions.toLocaleString('en-US')} sessions: bytes per session`, 'breakdown', 'list one user (median)', 'count all live (median)', 'admin list, first page of 50 (median)', 'time to create them'],
    scaleRows,
    7,
  );
  const settledNote = Object.entries(scale)
    .filter(([, r]) => r?.settled)
    .map(([kind, r]) => `${kind} ${(r.settled.waitedMs / 1000).toFixed(1)} s (${r.settled.busyShare === null ? '?' : `${(r.settled.busyShare * 100).toFixed(0)} %`})`)
    .join(', ');

  // Goals.
  const inc = (id) => s(id, 'increment');
  const rd = (id) => s(id, 'read');
  const goals = [];
  const goal = (issue, text, value, met) => goals.push([issue, text, value, met === null ? 'not measured' : met ? '**met**' : '**not met**']);
  const cmp = (x, pred) => (x == null ? null : pred(x));
  // The verdict uses the ratio of the medians; beside it, the spread of the ratio within each
  // round (both variants measured a few seconds apart), which shows how much the machine moved.
  const roundSpread = (a, b, workload) => {
    const x = byId[a]?.runs?.[workload] ?? [];
    const y = byId[b]?.runs?.[workload] ?? [];
    if (x.length === 0 || x.length !== y.length) return '';
    const ratios = x.map((r, i) => r.rps / y[i].rps).sort((p, q) => p - q);
    return ` (per round ${(ratios[0]).toFixed(2)}–${fmt.ratio(ratios[ratios.length - 1])})`;
  };
  const throughput = (a, b, workload) => {
    const r = ratio(s(a, workload)?.rps, s(b, workload)?.rps);
    return { r, text: fmt.ratio(r) + roundSpread(a, b, workload) };
  };
  {
    const r1 = throughput('tessera-node-redis', 'redis-floor', 'increment');
    goal('#3', 'tessera + node:http + Redis ≥ 0.7× the HINCRBY+PEXPIRE floor (increment, req/s)', r1.text, cmp(r1.r, (x) => x >= 0.7));
    const r2 = throughput('tessera-node-redis', REF_REDIS, 'increment');
    goal('#3', 'tessera + node:http + Redis ≥ 3.5× express-session + connect-redis (increment, req/s)', r2.text, cmp(r2.r, (x) => x >= 3.5));
    const r3 = throughput('tessera-express-redis', 'express-bare', 'increment');
    const r3r = throughput('tessera-express-redis', 'express-bare', 'read');
    goal('#3', 'tessera + Express + Redis ≥ 0.85× Express with no sessions (increment workload)', r3.text, cmp(r3.r, (x) => x >= 0.85));
    goal('#3', 'tessera + Express + Redis ≥ 0.85× Express with no sessions (read-only workload)', r3r.text, cmp(r3r.r, (x) => x >= 0.85));
    for (const id of ['tessera-node-redis', 'tessera-express-redis']) {
      const rtInc = inc(id)?.roundTrips;
      const rtRead = rd(id)?.roundTrips;
      goal('#3', `${byId[id]?.label ?? id}: one round trip to load + one to save (increment: top-level commands/request = 2)`, `${fmt.per(rtInc)} top-level, ${fmt.per(inc(id)?.redisCommands)} in commandstats`, cmp(rtInc, (x) => Math.abs(x - 2) < 0.02));
      goal('#3', `${byId[id]?.label ?? id}: exactly one command per request, read-only workload in the touch window`, `${fmt.per(rtRead)} top-level, ${fmt.per(rd(id)?.redisCommands)} in commandstats`, cmp(rtRead, (x) => Math.abs(x - 1) < 0.01));
    }
    const tesseraRedisLost = ['tessera-node-redis', 'tessera-express-redis'].map((id) => byId[id]?.lost?.lost).filter((x) => typeof x === 'number');
    const peerLost = ['express-session-redis', 'fastify-session-redis'].map((id) => `${id}: ${byId[id]?.lost?.lost ?? '–'}`).join(', ');
    goal('#3', '0 lost updates of 200 concurrent increments (tessera Redis variants), peers lose some', `tessera: ${tesseraRedisLost.join(', ') || '–'}; ${peerLost}`, tesseraRedisLost.length === 0 ? null : tesseraRedisLost.every((x) => x === 0));
    const mem = scale['tessera-redis']?.memory?.bytesPerSession;
    goal('#3', `≤ 400 bytes of Redis memory per session (two small fields, index included), at ${cfg.scaleSessions.toLocaleString('en-US')} sessions`, mem == null ? '–' : `${mem.toFixed(0)} B (connect-redis: ${scale['connect-redis']?.memory?.bytesPerSession?.toFixed(0) ?? '–'} B)`, cmp(mem, (x) => x <= 400));
    const list = scale['tessera-redis']?.list?.medianMs;
    const count = scale['tessera-redis']?.count?.medianMs;
    goal('#3', `list one user's sessions < 2 ms at ${cfg.scaleSessions.toLocaleString('en-US')} sessions (Redis)`, list == null ? '–' : `${fmt.ms(list)} ms`, cmp(list, (x) => x < 2));
    goal('#3', `count all live sessions < 2 ms at ${cfg.scaleSessions.toLocaleString('en-US')} sessions (Redis)`, count == null ? '–' : `${fmt.ms(count)} ms`, cmp(count, (x) => x < 2));
  }
  {
    const r1 = throughput('tessera-node-postgres', REF_PG, 'increment');
    const r2 = throughput('tessera-node-postgres', REF_PG, 'read');
    goal('#4', 'tessera + PostgreSQL ≥ 1.5× express-session + connect-pg-simple (increment, req/s)', r1.text, cmp(r1.r, (x) => x >= 1.5));
    goal('#4', 'tessera + PostgreSQL ≥ 2× express-session + connect-pg-simple (read-only, req/s)', r2.text, cmp(r2.r, (x) => x >= 2));
    const stRead = rd('tessera-node-postgres')?.pgStatements;
    const stInc = inc('tessera-node-postgres')?.pgStatements;
    goal('#4', 'exactly one statement per request, read-only workload in the touch window', fmt.per(stRead), cmp(stRead, (x) => Math.abs(x - 1) < 0.01));
    goal('#4', 'at most two statements per request, increment workload', fmt.per(stInc), cmp(stInc, (x) => x <= 2.005));
    const tl = byId['tessera-node-postgres']?.lost?.lost;
    const pl = byId[REF_PG]?.lost?.lost;
    goal('#4', '0 lost updates where the peer loses some', `tessera: ${tl ?? '–'}; connect-pg-simple: ${pl ?? '–'}`, typeof tl === 'number' ? tl === 0 : null);
    const size = scale['tessera-postgres']?.size?.bytesPerSession;
    goal('#4', `table + indexes < 600 bytes per session (two small fields), at ${cfg.scaleSessions.toLocaleString('en-US')} sessions`, size == null ? '–' : `${size.toFixed(0)} B (connect-pg-simple: ${scale['connect-pg-simple']?.size?.bytesPerSession?.toFixed(0) ?? '–'} B)`, cmp(size, (x) => x < 600));
  }
  const goalTable = mdTable(['issue', 'goal', 'measured', 'verdict'], goals, 4);

  // Where the distance from (g) to the floor (b) goes: (l) runs (g)'s keys and scripts with no library.
  const floorSplit = (() => {
    const [b, l, g] = ['redis-floor', 'redis-layout-floor', 'tessera-node-redis'].map((id) => inc(id));
    if (!b?.rps || !l?.rps || !g?.rps) return '';
    const cpu = (x) => (x?.cpuServer == null ? '–' : `${x.cpuServer.toFixed(0)} µs`);
    return [
      `Increments, from the same rounds: (l) runs (g)'s keys and Redis scripts with none of the library, so it splits the distance from (g) to the floor (b) in two.`,
      `- the layout (two round trips and the INCREMENT script, against one pipelined HINCRBY + PEXPIRE): (l) is ${fmt.ratio(l.rps / b.rps)} (b)${roundSpread('redis-layout-floor', 'redis-floor', 'increment')}; server CPU per request ${cpu(l)} against ${cpu(b)};`,
      `- the library on top of it (cookie and token, records, the session, the change set): (g) is ${fmt.ratio(g.rps / l.rps)} (l)${roundSpread('tessera-node-redis', 'redis-layout-floor', 'increment')}; server CPU per request ${cpu(g)} against ${cpu(l)}.`,
    ].join('\n');
  })();

  const skipped = variants.filter((v) => v.status?.status !== 'ready').map((v) => `- (${v.letter}) ${v.id}: ${v.status?.status ?? 'not run'}: ${v.status?.reason ?? ''}`);
  const perRound = variants
    .filter((v) => v.runs && Object.keys(v.runs).length > 0)
    .map((v) => `- (${v.letter}) ${v.id}: increment ${summarize(v, 'increment')?.allRps.join(', ') ?? '–'}; read ${summarize(v, 'read')?.allRps.join(', ') ?? '–'}`);
  const probes = variants
    .filter((v) => v.probe)
    .map((v) => `- (${v.letter}) ${v.id}: increment ${JSON.stringify(v.probe.increment?.byCommand ?? v.probe.increment)}; read ${JSON.stringify(v.probe.read?.byCommand ?? v.probe.read)}`);
  const redisBreakdown = variants
    .filter((v) => v.backend === 'redis' && v.runs?.increment)
    .map((v) => `- (${v.letter}) ${v.id}: increment ${JSON.stringify(v.runs.increment.at(-1)?.redisByCommand)}; read ${JSON.stringify(v.runs.read?.at(-1)?.redisByCommand)}`);
  const pgBreakdown = variants
    .filter((v) => v.backend === 'postgres' && v.runs?.increment)
    .flatMap((v) => [
      `- (${v.letter}) ${v.id}, increment:`,
      ...Object.entries(v.runs.increment.at(-1)?.pgByStatement ?? {}).map(([text, n]) => `  - ${n}× \`${text}\``),
      `- (${v.letter}) ${v.id}, read:`,
      ...Object.entries(v.runs.read?.at(-1)?.pgByStatement ?? {}).map(([text, n]) => `  - ${n}× \`${text}\``),
    ]);
  const elapsed = ((performance.now() - t0) / 1000).toFixed(0);
  const smoke = cfg.duration < 2 || cfg.rounds < 3 || cfg.scaleSessions < 100_000;

  const markdown = `# tessera benchmark results

${smoke ? '> **Smoke run** (shortened settings): the figures below are not the benchmark; run `npm run bench` with the defaults for those.\n\n' : ''}- Date: ${started.toISOString()} (run \`${runId}\`, ${elapsed} s)
- Node ${process.version}; Redis ${redisVersion}; PostgreSQL ${pgVersion}
- Machine: ${machine.nproc} CPUs (nproc), ${machine.cpu}, ${machine.memoryGb} GiB RAM, ${machine.os}. Load generator, servers, Redis and PostgreSQL all share these CPUs.
- Load average (1/5/15 min) before the run: ${loadBefore.map((x) => x.toFixed(2)).join(' / ')}; after: ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')}.${loadBefore[0] > 1.5 ? ' **Other work was running on this machine when the run started (the build just before adds a little); throughput figures are depressed and noisy. Re-run on an idle machine for figures to compare.**' : ' (The 1-minute figure includes the build that `npm run bench` runs first.)'}
${roundsStealShare === null ? '' : `- CPU time stolen by the hypervisor (\`steal\` in \`/proc/stat\`) during the measured rounds: ${(roundsStealShare * 100).toFixed(1)} % of the machine's CPU time.${roundsStealShare > 0.05 ? ' **Other guests were taking this machine\'s CPUs; throughput figures are depressed and noisy.**' : ''}\n`}- Settings: ${cfg.rounds} rounds × ${cfg.duration} s per variant and workload (median reported), ${cfg.connections} connections, ${cfg.sessions.toLocaleString('en-US')} live sessions per variant, ${cfg.scaleSessions.toLocaleString('en-US')} sessions for the storage figures.
- Packages: ${packageVersions()}

## Goals (issues #3 and #4)

${goalTable}
${floorSplit ? `\n${floorSplit}\n` : ''}
## Throughput, latency and backend work per request

Ratios are to express-session + connect-redis (PostgreSQL tables: to express-session + connect-pg-simple); for req/s higher is better, for the rest lower is.

${loadTables.join('\n\n')}

## CPU per request

CPU time (user + system) per request served, median over the rounds: the server process from \`/proc/<pid>/stat\`, Redis from \`INFO cpu\` (Redis variants only; PostgreSQL's backends are not counted), and autocannon, which runs in the bench process. All of them share the machine's CPUs, so req/s follows their sum.

${cpuTable}

## Lost updates: ${cfg.lostRequests} concurrent increments on one session

${lostTable}

## Storage and admin queries at ${cfg.scaleSessions.toLocaleString('en-US')} sessions

${scaleTable}
${settledNote ? `\nWait for the CPUs to settle before each store's run, and the last half second's busy share: ${settledNote}.\n` : ''}
## How each figure was measured

${methodology()}
## Details

Requests per second in each round:
${perRound.join('\n') || '- none'}

Redis commands per request by command, from commandstats (last round; under 0.01 per request left out, other clients of the same Redis show up here too):
${redisBreakdown.join('\n') || '- none'}

SQL statements per request, by statement text (first 160 characters; last round):
${pgBreakdown.join('\n') || '- none'}

Commands per request by command, from the MONITOR probe (\`lua:\` = inside a script):
${probes.join('\n') || '- none'}

Variants not measured, or that failed or crashed during the run (their figures above cover what ran before):
${skipped.join('\n') || '- none'}
`;

  const consoleText = [
    ...consoleTables,
    `Lost updates (${cfg.lostRequests} concurrent increments)\n${textTable(['variant', 'lost', 'counter', 'non-200'], lostRows)}`,
    `Storage and admin queries at ${cfg.scaleSessions} sessions\n${textTable(['store', 'bytes/session', 'breakdown', 'list', 'count', 'page', 'create'], scaleRows, 7)}`,
    `Goals\n${textTable(['issue', 'goal', 'measured', 'verdict'], goals.map((g) => g.map((c) => String(c).replace(/\*\*/g, ''))), 4)}`,
    skipped.length ? `Not measured:\n${skipped.join('\n')}` : '',
  ].join('\n\n');
  return { markdown, console: consoleText };
}

const METHODOLOGY_MARKER = '<!-- results.md copies everything below this line -->\n';

/** bench/METHODOLOGY.md after its marker line, each `{{name}}` replaced by this run's value. */
function methodology() {
  const text = readFileSync(join(BENCH_DIR, 'METHODOLOGY.md'), 'utf8');
  const at = text.indexOf(METHODOLOGY_MARKER);
  if (at < 0) throw new Error(`bench/METHODOLOGY.md has no line "${METHODOLOGY_MARKER.trim()}"`);
  const values = {
    connections: cfg.connections,
    sessions: cfg.sessions.toLocaleString('en-US'),
    cookiesPerConnection: Math.ceil(cfg.sessions / cfg.connections),
    rounds: cfg.rounds,
    duration: cfg.duration,
    warmup: cfg.warmup,
    probeRequests: cfg.probeRequests,
    lostRequests: cfg.lostRequests,
    scaleSessions: cfg.scaleSessions.toLocaleString('en-US'),
    scaleUsers: Math.ceil(cfg.scaleSessions / 2).toLocaleString('en-US'),
    redisPrefix: redisPrefixRoot,
    pgSchemaRoot,
    sqlitePath,
  };
  // The blank line after the marker is Markdown's, not part of the list.
  const list = text.slice(at + METHODOLOGY_MARKER.length).replace(/^\n+/, '');
  return list.replace(/\{\{(\w+)\}\}/g, (_, name) => {
    if (!(name in values)) throw new Error(`bench/METHODOLOGY.md: no value for {{${name}}}`);
    return String(values[name]);
  });
}

function packageVersions() {
  const names = ['autocannon', 'express', 'express-session', 'connect-redis', 'redis', 'fastify', '@fastify/session', 'connect-pg-simple', 'pg', 'better-sqlite3'];
  return names
    .map((name) => {
      try {
        const pkg = JSON.parse(readFileSync(join(BENCH_DIR, '..', 'node_modules', name, 'package.json'), 'utf8'));
        return `${name} ${pkg.version}`;
      } catch {
        return `${name} ?`;
      }
    })
    .join(', ');
}

try {
  await main();
} catch (error) {
  console.error(error?.stack ?? error);
  process.exitCode = 1;
} finally {
  await cleanup();
  // Everything this run opened is closed by now; do not let a stray handle keep it alive.
  process.exit();
}
