// The run's settings, read once from the environment (the knobs are listed at the top of
// bench/run.mjs), and the names of everything the run creates: every Redis key, PostgreSQL schema
// and file carries this run's id, so that the cleanup removes exactly what this run made.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

function envNumber(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

export const cfg = Object.freeze({
  redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL || 'postgres://127.0.0.1:5432/test',
  duration: envNumber('BENCH_DURATION', 2),
  rounds: Math.round(envNumber('BENCH_ROUNDS', 5)),
  warmup: envNumber('BENCH_WARMUP', 1),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  sessions: Math.round(envNumber('BENCH_SESSIONS', 1000)),
  scaleSessions: Math.round(envNumber('BENCH_SCALE_SESSIONS', 100_000)),
  /** Whether the storage / admin figures at scale and the cache heap run after the rounds (`BENCH_SCALE=0`: not). */
  atScale: process.env.BENCH_SCALE !== '0',
  lostRequests: 200,
  probeRequests: 500,
  results: process.env.BENCH_RESULTS || join(BENCH_DIR, 'results.md'),
  only: (process.env.BENCH_VARIANTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
});

export const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
export const redisPrefixRoot = `tessera-bench:${runId}:`;
export const pgSchemaRoot = `tessera_bench_${runId}`;
export const sqlitePath = join(os.tmpdir(), `tessera-bench-${runId}.db`);

/**
 * The storage figures count key names, so each scale run gets a prefix as long as the default
 * `tessera:` (8 characters) instead of the long names above; connect-redis gets one as long.
 */
const scalePrefixes = new Map();
export function scalePrefix(kind) {
  if (!scalePrefixes.has(kind)) scalePrefixes.set(kind, `t${randomBytes(3).toString('hex').slice(0, 5)}${scalePrefixes.size}:`);
  return scalePrefixes.get(kind);
}
/** Drops `kind`'s prefix, so that the next `scalePrefix(kind)` draws another (it was in use). */
export function redrawScalePrefix(kind) {
  scalePrefixes.delete(kind);
}
export const allScalePrefixes = () => [...scalePrefixes.values()];

// node-postgres takes the user from PGUSER or USER; psql asks the OS. Match psql when neither is set.
export const childEnv = { ...process.env, REDIS_URL: cfg.redisUrl, DATABASE_URL: cfg.databaseUrl, NODE_ENV: 'production' };
const databaseUser = URL.canParse(cfg.databaseUrl) ? new URL(cfg.databaseUrl).username : '';
if (!databaseUser && !process.env.PGUSER && !process.env.USER) childEnv.PGUSER = os.userInfo().username;
if (childEnv.PGUSER && !process.env.PGUSER) process.env.PGUSER = childEnv.PGUSER;
