// Storage and admin queries at scale: bench/scale.mjs once per store, one at a time with nothing
// else running, each under a fresh short prefix or schema of this run, each after the machine's
// CPUs have settled.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { anyKey, cleanupRedis } from './backends.mjs';
import { trackChild } from './children.mjs';
import { BENCH_DIR, cfg, childEnv, pgSchemaRoot, redrawScalePrefix, scalePrefix, sqlitePath } from './config.mjs';
import { log } from './log.mjs';
import { settle } from './machine.mjs';

/** The stores measured at scale, in the order of the table, with the backend each needs. */
const SCALE_KINDS = {
  'tessera-redis': 'redis',
  'tessera-redis-cluster': 'redis',
  'connect-redis': 'redis',
  'tessera-postgres': 'postgres',
  'connect-pg-simple': 'postgres',
};

/** Runs bench/scale.mjs for one store kind; resolves with its result, or why there is none. */
function runScale(kind) {
  return new Promise((resolve) => {
    const env = {
      ...childEnv,
      BENCH_SCALE_SESSIONS: String(cfg.scaleSessions),
      BENCH_PREFIX: scalePrefix(kind),
      BENCH_PG_SCHEMA: `${pgSchemaRoot}_scale_${kind.replace(/-/g, '_')}`,
      BENCH_SQLITE_PATH: sqlitePath,
    };
    const child = trackChild(spawn(process.execPath, [join(BENCH_DIR, 'scale.mjs'), kind], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout = (stdout + c).slice(-200_000)));
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n');
      const result = lines.find((l) => l.startsWith('result '));
      const skipped = lines.find((l) => l.startsWith('skip '));
      if (result) resolve({ status: 'ok', ...JSON.parse(result.slice(7)) });
      else if (skipped) resolve({ status: 'skipped', reason: skipped.slice(5) });
      else
        resolve({ status: 'failed', reason: `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` });
    });
  });
}

/**
 * Every store kind's scale figures, by kind: scale.mjs's result plus how long the CPUs took to
 * settle before it, or why the kind was skipped. `redisConn` and `pgConn` are the bench's own
 * connections (`connectRedis()`, `connectPostgres()`).
 */
export async function measureAtScale(redisConn, pgConn) {
  const redis = redisConn.client;
  const scale = {};
  for (const [kind, backend] of Object.entries(SCALE_KINDS)) {
    if (backend === 'redis' && redis === null) scale[kind] = { status: 'skipped', reason: redisConn.error };
    else if (backend === 'postgres' && pgConn.pool === null) scale[kind] = { status: 'skipped', reason: pgConn.error };
    else {
      const startedAt = performance.now();
      // A short prefix could already be in use on a shared Redis: never measure (or clean up) another's keys.
      for (let attempt = 0; redis !== null && attempt < 20 && (await anyKey(redis, scalePrefix(kind))); attempt++) redrawScalePrefix(kind);
      const settled = await settle();
      scale[kind] = { ...(await runScale(kind)), settled };
      await cleanupRedis(redis, scalePrefix(kind)).catch(() => {});
      log(
        `scale     ${kind.padEnd(18)} ${scale[kind].status} in ${((performance.now() - startedAt) / 1000).toFixed(0)} s (after ${(settled.waitedMs / 1000).toFixed(1)} s for the CPUs to settle, last ${settled.busyShare === null ? '?' : `${(settled.busyShare * 100).toFixed(0)} %`} busy) ${scale[kind].reason ?? ''}`,
      );
    }
  }
  return scale;
}
