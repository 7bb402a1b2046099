// A CPU profile of one variant's server under the bench's own load: `node bench/profile.mjs
// <server> <increment|read> [seconds] [cache]` (after `npm run build`). The server
// (bench/servers/<server>.mjs) runs with `--cpu-prof`; 1,000 users log in, then
// 2 s of unrecorded load, then `seconds` (default 10) of load as in a measured run (bench/lib/load.mjs).
// Then the server is stopped, which writes its profile under <tmpdir>/tessera-bench-profile/, and
// bench/lib/profile-summary.mjs prints the measured window's self time by group and by function, in
// shares of the busy time and µs per request. Keys go under a prefix of their own, removed at the end.
// V8 samples wall time: on a loaded machine, time the OS takes the thread off its CPU lands
// in whatever it was doing (`writev` mostly), so compare shares, not absolute figures, between runs.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cleanupRedis, connectRedis } from './lib/backends.mjs';
import { BENCH_DIR, childEnv } from './lib/config.mjs';
import { load } from './lib/load.mjs';
import { summarizeProfile } from './lib/profile-summary.mjs';

const [server, workload = 'read', seconds = '10', cache] = process.argv.slice(2);
if (!server || !['increment', 'read'].includes(workload)) {
  console.error('usage: node bench/profile.mjs <server> <increment|read> [seconds] [cache]');
  process.exit(2);
}
const port = 39000 + Math.floor(Math.random() * 1000);
const dir = join(os.tmpdir(), 'tessera-bench-profile', `${server}${cache ? '-cache' : ''}-${workload}-${Date.now().toString(36)}`);
const prefix = `tessera-bench:profile-${randomBytes(3).toString('hex')}:`;
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, join(BENCH_DIR, 'servers', `${server}.mjs`)], {
  env: { ...childEnv, PORT: String(port), BENCH_PREFIX: prefix, BENCH_CACHE: cache ? '1' : '' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve, reject) => {
  child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
  child.once('exit', (code) => reject(new Error(`${server} exited with ${code} before it was ready`)));
});
const cookies = [];
for (let i = 0; i < 1000; i++) {
  const res = await fetch(`http://127.0.0.1:${port}/login?user=user-${i}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  // A server without sessions sets none; it ignores the cookie anyway.
  cookies.push(res.headers.getSetCookie()[0]?.split(';')[0] ?? `tessera=${randomBytes(21).toString('base64url')}`);
}
const variant = { port, cookies };
const path = workload === 'read' ? '/read' : '/inc';
await load(variant, { id: workload, path }, { duration: 2 });
const measured = await load(variant, { id: workload, path }, { duration: Number(seconds) });
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
const redis = await connectRedis();
await cleanupRedis(redis.client, prefix).catch(() => 0);
await redis.client?.quit();
console.log(`${server} ${workload}: ${Math.round(measured.rps)} req/s, ${measured.total} requests, ${measured.non2xx} non-2xx`);
const file = join(
  dir,
  readdirSync(dir).find((name) => name.endsWith('.cpuprofile')),
);
console.log(`${file}\n`);
// The last `seconds` before the stop, less a tenth of a second for the stop itself.
console.log(summarizeProfile(file, { lastSeconds: Number(seconds), endSeconds: 0.1, requests: measured.total }));
