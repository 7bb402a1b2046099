// A measured run: the load, and around it what the variant cost — requests served (the server's
// own count), Redis commands (INFO commandstats) or SQL statements (the server's count), the
// session cache's hits and misses (tessera's `+ cache` variants), and the CPU time of the server, of Redis and of the load generator, each per request served.
import { cfg } from './config.mjs';
import { loadAndSettle } from './load.mjs';
import { processCpuSeconds } from './machine.mjs';
import { commandStats, commandsBetween } from './redis-monitor.mjs';
import { serverStats } from './servers.mjs';

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

/** Counts per request, rounded, largest first; under 0.01 per request is not the workload's own (other clients of the same Redis). */
function perRequest(entries, served) {
  return Object.fromEntries(
    entries
      .map(([k, v]) => [k, +(v / served).toFixed(2)])
      .filter(([, v]) => v >= 0.01)
      .sort((a, b) => b[1] - a[1]),
  );
}

export async function measure(variant, workload, redis) {
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
    out.redisByCommand = perRequest(Object.entries(diff.byCommand), served);
  }
  if (statsBefore.cache && statsAfter.cache && served > 0) {
    // The cache's own counts over the same window: loads it answered alone, loads that went to
    // the store (a miss, an entry past maxStaleness, or a touch due), and how it stood at the end.
    const hits = statsAfter.cache.hits - statsBefore.cache.hits;
    const misses = statsAfter.cache.misses - statsBefore.cache.misses;
    out.cache = {
      hits,
      misses,
      hitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
      missesPerRequest: misses / served,
      invalidations: statsAfter.cache.invalidations - statsBefore.cache.invalidations,
      flushes: statsAfter.cache.flushes - statsBefore.cache.flushes,
      entries: statsAfter.cache.entries,
      bytes: statsAfter.cache.bytes,
      pushed: statsAfter.cache.pushed,
      serving: statsAfter.cache.serving,
    };
  }
  if (variant.backend === 'postgres' && served > 0) {
    out.pgStatements = (statsAfter.queries - statsBefore.queries) / served;
    // Statement texts without the run's schema name, so that the report reads the same every run.
    out.pgByStatement = perRequest(
      Object.entries(statsAfter.statements ?? {}).map(([text, n]) => [
        text.replaceAll(`"${variant.schema}".`, ''),
        n - (statsBefore.statements?.[text] ?? 0),
      ]),
      served,
    );
  }
  return out;
}
