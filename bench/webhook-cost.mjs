// What a session-end webhook costs the request that ended the session: a logout request's work
// (load the session by its token, then logout) on each store, in three modes:
//   off       no webhooks;
//   recorded  the store records each notice in the removal's own step, and nothing delivers it
//             (`deliver: false`): what the request itself pays;
//   on        sessionWebhooks delivers the notices, off the request but in the same process, to a
//             receiver in another process (127.0.0.1), while the logouts go on.
// Rounds rotate the modes' order; reported per store: the median over rounds of each mode's median
// logout time, each mode's ratio to off with its per-round range, and this process's CPU per
// logout (which, with delivery on, includes the deliveries: signing, the POST, the outbox calls).
//
//   npm run bench:webhooks        (BENCH_WEBHOOK_ROUNDS=5, BENCH_WEBHOOK_LOGOUTS=400, BENCH_WEBHOOK_STORES=sqlite,redis,postgres)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager } from 'tessera-session';
import { sessionWebhooks } from 'tessera-session/webhooks';
import { median } from './lib/stats.mjs';

const ROUNDS = Number(process.env.BENCH_WEBHOOK_ROUNDS ?? 5);
const LOGOUTS = Number(process.env.BENCH_WEBHOOK_LOGOUTS ?? 400);
const STORES = (process.env.BENCH_WEBHOOK_STORES ?? 'sqlite,redis,postgres').split(',');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const run = randomBytes(3).toString('hex');

/** A receiver in its own process that answers 204 to everything and counts what it got. */
async function startReceiver() {
  const source = `
    const http = require('node:http');
    let n = 0;
    const server = http.createServer((req, res) => {
      if (req.url === '/count') return res.end(String(n));
      req.resume(); req.on('end', () => { n++; res.writeHead(204).end(); });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim()))));
  return { url: `http://127.0.0.1:${port}/hooks`, countUrl: `http://127.0.0.1:${port}/count`, stop: () => child.kill('SIGKILL') };
}

async function openStore(kind) {
  if (kind === 'sqlite') {
    const { SqliteStore } = await import('tessera-session/stores/sqlite');
    const path = join(tmpdir(), `tessera-bench-webhooks-${run}.db`);
    return { store: new SqliteStore({ path }), cleanup: async () => rmSync(path, { force: true }) };
  }
  if (kind === 'redis') {
    const { RedisStore } = await import('tessera-session/stores/redis');
    const prefix = `tessera-bench-webhooks:${run}:`;
    const store = new RedisStore({ url: REDIS_URL, prefix });
    return {
      store,
      async cleanup() {
        const { createClient } = await import('redis');
        const client = createClient({ url: REDIS_URL });
        await client.connect();
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await client.del(keys);
        await client.close();
      },
    };
  }
  const { PostgresStore } = await import('tessera-session/stores/postgres');
  const schema = `tessera_bench_webhooks_${run}`;
  return {
    store: new PostgresStore({ connectionString: DATABASE_URL, schema }),
    async cleanup() {
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

const device = { secure: false, ip: '127.0.0.1', userAgent: 'bench-webhooks' };

/** LOGOUTS logins (not timed), then LOGOUTS logout requests timed one at a time. */
async function measure(store, webhooks) {
  const manager = new SessionManager({ store, cleanupInterval: false, bruteForceLimit: false, ...(webhooks ? { webhooks } : {}) });
  const tokens = [];
  for (let i = 0; i < LOGOUTS; i++) {
    const session = await manager.load(device);
    await session.login(`user-${i}`);
    tokens.push(session.issuedToken);
  }
  const times = [];
  const cpuBefore = process.cpuUsage();
  for (const token of tokens) {
    const start = process.hrtime.bigint();
    const session = await manager.load({ ...device, cookie: `tessera=${token}` });
    await session.logout();
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  // The deliveries of this run finish before its CPU is read, so that each mode is charged its own.
  if (webhooks) await webhooks.flush();
  const cpu = process.cpuUsage(cpuBefore);
  manager.close();
  return { medianUs: median(times), cpuUs: (cpu.user + cpu.system) / LOGOUTS };
}

const receiver = await startReceiver();
const rows = [];
try {
  for (const kind of STORES) {
    const { store, cleanup } = await openStore(kind);
    await store.ready?.();
    const runs = { off: [], recorded: [], on: [] };
    const modes = Object.keys(runs);
    for (let round = 0; round < ROUNDS; round++) {
      // The modes' order rotates every round.
      for (const mode of [...modes.slice(round % 3), ...modes.slice(0, round % 3)]) {
        const webhooks = mode === 'off' ? null : sessionWebhooks({ url: receiver.url, secret: SECRET, deliver: mode === 'on' });
        runs[mode].push(await measure(store, webhooks));
        await webhooks?.close();
      }
    }
    if (store.outbox) await store.outbox.trimNotices(0);
    await store.close();
    await cleanup();
    const against = (mode) => runs[mode].map((r, i) => r.medianUs / runs.off[i].medianUs);
    const row = { kind };
    for (const mode of modes) {
      row[mode] = median(runs[mode].map((r) => r.medianUs));
      row[`cpu_${mode}`] = median(runs[mode].map((r) => r.cpuUs));
      const ratios = against(mode);
      row[`ratio_${mode}`] = { median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
    }
    rows.push(row);
  }
} finally {
  const delivered = await fetch(receiver.countUrl)
    .then((r) => r.text())
    .catch(() => '?');
  receiver.stop();
  console.log(`receiver got ${delivered} deliveries`);
}

const f = (n) => n.toFixed(0);
const r = ({ median: m, low, high }) => `${m.toFixed(2)}× (${low.toFixed(2)}–${high.toFixed(2)})`;
console.log(`\nLogout request (load + logout), ${LOGOUTS} per run, ${ROUNDS} rounds, medians; ratios to off with the per-round range:\n`);
console.log('| store | off | recorded (no delivery) | delivered in process | CPU per logout: off / recorded / delivered |');
console.log('|---|---|---|---|---|');
for (const x of rows) {
  console.log(
    `| ${x.kind} | ${f(x.off)} µs | ${f(x.recorded)} µs, ${r(x.ratio_recorded)} | ${f(x.on)} µs, ${r(x.ratio_on)} | ${f(x.cpu_off)} / ${f(x.cpu_recorded)} / ${f(x.cpu_on)} µs |`,
  );
}
