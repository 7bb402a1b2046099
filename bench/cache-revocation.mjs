// How soon a revocation on one app instance reaches the session caches of the others (issue 24):
//   npm run bench:cache-revocation          (builds first; or node bench/cache-revocation.mjs)
//
// Per store (Redis on REDIS_URL with a fresh prefix, a three-master Redis Cluster this script starts
// itself, PostgreSQL on DATABASE_URL in a fresh schema) it starts three instances of
// test/support/cache-instance.mjs with the cache on (maxStaleness CACHE_BENCH_MAX_STALENESS, default
// 1000 ms), then CACHE_BENCH_REVOCATIONS (default 200) times, the revoking instance taking turns and
// the kind of revocation too (logout, revoke one, revoke all of the subject, eviction by a login
// over maxSessionsPerSubject 1):
//   a new subject logs in on one instance; the two others read the session until it is served from
//   their caches; the first revokes it; the two others are then read back to back (one HTTP read
//   in flight per instance), and the time from the revoking response's arrival to each one's first
//   "no session" answer is recorded. An answer still showing the session to a read sent
//   maxStaleness or more after that arrival breaks the bound.
// Goals: none past maxStaleness; p99 under 50 ms and max under 100 ms.
//
// Then the channel cut, per store: with two sessions cached on one instance, its channel is killed
// from the server side (Redis: CLIENT KILL ID of its subscriber, then in a second case of its data
// connection, on the master holding the session; PostgreSQL: pg_terminate_backend of its LISTEN
// connection), one session is revoked on another instance, and the cut instance is read until the
// revoked session is gone and the other one is served from its cache again: its flushes, whether
// it served from its cache meanwhile, and when it did again.
//
// CACHE_BENCH_STORES=redis,cluster,postgres chooses the stores. Writes bench/cache-revocation.md
// (CACHE_BENCH_RESULTS to change it), and every sample as JSON to CACHE_BENCH_SAMPLES when set.
// Load goes to loopback only.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { serving, startInstance, warm } from './lib/cache-instances.mjs';
import { stopAllChildren } from './lib/children.mjs';
import { BENCH_DIR, cfg } from './lib/config.mjs';
import { mdTable, fmt } from './lib/format.mjs';
import { machineInfo } from './lib/machine.mjs';
import { hasRedisClusterBinaries, startRedisCluster } from './lib/redis-cluster.mjs';
import { percentile } from './lib/stats.mjs';

const MAX_STALENESS = Number(process.env.CACHE_BENCH_MAX_STALENESS ?? 1000);
const REVOCATIONS = Number(process.env.CACHE_BENCH_REVOCATIONS ?? 200);
const STORES = (process.env.CACHE_BENCH_STORES ?? 'redis,cluster,postgres').split(',').filter(Boolean);
const RESULTS = process.env.CACHE_BENCH_RESULTS ?? join(BENCH_DIR, 'cache-revocation.md');
const KINDS = ['logout', 'revoke one', 'revoke all', 'eviction'];
/** How long after the revocation an instance is read before it counts as never answering. */
const GIVE_UP_MS = MAX_STALENESS + 5000;
const GOAL_P99 = 50;
const GOAL_MAX = 100;
const run = randomBytes(4).toString('hex');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A user name for the PostgreSQL URL when it has none (as test/support/postgres-db.ts does). */
function databaseUrl() {
  const url = new URL(cfg.databaseUrl);
  if (url.username === '') url.username = process.env.PGUSER || process.env.USER || 'postgres';
  return url.toString();
}

/** Each store: the instances' environment, how to kill a connection, which connections make the channel, and the cleanup. */
async function openTarget(name) {
  if (name === 'redis' || name === 'cluster') {
    const { createClient } = await import('redis');
    let cluster = null;
    let urls;
    if (name === 'redis') urls = [cfg.redisUrl];
    else {
      if (!hasRedisClusterBinaries()) return { skip: 'redis-server or redis-cli is not on PATH' };
      cluster = await startRedisCluster();
      urls = cluster.ports.map((port) => `redis://127.0.0.1:${port}`);
    }
    const admins = new Map();
    try {
      for (const url of urls) {
        const client = createClient({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } });
        client.on('error', () => {});
        await client.connect();
        admins.set(`${client.options.socket.host}:${client.options.socket.port}`, client);
      }
    } catch (error) {
      cluster?.stop();
      return { skip: `Redis at ${urls.join(', ')} unreachable: ${error?.message ?? error}` };
    }
    const version = /redis_version:(\S+)/.exec(await [...admins.values()][0].info('server'))?.[1] ?? '?';
    const prefix = `tessera-cache-bench:${run}:`;
    const env =
      name === 'redis'
        ? { CACHE_STORE: 'redis', CACHE_URL: cfg.redisUrl, CACHE_PREFIX: prefix }
        : { CACHE_STORE: 'cluster', CACHE_NODES: urls.join(','), CACHE_PREFIX: prefix };
    /** The node holding session `id` (its hash key, `<prefix>s:{<2 chars>}<rest>`). */
    const nodeOf = async (id) => {
      const key = `${prefix}s:{${id.slice(0, 2)}}${id.slice(2)}`;
      for (const [node, client] of admins) {
        const exists = await client.sendCommand(['EXISTS', key]).catch(() => 0);
        if (exists === 1) return node;
      }
      return null;
    };
    const pick = (which) => async (connections, id, node) => {
      const on = node ?? (await nodeOf(id));
      return connections.find((c) => c.node === on && (which === 'subscriber' ? c.sub === 1 : c.sub === 0 && c.flags.includes('t')));
    };
    return {
      name: name === 'redis' ? `Redis ${version}, single node` : `Redis ${version} Cluster, 3 masters`,
      env,
      cuts: [
        { what: 'subscriber connection killed (CLIENT KILL ID)', pick: pick('subscriber') },
        { what: 'data connection killed (CLIENT KILL ID)', pick: pick('data') },
      ],
      kill: (connection) => admins.get(connection.node).sendCommand(['CLIENT', 'KILL', 'ID', String(connection.id)]),
      describe: (connection) => `id ${connection.id} on ${connection.node}`,
      async cleanup() {
        for (const client of admins.values()) {
          let cursor = '0';
          do {
            const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 1000 }).catch(() => ({ cursor: '0', keys: [] }));
            cursor = String(reply.cursor);
            if (reply.keys.length > 0) await Promise.all(reply.keys.map((key) => client.unlink(key).catch(() => 0)));
          } while (cursor !== '0');
          await client.close().catch(() => client.destroy());
        }
        cluster?.stop();
      },
    };
  }
  if (name === 'postgres') {
    const pg = (await import('pg')).default;
    const url = databaseUrl();
    const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 2000 });
    pool.on('error', () => {});
    let version;
    try {
      version = (await pool.query('SHOW server_version')).rows[0].server_version;
    } catch (error) {
      await pool.end().catch(() => {});
      return { skip: `PostgreSQL at ${url} unreachable: ${error?.message ?? error}` };
    }
    const schema = `tessera_cache_bench_${run}`;
    return {
      name: `PostgreSQL ${version}`,
      env: { CACHE_STORE: 'postgres', CACHE_URL: url, CACHE_SCHEMA: schema },
      cuts: [
        {
          what: 'LISTEN backend terminated (pg_terminate_backend)',
          // The LISTEN connection: its last statement is a LISTEN or the probe's trigger check.
          pick: async (connections) => connections.find((c) => /^LISTEN\b/i.test(c.query) || c.query.includes('pg_trigger')),
        },
      ],
      kill: (connection) => pool.query('SELECT pg_terminate_backend($1)', [connection.pid]),
      describe: (connection) => `backend pid ${connection.pid}`,
      async cleanup() {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
        await pool.end();
      },
    };
  }
  throw new Error(`unknown store ${name}`);
}

/**
 * Reads `token` on `instance` back to back until it answers "no session"; `at` is when the
 * revoking response arrived. Returns the delay to that answer and the reads that broke the bound.
 */
async function untilGone(instance, token, at) {
  let reads = 0;
  let late = 0;
  let cachedAfter = 0;
  for (;;) {
    const sentAt = performance.now();
    const answer = await instance.read(token);
    const now = performance.now();
    reads++;
    if (!answer.isStored) return { ms: now - at, reads, late, cachedAfter };
    if (answer.servedFromCache) cachedAfter++;
    if (sentAt - at >= MAX_STALENESS) late++;
    if (now - at > GIVE_UP_MS) return { ms: null, reads, late, cachedAfter };
  }
}

async function revocations(instances) {
  const samples = [];
  let notWarm = 0;
  for (let i = 0; i < REVOCATIONS; i++) {
    const kind = KINDS[i % KINDS.length];
    const revoker = instances[Math.floor(i / KINDS.length) % instances.length];
    const others = instances.filter((instance) => instance !== revoker);
    const subject = `u-${run}-${i}`;
    const { token, id } = await revoker.login(subject);
    for (const other of others) if (!(await warm(other, token))) notWarm++;
    if (kind === 'logout') await revoker.call('POST', '/logout', token);
    else if (kind === 'revoke one') await revoker.call('POST', `/revoke?id=${encodeURIComponent(id)}`);
    else if (kind === 'revoke all') await revoker.call('POST', `/revoke-all?subject=${encodeURIComponent(subject)}`);
    else await revoker.login(subject, true);
    const at = performance.now();
    const results = await Promise.all(others.map((other) => untilGone(other, token, at)));
    for (const [j, result] of results.entries()) samples.push({ i, kind, instance: others[j].label, at: Math.round(at), ...result });
  }
  return { samples, notWarm };
}

function distribution(samples) {
  const gone = samples.filter((s) => s.ms !== null).map((s) => s.ms);
  const sorted = gone.sort((a, b) => a - b);
  return {
    count: samples.length,
    never: samples.length - gone.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? null,
    overBound: samples.filter((s) => s.ms === null || s.ms >= MAX_STALENESS).length,
    lateReads: samples.reduce((n, s) => n + s.late, 0),
    cachedAfter: samples.reduce((n, s) => n + s.cachedAfter, 0),
  };
}

async function cut(target, instances, cutCase, index) {
  const [a, b] = instances;
  const x = await a.login(`cut-x-${run}-${index}`);
  const w = await a.login(`cut-w-${run}-${index}`);
  if (!(await warm(b, x.token)) || !(await warm(b, w.token))) throw new Error('the cut instance did not warm');
  const before = await b.stats();
  const channel = await b.channel();
  const connection = await cutCase.pick(channel.connections, x.id);
  if (connection === undefined) throw new Error(`no connection to cut among ${JSON.stringify(channel.connections)}`);
  const killedAt = performance.now();
  await target.kill(connection);
  await a.call('POST', '/logout', x.token);
  const at = performance.now();
  let xGoneMs = null;
  let late = 0;
  let wFirstCached = null;
  let wUncachedReads = 0;
  let recoveredMs = null;
  let flushesSeen = null;
  let servingFalseSeen = false;
  while (performance.now() - at < GIVE_UP_MS + 5000) {
    const sentAt = performance.now();
    const [rx, rw] = await Promise.all([b.read(x.token), b.read(w.token)]);
    const now = performance.now();
    if (rx.isStored && sentAt - at >= MAX_STALENESS) late++;
    if (!rx.isStored && xGoneMs === null) xGoneMs = now - at;
    if (!rw.isStored) throw new Error('the session kept was lost');
    if (wFirstCached === null) wFirstCached = rw.servedFromCache;
    if (!rw.stats.serving) servingFalseSeen = true;
    if (!rw.servedFromCache) wUncachedReads++;
    else if (wUncachedReads > 0 && recoveredMs === null) recoveredMs = now - killedAt;
    flushesSeen = rw.stats.flushes;
    if (xGoneMs !== null && recoveredMs !== null) break;
    await sleep(5);
  }
  const after = await b.channel();
  const replaced = await cutCase.pick(after.connections, w.id, connection.node);
  return {
    cut: cutCase.what,
    killed: target.describe(connection),
    xGoneMs,
    late,
    wFirstCached,
    servingFalseSeen,
    flushes: `${before.flushes} → ${flushesSeen}`,
    recoveredMs,
    replacedBy: replaced ? target.describe(replaced) : 'none found',
  };
}

async function measureStore(name) {
  const target = await openTarget(name);
  if (target.skip) return { name, skip: target.skip };
  const instances = [];
  try {
    for (let i = 0; i < 3; i++) {
      const label = `${name}-${i}`;
      instances.push(
        await startInstance(
          { ...target.env, CACHE_MAX_STALENESS: String(MAX_STALENESS), CACHE_NAME: `tessera-cache-bench-${run}-${label}` },
          label,
        ),
      );
    }
    await serving(instances);
    const started = performance.now();
    const { samples, notWarm } = await revocations(instances);
    const seconds = (performance.now() - started) / 1000;
    const cuts = [];
    for (const [index, cutCase] of target.cuts.entries()) {
      // The channel is back on every instance before the next cut.
      await serving(instances);
      cuts.push(await cut(target, instances, cutCase, index));
    }
    return { name: target.name, samples, notWarm, seconds, cuts };
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await target.cleanup();
  }
}

function report(results) {
  const machine = machineInfo();
  const lines = [
    '# Cache revocation across instances',
    '',
    `Measured by \`npm run bench:cache-revocation\` (bench/cache-revocation.mjs) on ${new Date().toISOString().slice(0, 10)}: ` +
      `${machine.nproc} × ${machine.cpu}, ${machine.memoryGb} GB, ${machine.os}, Node ${process.version}; ` +
      'three instances per store, each its own process on this machine, with the cache on ' +
      `(maxStaleness ${MAX_STALENESS} ms), other work running on the machine meanwhile (load average ` +
      `${loadAtStart} at the start, ${os.loadavg()[0].toFixed(1)} at the end).`,
    '',
    'Delay from the revoking response to the first "no session" answer of each other instance, which ' +
      'is read back to back (one read in flight per instance, each an HTTP request over loopback); ' +
      `${REVOCATIONS} revocations per store, two instances measured each. "Over bound": answers never ` +
      `given within maxStaleness; "late reads": reads sent ${MAX_STALENESS} ms or more after the revocation that still ` +
      `showed the session. Goals: none over the bound, p99 < ${GOAL_P99} ms, max < ${GOAL_MAX} ms.`,
    '',
  ];
  const rows = [];
  const kindRows = [];
  for (const result of results) {
    if (result.skip) {
      rows.push([result.name, `skipped: ${result.skip}`, '', '', '', '', '', '', '', '']);
      continue;
    }
    const d = distribution(result.samples);
    const pass = d.overBound === 0 && d.lateReads === 0 && d.p99 < GOAL_P99 && d.max < GOAL_MAX;
    rows.push([
      result.name,
      d.count,
      fmt.ms(d.p50),
      fmt.ms(d.p90),
      fmt.ms(d.p99),
      fmt.ms(d.max),
      d.overBound,
      d.lateReads,
      result.notWarm,
      pass ? 'pass' : '**fail**',
    ]);
    for (const kind of KINDS) {
      const k = distribution(result.samples.filter((s) => s.kind === kind));
      kindRows.push([result.name, kind, k.count, fmt.ms(k.p50), fmt.ms(k.p99), fmt.ms(k.max), k.cachedAfter]);
    }
  }
  lines.push(
    mdTable(['store', 'answers', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'over bound', 'late reads', 'not warmed', 'goals'], rows),
    '',
    'By kind of revocation ("stale from cache": reads after the revoking response answered from a cache before the first "no session"):',
    '',
    mdTable(['store', 'kind', 'answers', 'p50 ms', 'p99 ms', 'max ms', 'stale from cache'], kindRows, 2),
    '',
    '## Channel cut',
    '',
    'Two sessions cached on the cut instance; its connection killed from the server side; one session logged out on ' +
      'another instance; the cut instance then read (both sessions, every 5 ms) until the revoked one is gone and the ' +
      'kept one is served from its cache again. "Recovered": from the kill to that first cached answer.',
    '',
  );
  const cutRows = [];
  for (const result of results) {
    if (result.skip) continue;
    for (const c of result.cuts) {
      cutRows.push([
        result.name,
        c.cut,
        c.killed,
        fmt.ms(c.xGoneMs),
        c.late,
        c.wFirstCached ? 'yes' : 'no',
        c.servingFalseSeen ? 'yes' : 'no',
        c.flushes,
        fmt.ms(c.recoveredMs),
        c.replacedBy,
      ]);
    }
  }
  lines.push(
    mdTable(
      [
        'store',
        'cut',
        'killed',
        'revoked gone after ms',
        'late reads',
        'first read after cut from cache',
        'seen not serving',
        'flushes',
        'recovered after ms',
        'channel now',
      ],
      cutRows,
      3,
    ),
    '',
  );
  return lines.join('\n');
}

const loadAtStart = os.loadavg()[0].toFixed(1);
const results = [];
process.once('SIGINT', () => stopAllChildren().then(() => process.exit(130)));
try {
  for (const name of STORES) {
    console.log(`${name}: measuring`);
    const result = await measureStore(name);
    if (result.skip) console.log(`${name}: skipped: ${result.skip}`);
    else console.log(`${name}: ${result.samples.length} answers in ${result.seconds.toFixed(1)} s`);
    results.push(result);
  }
} finally {
  await stopAllChildren();
}
const text = report(results);
console.log(`\n${text}`);
writeFileSync(RESULTS, `${text}\n`);
console.log(`written to ${RESULTS}`);
if (process.env.CACHE_BENCH_SAMPLES) {
  writeFileSync(process.env.CACHE_BENCH_SAMPLES, JSON.stringify(results.map((r) => ({ name: r.name, samples: r.samples ?? [] }))));
}
