// The tables of results.md (and of the console): throughput and backend work per request, CPU
// per request, lost updates, storage at scale. Each returns its rows with Markdown in the cells;
// the console strips it (plainCells).
import { cfg } from './config.mjs';
import { fmt } from './format.mjs';
import { ratio, summaryOf } from './stats.mjs';
import { REF_PG, REF_REDIS, WORKLOADS } from './variants.mjs';

/**
 * Per workload, one table for the variants that are not PostgreSQL (ratios to
 * express-session + connect-redis) and one for PostgreSQL (ratios to connect-pg-simple), as
 * `{ title, header, rows }`; a group with no variant in this run has no table.
 */
export function throughputTables(variants) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const tables = [];
  for (const workload of WORKLOADS.map((w) => w.id)) {
    for (const [group, refId, ids] of [
      ['Redis, no sessions and other stores', REF_REDIS, variants.filter((v) => v.backend !== 'postgres').map((v) => v.id)],
      ['PostgreSQL', REF_PG, variants.filter((v) => v.backend === 'postgres').map((v) => v.id)],
    ]) {
      if (ids.length === 0) continue;
      const ref = summaryOf(byId, refId, workload);
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
        const m = summaryOf(byId, id, workload);
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
      tables.push({ title, header, rows });
    }
  }
  return tables;
}

/** CPU per request: steadier than req/s on a shared machine, and it shows where the time goes. */
export function cpuTable(variants) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const us = (v) => (v == null ? '–' : v.toFixed(0));
  const rows = variants.map((v) => {
    const cells = [`(${v.letter}) ${v.label}`];
    for (const { id: workload } of WORKLOADS) {
      const m = summaryOf(byId, v.id, workload);
      const total = m?.cpuServer == null ? null : m.cpuServer + (m.cpuRedis ?? 0);
      cells.push(us(m?.cpuServer), v.backend === 'redis' ? us(m?.cpuRedis) : '–', us(total), us(m?.cpuGenerator));
    }
    return cells;
  });
  const header = ['variant', ...WORKLOADS.flatMap(({ id }) => [`${id}: server µs`, 'Redis µs', 'server + Redis µs', 'load generator µs'])];
  return { header, rows };
}

/** The `+ cache` variants: hit ratio and misses per request in the rounds, commands per request in the probe, the cache at the end. */
export function cacheTable(variants) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const rows = [];
  for (const v of variants.filter((x) => x.cache)) {
    for (const { id: workload } of WORKLOADS) {
      const m = summaryOf(byId, v.id, workload);
      if (m === null) continue;
      const last = v.runs[workload].at(-1)?.cache;
      const backendPerRequest =
        v.backend === 'redis'
          ? (m.ownCommands?.toFixed(4) ?? '–')
          : v.backend === 'postgres'
            ? `${m.pgStatements?.toFixed(4) ?? '–'} SQL`
            : '–';
      rows.push([
        `(${v.letter}) ${v.label}`,
        workload,
        m.cacheHitRatio == null ? '–' : `${(m.cacheHitRatio * 100).toFixed(2)} %`,
        m.cacheMissesPerRequest == null ? '–' : m.cacheMissesPerRequest.toFixed(4),
        backendPerRequest,
        last ? fmt.count(last.entries) : '–',
        last?.entries ? `${(last.bytes / last.entries).toFixed(0)} B` : '–',
        last ? `${last.invalidations} / ${last.flushes}` : '–',
        last ? (last.pushed ? 'yes' : 'no: maxStaleness after each read') : '–',
      ]);
    }
  }
  const header = [
    'variant',
    'workload',
    'cache hits',
    'misses/req',
    'backend commands/req (Redis: MONITOR probe, own connections; PostgreSQL: statements in the rounds)',
    'entries',
    'estimate/entry',
    'invalidations / flushes (last run)',
    'invalidation channel',
  ];
  return { header, rows };
}

export function lostTable(variants) {
  const rows = variants
    .filter((v) => v.sessions)
    .map((v) => [
      `(${v.letter}) ${v.label}`,
      v.lost?.lost ?? (v.lost?.error ? `error: ${v.lost.error}` : (v.status?.status ?? '–')),
      v.lost ? `${v.lost.initial ?? '–'} → ${v.lost.final ?? '–'}` : '–',
      v.lost?.failed ?? '–',
    ]);
  return { header: ['variant', `lost of ${cfg.lostRequests}`, 'counter before → after', 'non-200 answers'], rows };
}

const SCALE_ROWS = [
  ['tessera-redis', 'tessera RedisStore'],
  ['tessera-redis-cluster', 'tessera RedisStore, Redis Cluster of 3 masters (extra)'],
  ['connect-redis', 'connect-redis'],
  ['tessera-postgres', 'tessera PostgresStore'],
  ['connect-pg-simple', 'connect-pg-simple'],
];

/** Storage and admin queries at scale; `scale` is `measureAtScale()`'s result. */
export function scaleTable(scale) {
  const rows = [];
  for (const [kind, label] of SCALE_ROWS) {
    const r = scale[kind];
    if (r?.status !== 'ok') {
      rows.push([label, r?.status ?? 'not run', r?.reason ? r.reason.slice(0, 160) : '', '', '', '', '']);
      continue;
    }
    const bytes = r.memory ?? r.size;
    const detail = r.memory
      ? Object.entries(r.memory.byType)
          .map(([t, x]) => `${t}: ${fmt.count(x.keys)} keys, ${(x.bytes / r.sessions).toFixed(0)} B/session`)
          .join('; ')
      : r.size.tables
          .map((t) => `${t.table}: heap ${(t.heap / r.sessions).toFixed(0)} + indexes ${(t.indexes / r.sessions).toFixed(0)} B/session`)
          .join('; ');
    rows.push([
      label,
      `${bytes.bytesPerSession.toFixed(0)} B`,
      detail,
      r.list ? `${fmt.ms(r.list.medianMs)} ms (${r.list.sessions} sessions${r.list.how ? `; ${r.list.how}` : ''})` : '–',
      r.count ? `${fmt.ms(r.count.medianMs)} ms (= ${fmt.count(r.count.result)}${r.count.how ? `; ${r.count.how}` : ''})` : '–',
      r.page ? `${fmt.ms(r.page.medianMs)} ms (${r.page.sessions} sessions)` : '–',
      `${r.createSeconds.toFixed(1)} s`,
    ]);
  }
  const header = [
    'store',
    `${fmt.count(cfg.scaleSessions)} sessions: bytes per session`,
    'breakdown',
    'list one user (median)',
    'count all live (median)',
    'admin list, first page of 50 (median)',
    'time to create them',
  ];
  return { header, rows };
}

/** The wait for the CPUs to settle before each scale run, and the last half second's busy share. */
export function settledNote(scale) {
  return Object.entries(scale)
    .filter(([, r]) => r?.settled)
    .map(
      ([kind, r]) =>
        `${kind} ${(r.settled.waitedMs / 1000).toFixed(1)} s (${r.settled.busyShare === null ? '?' : `${(r.settled.busyShare * 100).toFixed(0)} %`})`,
    )
    .join(', ');
}
