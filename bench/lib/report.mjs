// results.md and the console summary, from everything the run measured. The tables come from
// report-tables.mjs and goals.mjs; how each figure was measured comes from bench/METHODOLOGY.md,
// filled in with this run's settings, so that results.md says how its own figures were taken.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, cfg, pgSchemaRoot, redisPrefixRoot, runId, sqlitePath } from './config.mjs';
import { fmt, mdTable, plainCells, textTable } from './format.mjs';
import { floorSplit, goalRows } from './goals.mjs';
import { cacheTable, cpuTable, lostTable, scaleTable, settledNote, throughputTables } from './report-tables.mjs';
import { summarize } from './stats.mjs';

const METHODOLOGY_MARKER = '<!-- results.md copies everything below this line -->\n';

/** bench/METHODOLOGY.md after its marker line, each `{{name}}` replaced by this run's value. */
function methodology() {
  const text = readFileSync(join(BENCH_DIR, 'METHODOLOGY.md'), 'utf8');
  const at = text.indexOf(METHODOLOGY_MARKER);
  if (at < 0) throw new Error(`bench/METHODOLOGY.md has no line "${METHODOLOGY_MARKER.trim()}"`);
  const values = {
    connections: cfg.connections,
    sessions: fmt.count(cfg.sessions),
    cookiesPerConnection: Math.ceil(cfg.sessions / cfg.connections),
    rounds: cfg.rounds,
    duration: cfg.duration,
    warmup: cfg.warmup,
    probeRequests: cfg.probeRequests,
    lostRequests: cfg.lostRequests,
    scaleSessions: fmt.count(cfg.scaleSessions),
    scaleUsers: fmt.count(Math.ceil(cfg.scaleSessions / 2)),
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
  const names = [
    'autocannon',
    'express',
    'express-session',
    'connect-redis',
    'redis',
    'fastify',
    '@fastify/session',
    '@fastify/cookie',
    'connect-pg-simple',
    'pg',
    'better-sqlite3',
  ];
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

/** The raw figures behind the tables, for a reader who doubts one. */
function details(variants) {
  const perRound = variants
    .filter((v) => v.runs && Object.keys(v.runs).length > 0)
    .map(
      (v) =>
        `- (${v.letter}) ${v.id}: increment ${summarize(v, 'increment')?.allRps.join(', ') ?? '–'}; read ${summarize(v, 'read')?.allRps.join(', ') ?? '–'}`,
    );
  const probes = variants
    .filter((v) => v.probe)
    .map(
      (v) =>
        `- (${v.letter}) ${v.id}: increment ${JSON.stringify(v.probe.increment?.byCommand ?? v.probe.increment)}; read ${JSON.stringify(v.probe.read?.byCommand ?? v.probe.read)}`,
    );
  const redisBreakdown = variants
    .filter((v) => v.backend === 'redis' && v.runs?.increment)
    .map(
      (v) =>
        `- (${v.letter}) ${v.id}: increment ${JSON.stringify(v.runs.increment.at(-1)?.redisByCommand)}; read ${JSON.stringify(v.runs.read?.at(-1)?.redisByCommand)}`,
    );
  const pgBreakdown = variants
    .filter((v) => v.backend === 'postgres' && v.runs?.increment)
    .flatMap((v) => [
      `- (${v.letter}) ${v.id}, increment:`,
      ...Object.entries(v.runs.increment.at(-1)?.pgByStatement ?? {}).map(([text, n]) => `  - ${n}× \`${text}\``),
      `- (${v.letter}) ${v.id}, read:`,
      ...Object.entries(v.runs.read?.at(-1)?.pgByStatement ?? {}).map(([text, n]) => `  - ${n}× \`${text}\``),
    ]);
  return { perRound, probes, redisBreakdown, pgBreakdown };
}

/**
 * `run` is `{ started, elapsedSeconds, loadBefore, loadAfter, stealShare }`: when the run began,
 * how long it took, the load averages around it and the CPU share stolen during the rounds.
 * Returns the Markdown for results.md and the plain text for the console.
 */
export function buildReport({ variants, scale, cacheHeap = null, machine, redisVersion, pgVersion, run }) {
  const throughput = throughputTables(variants);
  const cpu = cpuTable(variants);
  const lost = lostTable(variants);
  const atScale = scaleTable(scale);
  const settled = settledNote(scale);
  const goals = goalRows(variants, scale, cacheHeap);
  const cache = cacheTable(variants);
  const split = floorSplit(variants);
  const { perRound, probes, redisBreakdown, pgBreakdown } = details(variants);
  const skipped = variants
    .filter((v) => v.status?.status !== 'ready')
    .map((v) => `- (${v.letter}) ${v.id}: ${v.status?.status ?? 'not run'}: ${v.status?.reason ?? ''}`);
  const smoke = cfg.duration < 2 || cfg.rounds < 3 || cfg.scaleSessions < 100_000;
  const { loadBefore, loadAfter, stealShare } = run;

  const markdown = `# tessera benchmark results

${smoke ? '> **Smoke run** (shortened settings): the figures below are not the benchmark; run `npm run bench` with the defaults for those.\n\n' : ''}- Date: ${run.started.toISOString()} (run \`${runId}\`, ${run.elapsedSeconds.toFixed(0)} s)
- Node ${process.version}; Redis ${redisVersion}; PostgreSQL ${pgVersion}
- Machine: ${machine.nproc} CPUs (nproc), ${machine.cpu}, ${machine.memoryGb} GiB RAM, ${machine.os}. Load generator, servers, Redis and PostgreSQL all share these CPUs.
- Load average (1/5/15 min) before the run: ${loadBefore.map((x) => x.toFixed(2)).join(' / ')}; after: ${loadAfter.map((x) => x.toFixed(2)).join(' / ')}.${loadBefore[0] > 1.5 ? ' **Other work was running on this machine when the run started (the build just before adds a little); throughput figures are depressed and noisy. Re-run on an idle machine for figures to compare.**' : ' (The 1-minute figure includes the build that `npm run bench` runs first.)'}
${stealShare === null ? '' : `- CPU time stolen by the hypervisor (\`steal\` in \`/proc/stat\`) during the measured rounds: ${(stealShare * 100).toFixed(1)} % of the machine's CPU time.${stealShare > 0.05 ? " **Other guests were taking this machine's CPUs; throughput figures are depressed and noisy.**" : ''}\n`}- Settings: ${cfg.rounds} rounds × ${cfg.duration} s per variant and workload (median reported), ${cfg.connections} connections, ${fmt.count(cfg.sessions)} live sessions per variant, ${cfg.atScale ? `${fmt.count(cfg.scaleSessions)} sessions for the storage figures` : 'storage, admin-query and cache-heap figures not measured (`BENCH_SCALE=0`)'}.
- Packages: ${packageVersions()}

## Goals (issues #3, #4, #24 and #25)

${mdTable(['issue', 'goal', 'measured', 'verdict'], goals, 4)}
${split ? `\n${split}\n` : ''}
## Throughput, latency and backend work per request

Ratios are to express-session + connect-redis (PostgreSQL tables: to express-session + connect-pg-simple); for req/s higher is better, for the rest lower is.

${throughput.map((t) => `### ${t.title}\n\n${mdTable(t.header, t.rows)}`).join('\n\n')}

## CPU per request

CPU time (user + system) per request served, median over the rounds: the server process from \`/proc/<pid>/stat\`, Redis from \`INFO cpu\` (Redis variants only; PostgreSQL's backends are not counted), and autocannon, which runs in the bench process. All of them share the machine's CPUs, so req/s follows their sum.

${mdTable(cpu.header, cpu.rows)}

${
  cache.rows.length
    ? `## The session cache (the \`+ cache\` variants)

From each server's \`cacheStats()\` over each measured run (median over the rounds), and the MONITOR probe of the server process's own Redis connections. A miss is a load the cache sent to the store: not cached, past \`maxStaleness\` (without an invalidation channel, an entry lasts that long after its read), or a touch due.

${mdTable(cache.header, cache.rows)}

`
    : ''
}## Lost updates: ${cfg.lostRequests} concurrent increments on one session

${mdTable(lost.header, lost.rows)}

## Storage and admin queries at ${fmt.count(cfg.scaleSessions)} sessions

${mdTable(atScale.header, atScale.rows, 7)}
${settled ? `\nWait for the CPUs to settle before each store's run, and the last half second's busy share: ${settled}.\n` : ''}
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
    ...throughput.map((t) => `${t.title}\n${textTable(t.header, t.rows.map(plainCells))}`),
    `Lost updates (${cfg.lostRequests} concurrent increments)\n${textTable(['variant', 'lost', 'counter', 'non-200'], lost.rows)}`,
    `Storage and admin queries at ${cfg.scaleSessions} sessions\n${textTable(['store', 'bytes/session', 'breakdown', 'list', 'count', 'page', 'create'], atScale.rows, 7)}`,
    cache.rows.length ? `Session cache\n${textTable(cache.header, cache.rows)}` : '',
    `Goals\n${textTable(['issue', 'goal', 'measured', 'verdict'], goals.map(plainCells), 4)}`,
    skipped.length ? `Not measured:\n${skipped.join('\n')}` : '',
  ].join('\n\n');
  return { markdown, console: consoleText };
}
