// The goals of issues #3 (Redis), #4 (PostgreSQL), #24 (the session cache) and #25 (Fastify), each judged met /
// not met from this run's figures, and the split of the distance from tessera on Redis to the floor.
import { cfg } from './config.mjs';
import { fmt } from './format.mjs';
import { perRoundRange, ratio, summaryOf } from './stats.mjs';
import { REF_PG, REF_REDIS } from './variants.mjs';

/** ` (per round lo–hi×)` after a ratio of medians, or nothing when the rounds do not pair up. */
function roundSpread(byId, a, b, workload) {
  const range = perRoundRange(byId, a, b, workload);
  return range === null ? '' : ` (per round ${range[0].toFixed(2)}–${fmt.ratio(range[1])})`;
}

/** Server CPU per request of two variants, medians over the rounds: `; server CPU 41 µs against 30 µs`. */
function cpuBeside(a, b) {
  const us = (x) => (x?.cpuServer == null ? '–' : `${x.cpuServer.toFixed(0)} µs`);
  return a === null && b === null ? '' : `; server CPU ${us(a)} against ${us(b)} per request`;
}

/**
 * Rows `[issue, goal, measured, verdict]`; the verdict uses the ratio of the medians. `heap` is
 * `measureCacheHeap()`'s result (bench/cache-heap.mjs), or null when it did not run.
 */
export function goalRows(variants, scale, heap = null) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const s = (id, workload) => summaryOf(byId, id, workload);
  const inc = (id) => s(id, 'increment');
  const rd = (id) => s(id, 'read');
  const scaleSessions = fmt.count(cfg.scaleSessions);
  const goals = [];
  const goal = (issue, text, value, met) =>
    goals.push([issue, text, value, met === null ? 'not measured' : met ? '**met**' : '**not met**']);
  const cmp = (x, pred) => (x == null ? null : pred(x));
  const throughput = (a, b, workload) => {
    const r = ratio(s(a, workload)?.rps, s(b, workload)?.rps);
    return { r, text: fmt.ratio(r) + roundSpread(byId, a, b, workload) };
  };
  /** A goal "`a` ≥ `min`× `b` in req/s", with both variants' server CPU per request beside the ratio. */
  const versus = (issue, a, b, workload, min, text) => {
    const r = throughput(a, b, workload);
    goal(
      issue,
      text,
      r.text + cpuBeside(s(a, workload), s(b, workload)),
      cmp(r.r, (x) => x >= min),
    );
  };
  {
    const r1 = throughput('tessera-node-redis', 'redis-floor', 'increment');
    goal(
      '#3',
      'tessera + node:http + Redis ≥ 0.7× the HINCRBY+PEXPIRE floor (increment, req/s)',
      r1.text,
      cmp(r1.r, (x) => x >= 0.7),
    );
    const r2 = throughput('tessera-node-redis', REF_REDIS, 'increment');
    goal(
      '#3',
      'tessera + node:http + Redis ≥ 3.5× express-session + connect-redis (increment, req/s)',
      r2.text,
      cmp(r2.r, (x) => x >= 3.5),
    );
    const r3 = throughput('tessera-express-redis', 'express-bare', 'increment');
    const r3r = throughput('tessera-express-redis', 'express-bare', 'read');
    goal(
      '#3',
      'tessera + Express + Redis ≥ 0.85× Express with no sessions (increment workload)',
      r3.text,
      cmp(r3.r, (x) => x >= 0.85),
    );
    goal(
      '#3',
      'tessera + Express + Redis ≥ 0.85× Express with no sessions (read-only workload)',
      r3r.text,
      cmp(r3r.r, (x) => x >= 0.85),
    );
    for (const id of ['tessera-node-redis', 'tessera-express-redis']) {
      const rtInc = inc(id)?.roundTrips;
      const rtRead = rd(id)?.roundTrips;
      goal(
        '#3',
        `${byId[id]?.label ?? id}: one round trip to load + one to save (increment: top-level commands/request = 2)`,
        `${fmt.per(rtInc)} top-level, ${fmt.per(inc(id)?.redisCommands)} in commandstats`,
        cmp(rtInc, (x) => Math.abs(x - 2) < 0.02),
      );
      goal(
        '#3',
        `${byId[id]?.label ?? id}: exactly one command per request, read-only workload in the touch window`,
        `${fmt.per(rtRead)} top-level, ${fmt.per(rd(id)?.redisCommands)} in commandstats`,
        cmp(rtRead, (x) => Math.abs(x - 1) < 0.01),
      );
    }
    const tesseraRedisLost = ['tessera-node-redis', 'tessera-express-redis']
      .map((id) => byId[id]?.lost?.lost)
      .filter((x) => typeof x === 'number');
    const peerLost = ['express-session-redis', 'fastify-session-redis'].map((id) => `${id}: ${byId[id]?.lost?.lost ?? '–'}`).join(', ');
    goal(
      '#3',
      '0 lost updates of 200 concurrent increments (tessera Redis variants), peers lose some',
      `tessera: ${tesseraRedisLost.join(', ') || '–'}; ${peerLost}`,
      tesseraRedisLost.length === 0 ? null : tesseraRedisLost.every((x) => x === 0),
    );
    const mem = scale['tessera-redis']?.memory?.bytesPerSession;
    goal(
      '#3',
      `≤ 400 bytes of Redis memory per session (two small fields, index included), at ${scaleSessions} sessions`,
      mem == null ? '–' : `${mem.toFixed(0)} B (connect-redis: ${scale['connect-redis']?.memory?.bytesPerSession?.toFixed(0) ?? '–'} B)`,
      cmp(mem, (x) => x <= 400),
    );
    const list = scale['tessera-redis']?.list?.medianMs;
    const count = scale['tessera-redis']?.count?.medianMs;
    goal(
      '#3',
      `list one user's sessions < 2 ms at ${scaleSessions} sessions (Redis)`,
      list == null ? '–' : `${fmt.ms(list)} ms`,
      cmp(list, (x) => x < 2),
    );
    goal(
      '#3',
      `count all live sessions < 2 ms at ${scaleSessions} sessions (Redis)`,
      count == null ? '–' : `${fmt.ms(count)} ms`,
      cmp(count, (x) => x < 2),
    );
  }
  {
    const r1 = throughput('tessera-node-postgres', REF_PG, 'increment');
    const r2 = throughput('tessera-node-postgres', REF_PG, 'read');
    goal(
      '#4',
      'tessera + PostgreSQL ≥ 1.5× express-session + connect-pg-simple (increment, req/s)',
      r1.text,
      cmp(r1.r, (x) => x >= 1.5),
    );
    goal(
      '#4',
      'tessera + PostgreSQL ≥ 2× express-session + connect-pg-simple (read-only, req/s)',
      r2.text,
      cmp(r2.r, (x) => x >= 2),
    );
    const stRead = rd('tessera-node-postgres')?.pgStatements;
    const stInc = inc('tessera-node-postgres')?.pgStatements;
    goal(
      '#4',
      'exactly one statement per request, read-only workload in the touch window',
      fmt.per(stRead),
      cmp(stRead, (x) => Math.abs(x - 1) < 0.01),
    );
    goal(
      '#4',
      'at most two statements per request, increment workload',
      fmt.per(stInc),
      cmp(stInc, (x) => x <= 2.005),
    );
    const tl = byId['tessera-node-postgres']?.lost?.lost;
    const pl = byId[REF_PG]?.lost?.lost;
    goal(
      '#4',
      '0 lost updates where the peer loses some',
      `tessera: ${tl ?? '–'}; connect-pg-simple: ${pl ?? '–'}`,
      typeof tl === 'number' ? tl === 0 : null,
    );
    const size = scale['tessera-postgres']?.size?.bytesPerSession;
    goal(
      '#4',
      `table + indexes < 600 bytes per session (two small fields), at ${scaleSessions} sessions`,
      size == null
        ? '–'
        : `${size.toFixed(0)} B (connect-pg-simple: ${scale['connect-pg-simple']?.size?.bytesPerSession?.toFixed(0) ?? '–'} B)`,
      cmp(size, (x) => x < 600),
    );
  }
  {
    // #24: the session cache. Throughput against the ceiling and floors; commands per request from
    // the MONITOR probe of the server process's own connections; heap from bench/cache-heap.mjs.
    const vs = (...args) => versus('#24', ...args);
    vs(
      'tessera-node-redis-cache',
      'node-bare',
      'read',
      0.8,
      'tessera + node:http + Redis + cache ≥ 0.8× bare node:http (read-only, req/s)',
    );
    vs(
      'tessera-node-redis-cache',
      'redis-floor',
      'increment',
      0.8,
      'tessera + node:http + Redis + cache ≥ 0.8× the HINCRBY+PEXPIRE floor (increment, req/s)',
    );
    vs(
      'tessera-express-redis-cache',
      'express-bare',
      'increment',
      0.9,
      'tessera + Express + Redis + cache ≥ 0.9× Express with no sessions (increment workload)',
    );
    vs(
      'tessera-express-redis-cache',
      'express-bare',
      'read',
      0.9,
      'tessera + Express + Redis + cache ≥ 0.9× Express with no sessions (read-only workload)',
    );
    for (const id of ['tessera-node-redis-cache', 'tessera-express-redis-cache']) {
      const read = rd(id);
      const hits = read?.cacheHitRatio == null ? '' : `; cache hits ${(read.cacheHitRatio * 100).toFixed(1)} % in the rounds`;
      goal(
        '#24',
        `${byId[id]?.label ?? id}: ≤ 0.01 Redis commands per read-only request on a warm cache, inside the touch window (the channel's probes included)`,
        read?.ownCommands == null ? '–' : `${read.ownCommands.toFixed(4)} from the server process (MONITOR)${hits}`,
        cmp(read?.ownCommands, (x) => x <= 0.01),
      );
      const increment = inc(id);
      goal(
        '#24',
        `${byId[id]?.label ?? id}: one round trip per increment (the apply)`,
        increment?.ownCommands == null
          ? '–'
          : `${increment.ownCommands.toFixed(3)} commands from the server process, ${fmt.per(increment.roundTrips)} top-level on its keys`,
        cmp(increment?.ownCommands, (x) => Math.abs(x - 1) < 0.01),
      );
    }
    const largest = heap?.runs?.at(-1);
    goal(
      '#24',
      'at most 1 KB of heap per cached session (two small fields, a browser User-Agent)',
      heap?.runs?.length
        ? heap.runs
            .map(
              (r) =>
                `${fmt.count(r.sessions)} sessions: ${r.heapPerSession.toFixed(0)} B (the cache's estimate ${r.estimatePerSession.toFixed(0)} B)`,
            )
            .join('; ')
        : heap?.error
          ? `not measured: ${heap.error}`
          : '–',
      largest ? heap.runs.every((r) => r.heapPerSession <= 1024) : null,
    );
  }
  {
    // #25: tessera on Fastify beside the standard Fastify stack and Fastify alone. Judged on the
    // uncached variant (q); the cached one (r) is shown beside it, since the cache is an option.
    const vs = (...args) => versus('#25', ...args);
    vs(
      'tessera-fastify-redis',
      'fastify-session-redis',
      'increment',
      2,
      'tessera + Fastify + Redis ≥ 2× fastify + @fastify/session + connect-redis (increment, req/s)',
    );
    vs(
      'tessera-fastify-redis',
      'fastify-bare',
      'read',
      0.85,
      'tessera + Fastify + Redis ≥ 0.85× Fastify with no sessions (read-only, req/s)',
    );
    vs(
      'tessera-fastify-redis-cache',
      'fastify-session-redis',
      'increment',
      2,
      'with the cache (extra): tessera + Fastify + Redis + cache ≥ 2× @fastify/session (increment, req/s)',
    );
    vs(
      'tessera-fastify-redis-cache',
      'fastify-bare',
      'read',
      0.85,
      'with the cache (extra): tessera + Fastify + Redis + cache ≥ 0.85× Fastify with no sessions (read-only, req/s)',
    );
  }
  return goals;
}

/**
 * Where the distance from (g) to the floor (b) goes: (l) runs (g)'s keys and scripts with no
 * library. Empty unless all three ran.
 */
export function floorSplit(variants) {
  const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
  const [b, l, g] = ['redis-floor', 'redis-layout-floor', 'tessera-node-redis'].map((id) => summaryOf(byId, id, 'increment'));
  if (!b?.rps || !l?.rps || !g?.rps) return '';
  const cpu = (x) => (x?.cpuServer == null ? '–' : `${x.cpuServer.toFixed(0)} µs`);
  return [
    `Increments, from the same rounds: (l) runs (g)'s keys and Redis scripts with none of the library, so it splits the distance from (g) to the floor (b) in two.`,
    `- the layout (two round trips and the INCREMENT script, against one pipelined HINCRBY + PEXPIRE): (l) is ${fmt.ratio(l.rps / b.rps)} (b)${roundSpread(byId, 'redis-layout-floor', 'redis-floor', 'increment')}; server CPU per request ${cpu(l)} against ${cpu(b)};`,
    `- the library on top of it (cookie and token, records, the session, the change set): (g) is ${fmt.ratio(g.rps / l.rps)} (l)${roundSpread(byId, 'tessera-node-redis', 'redis-layout-floor', 'increment')}; server CPU per request ${cpu(g)} against ${cpu(l)}.`,
  ].join('\n');
}
