// `npm run bench`: tessera side by side with its peers, on loopback only.
//
// Each variant is its own server process (bench/servers/<id>.mjs). This process starts them all,
// logs BENCH_SESSIONS users into each (1,000 live sessions per variant), then drives them with
// autocannon in round-robin rounds (every variant once per round and workload, order rotated
// between rounds) and reports the median of the rounds. Then: a short MONITOR probe per Redis
// variant (round trips vs commands run inside scripts), the lost-update test, and the storage /
// admin-query measurements at BENCH_SCALE_SESSIONS sessions (bench/scale.mjs), and the heap each
// session in tessera's in-process cache costs (bench/cache-heap.mjs). Results are
// printed and written to bench/results.md; how each figure is measured is in
// bench/METHODOLOGY.md, which results.md repeats. Every key, schema and file is named after this
// run and removed at the end.
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
//   BENCH_SCALE            0: skip those figures and the cache heap (for a run that compares throughput only)
//   BENCH_VARIANTS         comma-separated variant ids to run (default: all)
//   BENCH_RESULTS          output file, default bench/results.md
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { cleanupPostgres, cleanupRedis, connectPostgres, connectRedis } from './lib/backends.mjs';
import { stopAllChildren, stopChild } from './lib/children.mjs';
import { allScalePrefixes, cfg, pgSchemaRoot, redisPrefixRoot, runId, sqlitePath } from './lib/config.mjs';
import { elapsedSeconds, log } from './lib/log.mjs';
import { checkLostUpdates } from './lib/lost-updates.mjs';
import { measureCacheHeap } from './lib/cache-heap-runs.mjs';
import { machineInfo } from './lib/machine.mjs';
import { probeRoundTrips } from './lib/monitor-probe.mjs';
import { buildReport } from './lib/report.mjs';
import { runRounds } from './lib/rounds.mjs';
import { measureAtScale } from './lib/scale-runs.mjs';
import { setUpVariant } from './lib/servers.mjs';
import { ALL_VARIANTS } from './lib/variants.mjs';

const started = new Date();
const loadBefore = os.loadavg();

let redis = null;
let pgPool = null;
let cleanedUp = false;

async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  await stopAllChildren();
  const notes = [];
  try {
    let removed = await cleanupRedis(redis, redisPrefixRoot);
    for (const prefix of allScalePrefixes()) removed += await cleanupRedis(redis, prefix);
    notes.push(`${removed} Redis keys`);
  } catch (error) {
    notes.push(`Redis cleanup failed: ${error.message}`);
  }
  try {
    notes.push(`${(await cleanupPostgres(pgPool, pgSchemaRoot)).length} PostgreSQL schemas`);
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
  if (loadBefore[0] > 1.5)
    log(
      `warning: load average ${loadBefore[0].toFixed(2)} before the run; other work on this machine will depress and scatter the figures`,
    );
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

  // In parallel: nothing is measured yet. Then one variant under load at a time, the others idle.
  await Promise.all(variants.map((v) => setUpVariant(v, pgPool)));
  const active = variants.filter((v) => v.status.status === 'ready');
  const stealShare = await runRounds(active, redis);
  await probeRoundTrips(active);
  await checkLostUpdates(active);
  for (const v of active) await stopChild(v.child);

  // With every server stopped, so that the timings at scale have the machine to themselves.
  const scale = cfg.atScale ? await measureAtScale(redisConn, pgConn) : {};
  const cacheHeap = cfg.atScale ? await measureCacheHeap() : null;

  const report = buildReport({
    variants,
    scale,
    cacheHeap,
    machine: machineInfo(),
    redisVersion: redisConn.version ?? `unavailable (${redisConn.error})`,
    pgVersion: pgConn.version ?? `unavailable (${pgConn.error})`,
    run: { started, elapsedSeconds: elapsedSeconds(), loadBefore, loadAfter: os.loadavg(), stealShare },
  });
  console.log(`\n${report.console}`);
  writeFileSync(cfg.results, report.markdown);
  log(`wrote ${cfg.results}`);
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
